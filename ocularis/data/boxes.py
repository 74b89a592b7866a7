"""Boxes on images, split into train/val/test: what every detection reader returns, the helpers the readers share,
and the built-in drawn set.

Each on-disk format (yolo.py, coco.py, voc.py, udacity.py) reads into a `SourceDetections` (the splits exactly as the
files define them); `finish_splits` then draws the splits the source lacks with the seed. This module imports no
reader, so the readers, convert.py and detection.py (`read_detection`, above them all) import one way.
"""

import os
import re
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ocularis.data.cache import ImageCache
from ocularis.data.shapes import SHAPES, draw_scene
from ocularis.errors import CorruptImageError, DataError, LabelError
from ocularis.registry import DATASETS

Source = str | np.ndarray  # an image path, or HxWx3 uint8 pixels
Size = tuple[int, int]  # (width, height) in pixels
SPLITS = ("train", "val", "test")
PIXEL_TOLERANCE = 1.0  # boxes a pixel past the edge are rounding, not mistakes: clipped, not refused


@dataclass
class BoxLabels:
    """The annotations of one image."""

    boxes: np.ndarray  # (N, 4) float32, x1 y1 x2 y2 in pixels of the original image
    labels: np.ndarray  # (N,) int64 class indices into AnnotatedSet.classes

    @staticmethod
    def of(boxes: Sequence, labels: Sequence) -> "BoxLabels":
        """BoxLabels from any sequences, with the dtypes and shapes the type promises (also for zero boxes)."""
        return BoxLabels(np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64))


@dataclass
class AnnotatedSplit:
    """Images, their annotations (boxes; for segmentation, masks with boxes), and a stable name per image."""

    sources: list[Source] = field(default_factory=list)
    targets: list[BoxLabels] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)  # file stem or "shapes_00042", unique within the set
    # (width, height) per image as the reader learned it (annotation or file header), so no one opens a file again
    # to ask; None where the header is unreadable (read_boxes then reports or drops the file). Empty: not recorded.
    sizes: list[Size | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices) -> "AnnotatedSplit":
        indices = list(indices)
        sizes = [self.sizes[i] for i in indices] if len(self.sizes) == len(self.sources) else []
        return AnnotatedSplit([self.sources[i] for i in indices], [self.targets[i] for i in indices],
                              [self.image_ids[i] for i in indices], sizes)

    def size(self, index: int) -> Size:
        """(width, height) of image `index`: the recorded one, else read from its header."""
        known = self.sizes[index] if len(self.sizes) == len(self.sources) else None
        return known or image_size(self.sources[index])

    def background_images(self) -> int:
        return sum(len(t.labels) == 0 for t in self.targets)


@dataclass
class AnnotatedSet:
    """An annotated dataset (detection's boxes, segmentation's masks) ready to train on: class names, three splits,
    and what a user should know about it."""

    classes: list[str]
    train: AnnotatedSplit
    val: AnnotatedSplit
    test: AnnotatedSplit
    channels: int = 3
    warnings: list[str] = field(default_factory=list)  # background images, orphan label files ...
    images: ImageCache | None = None  # set by read_boxes: where training reads the decoded pixels from

    def background_images(self) -> int:
        """Images with no boxes, over all splits."""
        return sum(getattr(self, name).background_images() for name in SPLITS)


@dataclass
class SourceDetections:
    """A dataset as its files define it: only the splits the source names (an unsplit source is all 'train')."""

    classes: list[str]
    splits: dict[str, AnnotatedSplit]
    warnings: list[str] = field(default_factory=list)


def finish_splits(source: SourceDetections, val_fraction: float, test_fraction: float, seed: int,
                  origin: str) -> AnnotatedSet:
    """The AnnotatedSet of `source`: val and test drawn from train (seeded) where the source has none."""
    if "train" not in source.splits:
        raise DataError(f"{origin}: it defines {', '.join(source.splits)} but no train split; add one")
    train, val, test = (source.splits.get(name) for name in SPLITS)
    warnings = list(source.warnings)
    if val is not None and set(val.image_ids) == set(train.image_ids):
        warnings.append(f"{origin}: train and val are the same {len(val)} images; val and test were drawn from "
                        "them instead (seeded), so scores are honest")
        val = None
    elif val is not None and (shared := set(val.image_ids) & set(train.image_ids)):
        warnings.append(f"{origin}: {len(shared)} val image(s) are also in train (e.g. {min(shared)}); "
                        "val scores will be optimistic")
    drawn_test = test is None
    if drawn_test:
        train, test = draw_split(train, test_fraction, seed, "testing")
    if val is None:
        train, val = draw_split(train, val_fraction / max(1e-9, 1 - test_fraction) if drawn_test else val_fraction,
                                seed, "validation")
    return AnnotatedSet(source.classes, train, val, test, warnings=warnings)


def draw_split(split: AnnotatedSplit, fraction: float, seed: int, what: str) -> tuple[AnnotatedSplit, AnnotatedSplit]:
    """Seeded split of `split` into (rest, held-out fraction); both keep the original order."""
    if fraction <= 0 or len(split) < 2:
        return split, AnnotatedSplit()
    held = max(1, round(len(split) * fraction))
    if held >= len(split):
        raise DataError(f"cannot hold out {fraction:.0%} of {len(split)} images for {what}; lower the fraction")
    order = np.random.default_rng(seed).permutation(len(split))
    return split.subset(sorted(order[held:])), split.subset(sorted(order[:held]))


def as_source(dataset: AnnotatedSet | SourceDetections) -> SourceDetections:
    """What a writer writes: a AnnotatedSet's non-empty splits, or a source's splits as they are."""
    if isinstance(dataset, SourceDetections):
        return dataset
    splits = {name: getattr(dataset, name) for name in SPLITS if len(getattr(dataset, name))}
    return SourceDetections(dataset.classes, splits, list(dataset.warnings))


def save_image(source: Source, folder: Path, image_id: str) -> Path:
    """Put an image at folder/<image_id>.<ext>: a copy of its file, or its pixels as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(source, np.ndarray):
        target = folder / f"{image_id}.png"
        Image.fromarray(np.ascontiguousarray(source)).save(target)
        return target
    target = folder / f"{image_id}{Path(source).suffix.lower()}"
    # A copy, not a hard link: an editor saving over the converted image would silently change the original.
    if not (target.exists() and target.samefile(source)):
        shutil.copyfile(source, target)
    return target


def assemble(classes: list[str], split_images: dict[str, list[tuple[Path, BoxLabels, Size | None]]],
             warnings: list[str]) -> SourceDetections:
    """A SourceDetections from (image file, boxes, size) per split, with image ids unique over all splits."""
    unique = list(dict.fromkeys(path for images in split_images.values() for path, _, _ in images))
    ids = dict(zip(unique, unique_image_ids(unique), strict=True))
    splits = {name: AnnotatedSplit([str(p) for p, _, _ in images], [t for _, t, _ in images],
                                   [ids[p] for p, _, _ in images], [size for _, _, size in images])
              for name, images in split_images.items()}
    return SourceDetections(classes, splits, warnings)


def split_named(stem: str) -> str | None:
    """The split a file name says it holds: 'train.json', 'instances_val2017.json', 'labels_test.csv' ..."""
    match = re.search(r"(?:^|[_.-])(train|val|valid|validation|test)\d*$", stem.lower())
    return None if match is None else {"valid": "val", "validation": "val"}.get(match[1], match[1])


NOT_BOXES = ("captions_", "person_keypoints_")  # COCO's annotation files of other kinds


def split_files(folder: Path, suffix: str) -> dict[str, Path]:
    """The `suffix` files in `folder` whose names say which split they hold; raise on two for one split. COCO's own
    captions_* and person_keypoints_* files, which hold no boxes, are passed over beside its instances_* files."""
    found: dict[str, Path] = {}
    for path in sorted(folder.glob(f"*{suffix}")):
        split = None if path.stem.startswith(NOT_BOXES) else split_named(path.stem)
        if split and split in found:
            raise DataError(f"{folder}: both {found[split].name} and {path.name} hold the {split} split; keep one")
        if split:
            found[split] = path
    return {split: found[split] for split in SPLITS if split in found}


def annotation_files(path: Path, suffix: str, none_inside: str, missing: str) -> dict[str, Path]:
    """{split: file}: a folder's `suffix` files named by split, or one file read as the train split."""
    if path.is_dir():
        files = split_files(path, suffix)
        if not files:
            raise DataError(f"{path}: {none_inside}")
        return files
    if path.is_file():
        return {"train": path}
    raise DataError(missing)


def check_boxes(boxes: np.ndarray, size: Size | None, where: Callable[[int], str]) -> np.ndarray:
    """`boxes` (N, 4 pixels) clipped to the (width, height) image; raise naming `where(i)` for an empty box or one
    past the edge. With no size (an unreadable image, which read_boxes reports or drops) they are kept unchecked."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if size is None:
        return boxes
    width, height = size
    tolerance = PIXEL_TOLERANCE
    outside = ((boxes[:, :2] < -tolerance).any(1) | (boxes[:, 2] > width + tolerance)
               | (boxes[:, 3] > height + tolerance))
    empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]) | ~np.isfinite(boxes).all(1)
    for index in np.flatnonzero(outside | empty)[:1]:
        x1, y1, x2, y2 = boxes[index].tolist()
        problem = (f"has zero or negative size ({x2 - x1:g} x {y2 - y1:g} px)" if empty[index]
                   else f"lies outside the {width:g} x {height:g} px image")
        raise LabelError(f"{where(int(index))}: box x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g} {problem}; "
                         "fix or delete that box")
    return np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)


def image_size(source: Source) -> tuple[int, int]:
    """(width, height) of an image, reading only the file header."""
    if isinstance(source, np.ndarray):
        return int(source.shape[1]), int(source.shape[0])
    try:
        with Image.open(source) as image:
            return image.size
    except FileNotFoundError:
        raise DataError(f"image file {source} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CorruptImageError([(str(source), str(error).split("\n")[0])]) from None


def image_sizes(sources: Sequence[Source]) -> list[Size | None]:
    """(width, height) of each image from its header; None where the header cannot be read (read_boxes' one decode
    of every file then names it among all the unreadable files of all splits, or drops it with --skip-bad)."""
    with ThreadPoolExecutor(max_workers=4) as pool:  # header reads wait on the disk, not the GIL
        return list(pool.map(header_size, sources))


def header_size(source: Source) -> Size | None:
    """image_size, or None where the header cannot be read."""
    try:
        return image_size(source)
    except CorruptImageError:
        return None


def unique_image_ids(paths: Sequence[Path]) -> list[str]:
    """File stems as image ids; where two different files share a stem, their paths below the common folder."""
    resolved = [Path(os.path.abspath(p)) for p in paths]
    owners: dict[str, set[Path]] = {}
    for path in resolved:
        owners.setdefault(path.stem, set()).add(path)
    clashing = [p for p in resolved if len(owners[p.stem]) > 1]
    root = Path(os.path.commonpath(clashing)) if clashing else Path()
    ids = [p.stem if len(owners[p.stem]) == 1 else p.relative_to(root).with_suffix("").as_posix().replace("/", "_")
           for p in resolved]
    names = dict(zip(resolved, ids, strict=True))
    if len(set(names.values())) < len(names):
        raise DataError(f"image file names below {root} clash even with their folders; rename the duplicates")
    return ids


def shapes_detection(*, val_fraction: float, test_fraction: float, seed: int, count: int = 600,
                     size: int = 96) -> AnnotatedSet:
    """`count` drawn scenes of 1-4 shapes each, boxed and labelled; a fixed generator seed keeps it the same set."""
    rng = np.random.default_rng(12345)
    everything = AnnotatedSplit()
    while len(everything) < count:
        image, objects = draw_scene(rng, size, int(rng.integers(1, 5)), min_scale=0.15, max_scale=0.5)
        # A shape almost hidden by later ones leaves a sliver no detector should be asked to find.
        kept = [o for o in objects if o.box[2] - o.box[0] >= 4 and o.box[3] - o.box[1] >= 4]
        if not kept:
            continue
        everything.sources.append(image)
        everything.targets.append(BoxLabels.of([o.box for o in kept], [o.label for o in kept]))
        everything.image_ids.append(f"shapes_{len(everything.image_ids):05d}")
        everything.sizes.append((size, size))
    return finish_splits(SourceDetections(list(SHAPES), {"train": everything}), val_fraction, test_fraction, seed,
                         origin="shapes")


DATASETS.add("shapes", shapes_detection, task="detect")
