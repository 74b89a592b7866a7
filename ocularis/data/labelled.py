"""Labelled images split into train/val/test: what every classification reader returns."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from ocularis.core.images import decode_problem
from ocularis.errors import CorruptImageError, DataError

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


def check_decodable(split: Split, skip_bad: bool) -> tuple[Split, list[tuple[str, str]]]:
    """Decode every file in `split`; raise on failures, or (skip_bad) drop them and return them listed."""
    paths = [s for s in split.sources if isinstance(s, str | Path)]
    with ThreadPoolExecutor(max_workers=4) as pool:  # PIL decodes without holding the GIL
        problems = dict(zip(paths, pool.map(decode_problem, paths), strict=True))
    bad = [(str(path), reason) for path, reason in problems.items() if reason]
    if bad and not skip_bad:
        raise CorruptImageError(bad)
    keep = [i for i, s in enumerate(split.sources) if not (isinstance(s, str | Path) and problems[s])]
    return split.subset(keep), bad
