"""COCO JSON format: `images`, `annotations` (bbox = [x, y, width, height] in pixels) and `categories`.

One .json holds one split; a folder of `train.json` / `val.json` / `test.json` (or `instances_val2017.json` ...) holds
several. Category ids may be sparse: they map, in id order, to class indices 0..N-1; the writer numbers them from 1.
"""

import json
from pathlib import Path

import numpy as np

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


def read_coco(path: str | Path) -> SourceDetections:
    """One COCO .json (read as the train split), or a folder of per-split .json files."""
    path = Path(path)
    files = annotation_files(path, ".json", "no train.json / val.json / test.json (COCO files named by split) in it",
                             f"COCO file {path} does not exist; pass a .json file or a folder of train/val/test .json")
    classes: list[str] | None = None
    split_images, warnings = {}, []
    for split, file in files.items():
        file_classes, split_images[split], file_warnings = read_coco_file(file)
        if classes is not None and file_classes != classes:
            raise DataError(f"{file}: its categories ({', '.join(file_classes)}) differ from those of the other "
                            f"splits ({', '.join(classes)}); give every split the same categories")
        classes = file_classes
        warnings += file_warnings
    return assemble(classes or [], split_images, warnings)


def read_coco_file(file: Path) -> tuple[list[str], list[tuple[Path, BoxLabels, Size | None]], list[str]]:
    """Class names (in category id order), each image with its boxes and size, and counted warnings."""
    data = load_json(file)
    category_index, classes = category_classes(data["categories"], file)
    images = _images(data["images"], file)
    boxes: dict[int, list] = {image_id: [] for image_id in images}
    labels: dict[int, list[int]] = {image_id: [] for image_id in images}
    crowd = 0
    for index, annotation in enumerate(data["annotations"]):
        where = f"{file} annotations[{index}]"
        image_id, category_id, bbox = (annotation.get(key) for key in ("image_id", "category_id", "bbox"))
        if image_id not in images:
            raise LabelError(f"{where}: image_id {image_id!r} is not in 'images'; add the image or fix the id")
        if category_id not in category_index:
            raise LabelError(f"{where}: category_id {category_id!r} is not in 'categories' "
                             f"({', '.join(map(str, category_index))}); add the category or fix the id")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
            raise LabelError(f"{where}: bbox {bbox!r} is not four numbers [x, y, width, height]")
        x, y, width, height = bbox
        boxes[image_id].append((x, y, x + width, y + height, index))
        labels[image_id].append(category_index[category_id])
        crowd += bool(annotation.get("iscrowd"))
    result = []
    for image_id, (path, size) in images.items():
        found = np.asarray(boxes[image_id], dtype=np.float64).reshape(-1, 5)
        checked = check_boxes(found[:, :4], size, lambda i, f=found: f"{file} annotations[{int(f[i, 4])}]")
        result.append((path, BoxLabels.of(checked, labels[image_id]), size))
    warnings = []
    if background := [p.name for p, target, _ in result if not len(target.labels)]:
        warnings.append(f"{file}: {len(background)} image(s) have no annotations and count as background: "
                        f"{', '.join(background[:5])}{' ...' if len(background) > 5 else ''}")
    if crowd:
        warnings.append(f"{file}: {crowd} crowd annotation(s) (iscrowd=1) are kept as ordinary boxes")
    return classes, result, warnings


def write_coco(dataset: AnnotatedSet | SourceDetections, out_dir: str | Path) -> Path:
    """Write images/ and one <split>.json per split under `out_dir`; returns `out_dir`."""
    source, out_dir = as_source(dataset), Path(out_dir)
    categories = [{"id": i + 1, "name": name, "supercategory": ""} for i, name in enumerate(source.classes)]
    numbers: dict[str, int] = {}  # one number per image over all splits, so a shared image keeps its id
    for name, split in source.splits.items():
        images, annotations = [], []
        for index, (image, target, image_id) in enumerate(zip(split.sources, split.targets, split.image_ids,
                                                              strict=True)):
            number = numbers.setdefault(image_id, len(numbers) + 1)
            file = save_image(image, out_dir / "images", image_id)
            width, height = split.size(index)
            images.append({"id": number, "file_name": file.name, "width": width, "height": height})
            for box, label in zip(target.boxes.tolist(), target.labels.tolist(), strict=True):
                x, y, w, h = box[0], box[1], box[2] - box[0], box[3] - box[1]
                annotations.append({"id": len(annotations) + 1, "image_id": number, "category_id": label + 1,
                                    "bbox": [round(v, 4) for v in (x, y, w, h)], "area": round(w * h, 4),
                                    "iscrowd": 0})
        document = {"info": {"description": f"written by ocularis ({name} split)"}, "licenses": [],
                    "images": images, "annotations": annotations, "categories": categories}
        (out_dir / f"{name}.json").write_text(json.dumps(document))
    return out_dir


def load_json(file: Path) -> dict:
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{file} line {error.lineno} column {error.colno}: not valid JSON ({error.msg}); "
                        "fix the syntax") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise DataError(f"{file}: field '{key}' is missing or not a list; a COCO file needs images, "
                            "annotations and categories")
    if not data["images"]:
        raise DataError(f"{file}: 'images' is empty; a split needs at least one image")
    return data


def category_classes(categories: list, file: Path) -> tuple[dict[int, int], list[str]]:
    names: dict[int, str] = {}
    for index, category in enumerate(categories):
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise LabelError(f"{file} categories[{index}]: needs an 'id' and a 'name'")
        if category["id"] in names:
            raise LabelError(f"{file} categories[{index}]: id {category['id']} is used twice; give each its own id")
        names[category["id"]] = str(category["name"])
    if not names:
        raise DataError(f"{file}: 'categories' is empty; list the classes as {{\"id\": 1, \"name\": \"cat\"}}")
    ordered = sorted(names)
    return {category_id: i for i, category_id in enumerate(ordered)}, [names[i] for i in ordered]


def _images(images: list, file: Path) -> dict[int, tuple[Path, Size | None]]:
    """image id -> (file, (width, height)); ids and file names must be unique and every file must exist. Sizes come
    from the json; only images it gives none for have their headers read (None where even that fails)."""
    found: dict[int, tuple[Path, Size | None]] = {}
    first_index: dict = {}
    for index, image in enumerate(images):
        where = f"{file} images[{index}]"
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise LabelError(f"{where}: needs an 'id' and a 'file_name'")
        for key in ("id", "file_name"):
            if (key, image[key]) in first_index:
                raise LabelError(f"{where}: {key} {image[key]!r} is also used by images[{first_index[key, image[key]]}]"
                                 f"; image {key}s must be unique — merge or renumber them")
            first_index[key, image[key]] = index
        path = resolve_image(file, str(image["file_name"]), where)
        found[image["id"]] = (path, (image["width"], image["height"]) if "width" in image and "height" in image
                              else None)
    unsized = [image_id for image_id, (_, size) in found.items() if size is None]
    for image_id, size in zip(unsized, image_sizes([str(found[i][0]) for i in unsized]), strict=True):
        found[image_id] = (found[image_id][0], size)
    return found


def resolve_image(file: Path, name: str, where: str) -> Path:
    """The image a file_name means: beside the json, in images/, one folder up, or in the folder the json's name
    gives (COCO's own layout: annotations/instances_val2017.json -> ../val2017/)."""
    named = file.stem.rsplit("_", 1)[-1]
    for folder in (file.parent, file.parent / "images", file.parent.parent, file.parent.parent / "images",
                   file.parent.parent / named, file.parent.parent / "images" / named):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{where}: image {name!r} not found beside {file.name}, in images/, or in ../{named}/; put it "
                    "there or fix file_name")
