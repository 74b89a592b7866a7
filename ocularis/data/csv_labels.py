"""CSV reader: a `path,label` header, one image per row; `a|b` in the label column makes a multi-label set.

An optional `split` column (train/val/test) fixes the splits; otherwise they are drawn with the seed.
"""

import csv
from pathlib import Path

from ocularis.data.labelled import LabelledImages, Split, split_off, split_three
from ocularis.errors import DataError

COLUMNS = ("path", "label", "split")
LABEL_SEPARATOR = "|"


def read_csv(file: str | Path, *, val_fraction: float, test_fraction: float, seed: int) -> LabelledImages:
    file = Path(file)
    if not file.is_file():
        raise DataError(f"label file {file} does not exist")
    rows = _read_rows(file)
    classes = sorted({label for _, labels, _ in rows for label in labels})
    multi_label = any(len(labels) > 1 for _, labels, _ in rows)
    by_split: dict[str, Split] = {"train": Split(), "val": Split(), "test": Split(), "": Split()}
    for path, labels, split in rows:
        by_split[split].sources.append(path)
        by_split[split].targets.append(tuple(sorted(classes.index(label) for label in labels)))
    if len(by_split[""]) and any(len(by_split[s]) for s in ("train", "val", "test")):
        raise DataError(f"{file}: some rows name a split and some do not; fill the split column on every row")
    if len(by_split[""]):
        train, val, test = split_three(by_split[""], val_fraction, test_fraction, seed)
        return LabelledImages(classes, train, val, test, multi_label=multi_label)
    train, val, test = by_split["train"], by_split["val"], by_split["test"]
    if not len(train):
        raise DataError(f"{file}: no row has split 'train'; mark training rows or drop the split column")
    if not len(val):
        train, val = split_off(train, val_fraction, seed, "validation")
    test_is_val = not len(test)
    return LabelledImages(classes, train, val, test if len(test) else val, multi_label=multi_label,
                          test_is_val=test_is_val)


def _read_rows(file: Path) -> list[tuple[str, list[str], str]]:
    with file.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        unknown = [name for name in header if name not in COLUMNS]
        if unknown or "path" not in header or "label" not in header:
            problem = f"unknown column {unknown[0]!r}" if unknown else "missing column 'path' or 'label'"
            raise DataError(f"{file} line 1: {problem}; the header must be path,label[,split]")
        rows = []
        for line, fields in enumerate(reader, start=2):
            if not fields or not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise DataError(f"{file} line {line}: expected {len(header)} fields ({','.join(header)}), "
                                f"found {len(fields)}; quote values that contain commas")
            row = dict(zip(header, (f.strip() for f in fields), strict=True))
            labels = [label.strip() for label in row["label"].split(LABEL_SEPARATOR) if label.strip()]
            if not row["path"] or not labels:
                raise DataError(f"{file} line {line}: empty path or label")
            split = row.get("split", "").lower()
            if split not in ("", "train", "val", "test"):
                raise DataError(f"{file} line {line}: split {split!r} is not train, val or test")
            path = Path(row["path"]) if Path(row["path"]).is_absolute() else file.parent / row["path"]
            if not path.is_file():
                raise DataError(f"{file} line {line}: image {path} does not exist; paths are relative to the CSV")
            rows.append((str(path), labels, split))
    if not rows:
        raise DataError(f"{file} has no rows; add one `path,label` row per image")
    return rows
