"""The Kaggle Data Science Bowl 2018 nuclei layout: one folder per image, `<id>/images/<id>.png` (RGBA; the image
cache composites it to RGB) and `<id>/masks/*.png`, one black-and-white PNG per nucleus: instance segmentation with
the one class "nucleus". An all-black mask file is how the community's label fixes delete a nucleus: it is skipped
and counted, not refused.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ocularis.core.images import list_images
from ocularis.data.boxes import Size, unique_image_ids
from ocularis.data.mask_png import open_mask
from ocularis.data.masks import BACKGROUND, MaskLabels, MaskTarget, SegmentationSplit, SourceMasks, counted
from ocularis.errors import DataError

NUCLEUS = "nucleus"


@dataclass
class NucleiTarget(MaskTarget):
    """The per-nucleus mask files of one image."""

    masks: list[Path]
    image: str
    instances: bool = True
    _skipped: list[str] = field(default_factory=list, repr=False)

    def decode(self, size: Size) -> MaskLabels:
        width, height = size
        kept, self._skipped = [], []
        for path in self.masks:
            mask = np.asarray(open_mask(path, size, self.image))
            mask = (mask.max(axis=2) if mask.ndim == 3 else mask) > 0
            if mask.any():
                kept.append(mask)
            else:
                self._skipped.append(str(path))
        masks = np.stack(kept) if kept else np.zeros((0, height, width), bool)
        return MaskLabels.from_instances(masks, np.ones(len(kept), np.int64), size)

    def where(self) -> str:
        return str(self.masks[0].parent) if self.masks else self.image

    def skipped(self) -> list[str]:
        return list(self._skipped)


def is_nuclei_folder(folder: Path) -> bool:
    """Whether `folder`'s sub-folders are DSB image folders (each with images/ and masks/)."""
    return any((child / "images").is_dir() and (child / "masks").is_dir() for child in folder.iterdir()
               if child.is_dir())


def read_nuclei(folder: str | Path) -> SourceMasks:
    """Every image folder with a masks/ folder, as the train split (the layout names no splits)."""
    folder = Path(folder)
    images, targets, unlabelled, empty = [], [], [], []
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and (p / "images").is_dir()):
        found = list_images(child / "images")
        if len(found) != 1:
            raise DataError(f"{child / 'images'}: holds {len(found)} images; a DSB image folder holds exactly one")
        if not (child / "masks").is_dir():
            unlabelled.append(child.name)
            continue
        masks = sorted(p for p in (child / "masks").iterdir() if p.suffix.lower() == ".png" and p.is_file())
        if not masks:
            empty.append(child.name)
        images.append(found[0])
        targets.append(NucleiTarget(masks, str(found[0])))
    if not images:
        raise DataError(f"{folder}: no <id>/images/<id>.png with <id>/masks/*.png (the DSB nuclei layout)")
    warnings = []
    if unlabelled:
        warnings.append(counted("image folder(s) have no masks/ (unlabelled test images) and were left out",
                                unlabelled))
    if empty:
        warnings.append(counted("image folder(s) have an empty masks/ and count as images without nuclei", empty))
    split = SegmentationSplit([str(p) for p in images], targets, unique_image_ids(images))
    return SourceMasks([BACKGROUND, NUCLEUS], {"train": split}, instances=True, warnings=warnings)
