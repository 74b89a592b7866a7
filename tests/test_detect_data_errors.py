"""Detection data given wrongly: each mistake names the file and line or field, and the fix; unreadable images of
every split are reported together."""

import json
from pathlib import Path

import pytest

from ocularis.data.convert import convert, read_source
from ocularis.data.detection import (
    read_detection,
)
from ocularis.errors import ConfigError, DataError, LabelError
from tests.conftest import save

# --- bad input: each names the file and line or field, and the fix ----------------------------------------------


def test_yolo_label_line_with_wrong_field_count(yolo):
    (yolo.parent / "labels" / "train" / "a.txt").write_text("0 .5 .5 .1 .1\n\n0 .5 .5 .1\n")
    with pytest.raises(LabelError, match=r"labels/train/a\.txt line 3: expected 5 fields 'class cx cy w h', got 4"):
        read_detection(str(yolo))


def test_yolo_class_outside_names(yolo):
    (yolo.parent / "labels" / "train" / "a.txt").write_text("2 .5 .5 .1 .1\n")
    with pytest.raises(LabelError, match=r"a\.txt line 1: class 2 is not in .*data\.yaml names \(0\.\.1\)"):
        read_detection(str(yolo))


@pytest.mark.parametrize(("line", "problem"), [("0 .5 .5 0 .1", "zero or negative size"),
                                               ("0 .9 .5 .4 .2", "outside the image"),
                                               ("0 20 15 10 10", "are they in pixels")])
def test_yolo_box_empty_or_outside_the_image(yolo, line, problem):
    (yolo.parent / "labels" / "val" / "c.txt").write_text(line + "\n")
    with pytest.raises(LabelError, match=rf"c\.txt line 1: .*{problem}"):
        read_detection(str(yolo))


def test_yolo_image_without_label_file_is_background_not_error(yolo):
    data = read_detection(str(yolo), test_fraction=0)
    assert data.background_images() == 1 and any("count as background: b.png" in w for w in data.warnings)


def test_yolo_empty_or_missing_split_folder(yolo):
    (yolo.parent / "images" / "val" / "c.png").unlink()
    with pytest.raises(DataError, match=r"data\.yaml field 'val': folder .*images/val has no images"):
        read_detection(str(yolo))
    (yolo.parent / "images" / "val").rmdir()
    with pytest.raises(DataError, match=r"data\.yaml field 'val': .*images/val does not exist"):
        read_detection(str(yolo))


def test_yolo_yaml_missing_unparseable_or_inconsistent(yolo, tmp_path):
    with pytest.raises(DataError, match=r"nothing\.yaml: no such file or folder"):
        read_detection(str(tmp_path / "nothing.yaml"))
    yolo.write_text("train: images/train\nnames: [cat, dog\n")
    with pytest.raises(DataError, match=r"data\.yaml line \d+: not valid YAML"):
        read_detection(str(yolo))
    yolo.write_text("train: images/train\nnc: 3\nnames: [cat, dog]\n")
    with pytest.raises(DataError, match=r"data\.yaml field 'nc': says 3 classes but 'names' lists 2"):
        read_detection(str(yolo))


def coco_file(tmp_path: Path, **changes) -> Path:
    save(tmp_path / "images" / "p.png")
    save(tmp_path / "images" / "q.png")
    document = {"images": [{"id": 1, "file_name": "p.png", "width": 40, "height": 30},
                           {"id": 2, "file_name": "q.png", "width": 40, "height": 30}],
                "categories": [{"id": 1, "name": "cat"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]}
    document.update(changes)
    (tmp_path / "set.json").write_text(json.dumps(document))
    return tmp_path / "set.json"


def test_coco_duplicate_image_ids(tmp_path):
    images = [{"id": 1, "file_name": "p.png", "width": 40, "height": 30},
              {"id": 1, "file_name": "q.png", "width": 40, "height": 30}]
    with pytest.raises(LabelError, match=r"set\.json images\[1\]: id 1 is also used by images\[0\]"):
        read_detection(str(coco_file(tmp_path, images=images)))


@pytest.mark.parametrize(("annotation", "problem"), [
    ({"image_id": 9, "category_id": 1, "bbox": [1, 2, 3, 4]}, "image_id 9 is not in 'images'"),
    ({"image_id": 1, "category_id": 5, "bbox": [1, 2, 3, 4]}, r"category_id 5 is not in 'categories' \(1\)"),
    ({"image_id": 1, "category_id": 1, "bbox": [1, 2, 0, 4]}, "zero or negative size"),
    ({"image_id": 1, "category_id": 1, "bbox": [30, 2, 20, 4]}, "outside the 40 x 30 px image")])
def test_coco_bad_annotation(tmp_path, annotation, problem):
    file = coco_file(tmp_path, annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
                                            annotation])
    with pytest.raises(LabelError, match=rf"set\.json annotations\[1\]: .*{problem}"):
        read_detection(str(file))


def test_coco_unparseable_json_or_missing_image(tmp_path):
    (tmp_path / "broken.json").write_text('{"images": [}')
    with pytest.raises(DataError, match=r"broken\.json line 1 column 13: not valid JSON"):
        read_detection(str(tmp_path / "broken.json"))
    file = coco_file(tmp_path)
    (tmp_path / "images" / "q.png").unlink()
    with pytest.raises(DataError, match=r"set\.json images\[1\]: image 'q.png' not found"):
        read_detection(str(file))


def test_coco_image_without_annotations_is_counted(tmp_path):
    data = read_source(str(coco_file(tmp_path)))
    assert data.splits["train"].background_images() == 1 and "1 image(s) have no annotations" in data.warnings[0]


def voc_folder(tmp_path: Path, name: str = "cat", box=(1, 1, 10, 10)) -> Path:
    save(tmp_path / "x.png")
    xmin, ymin, xmax, ymax = box
    (tmp_path / "x.xml").write_text(
        f"<annotation><filename>x.png</filename><size><width>40</width><height>30</height></size><object><name>"
        f"{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
        "</bndbox></object></annotation>")
    return tmp_path


def test_voc_unknown_class_when_a_class_list_is_given(tmp_path):
    from ocularis.data.voc import read_voc

    with pytest.raises(LabelError, match=r"x\.xml: class 'bird' is not in the class list \(cat, dog\)"):
        read_voc(voc_folder(tmp_path, "bird"), classes=["cat", "dog"])
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    with pytest.raises(LabelError, match=r"add it to .*classes\.txt"):
        read_detection(str(tmp_path))


def test_voc_box_outside_image_or_unparseable_xml(tmp_path):
    with pytest.raises(LabelError, match=r"x\.xml <object> 1 \(cat, VOC 1-based\): .*outside the 40 x 30 px"):
        read_detection(str(voc_folder(tmp_path, box=(1, 1, 10, 45))))
    (tmp_path / "x.xml").write_text("<annotation><filename>x.png</filename>\n<object>\n</annotation>")
    with pytest.raises(DataError, match=r"x\.xml line 3 column \d+: not valid XML"):
        read_detection(str(tmp_path))


@pytest.mark.parametrize(("rows", "problem"), [
    ("f.png,1,11,2,22,0", r"line 2: class_id 0 is not a class \(0 means background"),
    ("f.png,1,11,2,22,1\nf.png,1,11,2", "line 3: expected 6 fields"),
    ("f.png,1,11,2,40,1", "line 2: box .* outside the 40 x 30 px image"),
    ("f.png,11,1,2,22,1", "line 2: box .* zero or negative size"),
    ("g.png,1,11,2,22,1", r"line 2: image .*g\.png does not exist")])
def test_udacity_bad_rows(tmp_path, rows, problem):
    save(tmp_path / "f.png")
    (tmp_path / "boxes.csv").write_text("frame,xmin,xmax,ymin,ymax,class_id\n" + rows + "\n")
    with pytest.raises(DataError, match=rf"boxes\.csv {problem}"):
        read_detection(str(tmp_path / "boxes.csv"))


def test_udacity_wrong_header_or_class_beyond_names(tmp_path):
    save(tmp_path / "f.png")
    (tmp_path / "boxes.csv").write_text("frame,xmin,ymin,xmax,ymax\nf.png,1,2,11,22\n")
    with pytest.raises(DataError, match=r"boxes\.csv line 1: header is .*expected frame,xmin,xmax,ymin,ymax"):
        read_detection(str(tmp_path / "boxes.csv"))
    (tmp_path / "classes.txt").write_text("car\n")
    (tmp_path / "boxes.csv").write_text("frame,xmin,xmax,ymin,ymax,class_id\nf.png,1,11,2,22,2\n")
    with pytest.raises(LabelError, match=r"line 2: class_id 2 is not a class; use 1\.\.1 in classes\.txt"):
        read_detection(str(tmp_path / "boxes.csv"))


def test_unknown_dataset_format_or_busy_output(tmp_path):
    with pytest.raises(DataError, match="no such file or folder, and not a built-in dataset"):
        read_detection(str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="unknown detection format 'kitti'; choose one of yolo, coco, voc, csv"):
        convert("shapes", "kitti", str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("")
    with pytest.raises(DataError, match="is not empty"):
        convert("shapes", "yolo", str(tmp_path / "out"))


# --- unreadable images, all splits at once ------------------------------------------------------------------------


def test_unreadable_images_of_every_split_are_reported_together_or_dropped(yolo):
    """Truncated, empty and fake images in train and val: one error lists all of them (a header that cannot be
    read does not stop the reader first), and --skip-bad leaves every one out."""
    from ocularis.config import build_config
    from ocularis.errors import CorruptImageError
    from ocularis.tasks.detect.config import DetectConfig
    from ocularis.tasks.detect.data import read_boxes

    images = yolo.parent / "images"
    good = (images / "train" / "a.png").read_bytes()
    broken = {"train/t1.png": good[: len(good) // 2], "train/t2.png": good[:-40], "train/e.png": b"",
              "val/v1.png": good[: len(good) // 3], "val/notes.png": b"not an image"}
    for name, payload in broken.items():
        (images / name).write_bytes(payload)
    (yolo.parent / "labels" / "val" / "v1.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    config = build_config(DetectConfig, {"data": str(yolo), "test_fraction": 0.0})
    with pytest.raises(CorruptImageError, match=r"^5 unreadable image file\(s\)") as raised:
        read_boxes(str(yolo), config)
    assert sorted(Path(p).name for p, _ in raised.value.bad) == ["e.png", "notes.png", "t1.png", "t2.png", "v1.png"]
    config.skip_bad = True
    kept = read_boxes(str(yolo), config)
    assert kept.train.image_ids == ["a", "b"] and kept.val.image_ids == ["c"]
    assert kept.train.sizes == [(40, 30), (40, 30)] and any("5 unreadable image(s) left out" in w
                                                             for w in kept.warnings)


def test_an_unreadable_image_cannot_be_converted(yolo, tmp_path):
    from ocularis.errors import CorruptImageError

    (yolo.parent / "images" / "train" / "e.png").write_bytes(b"")
    with pytest.raises(CorruptImageError, match=r"e\.png"):
        convert(str(yolo), "coco", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_annotated_sizes_that_the_files_contradict_are_reported(tmp_path):
    from ocularis.config import build_config
    from ocularis.tasks.detect.config import DetectConfig
    from ocularis.tasks.detect.data import read_boxes

    file = coco_file(tmp_path, images=[{"id": 1, "file_name": "p.png", "width": 50, "height": 30},
                                       {"id": 2, "file_name": "q.png", "width": 40, "height": 30}])
    config = build_config(DetectConfig, {"data": str(file), "val_fraction": 0.5, "test_fraction": 0.0})
    dataset = read_boxes(str(file), config)
    assert any("annotated 50 x 30, the file is 40 x 30 px" in w for w in dataset.warnings)
    assert sorted(dataset.train.sizes + dataset.val.sizes) == [(40, 30), (40, 30)]  # the files' own sizes win


