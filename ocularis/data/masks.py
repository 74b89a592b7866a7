"""Masks on images, split into train/val/test: what every segmentation reader returns.

A mask annotation stays on disk (or in its JSON) until asked for: `MaskTarget.decode(size)` turns it into `MaskLabels`,
one class-index map and, where the data has objects, one boolean mask per object. So the DSB nuclei's thousands of
per-nucleus PNGs are decoded when an image is, not all at once.

Class 0 is "background" where the data has one (every instance set: an object is never class 0, and the readers of
objects name it so); a semantic set's class 0 may be a real class (CamVid's Sky), and `has_background(classes)` says
which, for the metrics (mIoU_foreground) and the drawings (background left untinted). A mask value the data marks as
unlabelled (CamVid's void 11, ADE20K's 0, `--ignore-index`) is decoded as IGNORE, so no loss and no metric counts it.
"""

import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ocularis.data.cache import ImageCache

Source = str | np.ndarray  # an image path, or HxW(x3) uint8 pixels
Size = tuple[int, int]  # (width, height) in pixels
SPLITS = ("train", "val", "test")
BACKGROUND = "background"
IGNORE = 255  # in a class-index map: a pixel no loss and no metric counts (VOC's object borders, padding)


def has_background(classes: list[str]) -> bool:
    """Whether class 0 is the background (named so: 'background', 'Background', labelme's '_background_'), not a
    real class such as CamVid's Sky."""
    return bool(classes) and classes[0].strip("_ ").lower() == BACKGROUND


@dataclass
class MaskLabels:
    """The decoded annotation of one image."""

    semantic: np.ndarray  # (H, W) uint8 class index per pixel (0 background where the data has one), IGNORE unlabelled
    masks: np.ndarray  # (N, H, W) bool, one per object; N = 0 where the data has class maps only
    labels: np.ndarray  # (N,) int64 class index of each object (>= 1: objects are never background)

    @staticmethod
    def from_instances(masks: np.ndarray, labels: np.ndarray, size: Size) -> "MaskLabels":
        """Objects -> with the class map they paint (a later object over an earlier one, as drawn)."""
        width, height = size
        masks = np.asarray(masks, dtype=bool).reshape(-1, height, width)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        semantic = np.zeros((height, width), np.uint8)
        for mask, label in zip(masks, labels, strict=True):
            semantic[mask] = label
        return MaskLabels(semantic, masks, labels)

    @staticmethod
    def from_semantic(semantic: np.ndarray) -> "MaskLabels":
        height, width = semantic.shape
        return MaskLabels(np.asarray(semantic, dtype=np.uint8), np.zeros((0, height, width), bool),
                          np.zeros(0, np.int64))


    def crop(self, box: tuple[int, int, int, int]) -> "MaskLabels":
        """The part inside box (x0, y0, x1, y1) in pixels; objects outside it keep empty masks."""
        x0, y0, x1, y1 = box
        return MaskLabels(self.semantic[y0:y1, x0:x1], self.masks[:, y0:y1, x0:x1], self.labels)


class MaskTarget(ABC):
    """One image's annotation as its format stores it; decoded on demand."""

    instances: bool = False  # whether decode() gives per-object masks (else only the class map)
    in_memory: bool = False  # already decoded in memory: packing it would only copy it

    @abstractmethod
    def decode(self, size: Size) -> MaskLabels:
        """The annotation for an image of `size` (width, height); a LabelError naming the file and the fix where the
        annotation does not fit that image (wrong size, values outside the classes, a degenerate polygon ...)."""

    @abstractmethod
    def where(self) -> str:
        """The file (and entry) this annotation comes from, for error messages."""

    def window(self, size: Size, box: tuple[int, int, int, int]) -> MaskLabels:
        """decode(size) inside box (x0, y0, x1, y1): a training crop. Formats that can, decode only the box."""
        return self.decode(size).crop(box)

    def class_map(self, size: Size) -> np.ndarray:
        """decode(size).semantic alone (class pixel counts): formats that can, leave the objects' masks out."""
        return self.decode(size).semantic

    def skipped(self) -> list[str]:
        """What the last decode left out by the data's own convention (DSB's empty per-nucleus PNGs), so the one
        validating decode in read_segmentation can count it into the warnings rather than fail."""
        return []


@dataclass
class ArrayTarget(MaskTarget):
    """An annotation already in memory (the built-in drawn shapes)."""

    labels: MaskLabels
    name: str = "<array>"
    instances: bool = True  # the drawn shapes know each object (an image may have none)
    in_memory: bool = True

    def decode(self, size: Size) -> MaskLabels:
        return self.labels

    def where(self) -> str:
        return self.name


@dataclass
class PackedTarget(MaskTarget):
    """An instance annotation decoded once and kept small: the class map zlib-compressed, each object's mask only
    inside its box. The DSB nuclei's hundreds of full-size PNGs per image become a few KB, and a training crop
    unpacks only the objects it meets."""

    size: Size
    semantic: bytes
    boxes: np.ndarray  # (n, 4) int x0, y0, x1, y1 (exclusive) of each object's pixels
    pieces: list[np.ndarray]  # each object's (y1 - y0, x1 - x0) bool mask
    labels: np.ndarray
    origin: str
    instances: bool = True
    in_memory: bool = True

    @staticmethod
    def pack(labels: MaskLabels, origin: str) -> "PackedTarget":
        height, width = labels.semantic.shape
        boxes = mask_extents(labels.masks)
        pieces = [mask[y0:y1, x0:x1].copy() for mask, (x0, y0, x1, y1) in zip(labels.masks, boxes, strict=True)]
        return PackedTarget((width, height), zlib.compress(np.ascontiguousarray(labels.semantic).tobytes(), 1),
                            boxes, pieces, labels.labels, origin)

    def decode(self, size: Size) -> MaskLabels:
        return self._unpack(size, (0, 0, *size), np.arange(len(self.labels)))  # every object, even an empty one

    def class_map(self, size: Size) -> np.ndarray:
        return self._unpack(size, (0, 0, *size), np.zeros(0, np.int64)).semantic

    def window(self, size: Size, box: tuple[int, int, int, int]) -> MaskLabels:
        x0, y0, x1, y1 = box
        meets = np.flatnonzero((self.boxes[:, 0] < x1) & (self.boxes[:, 2] > x0) & (self.boxes[:, 1] < y1)
                               & (self.boxes[:, 3] > y0))
        return self._unpack(size, box, meets)

    def _unpack(self, size: Size, box: tuple[int, int, int, int], chosen: np.ndarray) -> MaskLabels:
        if tuple(size) != self.size:
            raise ValueError(f"{self.origin}: packed for a {self.size} image, asked for {tuple(size)}")
        x0, y0, x1, y1 = box
        width, height = self.size
        semantic = np.frombuffer(zlib.decompress(self.semantic), np.uint8).reshape(height, width)[y0:y1, x0:x1]
        masks = np.zeros((len(chosen), y1 - y0, x1 - x0), bool)
        for slot, index in enumerate(chosen):
            a, b, c, d = self.boxes[index]
            piece = self.pieces[index][max(y0, b) - b:min(y1, d) - b, max(x0, a) - a:min(x1, c) - a]
            masks[slot, max(y0, b) - y0:min(y1, d) - y0, max(x0, a) - x0:min(x1, c) - x0] = piece
        return MaskLabels(semantic.copy(), masks, self.labels[chosen])

    def where(self) -> str:
        return self.origin


def mask_extents(masks: np.ndarray) -> np.ndarray:
    """(n, 4) int x0, y0, x1, y1 around each (H, W) mask's pixels (x1, y1 exclusive; zeros for an empty mask)."""
    boxes = np.zeros((len(masks), 4), np.int64)
    for index, mask in enumerate(masks):
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if len(rows):
            boxes[index] = columns[0], rows[0], columns[-1] + 1, rows[-1] + 1
    return boxes


@dataclass
class SegmentationSplit:
    """Images, their mask annotations, and a stable name per image."""

    sources: list[Source] = field(default_factory=list)
    targets: list[MaskTarget] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices) -> "SegmentationSplit":
        indices = list(indices)
        return SegmentationSplit([self.sources[i] for i in indices], [self.targets[i] for i in indices],
                                 [self.image_ids[i] for i in indices])


@dataclass
class SegmentationSet:
    """A segmentation dataset ready to train on."""

    classes: list[str]  # classes[0] is BACKGROUND where the data has one (has_background)
    train: SegmentationSplit
    val: SegmentationSplit
    test: SegmentationSplit
    channels: int = 3
    instances: bool = False  # every target has per-object masks (instance models can train on it)
    warnings: list[str] = field(default_factory=list)  # counted, skipped-by-convention problems
    images: ImageCache = field(default_factory=ImageCache)  # decoded pixels (read_segmentation sets the mode)


@dataclass
class SourceMasks:
    """A segmentation dataset as its files define it: only the splits the source names (an unsplit source is all
    'train'); read_segmentation then validates it and draws the missing splits."""

    classes: list[str]  # classes[0] is BACKGROUND where the data has one (always, with objects)
    splits: dict[str, SegmentationSplit]
    instances: bool = False
    warnings: list[str] = field(default_factory=list)


def counted(what: str, names: list[str], limit: int = 5) -> str:
    """'3 image(s) have no mask: a.png, b.png, c.png' with at most `limit` names: warnings stay one line."""
    shown = ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")
    return f"{len(names)} {what}: {shown}"
