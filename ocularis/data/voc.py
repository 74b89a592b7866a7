"""Pascal VOC format: one XML per image (`<annotation><filename>, <size>, <object><name>, <bndbox>`).

Two layouts: the VOC one (Annotations/*.xml, JPEGImages/, optional ImageSets/Main/{train,val,test}.txt naming the
splits) or a folder of .xml files beside their images (one split). VOC has no class list: a `classes.txt` in the folder
(one name a line, written by write_voc) fixes the order, else it is the sorted names found.

Coordinates: VOC numbers pixels from 1 and its xmax/ymax is the last pixel *inside* the box, so in ocularis' continuous
pixel-edge coordinates (0-based, x2 exclusive) a box is x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax — and the
writer inverts exactly that. A whole 10 px image is <xmin>1</xmin><xmax>10</xmax>, here x1 = 0, x2 = 10.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

from ocularis.core.images import IMAGE_EXTENSIONS
from ocularis.data.boxes import (
    SPLITS,
    AnnotatedSet,
    BoxLabels,
    Size,
    SourceDetections,
    as_source,
    assemble,
    check_boxes,
    header_size,
    save_image,
)
from ocularis.errors import DataError, LabelError

CLASSES_FILE = "classes.txt"


def read_voc(folder: str | Path, classes: list[str] | None = None) -> SourceDetections:
    """A VOC folder; with `classes` given (or a classes.txt), an object of any other class is an error."""
    folder = Path(folder)
    xml_dir = folder / "Annotations" if (folder / "Annotations").is_dir() else folder
    image_dir = folder / "JPEGImages" if (folder / "JPEGImages").is_dir() else xml_dir
    xml_files = sorted(xml_dir.glob("*.xml")) if folder.is_dir() else []
    if not xml_files:
        raise DataError(f"{folder}: no VOC annotations; expected Annotations/*.xml with JPEGImages/, or .xml files "
                        "beside the images")
    if classes is None and (folder / CLASSES_FILE).is_file():
        classes = [line.strip() for line in (folder / CLASSES_FILE).read_text().splitlines() if line.strip()]
    parsed = {path.stem: _parse(path, image_dir) for path in xml_files}
    found = sorted({name for _, _, names, _ in parsed.values() for name in names})
    if classes is not None and (unknown := [n for n in found if n not in classes]):
        where = next(p for p in xml_files if unknown[0] in parsed[p.stem][2])
        raise LabelError(f"{where}: class {unknown[0]!r} is not in the class list ({', '.join(classes)}); "
                         f"add it to {folder / CLASSES_FILE} or fix the <name>")
    classes = classes if classes is not None else found
    entries = {stem: (image, BoxLabels.of(boxes, [classes.index(n) for n in names]), size)
               for stem, (image, boxes, names, size) in parsed.items()}
    split_ids, warnings = _split_lists(folder, list(entries))
    background = [stem for stem, (_, target, _) in entries.items() if not len(target.labels)]
    if background:
        warnings.append(f"{len(background)} annotation file(s) have no <object> and count as background: "
                        f"{', '.join(background[:5])}{' ...' if len(background) > 5 else ''}")
    return assemble(classes, {split: [entries[i] for i in ids] for split, ids in split_ids.items()}, warnings)


def write_voc(dataset: AnnotatedSet | SourceDetections, out_dir: str | Path) -> Path:
    """Write Annotations/, JPEGImages/, ImageSets/Main/<split>.txt and classes.txt under `out_dir`; returns it."""
    source, out_dir = as_source(dataset), Path(out_dir)
    (out_dir / "Annotations").mkdir(parents=True, exist_ok=True)
    (out_dir / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    (out_dir / CLASSES_FILE).write_text("".join(f"{name}\n" for name in source.classes))
    for name, split in source.splits.items():
        for index, (image, target, image_id) in enumerate(zip(split.sources, split.targets, split.image_ids,
                                                              strict=True)):
            file = save_image(image, out_dir / "JPEGImages", image_id)
            _write_xml(out_dir / "Annotations" / f"{image_id}.xml", file.name, split.size(index), target,
                       source.classes)
        (out_dir / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{i}\n" for i in split.image_ids))
    return out_dir


def _parse(path: Path, image_dir: Path) -> tuple[Path, list, list[str], Size | None]:
    """(image file, boxes in pixel edges, class names, (width, height)) of one annotation file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        line, column = error.position
        raise DataError(f"{path} line {line} column {column}: not valid XML; fix the syntax") from None
    if root.tag != "annotation":
        raise DataError(f"{path}: the root element is <{root.tag}>, not <annotation>; is this a VOC file?")
    image = _image_file(path, image_dir, (root.findtext("filename") or "").strip())
    width, height = _number(root, "size/width", path), _number(root, "size/height", path)
    # some tools write <size> as 0 or leave it out: the image header knows (None if unreadable: read_boxes says so)
    size = (width, height) if width and height else header_size(str(image))
    boxes, names = [], []
    for index, obj in enumerate(root.findall("object"), start=1):
        name = (obj.findtext("name") or "").strip()
        if not name or obj.find("bndbox") is None:
            raise LabelError(f"{path} <object> {index}: needs a <name> and a <bndbox>; fix or delete the object")
        xmin, ymin, xmax, ymax = (_number(obj, f"bndbox/{key}", path, required=True)
                                  for key in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((xmin - 1, ymin - 1, xmax, ymax))
        names.append(name)
    checked = check_boxes(boxes, size, lambda i: f"{path} <object> {i + 1} ({names[i]}, VOC 1-based)")
    return image, checked, names, size


def _number(element: ET.Element, field: str, path: Path, required: bool = False) -> float:
    text = (element.findtext(field) or "").strip()
    if not text and not required:
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise LabelError(f"{path}: <{field}> is {text!r}, not a number; fix the value") from None


def _image_file(xml: Path, image_dir: Path, filename: str) -> Path:
    if filename and (image_dir / filename).is_file():
        return image_dir / filename
    for suffix in sorted(IMAGE_EXTENSIONS):  # <filename> is often stale after a rename; the stem is the VOC key
        for candidate in (image_dir / f"{xml.stem}{suffix}", image_dir / f"{xml.stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{xml}: its image {filename or xml.stem + '.*'} is not in {image_dir}; add it or fix <filename>")


def _split_lists(folder: Path, stems: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """The ids in ImageSets/Main/{train,val,test}.txt, else every annotation as 'train'."""
    lists = {split: folder / "ImageSets" / "Main" / f"{split}.txt" for split in SPLITS}
    lists = {split: path for split, path in lists.items() if path.is_file()}
    if not lists:
        return {"train": stems}, []
    known, splits = set(stems), {}
    for split, path in lists.items():
        ids = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.split() and line.split()[0] not in known:
                raise DataError(f"{path} line {number}: no Annotations/{line.split()[0]}.xml; fix or delete the line")
            ids += line.split()[:1]
        if not ids:
            raise DataError(f"{path}: the {split} split lists no images; add ids or delete the file")
        splits[split] = ids
    listed = {i for ids in splits.values() for i in ids}
    unlisted = [s for s in stems if s not in listed]
    warnings = [f"{len(unlisted)} annotation file(s) are in no ImageSets/Main list and were left out: "
                f"{', '.join(unlisted[:5])}{' ...' if len(unlisted) > 5 else ''}"] if unlisted else []
    return splits, warnings


def _write_xml(path: Path, filename: str, size: tuple[int, int], target: BoxLabels, classes: list[str]) -> None:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = filename
    size_element = ET.SubElement(root, "size")
    for key, value in zip(("width", "height", "depth"), (*size, 3), strict=True):
        ET.SubElement(size_element, key).text = str(value)
    for (x1, y1, x2, y2), label in zip(target.boxes.tolist(), target.labels.tolist(), strict=True):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = classes[label]
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), (x1 + 1, y1 + 1, x2, y2), strict=True):
            ET.SubElement(box, key).text = f"{value:.4f}".rstrip("0").rstrip(".")
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=False)
