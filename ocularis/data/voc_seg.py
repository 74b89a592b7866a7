"""Pascal VOC segmentation: JPEGImages/, SegmentationClass/ (palette PNGs of class indices, 255 = the object borders,
ignored), optionally SegmentationObject/ (object ids, 255 borders: the objects) and ImageSets/Segmentation/
{train,val,test}.txt naming the splits (trainval.txt is their union and is not read).

The classes are VOC's 21 unless a classes.txt in the folder names others. A mask saved as RGB (a re-export of the
palette) is read through VOC's colours. The folder may also be the VOCdevkit/ or VOCtrainval download above it.
"""

from pathlib import Path

from ocularis.core.images import IMAGE_EXTENSIONS
from ocularis.data.boxes import SPLITS, unique_image_ids
from ocularis.data.mask_png import ClassMap, IndexMaskTarget, read_class_map, voc_palette, with_ignore
from ocularis.data.masks import IGNORE, SegmentationSplit, SourceMasks, counted
from ocularis.errors import DataError

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
CLASS_DIR, OBJECT_DIR, IMAGE_DIR = "SegmentationClass", "SegmentationObject", "JPEGImages"


def voc_root(folder: Path) -> Path | None:
    """The folder holding SegmentationClass/: `folder` itself, or its one VOC20xx below (VOCdevkit/VOC2012)."""
    if (folder / CLASS_DIR).is_dir():
        return folder
    below = sorted({p.parent for p in [*folder.glob(f"VOC*/{CLASS_DIR}"), *folder.glob(f"*/VOC*/{CLASS_DIR}")]})
    if len(below) > 1:
        raise DataError(f"{folder}: holds {len(below)} VOC sets ({', '.join(str(p) for p in below)}); pass one")
    return below[0] if below else None


def read_voc_segmentation(folder: str | Path, ignore_index: int | None = None) -> SourceMasks:
    """The splits ImageSets/Segmentation lists (else every mask as train), each image with its class mask; mask
    value `ignore_index` (--ignore-index) unlabelled, as 255 is."""
    root = voc_root(Path(folder))
    if root is None:
        raise DataError(f"{folder}: no {CLASS_DIR}/ folder; a VOC segmentation set has JPEGImages/ and {CLASS_DIR}/")
    classes = with_ignore(_classes(root), ignore_index)
    masks = {p.stem: p for p in sorted((root / CLASS_DIR).glob("*.png"))}
    objects = {p.stem: p for p in sorted((root / OBJECT_DIR).glob("*.png"))} if (root / OBJECT_DIR).is_dir() else {}
    split_ids, warnings = _split_lists(root, masks)
    listed = list(dict.fromkeys(i for ids in split_ids.values() for i in ids))
    instances = bool(objects) and all(i in objects for i in listed)
    if objects and not instances:
        missing = [i for i in listed if i not in objects]
        warnings.append(counted(f"image(s) have no {OBJECT_DIR} mask, so the set is read without objects", missing))
    images = {i: _image(root, i, masks[i]) for i in listed}
    ids = dict(zip(listed, unique_image_ids(list(images.values())), strict=True))
    splits = {split: SegmentationSplit([str(images[i]) for i in stems],
                                       [IndexMaskTarget(masks[i], str(images[i]), classes,
                                                        objects[i] if instances else None, border=IGNORE)
                                        for i in stems],
                                       [ids[i] for i in stems])
              for split, stems in split_ids.items()}
    return SourceMasks(classes.names, splits, instances, warnings)


def _classes(root: Path) -> ClassMap:
    """VOC's classes (or those of a classes.txt), with VOC's colours for masks re-exported as RGB."""
    given = read_class_map(root)
    names = given.names if given is not None else list(VOC_CLASSES)
    if given is not None and given.colours is not None:
        return given
    palette = voc_palette()
    values = range(len(names)) if given is None else [*given.values(), *[v for v in [given.ignore] if v is not None]]
    colours = {palette[3 * i] << 16 | palette[3 * i + 1] << 8 | palette[3 * i + 2]: i for i in values}
    colours[palette[3 * IGNORE] << 16 | palette[3 * IGNORE + 1] << 8 | palette[3 * IGNORE + 2]] = IGNORE
    source = given.source if given is not None else f"VOC's {len(VOC_CLASSES)} classes"
    return ClassMap(names, source, colours, ignore=given.ignore if given is not None else None)


def _split_lists(root: Path, masks: dict[str, Path]) -> tuple[dict[str, list[str]], list[str]]:
    lists = {split: root / "ImageSets" / "Segmentation" / f"{split}.txt" for split in SPLITS}
    lists = {split: path for split, path in lists.items() if path.is_file()}
    if not masks:
        raise DataError(f"{root / CLASS_DIR}: holds no .png masks")
    if not lists:
        return {"train": list(masks)}, []
    splits = {}
    for split, path in lists.items():
        ids = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.split() and line.split()[0] not in masks:
                raise DataError(f"{path} line {number}: no {CLASS_DIR}/{line.split()[0]}.png; fix or delete the line")
            ids += line.split()[:1]
        if not ids:
            raise DataError(f"{path}: the {split} split lists no images; add ids or delete the file")
        splits[split] = ids
    listed = {i for ids in splits.values() for i in ids}
    unlisted = [stem for stem in masks if stem not in listed]
    if not unlisted:
        return splits, []
    return splits, [counted("mask(s) are in no ImageSets/Segmentation list and were left out", unlisted)]


def _image(root: Path, stem: str, mask: Path) -> Path:
    for suffix in (".jpg", *sorted(IMAGE_EXTENSIONS)):
        for candidate in (root / IMAGE_DIR / f"{stem}{suffix}", root / IMAGE_DIR / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{mask}: its image {IMAGE_DIR}/{stem}.jpg is missing; add it or delete the mask")
