"""Image + mask PNG folders: `images/` beside `masks/` (or ISBI's `image/` + `label/`), matched by file name, either
at the top or inside `train/ val/ test/` folders (or `images/train` + `masks/train`).

A mask's pixel values are class indices (greyscale or palette PNG; 255 = ignore). Without a class map the classes are
the values found (0 named background, value v class_v, with a warning listing them): black-and-white {0, 255} masks
are background / foreground. A `classes.txt` (one name a line, line k = mask value k; class 0 need not be background)
or `classes.yaml` (a list of names, {name: index}, or {name: [r, g, b]} for colour masks) beside the folders names
them (mask_png.py reads both). A value that marks unlabelled pixels (CamVid's void 11) is a line `ignore` there, a
classes.yaml `ignore: 11` beside `names:`, or `--ignore-index 11`: its pixels are neither trained nor scored. An
`instances/` folder beside `masks/` adds objects (class 0 must then be background): an object-id PNG per image (0
none, k object k), each object's class the one the class mask gives its pixels. That is also what `write_masks`
writes.
"""

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ocularis.core.checkpoint import atomic_write
from ocularis.core.images import list_images
from ocularis.data.boxes import image_size, save_image, unique_image_ids
from ocularis.data.mask_png import ClassMap, IndexMaskTarget, read_class_map, voc_palette, with_ignore
from ocularis.data.masks import BACKGROUND, IGNORE, SegmentationSplit, SourceMasks, counted
from ocularis.errors import DataError, LabelError

IMAGE_DIRS = ("images", "image", "imgs")
MASK_DIRS = ("masks", "mask", "labels", "label")
OBJECT_DIR = "instances"
SPLIT_DIRS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
              "test": "test", "testing": "test"}


Layout = dict[str, tuple[Path, Path, Path | None]]  # split -> (image folder, mask folder, object-id folder or None)


def mask_folder_splits(root: Path) -> tuple[Layout, list[str]]:
    """The folders of each split of `root`; empty where `root` is not this layout."""
    pair = _pair(root)
    if pair:
        images, masks, objects = pair
        inner = [d.name for d in sorted(images.iterdir()) if d.is_dir() and d.name in SPLIT_DIRS]
        if inner and all((masks / name).is_dir() for name in inner):
            return _ordered({SPLIT_DIRS[name]: (images / name, masks / name,
                                                _folder(objects / name if objects else None)) for name in inner}), []
        return {"train": pair}, []
    splits: Layout = {}
    warnings = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and p.name in SPLIT_DIRS):
        found, split = _pair(child), SPLIT_DIRS[child.name]
        if found and split in splits:
            raise DataError(f"{root}: both {splits[split][0].parent.name}/ and {child.name}/ hold the {split} split; "
                            "keep one")
        if found:
            splits[split] = found
        elif any(_has_images(child / name) for name in IMAGE_DIRS):
            warnings.append(f"{child}: has images but no masks folder; its images are unlabelled and were left out")
    return (_ordered(splits), warnings) if splits else ({}, [])


def _ordered(layout: Layout) -> Layout:
    return {split: layout[split] for split in ("train", "val", "test") if split in layout}


def _pair(folder: Path) -> tuple[Path, Path, Path | None] | None:
    images = next((folder / name for name in IMAGE_DIRS if _has_images(folder / name)), None)
    masks = next((folder / name for name in MASK_DIRS if _has_images(folder / name)), None)
    return (images, masks, _folder(folder / OBJECT_DIR)) if images and masks else None


def _folder(path: Path | None) -> Path | None:
    return path if path is not None and path.is_dir() else None


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and bool(list_images(folder))


def read_mask_folders(root: str | Path, ignore_index: int | None = None) -> SourceMasks:
    """The splits of an image + mask folder layout, each image with its (lazily decoded) class mask; mask value
    `ignore_index` (--ignore-index) unlabelled."""
    root = Path(root)
    layout, warnings = mask_folder_splits(root) if root.is_dir() else ({}, [])
    if not layout:
        raise DataError(f"{root}: no images/ + masks/ folders (or train/image + train/label) with matching file names")
    found = {split: _matched(*folders, warnings) for split, folders in layout.items()}
    classes = read_class_map(root)
    if classes is not None:
        classes = with_ignore(classes, ignore_index)
    if classes is None or (len(classes.names) == 2 and classes.colours is None):
        classes = _from_values([m for pairs in found.values() for _, m, _ in pairs], classes, root, ignore_index,
                               warnings)
    unique = list(dict.fromkeys(image for pairs in found.values() for image, _, _ in pairs))
    ids = dict(zip(unique, unique_image_ids(unique), strict=True))
    splits = {split: SegmentationSplit([str(image) for image, _, _ in pairs],
                                       [IndexMaskTarget(mask, str(image), classes, objects)
                                        for image, mask, objects in pairs],
                                       [ids[image] for image, _, _ in pairs])
              for split, pairs in found.items()}
    instances = all(objects is not None for pairs in found.values() for _, _, objects in pairs)
    return SourceMasks(classes.names, splits, instances, warnings)


def _matched(images: Path, masks: Path, objects_dir: Path | None,
             warnings: list[str]) -> list[tuple[Path, Path, Path | None]]:
    """(image, mask, object-id mask or None) for each image with a mask of the same name (or <name>_mask)."""
    by_key = _by_key(masks)
    objects = _by_key(objects_dir) if objects_dir else {}
    pairs, unmatched = [], []
    for image in list_images(images):
        key = image.relative_to(images).with_suffix("").as_posix()
        if key in by_key:
            pairs.append((image, by_key.pop(key), objects.get(key)))
        else:
            unmatched.append(image.name)
    if unmatched:
        warnings.append(counted(f"image(s) in {images} have no mask in {masks} and were left out", unmatched))
    if by_key:
        warnings.append(counted(f"mask(s) in {masks} have no image and were ignored", sorted(by_key)))
    if not pairs:
        raise DataError(f"{images}: no image has a mask in {masks}; masks are matched by file name (images/a.jpg, "
                        "masks/a.png)")
    return pairs


def _by_key(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in list_images(folder):
        key = path.relative_to(folder).with_suffix("").as_posix()
        key = key.removesuffix("_mask")
        if key in found:
            raise DataError(f"{folder}: {found[key].name} and {path.name} are masks of the same image; keep one")
        found[key] = path
    return found


def _from_values(masks: list[Path], given: ClassMap | None, root: Path, ignore: int | None,
                 warnings: list[str]) -> ClassMap:
    """The class map the mask values imply: the values found (no class map: value 0 background, value v class_v,
    and a warning listing them), or whether 255 means class 1 in a two-class map (black-and-white masks). Each mask is
    read once for this: values, not sizes, are what counts."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        seen = set().union(*pool.map(_values, masks))
    ignore = given.ignore if given is not None else None if ignore == IGNORE else ignore
    labelled = seen - {ignore}
    if given is not None:
        return dataclasses.replace(given, binary=ignore not in (0, 1) and IGNORE in labelled and 1 not in labelled)
    if ignore not in (0, 1) and (labelled <= {0, 255} or labelled <= {0, 1}):
        return ClassMap([BACKGROUND, "foreground"], f"the black-and-white masks of {root} (no classes.txt)",
                        binary=IGNORE in labelled, ignore=ignore)
    top = max(labelled - {IGNORE}, default=0)
    if top >= IGNORE:
        raise DataError(f"{root}: mask values reach {top}; class masks hold classes 0..254 (255 = ignore)")
    names = [BACKGROUND if value == 0 else f"class_{value}" for value in range(top + 1) if value != ignore]
    warnings.append(counted("mask value(s) have no name (no classes.txt or classes.yaml beside the folders), so 0 "
                            "was named background and each other value v class_v", [str(v) for v in
                                                                                   sorted(labelled - {IGNORE})], 16)
                    + f"; name the classes in {root / 'classes.txt'} (one a line, mask value 0 first; a line "
                    "'ignore' for a value that marks unlabelled pixels) or pass --ignore-index N")
    return ClassMap(names, f"the values found in the masks of {root} (no classes.txt)", ignore=ignore)


def _values(path: Path) -> set[int]:
    try:
        with Image.open(path) as mask:
            values = np.asarray(mask)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise LabelError(f"{path}: cannot be read as an image ({str(error).splitlines()[0]}); re-export the mask as "
                         "PNG") from None
    if values.ndim != 2:
        raise LabelError(f"{path}: a colour mask, but there is no colour map; add a classes.yaml mapping each class "
                         "name to its [r, g, b], or save class-index masks")
    return set(np.flatnonzero(np.bincount(values.astype(np.int64).ravel())).tolist())


def write_masks(source: SourceMasks, out_dir: Path) -> Path:
    """Write classes.txt and <split>/images/, <split>/masks/ (palette PNGs of class indices) and, where the data has
    objects, <split>/instances/ (16-bit object-id PNGs) under `out_dir`; returns `out_dir`. An object id map keeps
    what is visible of each object: an object wholly hidden by later ones is lost (coco-seg keeps overlaps)."""
    atomic_write(out_dir / "classes.txt", "".join(f"{name}\n" for name in source.classes).encode())
    palette = voc_palette()
    for name, split in source.splits.items():
        for image, target, image_id in zip(split.sources, split.targets, split.image_ids, strict=True):
            save_image(image, out_dir / name / "images", image_id)
            labels = target.decode(image_size(image))
            classes = Image.fromarray(np.ascontiguousarray(labels.semantic, dtype=np.uint8))
            classes.putpalette(palette)
            _save_png(classes, out_dir / name / "masks" / f"{image_id}.png")
            if source.instances:
                ids = np.zeros(labels.semantic.shape, np.uint16)
                for number, mask in enumerate(labels.masks, start=1):
                    ids[mask] = number
                _save_png(Image.fromarray(ids), out_dir / name / OBJECT_DIR / f"{image_id}.png")
    return out_dir


def _save_png(image: Image.Image, path: Path) -> None:
    atomic_write(path, lambda file: image.save(file, format="PNG"))
