"""YOLO (Ultralytics/darknet) format: a data.yaml naming image folders or lists, one labels/<stem>.txt per image.

Each label line is `class cx cy w h`, the box centre and size as fractions (0..1) of the image width and height. An
image's label file is found by swapping the last `/images/` in its path for `/labels/`, as Ultralytics does.
"""

import os
from pathlib import Path

import numpy as np
import yaml

from ocularis.core.images import is_image_file, list_images
from ocularis.data.boxes import (
    SPLITS,
    AnnotatedSet,
    BoxLabels,
    Size,
    SourceDetections,
    as_source,
    assemble,
    image_sizes,
    save_image,
)
from ocularis.errors import DataError, LabelError

FRACTION_TOLERANCE = 1e-3  # label writers round to 6 decimals, so a corner may sit a hair past 0 or 1: clipped


def read_yolo(data_yaml: str | Path) -> SourceDetections:
    """The splits a data.yaml names, each image with its boxes in pixels."""
    data_yaml = Path(data_yaml)
    config = load_yaml(data_yaml)
    classes = class_names(config, data_yaml)
    root, warnings = dataset_root(config, data_yaml)
    split_images: dict[str, list[Path]] = {}
    label_folders: list[Path] = []
    for split in SPLITS:
        entries = config.get(split)
        if entries in (None, "", []):
            continue
        images = []
        for entry in entries if isinstance(entries, list) else [entries]:
            images += list_entry(root, str(entry), f"{data_yaml} field '{split}'", label_folders)
        split_images[split] = images
    if not split_images:
        raise DataError(f"{data_yaml}: names no split; add `train: images/train` (and val, test)")
    unique = list(dict.fromkeys(p for paths in split_images.values() for p in paths))
    labelled = _read_labels(unique, classes, data_yaml)
    warnings += missing_and_orphans(unique, label_folders)
    return assemble(classes, {name: [(p, *labelled[p]) for p in paths] for name, paths in split_images.items()},
                    warnings)


def label_path(image: Path) -> Path:
    """Where an image's label file lies: the last /images/ in its path becomes /labels/ (else beside the image)."""
    text, images, labels = str(image), f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    swapped = labels.join(text.rsplit(images, 1)) if images in text else text
    return Path(swapped).with_suffix(".txt")


def write_yolo(dataset: AnnotatedSet | SourceDetections, out_dir: str | Path) -> Path:
    """Write images/, labels/ and data.yaml under `out_dir`; returns the data.yaml."""
    source, out_dir = as_source(dataset), Path(out_dir)
    all_ids = [i for split in source.splits.values() for i in split.image_ids]
    shared = len(all_ids) > len(set(all_ids))  # one image in two splits: one file, and per-split lists name it
    config: dict = {}
    for name, split in source.splits.items():
        folder = out_dir / "images" / ("" if shared else name)
        written = []
        for index, (image, target, image_id) in enumerate(zip(split.sources, split.targets, split.image_ids,
                                                              strict=True)):
            written.append(save_image(image, folder, image_id))
            _write_label_file(label_path(written[-1]), target, split.size(index))
        if shared:
            (out_dir / f"{name}.txt").write_text("".join(f"./{p.relative_to(out_dir).as_posix()}\n" for p in written))
        config[name] = f"{name}.txt" if shared else f"images/{name}"
    config["nc"] = len(source.classes)
    config["names"] = dict(enumerate(source.classes))
    path = out_dir / "data.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def _write_label_file(path: Path, target: BoxLabels, size: Size) -> None:
    width, height = size
    boxes = np.asarray(target.boxes, dtype=np.float64).reshape(-1, 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2 / [width, height]
    sizes = (boxes[:, 2:] - boxes[:, :2]) / [width, height]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{label} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n"
                            for label, (cx, cy), (w, h) in zip(target.labels.tolist(), centres, sizes, strict=True)))


def load_yaml(data_yaml: Path) -> dict:
    if not data_yaml.is_file():
        raise DataError(f"dataset file {data_yaml} does not exist; pass a YOLO data.yaml")
    try:
        config = yaml.safe_load(data_yaml.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where, problem = f" line {mark.line + 1}" if mark else "", getattr(error, "problem", error)
        raise DataError(f"{data_yaml}{where}: not valid YAML ({problem}); fix the syntax") from None
    if not isinstance(config, dict):
        raise DataError(f"{data_yaml}: expected a mapping with train, val and names; found {type(config).__name__}")
    return config


def class_names(config: dict, data_yaml: Path) -> list[str]:
    names = config.get("names")
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise DataError(f"{data_yaml} field 'names': ids must be 0..{len(names) - 1} with none missing; "
                            f"found {sorted(names)}")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names:
        raise DataError(f"{data_yaml} field 'names': missing or empty; list the class names, e.g. names: [cat, dog]")
    if "nc" in config and config["nc"] != len(names):
        raise DataError(f"{data_yaml} field 'nc': says {config['nc']} classes but 'names' lists {len(names)}; "
                        "make them agree (or drop nc)")
    return [str(name) for name in names]


def dataset_root(config: dict, data_yaml: Path) -> tuple[Path, list[str]]:
    """The folder split paths are relative to: `path` (itself relative to the yaml), else the yaml's folder."""
    if not config.get("path"):
        return data_yaml.parent, []
    root = Path(config["path"]) if Path(config["path"]).is_absolute() else data_yaml.parent / config["path"]
    if root.is_dir():
        return root, []
    # Ultralytics resolves a relative `path` against its own datasets folder; beside the yaml is where it lies here.
    return data_yaml.parent, [f"{data_yaml} field 'path': {root} does not exist; used the yaml's folder instead"]


def list_entry(root: Path, entry: str, where: str, label_folders: list[Path]) -> list[Path]:
    path = Path(entry) if Path(entry).is_absolute() else root / entry
    if path.is_dir():
        images = list_images(path)
        if not images:
            raise DataError(f"{where}: folder {path} has no images; add images or fix the path")
        label_folders.append(label_path(path / "x").parent)
        return images
    if path.suffix == ".txt" and path.is_file():
        return _read_list(path, root)
    if is_image_file(path):
        return [path]
    raise DataError(f"{where}: {path} does not exist; give a folder of images or a .txt list, relative to {root}")


def _read_list(list_file: Path, root: Path) -> list[Path]:
    images = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        name = line.strip()
        if Path(name).is_absolute():
            image = Path(name)
        elif name.startswith("./") or not (root / name).exists():  # "./x" is relative to the list, as in Ultralytics
            image = list_file.parent / name
        else:
            image = root / name
        if not image.is_file():
            raise DataError(f"{list_file} line {number}: image {image} does not exist; fix or delete the line")
        images.append(image)
    if not images:
        raise DataError(f"{list_file}: lists no images; add one image path per line")
    return images


def _read_labels(images: list[Path], classes: list[str], data_yaml: Path) -> dict[Path, tuple[BoxLabels, Size | None]]:
    """Each image's boxes in pixels and its size: YOLO labels are fractions of it, so its header is read here, once."""
    sizes = image_sizes([str(p) for p in images])
    return {image: (_parse_label_file(label_path(image), size, classes, data_yaml), size)
            for image, size in zip(images, sizes, strict=True)}


def _parse_label_file(path: Path, size: Size | None, classes: list[str], data_yaml: Path) -> BoxLabels:
    if not path.is_file() or size is None:  # a background image (counted in the warnings), or one read_boxes drops
        return BoxLabels.of([], [])
    boxes, labels = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path} line {number}"
        if len(fields) != 5:
            hint = " (a segmentation polygon? give its bounding box instead)" if len(fields) > 5 else ""
            raise LabelError(f"{where}: expected 5 fields 'class cx cy w h', got {len(fields)}{hint}")
        try:
            label, cx, cy, w, h = float(fields[0]), *map(float, fields[1:])
        except ValueError:
            raise LabelError(f"{where}: {line.strip()!r} is not numbers; write 'class cx cy w h'") from None
        if not label.is_integer() or not 0 <= label < len(classes):
            raise LabelError(f"{where}: class {fields[0]} is not in {data_yaml} names (0..{len(classes) - 1}); "
                             "fix the class or add the name")
        corners = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        if w <= 0 or h <= 0 or not np.isfinite(corners).all():
            raise LabelError(f"{where}: box w={fields[3]} h={fields[4]} has zero or negative size; fix or delete it")
        if (corners < -FRACTION_TOLERANCE).any() or (corners > 1 + FRACTION_TOLERANCE).any():
            raise LabelError(f"{where}: box reaches outside the image (YOLO coordinates are fractions 0..1 of the "
                             "image size); are they in pixels? divide by the image width and height")
        boxes.append(np.clip(corners, 0, 1) * [size[0], size[1], size[0], size[1]])
        labels.append(int(label))
    return BoxLabels.of(boxes, labels)


def missing_and_orphans(images: list[Path], label_folders: list[Path]) -> list[str]:
    """Counted warnings: images without a label file (background), label files without an image (ignored)."""
    warnings = []
    missing = [p for p in images if not label_path(p).is_file()]
    if missing:
        warnings.append(f"{len(missing)} image(s) have no label file and count as background: "
                        f"{', '.join(p.name for p in missing[:5])}{' ...' if len(missing) > 5 else ''}")
    expected = {label_path(p) for p in images}
    orphans = sorted({f for folder in label_folders if folder.is_dir() for f in folder.rglob("*.txt")
                      if f.name != "classes.txt"} - expected)
    if orphans:
        warnings.append(f"{len(orphans)} label file(s) have no image and were ignored: "
                        f"{', '.join(str(p) for p in orphans[:5])}{' ...' if len(orphans) > 5 else ''}; "
                        "add the images or delete the files")
    return warnings
