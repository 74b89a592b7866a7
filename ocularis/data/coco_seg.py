"""COCO instance masks: the `segmentation` of each annotation as polygons (pixel-edge coordinates), uncompressed RLE
(`counts` a list) or compressed RLE (`counts` a string), decoded with pycocotools when an image is asked for.

One .json is one split (a single file is read as train, as the detection reader does); a folder, or its annotations/
folder, holds one per split (`instances_val2017.json`, `val.json` ...; captions_*.json beside them are not read).
Images lie beside the json, in images/ beside it, one folder up, or (COCO's own layout) in ../val2017/ named by the
json. Category ids map in id order to classes 1..N; 0 is the background. A crowd (iscrowd=1) paints its class in the
class map but is no object, as COCO's own evaluation treats it.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools import mask as coco_mask

from ocularis.core.checkpoint import atomic_write
from ocularis.data.boxes import PIXEL_TOLERANCE, Size, image_size, save_image, split_named, unique_image_ids
from ocularis.data.coco import category_classes, load_json, resolve_image
from ocularis.data.masks import BACKGROUND, IGNORE, MaskLabels, MaskTarget, SegmentationSplit, SourceMasks, counted
from ocularis.errors import DataError, LabelError


@dataclass(frozen=True)
class Segment:
    """One annotation of one image, kept as the json gives it."""

    index: int  # its place in the json's annotations, for messages
    label: int  # class index >= 1
    segmentation: list | dict
    crowd: bool


@dataclass
class CocoMaskTarget(MaskTarget):
    """The annotations of one image of a COCO json."""

    file: Path
    image: str
    segments: list[Segment]
    instances: bool = True

    def decode(self, size: Size) -> MaskLabels:
        width, height = size
        semantic = np.zeros((height, width), np.uint8)
        masks, labels = [], []
        for segment in self.segments:
            mask = segment_mask(segment.segmentation, size, f"{self.file} annotations[{segment.index}]")
            semantic[mask] = segment.label
            if not segment.crowd:
                masks.append(mask)
                labels.append(segment.label)
        stacked = np.stack(masks) if masks else np.zeros((0, height, width), bool)
        return MaskLabels(semantic, stacked, np.array(labels, dtype=np.int64))

    def where(self) -> str:
        return f"{self.file} image {self.image}"


def segment_mask(segmentation: list | dict, size: Size, where: str) -> np.ndarray:
    """The (H, W) bool mask of a COCO segmentation on an image of `size`; LabelError naming `where` and the fix."""
    width, height = size
    if isinstance(segmentation, list):
        rle = coco_mask.merge(coco_mask.frPyObjects(_polygons(segmentation, size, where), height, width))
    else:
        rle_size = segmentation.get("size")
        if list(rle_size or []) != [height, width]:
            raise LabelError(f"{where}: RLE size {rle_size} (height, width) is not the image's [{height}, {width}]; "
                             "re-encode the mask at the image's size")
        counts = segmentation.get("counts")
        total = sum(counts) if isinstance(counts, list) else _compressed_total(counts, where)
        if isinstance(counts, list) and any(not isinstance(c, int) or c < 0 for c in counts):
            raise LabelError(f"{where}: RLE counts must be non-negative whole numbers; re-encode the mask")
        if total != height * width:
            raise LabelError(f"{where}: RLE counts cover {total} pixels, not the {width} x {height} = "
                             f"{width * height} of its image; re-encode the mask at the image's size")
        rle = coco_mask.frPyObjects(segmentation, height, width) if isinstance(counts, list) else segmentation
    return coco_mask.decode(rle).astype(bool)


def _polygons(segmentation: list, size: Size, where: str) -> list[list[float]]:
    """The polygons, each clipped to the image (a pixel past the edge is rounding); refused when degenerate."""
    width, height = size
    if segmentation and all(isinstance(v, int | float) for v in segmentation):
        segmentation = [segmentation]  # one flat polygon, as some tools write it
    if not segmentation:
        raise LabelError(f"{where}: 'segmentation' is an empty list; give the object a polygon or delete it")
    polygons = []
    for number, polygon in enumerate(segmentation):
        if not isinstance(polygon, list) or not all(isinstance(v, int | float) for v in polygon):
            raise LabelError(f"{where}: polygon {number} is not a list of numbers [x1, y1, x2, y2, ...]")
        if len(polygon) < 6 or len(polygon) % 2:
            raise LabelError(f"{where}: polygon {number} has {len(polygon) / 2:g} points; a polygon needs at least "
                             "3 (x, y) points — fix or delete it")
        points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        outside = ~np.isfinite(points).all(1) | (points < -PIXEL_TOLERANCE).any(1) \
            | (points[:, 0] > width + PIXEL_TOLERANCE) | (points[:, 1] > height + PIXEL_TOLERANCE)
        if outside.any():
            x, y = points[np.flatnonzero(outside)[0]]
            raise LabelError(f"{where}: polygon {number} point ({x:g}, {y:g}) lies outside the {width} x {height} px "
                             "image; fix the point (coordinates are pixels)")
        polygons.append(np.clip(points, 0, [width, height]).ravel().tolist())
    return polygons


def _compressed_total(counts, where: str) -> int:
    """The pixels a compressed RLE string covers (pycocotools' decoder does not check: a wrong total overruns)."""
    text = counts.decode() if isinstance(counts, bytes) else counts
    if not isinstance(text, str):
        raise LabelError(f"{where}: RLE counts is neither a list nor a string; re-encode the mask")
    runs, position = [], 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text) or not 0 <= (code := ord(text[position]) - 48) < 64:
                raise LabelError(f"{where}: RLE counts string is damaged at character {position}; re-encode the mask")
            value |= (code & 0x1F) << 5 * shift
            more = bool(code & 0x20)
            position, shift = position + 1, shift + 1
            if not more and code & 0x10:
                value |= -1 << 5 * shift
        value += runs[-2] if len(runs) > 2 else 0
        if value < 0:
            raise LabelError(f"{where}: RLE counts string decodes to a negative run; re-encode the mask")
        runs.append(value)
    return sum(runs)


def coco_files(path: Path) -> dict[str, Path]:
    """{split: json}: a .json as train, or a folder's (or its annotations/') instances_*.json or <split>.json."""
    if path.is_file():
        return {"train": path}
    for folder in (path, path / "annotations"):
        candidates = sorted(folder.glob("*.json"))
        chosen = [p for p in candidates if p.stem.startswith("instances")] or candidates
        found: dict[str, Path] = {}
        for file in chosen:
            if (split := split_named(file.stem)) in found:
                raise DataError(f"{folder}: both {found[split].name} and {file.name} hold the {split} split; keep one")
            if split:
                found[split] = file
        if found:
            return {split: found[split] for split in ("train", "val", "test") if split in found}
    return {}


def read_coco_masks(path: str | Path) -> SourceMasks:
    """The splits of one COCO .json or a folder of them, each image with its (lazily decoded) annotations."""
    path = Path(path)
    files = coco_files(path)
    if not files:
        raise DataError(f"{path}: no COCO .json (train.json, instances_val2017.json ...) in it or in annotations/")
    classes: list[str] | None = None
    found, warnings = {}, []
    for split, file in files.items():
        file_classes, found[split], file_warnings = _read_file(file)
        if classes is not None and file_classes != classes:
            raise DataError(f"{file}: its categories differ from those of the other splits; give every split the "
                            "same categories")
        classes, warnings = file_classes, warnings + file_warnings
    unique = list(dict.fromkeys(image for entries in found.values() for image, _ in entries))
    ids = dict(zip(unique, unique_image_ids(unique), strict=True))
    splits = {split: SegmentationSplit([str(image) for image, _ in entries], [t for _, t in entries],
                                       [ids[image] for image, _ in entries]) for split, entries in found.items()}
    instances = any(not s.crowd for entries in found.values() for _, t in entries for s in t.segments)
    return SourceMasks([BACKGROUND, *(classes or [])], splits, instances, warnings)


def _read_file(file: Path) -> tuple[list[str], list[tuple[Path, CocoMaskTarget]], list[str]]:
    data = load_json(file)
    category_index, classes = category_classes(data["categories"], file)
    images = _images(data["images"], file)
    segments: dict = {image_id: [] for image_id in images}
    for index, annotation in enumerate(data["annotations"]):
        where = f"{file} annotations[{index}]"
        image_id, category_id = annotation.get("image_id"), annotation.get("category_id")
        segmentation = annotation.get("segmentation")
        if image_id not in images:
            raise LabelError(f"{where}: image_id {image_id!r} is not in 'images'; add the image or fix the id")
        if category_id not in category_index:
            raise LabelError(f"{where}: category_id {category_id!r} is not in 'categories'; add it or fix the id")
        if not isinstance(segmentation, list | dict) or (isinstance(segmentation, dict)
                                                         and not {"counts", "size"} <= set(segmentation)):
            raise LabelError(f"{where}: no 'segmentation' polygon or RLE ({{counts, size}}); a box-only COCO file "
                             "is detection data: add masks or use the detect task")
        segments[image_id].append(Segment(index, category_index[category_id] + 1, segmentation,
                                          bool(annotation.get("iscrowd"))))
    entries = [(path, CocoMaskTarget(file, path.name, segments[image_id])) for image_id, path in images.items()]
    warnings = []
    if background := [path.name for path, target in entries if not target.segments]:
        warnings.append(counted(f"image(s) of {file.name} have no annotations (only background)", background))
    if crowd := sum(s.crowd for _, target in entries for s in target.segments):
        warnings.append(f"{file}: {crowd} crowd annotation(s) (iscrowd=1) paint their class but are not objects")
    return classes, entries, warnings


def _images(images: list, file: Path) -> dict[int, Path]:
    """image id -> file; ids and file names unique, and every file found."""
    found: dict[int, Path] = {}
    names: dict[str, int] = {}
    for index, image in enumerate(images):
        where = f"{file} images[{index}]"
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise LabelError(f"{where}: needs an 'id' and a 'file_name'")
        if image["id"] in found or str(image["file_name"]) in names:
            raise LabelError(f"{where}: its id or file_name is used twice; image ids and files must be unique")
        names[str(image["file_name"])] = index
        found[image["id"]] = resolve_image(file, str(image["file_name"]), where)
    return found


def write_coco_masks(source: SourceMasks, out_dir: Path) -> Path:
    """Write images/ and one <split>.json per split, each object a compressed RLE; class pixels no object covers
    (semantic-only data, crowds) become one iscrowd=1 region per class. IGNORE pixels have no COCO equivalent and
    become background. Returns `out_dir`."""
    categories = [{"id": i, "name": name, "supercategory": ""} for i, name in enumerate(source.classes) if i]
    numbers: dict[str, int] = {}  # one number per image over all splits, so a shared image keeps its id
    for name, split in source.splits.items():
        images, annotations = [], []
        for image, target, image_id in zip(split.sources, split.targets, split.image_ids, strict=True):
            number = numbers.setdefault(image_id, len(numbers) + 1)
            file = save_image(image, out_dir / "images", image_id)
            width, height = image_size(image)
            images.append({"id": number, "file_name": file.name, "width": width, "height": height})
            labels = target.decode((width, height))
            for mask, label, crowd in _regions(labels):
                annotations.append({"id": len(annotations) + 1, "image_id": number, "category_id": label,
                                    "iscrowd": int(crowd), **_encoded(mask)})
        document = {"info": {"description": f"written by ocularis ({name} split)"}, "licenses": [],
                    "images": images, "annotations": annotations, "categories": categories}
        atomic_write(out_dir / f"{name}.json", json.dumps(document).encode())
    return out_dir


def _regions(labels: MaskLabels):
    """(mask, class, crowd) of each object, then of each class's pixels that no object covers."""
    yield from ((mask, int(label), False) for mask, label in zip(labels.masks, labels.labels, strict=True))
    covered = labels.masks.any(0) if len(labels.masks) else np.zeros(labels.semantic.shape, bool)
    for label in np.unique(labels.semantic[~covered]).tolist():
        if label not in (0, IGNORE):
            yield (labels.semantic == label) & ~covered, label, True


def _encoded(mask: np.ndarray) -> dict:
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    x, y, w, h = coco_mask.toBbox(rle).tolist()
    return {"segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
            "area": int(coco_mask.area(rle)), "bbox": [x, y, w, h]}
