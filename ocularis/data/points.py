"""Readers of landmark + attribute labels: points on each image (a face's eyes, nose, mouth corners) and named
categorical attributes (gender, smile, glasses).

Two formats:
- a CSV with a header: `path` (or `image`), then `NAME_x,NAME_y` column pairs (pixels of the original image), then
  any other column as an attribute (its values are names; an empty cell is unknown and not trained on);
- MTFL's lines (Zhang et al., ECCV 2014): `path x1..x5 y1..y5 gender smile glasses pose`, as `training.txt` and
  `testing.txt` in a folder (they become the train and test splits) or one such file.
Paths are relative to the label file's folder; points of -1 (or an empty cell) are missing.
"""

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ocularis.errors import DataError, LabelError

MTFL_POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
MTFL_ATTRIBUTES = {"gender": ("male", "female"), "smile": ("smiling", "not smiling"),
                   "glasses": ("glasses", "no glasses"),
                   "pose": ("left profile", "left", "frontal", "right", "right profile")}
MTFL_FILES = ("training.txt", "testing.txt")


@dataclass
class PointRows:
    """Images with their points (N, K, 2) in pixels, NaN where missing, and attribute indices (N, A), -1 unknown."""

    sources: list[str] = field(default_factory=list)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.float32))
    attributes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices) -> "PointRows":
        indices = list(indices)
        return PointRows([self.sources[i] for i in indices], self.points[indices], self.attributes[indices])


@dataclass
class PointLabels:
    """What a landmark reader returns: the point names, each attribute's value names, and the rows (`test` set
    where the data names a test split)."""

    point_names: list[str]
    attributes: dict[str, list[str]]
    rows: PointRows
    test: PointRows | None = None


def read_point_labels(data: str | Path) -> PointLabels:
    """A CSV, an MTFL file, or a folder holding MTFL's training.txt (and testing.txt)."""
    path = Path(data)
    if path.is_dir():
        files = [path / name for name in MTFL_FILES if (path / name).is_file()]
        if not files:
            raise DataError(f"--data {path}: a landmark folder holds MTFL's {' and '.join(MTFL_FILES)}; or pass a "
                            "CSV of path,NAME_x,NAME_y,...,ATTRIBUTE columns")
        labels = _read_mtfl(files[0])
        if len(files) > 1:
            labels.test = _read_mtfl(files[1]).rows
        return labels
    if not path.is_file():
        raise DataError(f"--data {path}: no such label file or folder")
    return _read_csv(path) if path.suffix.lower() == ".csv" else _read_mtfl(path)


def _read_mtfl(file: Path) -> PointLabels:
    sources, points, attributes = [], [], []
    for number, line in enumerate(file.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 15:
            raise LabelError(f"{file}:{number}: an MTFL line has 15 fields (path, 5 x, 5 y, gender, smile, glasses, "
                             f"pose), this one {len(fields)}")
        try:
            xy = np.array(fields[1:11], dtype=np.float32).reshape(2, 5).T
            codes = [int(v) - 1 for v in fields[11:]]
        except ValueError:
            raise LabelError(f"{file}:{number}: coordinates and attribute codes must be numbers") from None
        for code, (name, values) in zip(codes, MTFL_ATTRIBUTES.items(), strict=True):
            if not -1 <= code < len(values):
                raise LabelError(f"{file}:{number}: {name} code {code + 1} is not one of 1..{len(values)}")
        sources.append(str(file.parent / fields[0].replace("\\", "/")))
        points.append(np.where(xy < 0, np.nan, xy))
        attributes.append(codes)
    if not sources:
        raise DataError(f"{file} has no labelled images")
    rows = PointRows(sources, np.stack(points), np.array(attributes, dtype=np.int64))
    return PointLabels(list(MTFL_POINTS), {k: list(v) for k, v in MTFL_ATTRIBUTES.items()}, rows)


def _read_csv(file: Path) -> PointLabels:
    with file.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        body = [(number, row) for number, row in enumerate(reader, 2) if any(cell.strip() for cell in row)]
    path_column = next((i for i, h in enumerate(header) if h.lower() in ("path", "image", "file")), None)
    if path_column is None:
        raise LabelError(f"{file}:1: the header needs a path (or image) column, then NAME_x,NAME_y point columns and "
                         "attribute columns")
    point_names = [h[:-2] for h in header if h.endswith("_x") and f"{h[:-2]}_y" in header]
    point_columns = [(header.index(f"{n}_x"), header.index(f"{n}_y")) for n in point_names]
    used = {path_column, *(c for pair in point_columns for c in pair)}
    attribute_columns = [i for i in range(len(header)) if i not in used]
    strays = [header[i] for i in attribute_columns if header[i].endswith(("_x", "_y"))]
    if strays:
        raise LabelError(f"{file}:1: column {strays[0]!r} has no partner ({strays[0][:-2]}_x and _y come in pairs)")
    if not point_names and not attribute_columns:
        raise LabelError(f"{file}:1: no NAME_x,NAME_y point columns and no attribute columns to learn")
    values = {header[i]: sorted({row[i].strip() for _, row in body if i < len(row) and row[i].strip()})
              for i in attribute_columns}
    sources, points, attributes = [], [], []
    for number, row in body:
        if len(row) != len(header):
            raise LabelError(f"{file}:{number}: {len(row)} cells, the header has {len(header)}")
        try:
            xy = [[float(row[x]) if row[x].strip() else np.nan, float(row[y]) if row[y].strip() else np.nan]
                  for x, y in point_columns]
        except ValueError:
            raise LabelError(f"{file}:{number}: point coordinates must be numbers (or empty when unknown)") from None
        sources.append(str(file.parent / row[path_column].strip()))
        points.append(np.array(xy, dtype=np.float32).reshape(len(point_names), 2))
        attributes.append([values[header[i]].index(row[i].strip()) if row[i].strip() else -1
                           for i in attribute_columns])
    if not sources:
        raise DataError(f"{file} has no labelled rows")
    stacked = np.stack(points)
    rows = PointRows(sources, np.where(stacked < 0, np.nan, stacked),
                     np.array(attributes, dtype=np.int64).reshape(len(sources), len(attribute_columns)))
    return PointLabels(point_names, values, rows)


def eye_pair(point_names: list[str]) -> tuple[int, int] | None:
    """Indices of the left and right eye among the points (names with 'eye' and 'left' / 'right'), or None."""
    left = [i for i, n in enumerate(point_names) if "eye" in n and "left" in n]
    right = [i for i, n in enumerate(point_names) if "eye" in n and "right" in n]
    return (left[0], right[0]) if left and right else None


def check_points_inside(rows: PointRows, sizes: list[tuple[int, int]], point_names: list[str]) -> None:
    """Every point lies inside its image (width, height); else the file and point are named."""
    for source, points, (width, height) in zip(rows.sources, rows.points, sizes, strict=True):
        outside = ~np.isnan(points[:, 0]) & ((points[:, 0] > width) | (points[:, 1] > height))
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            raise LabelError(f"{source}: point {point_names[k]} at ({points[k, 0]:g}, {points[k, 1]:g}) lies outside "
                             f"the {width} x {height} image; fix its label (coordinates are pixels of the original "
                             "image)")
