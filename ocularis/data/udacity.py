"""Udacity driving-set CSV, as the SSD7 project reads it: `frame,xmin,xmax,ymin,ymax,class_id`, one row per box.

Note the column order (xmin, xmax, ymin, ymax). Coordinates are 0-based pixel edges; frames are image files in the
CSV's folder. class_id counts from 1 (0 is the background there), so class_id k is class index k-1 here; names come
from a `classes.txt` beside the CSV (one a line), else "class1".."classN". A row with only a frame, the box fields
empty, marks an image with no boxes (our addition, so background images survive a round trip).
One .csv is one split; a folder of `labels_train.csv` / `labels_val.csv` / `labels_test.csv` holds several.
"""

import csv
from pathlib import Path

from ocularis.data.boxes import (
    AnnotatedSet,
    BoxLabels,
    Size,
    SourceDetections,
    annotation_files,
    as_source,
    assemble,
    check_boxes,
    image_sizes,
    save_image,
)
from ocularis.errors import DataError, LabelError

COLUMNS = ("frame", "xmin", "xmax", "ymin", "ymax", "class_id")
CLASSES_FILE = "classes.txt"


def read_udacity(path: str | Path) -> SourceDetections:
    """One box CSV (read as the train split), or a folder of labels_<split>.csv files."""
    path = Path(path)
    files = annotation_files(path, ".csv", "no labels_train.csv / labels_val.csv / labels_test.csv in it",
                             f"box CSV {path} does not exist; pass a .csv with header {','.join(COLUMNS)}")
    classes_file = (path if path.is_dir() else path.parent) / CLASSES_FILE
    names = [n.strip() for n in classes_file.read_text().splitlines() if n.strip()] if classes_file.is_file() else None
    rows = {split: _read_rows(file, names) for split, file in files.items()}
    if names is None:
        largest = max((row[3] for split_rows in rows.values() for row in split_rows if row[3] is not None), default=0)
        names = [f"class{k}" for k in range(1, largest + 1)]
    split_images = {split: _group(file, rows[split]) for split, file in files.items()}
    return assemble(names, split_images, [])


def write_udacity(dataset: AnnotatedSet | SourceDetections, out_dir: str | Path) -> Path:
    """Write the images, labels_<split>.csv and classes.txt into `out_dir`; returns it."""
    source, out_dir = as_source(dataset), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CLASSES_FILE).write_text("".join(f"{name}\n" for name in source.classes))
    for name, split in source.splits.items():
        with (out_dir / f"labels_{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for image, target, image_id in zip(split.sources, split.targets, split.image_ids, strict=True):
                frame = save_image(image, out_dir, image_id).name
                if not len(target.labels):
                    writer.writerow([frame, "", "", "", "", ""])
                for (x1, y1, x2, y2), label in zip(target.boxes.tolist(), target.labels.tolist(), strict=True):
                    writer.writerow([frame, *(_text(v) for v in (x1, x2, y1, y2)), label + 1])
    return out_dir


Row = tuple[int, Path, tuple[float, float, float, float] | None, int | None]  # line, image, box, 1-based class_id


def _read_rows(file: Path, names: list[str] | None) -> list:
    try:
        with file.open(newline="") as handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader, [])]
            if sorted(header) != sorted(COLUMNS):
                raise DataError(f"{file} line 1: header is {','.join(header) or 'empty'}; expected "
                                f"{','.join(COLUMNS)} (Udacity order: xmin, xmax, ymin, ymax)")
            rows = [_parse_row(file, number, header, fields, names)
                    for number, fields in enumerate(reader, start=2) if any(f.strip() for f in fields)]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{file}: not a readable CSV ({error}); save it as UTF-8 text") from None
    if not rows:
        raise DataError(f"{file}: has no rows; add one `frame,xmin,xmax,ymin,ymax,class_id` row per box")
    return rows


def _parse_row(file: Path, number: int, header: list[str], fields: list[str], names: list[str] | None) -> Row:
    where = f"{file} line {number}"
    if len(fields) != len(header):
        raise LabelError(f"{where}: expected {len(header)} fields ({','.join(header)}), got {len(fields)}")
    row = dict(zip(header, fields, strict=True))
    image = file.parent / row["frame"].strip()
    if not row["frame"].strip() or not image.is_file():
        raise DataError(f"{where}: image {image} does not exist; frames are relative to the CSV's folder")
    values = [row[key].strip() for key in COLUMNS[1:]]
    if not any(values):
        return number, image, None, None  # an image with no boxes
    try:
        xmin, xmax, ymin, ymax = (float(v) for v in values[:4])
        class_id = int(values[4])
    except ValueError:
        raise LabelError(f"{where}: {','.join(values)} are not numbers; write xmin,xmax,ymin,ymax,class_id") from None
    if class_id < 1 or (names is not None and class_id > len(names)):
        known = f"1..{len(names)} in {CLASSES_FILE}" if names is not None else "1 or more"
        reason = " (0 means background in this format)" if class_id == 0 else ""
        raise LabelError(f"{where}: class_id {class_id} is not a class{reason}; use {known}")
    return number, image, (xmin, ymin, xmax, ymax), class_id


def _group(file: Path, rows: list[Row]) -> list[tuple[Path, BoxLabels, Size | None]]:
    """Rows gathered per image (in order of first appearance), boxes checked against the image size."""
    per_image: dict[Path, list[Row]] = {}
    for row in rows:
        per_image.setdefault(row[1], []).append(row)
    sizes = image_sizes([str(image) for image in per_image])
    grouped = []
    for (image, image_rows), size in zip(per_image.items(), sizes, strict=True):
        boxed = [row for row in image_rows if row[2] is not None]
        boxes = check_boxes([row[2] for row in boxed], size, lambda i, b=boxed: f"{file} line {b[i][0]}")
        grouped.append((image, BoxLabels.of(boxes, [row[3] - 1 for row in boxed]), size))
    return grouped


def _text(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")
