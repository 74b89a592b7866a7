"""Any segmentation dataset as a SegmentationSet: `read_segmentation` takes a built-in name or a path in any mask
format, checks every annotation against its image once, and draws the splits the source lacks with the seed.

What a path holds is recognised by what it is: a .json is COCO, a .yaml YOLO-seg; a folder is (in this order) a YOLO
data.yaml in it, a VOC set (SegmentationClass/), COCO jsons named by split (in it or in annotations/), image + mask
folders (images/ + masks/, ISBI's train/image + train/label, or train/ val/ test/ holding them), or DSB image folders
(<id>/images + <id>/masks). `convert_masks` writes any of them as masks, coco-seg or yolo-seg, keeping the splits.

`ignore_index` (--ignore-index) is a class-index mask value that marks unlabelled pixels (CamVid's void 11, ADE20K's
0): image + mask folders and VOC sets decode it as IGNORE (data.mask_png.with_ignore); the other formats name their
classes by category, not by mask value, and refuse it.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ocularis.data.boxes import SPLITS, SourceDetections, finish_splits
from ocularis.data.cache import ImageCache
from ocularis.data.coco_seg import coco_files, read_coco_masks, write_coco_masks
from ocularis.data.formats import MASK_FORMATS
from ocularis.data.mask_folders import mask_folder_splits, read_mask_folders, write_masks
from ocularis.data.masks import (
    BACKGROUND,
    IGNORE,
    ArrayTarget,
    MaskLabels,
    MaskTarget,
    PackedTarget,
    SegmentationSet,
    SegmentationSplit,
    Size,
    Source,
    SourceMasks,
    counted,
    has_background,
)
from ocularis.data.nuclei import is_nuclei_folder, read_nuclei
from ocularis.data.shapes import SHAPES, draw_scene
from ocularis.data.voc_seg import read_voc_segmentation, voc_root
from ocularis.data.yolo_seg import read_yolo_seg, write_yolo_seg
from ocularis.errors import ConfigError, DataError, LabelError
from ocularis.registry import DATASETS

WRITERS: dict[str, Callable[[SourceMasks, Path], Path]] = dict(zip(MASK_FORMATS, (write_masks, write_coco_masks,
                                                                                 write_yolo_seg), strict=True))
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
TASK = "segment"


def read_segmentation(data: str, *, val_fraction: float = 0.15, test_fraction: float = 0.15,
                      seed: int = 0, ignore_index: int | None = None) -> SegmentationSet:
    """A built-in name ('shapes'), COCO .json, YOLO-seg .yaml or a mask folder; every annotation checked (a
    LabelError naming the file and the fix), lacking splits drawn with the seed; mask value `ignore_index`
    unlabelled (mask folders and VOC)."""
    if (TASK, str(data)) in DATASETS and not Path(data).exists():
        _no_ignore_index(ignore_index, f"the built-in {data}")
        return DATASETS.get(str(data), task=TASK)(val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    source = read_mask_source(data, ignore_index)
    channels, warnings = validate(source)
    dataset = finish_masks(source, val_fraction, test_fraction, seed, origin=str(data))
    dataset.channels, dataset.images = channels, ImageCache(channels=channels)
    dataset.warnings += warnings
    return dataset


def read_mask_source(data: str | Path, ignore_index: int | None = None) -> SourceMasks:
    """The dataset at `data` with its splits as the files define them (a built-in: its default seeded splits)."""
    path = Path(data)
    if ignore_index == IGNORE:  # the convention every reader keeps anyway
        ignore_index = None
    if (TASK, str(data)) in DATASETS and not path.exists():
        _no_ignore_index(ignore_index, f"the built-in {data}")
        dataset = DATASETS.get(str(data), task=TASK)(val_fraction=0.15, test_fraction=0.15, seed=0)
        splits = {name: getattr(dataset, name) for name in SPLITS if len(getattr(dataset, name))}
        return SourceMasks(dataset.classes, splits, dataset.instances, list(dataset.warnings))
    if path.is_file():
        readers = {".json": read_coco_masks, ".yaml": read_yolo_seg, ".yml": read_yolo_seg}
        if path.suffix.lower() not in readers:
            raise DataError(f"{path}: not a segmentation dataset; pass a COCO .json, a YOLO-seg data.yaml or a folder")
        _no_ignore_index(ignore_index, f"{path} ({'COCO' if path.suffix.lower() == '.json' else 'YOLO-seg'})")
        return readers[path.suffix.lower()](path)
    if path.is_dir():
        return _read_folder(path, ignore_index)
    known = ", ".join(DATASETS.names(task=TASK))
    raise DataError(f"dataset {data}: no such file or folder, and not a built-in segmentation dataset ({known}); pass "
                    "a COCO .json, a YOLO-seg data.yaml, or a folder of images and masks")


def _read_folder(folder: Path, ignore_index: int | None = None) -> SourceMasks:
    yamls = sorted(p for p in [*folder.glob("*.yaml"), *folder.glob("*.yml")] if p.stem != "classes")
    if len(yamls) > 1:
        raise DataError(f"{folder}: holds {len(yamls)} yaml files ({', '.join(y.name for y in yamls)}); pass the one "
                        "that describes the dataset")
    if yamls:
        _no_ignore_index(ignore_index, f"{folder} (YOLO-seg)")
        return read_yolo_seg(yamls[0])
    if voc_root(folder) is not None:
        return read_voc_segmentation(folder, ignore_index)
    if coco_files(folder):
        _no_ignore_index(ignore_index, f"{folder} (COCO)")
        return read_coco_masks(folder)
    if mask_folder_splits(folder)[0]:
        return read_mask_folders(folder, ignore_index)
    if is_nuclei_folder(folder):
        _no_ignore_index(ignore_index, f"{folder} (one mask PNG per nucleus)")
        return read_nuclei(folder)
    raise DataError(f"{folder}: no segmentation dataset found; expected images/ + masks/ folders (or train/image + "
                    "train/label), a VOC SegmentationClass/, COCO .json files, a YOLO-seg data.yaml, or DSB "
                    "<id>/images + <id>/masks folders")


def _no_ignore_index(ignore_index: int | None, what: str) -> None:
    if ignore_index is not None and ignore_index != IGNORE:
        raise ConfigError(f"--ignore-index {ignore_index}: {what} names its classes by category, not by mask value; "
                          "the option is for class-index masks (image + mask folders, VOC)")


def validate(source: SourceMasks) -> tuple[int, list[str]]:
    """Decode every annotation once against its image's size (from the file header); raise the first problem, in
    order; objects' masks are kept packed in place of their files (PackedTarget). Returns the channels the images
    have (1 where every one is greyscale) and the counted warnings. An image whose header cannot be read is left to
    the caller's decode check (ocularis.data.cache.check_decodable)."""
    if len(source.classes) > IGNORE or not source.classes:
        raise DataError(f"classes {source.classes[:3]}...: there must be 1 to {IGNORE} classes")
    if source.instances and not has_background(source.classes):
        raise DataError(f"classes {source.classes[:3]}...: the data has objects, and class 0 ({source.classes[0]!r}) "
                        f"is the pixels no object covers; name it '{BACKGROUND}' (a class of objects comes after it)")
    pairs = list({id(target): (image, target) for split in source.splits.values()
                  for image, target in zip(split.sources, split.targets, strict=True)}.values())
    pool = ThreadPoolExecutor(max_workers=4)  # PNG, RLE and header decodes release the GIL
    try:
        headers = list(pool.map(_header, [image for image, _ in pairs]))
        checks = [(image, target, header[0] if header else None, len(source.classes))
                  for (image, target), header in zip(pairs, headers, strict=True)]
        checked = list(pool.map(lambda check: _check(*check), checks))
    finally:  # on the first problem, the decodes not yet started are not waited for
        pool.shutdown(cancel_futures=True)
    skipped = [name for _, found in checked for name in found]
    packed = {id(target): kept for (_, target), (kept, _) in zip(pairs, checked, strict=True) if kept is not None}
    for split in source.splits.values():
        split.targets = [packed.get(id(target), target) for target in split.targets]
    known = [mode for _, mode in filter(None, headers)]
    channels = 1 if known and all(mode in GREY_MODES for mode in known) else 3
    warnings = [counted("empty instance mask file(s) were skipped (the data's way of deleting an object)",
                        skipped)] if skipped else []
    return channels, warnings


def _header(source: Source) -> tuple[Size, str] | None:
    """(width, height) and PIL mode of an image, from its header alone; None where it cannot be read."""
    if isinstance(source, np.ndarray):
        return (int(source.shape[1]), int(source.shape[0])), "L" if source.ndim == 2 else "RGB"
    try:
        with Image.open(source) as image:
            return image.size, image.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def _check(image: Source, target: MaskTarget, size: Size | None, classes: int
           ) -> tuple[PackedTarget | None, list[str]]:
    """Decode `target` for its image and check what any reader must give. Returns the decode packed (objects' masks
    in files, so every epoch need not decode them again; None for class maps, as cheap to decode as their image) and
    what the decode skipped."""
    if size is None:
        return None, []
    labels = target.decode(size)
    check_labels(labels, size, classes, target.where(), "the image" if isinstance(image, np.ndarray) else image)
    packed = PackedTarget.pack(labels, target.where()) if target.instances and not target.in_memory else None
    return packed, target.skipped()


def check_labels(labels: MaskLabels, size: Size, classes: int, where: str, image: str) -> None:
    """A LabelError naming `where` unless `labels` fit a `size` image and the `classes` class indices."""
    width, height = size
    if labels.semantic.shape != (height, width) or labels.masks.shape[1:] != (height, width):
        shape = labels.semantic.shape if labels.semantic.shape != (height, width) else labels.masks.shape[1:]
        raise LabelError(f"{where}: the annotation is {shape[1]} x {shape[0]} px but {image} is {width} x {height} "
                         "px; make the mask the image's size")
    found = np.flatnonzero(np.bincount(labels.semantic.ravel(), minlength=256))
    if len(wrong := [v for v in found.tolist() if v >= classes and v != IGNORE]):
        raise LabelError(f"{where}: class {wrong[0]} in the mask is not one of the {classes} classes (0..{classes - 1},"
                         f" {IGNORE} = ignore); fix the mask or add the class")
    if len(labels.labels) != len(labels.masks) or ((labels.labels < 1) | (labels.labels >= classes)).any():
        raise LabelError(f"{where}: object classes {labels.labels.tolist()[:5]} must be 1..{classes - 1} (one per "
                         "mask; objects are never background); fix the annotation")


def finish_masks(source: SourceMasks, val_fraction: float, test_fraction: float, seed: int,
                 origin: str) -> SegmentationSet:
    """The SegmentationSet of `source`, val and test drawn from train (seeded) where the source has none. The drawing
    is detection's (boxes.finish_splits), which asks of a split only len, image_ids and subset; where it holds no
    images out, its empty split is a AnnotatedSplit, made an empty SegmentationSplit here."""
    drawn = finish_splits(SourceDetections(source.classes, source.splits, source.warnings),  # type: ignore[arg-type]
                          val_fraction, test_fraction, seed, origin)
    train, val, test = (split if isinstance(split, SegmentationSplit) else SegmentationSplit()
                        for split in (drawn.train, drawn.val, drawn.test))
    return SegmentationSet(source.classes, train, val, test, instances=source.instances, warnings=drawn.warnings)


def convert_masks(source: str, target_format: str, out_dir: str) -> Path:
    """Rewrite the mask dataset at `source` (splits kept, every annotation checked first) as `target_format` in an
    empty `out_dir`; returns what to read back (the folder, or the YOLO data.yaml)."""
    if target_format not in WRITERS:
        raise ConfigError(f"unknown mask format {target_format!r}; choose one of {', '.join(WRITERS)}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"output folder {out} is not empty; choose a new folder so no old file mixes in")
    dataset = read_mask_source(source)
    if target_format != "masks" and not has_background(dataset.classes):
        raise DataError(f"{source}: class 0 is {dataset.classes[0]!r}, not background, and {target_format} stores "
                        "objects only, so its pixels would be lost; convert to masks")
    validate(dataset)
    out.mkdir(parents=True, exist_ok=True)
    return WRITERS[target_format](dataset, out)


def shapes_segmentation(*, val_fraction: float, test_fraction: float, seed: int, count: int = 1500,
                        size: int = 64) -> SegmentationSet:
    """`count` drawn 64 px scenes of 1-3 shapes, each shape an object with its mask; a fixed generator seed keeps it
    the same set, the seed only draws the splits. 1,500 because U-Net overfits 600 (test mIoU 0.81 after 30 epochs;
    0.91 after 20 on 1,500)."""
    rng = np.random.default_rng(12345)
    everything = SegmentationSplit()
    while len(everything) < count:
        image, objects = draw_scene(rng, size, int(rng.integers(1, 4)))
        if not objects:
            continue
        name = f"shapes_{len(everything):05d}"
        labels = MaskLabels.from_instances(np.stack([o.mask for o in objects]), [o.label + 1 for o in objects],
                                           (size, size))
        everything.sources.append(image)
        everything.targets.append(ArrayTarget(labels, name))
        everything.image_ids.append(name)
    source = SourceMasks([BACKGROUND, *SHAPES], {"train": everything}, instances=True)
    return finish_masks(source, val_fraction, test_fraction, seed, origin="shapes")


DATASETS.add("shapes", shapes_segmentation, task=TASK)
