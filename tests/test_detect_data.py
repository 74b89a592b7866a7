"""Detection datasets: the built-in set, four formats read and written, conversion between all. Bad input:
tests/test_detect_data_errors.py."""

import json

import numpy as np
import pytest
import torch

from ocularis.data.convert import WRITERS, convert, read_source
from ocularis.data.detection import (
    SPLITS,
    AnnotatedSet,
    SourceDetections,
    read_detection,
    shapes_detection,
    unique_image_ids,
)
from ocularis.data.shapes import SHAPES
from ocularis.errors import DataError
from ocularis.registry import DATASETS
from tests.conftest import ASSETS, save

COCO128 = ASSETS / "coco128"
needs_coco128 = pytest.mark.skipif(not (COCO128 / "coco128.yaml").is_file(), reason=f"no real assets at {COCO128}")


@pytest.fixture(scope="module")
def small_shapes() -> AnnotatedSet:
    return shapes_detection(val_fraction=0.2, test_fraction=0.2, seed=0, count=30, size=64)


def assert_same(read: AnnotatedSet | SourceDetections, reference: AnnotatedSet, splits=SPLITS) -> None:
    """Same classes, and per split the same image ids, labels and boxes (to 1e-3 px)."""
    assert read.classes == reference.classes
    for name in splits:
        got = read.splits[name] if isinstance(read, SourceDetections) else getattr(read, name)
        want = getattr(reference, name)
        assert got.image_ids == want.image_ids, name
        for a, b in zip(got.targets, want.targets, strict=True):
            assert a.labels.tolist() == b.labels.tolist() and a.boxes.dtype == np.float32
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


# --- the built-in set -------------------------------------------------------------------------------------------


def test_builtin_shapes_are_registered_fixed_and_sane():
    assert DATASETS.get("shapes", task="detect") is shapes_detection
    first, again = read_detection("shapes"), read_detection("shapes")
    assert first.classes == list(SHAPES) and (len(first.train), len(first.val), len(first.test)) == (420, 90, 90)
    assert first.test.image_ids == again.test.image_ids and (first.test.sources[0] == again.test.sources[0]).all()
    targets = [t for name in SPLITS for t in getattr(first, name).targets]
    assert sorted({len(t.labels) for t in targets}) == [1, 2, 3, 4] and first.background_images() == 0
    boxes = np.concatenate([t.boxes for t in targets])
    assert (boxes[:, 2:] - boxes[:, :2]).min() >= 4 and boxes.min() >= 0 and boxes.max() <= 96
    ids = [i for name in SPLITS for i in getattr(first, name).image_ids]
    assert len(set(ids)) == 600 and ids[0].startswith("shapes_")
    reseeded = read_detection("shapes", seed=1)
    assert reseeded.test.image_ids != first.test.image_ids and sorted(ids) == sorted(
        i for name in SPLITS for i in getattr(reseeded, name).image_ids)


# --- round trips ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target_format", list(WRITERS))
def test_each_format_writes_and_reads_back_the_same_boxes(small_shapes, target_format, tmp_path):
    written = WRITERS[target_format](small_shapes, tmp_path / target_format)
    assert_same(read_source(written), small_shapes)
    again = read_detection(str(written))  # the source has all three splits, so none is redrawn
    assert_same(again, small_shapes)
    assert again.warnings == []


@pytest.mark.parametrize("source_format", list(WRITERS))
def test_convert_between_every_pair_of_formats(small_shapes, source_format, tmp_path):
    source = WRITERS[source_format](small_shapes, tmp_path / source_format)
    for target_format in WRITERS:
        out = convert(str(source), target_format, str(tmp_path / f"{source_format}_to_{target_format}"))
        assert_same(read_source(out), small_shapes)


def test_coco_writer_output_loads_in_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    out = convert("shapes", "coco", str(tmp_path / "coco"))
    coco = COCO(str(out / "train.json"))
    reference = read_detection("shapes").train
    assert len(coco.getImgIds()) == len(reference) and min(coco.getAnnIds()) == 1
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(SHAPES)
    first = coco.loadImgs(coco.getImgIds()[0])[0]
    annotations = coco.loadAnns(coco.getAnnIds(imgIds=[first["id"]]))
    x, y, w, h = annotations[0]["bbox"]
    np.testing.assert_allclose([x, y, x + w, y + h], reference.targets[0].boxes[0], atol=1e-3)
    assert annotations[0]["area"] == pytest.approx(w * h) and annotations[0]["iscrowd"] == 0


def test_background_image_survives_every_format(tmp_path, yolo):
    for target_format in WRITERS:
        back = read_source(convert(str(yolo), target_format, str(tmp_path / target_format)))
        assert back.splits["train"].image_ids == ["a", "b"] and back.splits["train"].background_images() == 1


# --- the real coco128 -------------------------------------------------------------------------------------------


@needs_coco128
def test_coco128_counts_backgrounds_and_orphans():
    source = read_source(str(COCO128 / "coco128.yaml"))
    train = source.splits["train"]
    assert len(train) == 128 and len(source.classes) == 80 and source.classes[0] == "person"
    assert sum(len(t.labels) for t in train.targets) == 929 and train.background_images() == 2
    assert len({int(label) for t in train.targets for label in t.labels}) == 71
    orphans = next(w for w in source.warnings if "no image" in w)
    assert orphans.startswith("2 label file(s)") and "000000000656.txt" in orphans and "000000000659.txt" in orphans
    assert any(w.startswith("2 image(s) have no label file") and "000000000250.jpg" in w for w in source.warnings)
    data = read_detection(str(COCO128 / "coco128.yaml"))  # train and val are the same folder: drawn apart instead
    assert len(data.train) + len(data.val) + len(data.test) == 128 and data.background_images() == 2
    assert not set(data.train.image_ids) & set(data.val.image_ids)


@needs_coco128
def test_coco128_round_trips_through_coco_and_voc(tmp_path):
    from pycocotools.coco import COCO

    original = read_source(str(COCO128 / "coco128.yaml"))
    coco = convert(str(COCO128 / "coco128.yaml"), "coco", str(tmp_path / "coco"))
    assert len(COCO(str(coco / "val.json")).getAnnIds()) == 929
    for target_format in ("voc", "yolo"):  # yolo: the image shared by train and val is written once, listed twice
        back = read_source(convert(str(coco), target_format, str(tmp_path / target_format)))
        assert back.classes == original.classes and back.splits["val"].image_ids == original.splits["val"].image_ids
        for a, b in zip(back.splits["val"].targets, original.splits["val"].targets, strict=True):
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


# --- format details ---------------------------------------------------------------------------------------------


def test_yolo_reads_pixels_backgrounds_and_orphans(yolo):
    (yolo.parent / "labels" / "val" / "gone.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    source = read_source(str(yolo))
    a = source.splits["train"].targets[0]
    np.testing.assert_allclose(a.boxes, [[10, 7.5, 30, 22.5], [0, 0, 20, 15]])
    assert a.labels.tolist() == [0, 1] and source.classes == ["cat", "dog"]
    assert any("1 image(s) have no label file" in w and "b.png" in w for w in source.warnings)
    assert any("1 label file(s) have no image" in w and "gone.txt" in w for w in source.warnings)


def test_voc_coordinates_are_one_based(tmp_path):
    save(tmp_path / "JPEGImages" / "x.png", size=(10, 10))
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "x.xml").write_text(
        "<annotation><filename>x.png</filename><size><width>10</width><height>10</height></size><object><name>cat"
        "</name><bndbox><xmin>1</xmin><ymin>3</ymin><xmax>10</xmax><ymax>4</ymax></bndbox></object></annotation>")
    target = read_source(str(tmp_path)).splits["train"].targets[0]
    np.testing.assert_allclose(target.boxes, [[0, 2, 10, 4]])
    (tmp_path / "Annotations" / "x.xml").unlink()
    with pytest.raises(DataError, match="no VOC annotations"):
        read_source(str(tmp_path))


def test_udacity_column_order_and_default_names(tmp_path):
    save(tmp_path / "f.png")
    (tmp_path / "labels.csv").write_text("frame,xmin,xmax,ymin,ymax,class_id\nf.png,1,11,2,22,3\n")
    source = read_source(str(tmp_path / "labels.csv"))
    assert source.classes == ["class1", "class2", "class3"]
    np.testing.assert_allclose(source.splits["train"].targets[0].boxes, [[1, 2, 11, 22]])
    assert source.splits["train"].targets[0].labels.tolist() == [2]


def test_coco_sparse_category_ids_become_contiguous(tmp_path):
    save(tmp_path / "images" / "p.png")
    document = {"images": [{"id": 7, "file_name": "p.png", "width": 40, "height": 30}],
                "categories": [{"id": 90, "name": "toothbrush"}, {"id": 3, "name": "car"}],
                "annotations": [{"id": 1, "image_id": 7, "category_id": 90, "bbox": [1, 2, 3, 4]}]}
    (tmp_path / "a.json").write_text(json.dumps(document))
    data = read_detection(str(tmp_path / "a.json"), val_fraction=0, test_fraction=0)
    assert data.classes == ["car", "toothbrush"] and data.train.targets[0].labels.tolist() == [1]
    np.testing.assert_allclose(data.train.targets[0].boxes, [[1, 2, 4, 6]])


def test_image_ids_stay_unique_when_stems_clash(tmp_path):
    assert unique_image_ids([tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.png", tmp_path / "y.jpg"]) == \
        ["a_x", "b_x", "y"]


# --- augmentation ---------------------------------------------------------------------------------------------


def test_mosaic_boxes_move_with_their_pixels():
    """Eight flat images, each one box over the whole image labelled by its grey level: in every mosaic, each box
    must cover pixels of exactly its own image's grey, and nothing outside the 64 px window."""
    from ocularis.data.detection import AnnotatedSplit, BoxLabels
    from ocularis.tasks.detect.data import BoxDataset, detect_transform

    split = AnnotatedSplit()
    for index in range(8):
        split.sources.append(np.full((64, 64, 3), index * 30, dtype=np.uint8))
        split.targets.append(BoxLabels.of([(0.0, 0.0, 64.0, 64.0)], [index]))
        split.image_ids.append(f"flat_{index}")
    mosaics = BoxDataset(split, detect_transform(64, (0.0,) * 3, (1.0,) * 3), seed=3, mosaic=1.0, imgsz=64)
    images_seen = set()
    for key in [(epoch, index) for epoch in range(3) for index in range(8)]:
        image, target = mosaics[key]
        again, _ = mosaics[key]
        assert torch.equal(image, again)  # seeded per epoch and index
        assert (target["boxes"] >= 0).all() and (target["boxes"] <= 64).all()
        for box, label in zip(target["boxes"].round().int().tolist(), target["labels"].tolist(), strict=True):
            x1, y1, x2, y2 = box
            covered = image[:, y1:y2, x1:x2] * 255
            assert (x2 - x1) * (y2 - y1) >= 0.39 * 64 * 64  # less than 40% of an object in view: dropped
            assert torch.allclose(covered, torch.full_like(covered, label * 30), atol=1)
            images_seen.add(label)
    assert len(images_seen) >= 6  # the other three tiles are drawn from the whole split


# --- imports go one way -------------------------------------------------------------------------------------------


def test_the_data_package_has_no_import_cycle():
    """grimp (import-linter's graph) sees imports inside functions too, so a lazy import does not hide a cycle."""
    import grimp

    graph = grimp.build_graph("ocularis", cache_dir=None)
    cycles = [(importer, imported) for importer in graph.modules if importer.startswith("ocularis.data")
              for imported in graph.find_modules_directly_imported_by(importer)
              if imported.startswith("ocularis.") and graph.chain_exists(importer=imported, imported=importer)]
    assert cycles == []


def test_the_readers_import_neither_convert_nor_detection():
    import subprocess
    import sys

    code = ("import sys, ocularis.data.yolo, ocularis.data.coco, ocularis.data.voc, ocularis.data.udacity; "
            "print(sorted(m for m in sys.modules if m in ('ocularis.data.convert', 'ocularis.data.detection')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
