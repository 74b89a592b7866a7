"""Labelled images split into train/val/test: what every classification reader returns."""

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from ocularis.data.cache import ImageCache
from ocularis.errors import DataError

Source = str | np.ndarray  # an image file path, or HxW(xC) uint8 pixels


@dataclass
class Split:
    """Images and, per image, the tuple of its class indices (one index unless multi-label)."""

    sources: list[Source] = field(default_factory=list)
    targets: list[tuple[int, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices) -> "Split":
        return Split([self.sources[i] for i in indices], [self.targets[i] for i in indices])


@dataclass
class LabelledImages:
    """A dataset ready to train on: class names, three splits, and how to read the pixels."""

    classes: list[str]
    train: Split
    val: Split
    test: Split
    channels: int = 3  # 1 for grayscale data
    multi_label: bool = False
    hflip_ok: bool = True  # False where mirroring changes the label (digits, text)
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    test_is_val: bool = False  # the data had no test split, so the val split is reported as test
    images: ImageCache | None = None  # set by read_labelled: where training reads the decoded pixels from

    def class_counts(self) -> dict[str, int]:
        counts = np.zeros(len(self.classes), dtype=int)
        for targets in self.train.targets:
            counts[list(targets)] += 1
        return dict(zip(self.classes, counts.tolist(), strict=True))


def split_off(data: Split, fraction: float, seed: int, what: str) -> tuple[Split, Split]:
    """Seeded, stratified (where every class allows it) split of `data` into (rest, held-out fraction)."""
    if fraction <= 0 or len(data) < 2:
        return data, Split()
    indices = np.arange(len(data))
    labels = [t[0] for t in data.targets]
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 and len(data) * fraction >= len(set(labels)) else None
    try:
        rest, held = train_test_split(indices, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as error:
        raise DataError(f"cannot hold out {fraction:.0%} of {len(data)} images for {what}: {error}") from None
    return data.subset(sorted(rest)), data.subset(sorted(held))


def split_three(data: Split, val_fraction: float, test_fraction: float, seed: int) -> tuple[Split, Split, Split]:
    rest, test = split_off(data, test_fraction, seed, "testing")
    train, val = split_off(rest, val_fraction / max(1e-9, 1 - test_fraction), seed, "validation")
    return train, val, test



def split_per_class(data: Split, count: int, seed: int, what: str) -> tuple[Split, Split]:
    """Seeded split of `data` into (rest, `count` images of every class): the face-recognition protocol (ORL: five
    photos of each person to learn from, five to test on)."""
    if count <= 0:
        return data, Split()
    rng = np.random.default_rng(seed)
    members: dict[int, list[int]] = {}
    for index, targets in enumerate(data.targets):
        members.setdefault(targets[0], []).append(index)
    few = [label for label, indices in members.items() if len(indices) <= count]
    if few:
        raise DataError(f"cannot hold out {count} images of every class for {what}: class index {few[0]} has only "
                        f"{len(members[few[0]])}; lower the count or add images")
    held = sorted(i for indices in members.values() for i in rng.choice(indices, count, replace=False).tolist())
    chosen = set(held)
    return data.subset([i for i in range(len(data)) if i not in chosen]), data.subset(held)
