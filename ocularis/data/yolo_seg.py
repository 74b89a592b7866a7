"""YOLO segmentation (Ultralytics) format: a data.yaml as for detection (path, train, val, test, names), and per image
a labels/<stem>.txt whose lines are `class x1 y1 x2 y2 ...`, one object's polygon as fractions (0..1) of the image.

YOLO's classes are the objects, so class k is index k + 1 here (0 is the background). A polygon is filled as
Ultralytics fills it (cv2.fillPoly on the points in pixels), so a point is a pixel position: x * width, rounded.
The writer traces each object's outline with cv2.findContours; an object in several parts becomes one polygon joined by
zero-width bridges (as Ultralytics' own converter joins them), and holes are filled: a polygon has none.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from ocularis.core.checkpoint import atomic_write
from ocularis.data.boxes import SPLITS, Size, image_size, save_image, unique_image_ids
from ocularis.data.masks import BACKGROUND, IGNORE, MaskLabels, MaskTarget, SegmentationSplit, SourceMasks
from ocularis.data.yolo import class_names, dataset_root, label_path, list_entry, load_yaml, missing_and_orphans
from ocularis.errors import DataError, LabelError


@dataclass
class YoloSegTarget(MaskTarget):
    """One image's label file (absent: an image with no objects)."""

    file: Path
    classes: int  # number of YOLO classes (objects)
    instances: bool = True

    def decode(self, size: Size) -> MaskLabels:
        width, height = size
        masks, labels = [], []
        lines = self.file.read_text().splitlines() if self.file.is_file() else []
        for number, line in enumerate(lines, start=1):
            if line.split():
                label, points = _parse(line, f"{self.file} line {number}", self.classes, size)
                mask = np.zeros((height, width), np.uint8)
                cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
                masks.append(mask.astype(bool))
                labels.append(label + 1)
        return MaskLabels.from_instances(np.array(masks, bool).reshape(-1, height, width), labels, size)

    def where(self) -> str:
        return str(self.file)


def _parse(line: str, where: str, classes: int, size: Size) -> tuple[int, np.ndarray]:
    """(class, polygon in pixels) of one label line; a point a pixel past the edge is rounding and is clipped."""
    fields = line.split()
    try:
        label, values = float(fields[0]), np.array([float(v) for v in fields[1:]])
    except ValueError:
        raise LabelError(f"{where}: {line.strip()[:60]!r} is not numbers; write 'class x1 y1 x2 y2 ...'") from None
    if not label.is_integer() or not 0 <= label < classes:
        raise LabelError(f"{where}: class {fields[0]} is not in the data.yaml names (0..{classes - 1}); fix the class "
                         "or add the name")
    if len(values) < 6 or len(values) % 2:
        hint = " (a box 'class cx cy w h'? segmentation needs polygons)" if len(values) == 4 else ""
        raise LabelError(f"{where}: a polygon of {len(values) / 2:g} points{hint}; give at least 3 (x, y) points")
    width, height = size
    points = values.reshape(-1, 2) * [width, height]
    outside = ~np.isfinite(points).all(1) | (points < -1).any(1) | (points[:, 0] > width + 1) \
        | (points[:, 1] > height + 1)
    if outside.any():
        x, y = values.reshape(-1, 2)[np.flatnonzero(outside)[0]]
        raise LabelError(f"{where}: point ({x:g}, {y:g}) lies outside the image (YOLO coordinates are fractions 0..1 "
                         "of the image size); are they in pixels? divide by the image width and height")
    return int(label), np.clip(points, 0, [width - 1, height - 1])


def read_yolo_seg(data_yaml: str | Path) -> SourceMasks:
    """The splits a data.yaml names, each image with its (lazily decoded) polygons."""
    data_yaml = Path(data_yaml)
    config = load_yaml(data_yaml)
    names = class_names(config, data_yaml)
    if BACKGROUND in names:
        raise DataError(f"{data_yaml} field 'names': lists '{BACKGROUND}'; YOLO classes are the objects (the "
                        "background is implicit), so remove it")
    root, warnings = dataset_root(config, data_yaml)
    split_images: dict[str, list[Path]] = {}
    label_folders: list[Path] = []
    for split in SPLITS:
        entries = config.get(split)
        if entries in (None, "", []):
            continue
        split_images[split] = [image for entry in (entries if isinstance(entries, list) else [entries])
                               for image in list_entry(root, str(entry), f"{data_yaml} field '{split}'",
                                                        label_folders)]
    if not split_images:
        raise DataError(f"{data_yaml}: names no split; add `train: images/train` (and val, test)")
    unique = list(dict.fromkeys(p for paths in split_images.values() for p in paths))
    ids = dict(zip(unique, unique_image_ids(unique), strict=True))
    warnings += missing_and_orphans(unique, label_folders)
    splits = {split: SegmentationSplit([str(p) for p in paths], [YoloSegTarget(label_path(p), len(names))
                                                                 for p in paths], [ids[p] for p in paths])
              for split, paths in split_images.items()}
    return SourceMasks([BACKGROUND, *names], splits, instances=True, warnings=warnings)


def write_yolo_seg(source: SourceMasks, out_dir: Path) -> Path:
    """Write images/<split>/, labels/<split>/ and data.yaml under `out_dir`; returns the data.yaml. Class pixels no
    object covers (semantic-only data) become one object per connected region; IGNORE pixels become background."""
    config: dict = {}
    for name, split in source.splits.items():
        for image, target, image_id in zip(split.sources, split.targets, split.image_ids, strict=True):
            written = save_image(image, out_dir / "images" / name, image_id)
            width, height = image_size(image)
            lines = [f"{label - 1} " + " ".join(f"{x / width:.6f} {y / height:.6f}" for x, y in polygon)
                     for polygon, label in _polygons(target.decode((width, height)))]
            atomic_write(label_path(written), "".join(f"{line}\n" for line in lines).encode())
        config[name] = f"images/{name}"
    config["nc"] = len(source.classes) - 1
    config["names"] = dict(enumerate(source.classes[1:]))
    path = out_dir / "data.yaml"
    atomic_write(path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode())
    return path


def _polygons(labels: MaskLabels):
    """(polygon in pixels, class) of each object, then of each connected region of class pixels no object covers."""
    for mask, label in zip(labels.masks, labels.labels, strict=True):
        if (polygon := mask_polygon(mask)) is not None:
            yield polygon, int(label)
    covered = labels.masks.any(0) if len(labels.masks) else np.zeros(labels.semantic.shape, bool)
    for label in np.unique(labels.semantic[~covered]).tolist():
        if label in (0, IGNORE):
            continue
        parts, _ = cv2.findContours(((labels.semantic == label) & ~covered).astype(np.uint8), cv2.RETR_EXTERNAL,
                                    cv2.CHAIN_APPROX_SIMPLE)
        yield from ((_at_least_three(part.reshape(-1, 2)), label) for part in parts)


def mask_polygon(mask: np.ndarray) -> np.ndarray | None:
    """One polygon (K, 2 pixel positions) cv2.fillPoly turns back into `mask` (holes filled, parts bridged)."""
    parts, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = sorted((part.reshape(-1, 2) for part in parts), key=len, reverse=True)
    if not parts:
        return None
    polygon = parts[0]
    for part in parts[1:]:
        # join at the closest pair of points: out along the bridge, round the part, and back the same way
        distances = ((polygon[:, None, :] - part[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(distances.argmin()), distances.shape)
        polygon = np.concatenate([polygon[:i + 1], np.roll(part, -j, axis=0), part[j:j + 1], polygon[i:]])
    return _at_least_three(polygon)


def _at_least_three(polygon: np.ndarray) -> np.ndarray:
    """A one- or two-pixel outline repeated to the three points a YOLO polygon needs (fillPoly draws it the same)."""
    return np.concatenate([polygon] * 3)[:max(3, len(polygon))] if len(polygon) < 3 else polygon
