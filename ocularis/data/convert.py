"""Any detection format in, any out: `read_source` recognises what a path holds, `convert` rewrites it elsewhere."""

from collections.abc import Callable
from pathlib import Path

from ocularis.data.boxes import AnnotatedSet, SourceDetections, as_source, image_size, split_files
from ocularis.data.coco import read_coco, write_coco
from ocularis.data.formats import MASK_FORMATS
from ocularis.data.udacity import read_udacity, write_udacity
from ocularis.data.voc import read_voc, write_voc
from ocularis.data.yolo import read_yolo, write_yolo
from ocularis.errors import ConfigError, DataError
from ocularis.registry import DATASETS

WRITERS: dict[str, Callable[[AnnotatedSet | SourceDetections, Path], Path]] = {
    "yolo": write_yolo, "coco": write_coco, "voc": write_voc, "csv": write_udacity}


def read_source(data: str | Path) -> SourceDetections:
    """The dataset at `data` with its splits as the files define them (a built-in: its default seeded splits)."""
    path = Path(data)
    if ("detect", str(data)) in DATASETS and not path.exists():
        return as_source(DATASETS.get(str(data), task="detect")(val_fraction=0.15, test_fraction=0.15, seed=0))
    if path.is_file():
        suffix = path.suffix.lower()
        readers = {".yaml": read_yolo, ".yml": read_yolo, ".json": read_coco, ".csv": read_udacity}
        if suffix in readers:
            return readers[suffix](path)
        if suffix == ".xml":
            raise DataError(f"{path}: pass the folder holding the VOC .xml files (and images), not one file")
        raise DataError(f"{path}: not a detection dataset; pass a YOLO .yaml, a COCO .json, a box .csv or a folder")
    if path.is_dir():
        return _read_folder(path)
    known = ", ".join(DATASETS.names(task="detect"))
    raise DataError(f"dataset {data}: no such file or folder, and not a built-in dataset ({known}); pass a YOLO "
                    "data.yaml, a COCO .json, a VOC folder or a box .csv")


def source_format(data: str | Path) -> str:
    """yolo, coco, csv or voc, from what `data` is (a built-in dataset counts as yolo-like: "builtin")."""
    path = Path(data)
    if not path.exists():
        return "builtin"
    suffix = path.suffix.lower() if path.is_file() else ""
    return {".yaml": "yolo", ".yml": "yolo", ".json": "coco", ".csv": "csv"}.get(suffix, "voc" if path.is_dir()
                                                                                     else "unknown")


def convert(source: str, target_format: str, out_dir: str) -> Path:
    """Rewrite the dataset at `source` (splits kept) as `target_format` in an empty `out_dir`; returns what to read.
    A mask format (masks, coco-seg, yolo-seg) reads `source` as segmentation data instead (segmentation.py)."""
    if target_format in MASK_FORMATS:
        from ocularis.data.segmentation import convert_masks  # the mask readers load pycocotools and OpenCV

        return convert_masks(source, target_format, out_dir)
    if target_format not in WRITERS:
        raise ConfigError(f"unknown detection format {target_format!r}; choose one of {', '.join(WRITERS)} (or "
                          f"{', '.join(MASK_FORMATS)} for masks)")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"output folder {out} is not empty; choose a new folder so no old file mixes in")
    dataset = read_source(source)
    for split in dataset.splits.values():  # an image whose header cannot be read cannot be converted: say which
        for index, size in enumerate(split.sizes):
            if size is None:
                image_size(split.sources[index])  # raises CorruptImageError naming the file
    out.mkdir(parents=True, exist_ok=True)
    return WRITERS[target_format](dataset, out)


def _read_folder(folder: Path) -> SourceDetections:
    """A folder: a YOLO yaml in it, VOC annotations, or COCO .json / box .csv files named by split."""
    yamls = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if len(yamls) == 1:
        return read_yolo(yamls[0])
    if len(yamls) > 1:
        raise DataError(f"{folder}: holds {len(yamls)} yaml files ({', '.join(y.name for y in yamls)}); "
                        "pass the one that describes the dataset")
    if (folder / "Annotations").is_dir() or any(folder.glob("*.xml")):
        return read_voc(folder)
    if split_files(folder, ".json"):
        return read_coco(folder)
    if split_files(folder, ".csv"):
        return read_udacity(folder)
    raise DataError(f"{folder}: no detection dataset found; expected a YOLO data.yaml, VOC Annotations/*.xml, or "
                    "train/val/test .json (COCO) or labels_<split>.csv files")
