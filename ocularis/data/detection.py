"""Any detection dataset as a AnnotatedSet: `read_detection` takes a built-in name or a file in any format and draws
the splits the source lacks with the seed.

It sits above everything it uses — the types and shared helpers in boxes.py, the formats in yolo/coco/voc/udacity.py,
recognising them in convert.py — so imports go one way; the names below are re-exported so callers need one import.
"""

from pathlib import Path

from ocularis.data.boxes import (
    SPLITS,
    AnnotatedSet,
    AnnotatedSplit,
    BoxLabels,
    Size,
    Source,
    SourceDetections,
    finish_splits,
    header_size,
    image_size,
    image_sizes,
    shapes_detection,
    unique_image_ids,
)
from ocularis.data.convert import read_source
from ocularis.registry import DATASETS

__all__ = ["SPLITS", "BoxLabels", "AnnotatedSet", "AnnotatedSplit", "Size", "Source", "SourceDetections",
           "finish_splits", "header_size", "image_size", "image_sizes", "read_detection", "shapes_detection",
           "unique_image_ids"]


def read_detection(data: str, *, val_fraction: float = 0.15, test_fraction: float = 0.15,
                   seed: int = 0) -> AnnotatedSet:
    """A built-in name ('shapes'), YOLO data.yaml, COCO .json, VOC folder or box .csv; lacking splits drawn."""
    if ("detect", str(data)) in DATASETS and not Path(data).exists():
        return DATASETS.get(str(data), task="detect")(val_fraction=val_fraction, test_fraction=test_fraction,
                                                      seed=seed)
    return finish_splits(read_source(data), val_fraction, test_fraction, seed, origin=str(data))
