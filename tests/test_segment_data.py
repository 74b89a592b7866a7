"""Segmentation data: every mask reader on real PNGs written here, COCO masks against pycocotools itself, and
the real ISBI / DSB / COCO assets. Writers: tests/test_segment_convert.py; bad input: test_segment_data_errors.py."""

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO

from ocularis.data.mask_png import voc_palette
from ocularis.data.masks import (
    IGNORE,
    MaskLabels,
    has_background,
)
from ocularis.data.segmentation import read_segmentation, shapes_segmentation
from ocularis.data.shapes import SHAPES
from ocularis.data.voc_seg import VOC_CLASSES
from tests.conftest import ASSETS
from tests.mask_files import (
    CAMVID,
    VOID,
    camvid_folder,
    class_folder,
    decoded,
    needs,
    photo,
    save,
    write_coco,
    write_nuclei,
    write_voc,
)

ISBI, DSB, COCO_MINI = ASSETS / "isbi_membranes", ASSETS / "dsb2018_nuclei", ASSETS / "coco_mini"


# ---- readers -------------------------------------------------------------------------------------------------------

def test_image_and_mask_folders_with_a_class_list(tmp_path):
    semantic = class_folder(tmp_path)
    data = read_segmentation(str(tmp_path), val_fraction=0.2, test_fraction=0.2, seed=1)
    assert data.classes == ["background", "road", "car"] and data.channels == 3 and not data.instances
    assert sorted(data.train.image_ids + data.val.image_ids + data.test.image_ids) == [f"im{i}" for i in range(6)]
    assert len(data.val) == len(data.test) == 1
    labels = decoded(data, "im3")
    assert (labels.semantic == np.roll(semantic, 3, axis=1)).all() and labels.masks.shape == (0, 20, 30)


def test_isbi_layout_binary_masks_and_an_unlabelled_test_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        save(tmp_path / "train" / "image" / f"{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
        save(tmp_path / "train" / "label" / f"{i}.png", np.where(rng.random((16, 16)) > 0.3, 255, 0).astype(np.uint8))
    save(tmp_path / "test" / "image" / "0.png", np.zeros((16, 16), np.uint8))
    data = read_segmentation(str(tmp_path), val_fraction=0.2, test_fraction=0.2, seed=0)
    assert data.classes == ["background", "foreground"] and data.channels == 1 and data.images.channels == 1
    assert any("test: has images but no masks folder" in w for w in data.warnings)
    label = np.asarray(Image.open(tmp_path / "train" / "label" / "2.png"))
    assert (decoded(data, "2").semantic == (label == 255)).all()


def test_split_folders_with_palette_masks_keep_their_splits(tmp_path):
    for number, split in enumerate(("train", "train", "train", "val", "test")):
        mask = np.zeros((12, 12), np.uint8)
        mask[2:6, 2:6], mask[7:11, 1:4], mask[7:10, 7:11] = 1, 2, 3
        save(tmp_path / split / "images" / f"{split}{number}.png", photo(12, 12, number))
        save(tmp_path / split / "masks" / f"{split}{number}.png", mask, voc_palette())
    data = read_segmentation(str(tmp_path), val_fraction=0.3, test_fraction=0.3, seed=0)
    assert (data.train.image_ids, data.val.image_ids, data.test.image_ids) == (
        ["train0", "train1", "train2"], ["val3"], ["test4"])
    assert data.classes == ["background", "class_1", "class_2", "class_3"]
    assert Image.open(tmp_path / "val" / "masks" / "val3.png").mode == "P"
    assert np.bincount(decoded(data, "val3").semantic.ravel()).tolist() == [144 - 16 - 12 - 12, 16, 12, 12]


def test_rgb_masks_through_a_colour_map(tmp_path):
    colours = {"background": [0, 0, 0], "sky": [0, 0, 255], "tree": [0, 128, 0]}
    (tmp_path / "classes.yaml").write_text(json.dumps(colours))  # JSON is YAML
    mask = np.zeros((10, 14, 3), np.uint8)
    mask[:4] = colours["sky"]
    mask[6:, 3:9] = colours["tree"]
    for i in range(3):
        save(tmp_path / "images" / f"p{i}.png", photo(10, 14, i))
        save(tmp_path / "masks" / f"p{i}.png", mask)
    data = read_segmentation(str(tmp_path), val_fraction=0.0, test_fraction=0.0, seed=0)
    assert data.classes == ["background", "sky", "tree"]
    want = np.zeros((10, 14), np.uint8)
    want[:4], want[6:, 3:9] = 1, 2
    assert (decoded(data, "p1").semantic == want).all()


@pytest.mark.parametrize("how", ["--ignore-index", "an ignore line", "classes.yaml ignore:", "a named void value"])
def test_camvid_void_is_unlabelled_and_sky_is_class_zero(tmp_path, how):
    """CamVid: 11 classes from Sky (no background), void = 11, however the data says so; void decodes as IGNORE."""
    masks = camvid_folder(tmp_path)
    ignore_index = VOID if how in ("--ignore-index", "a named void value") else None
    if how == "an ignore line":
        (tmp_path / "classes.txt").write_text("".join(f"{name}\n" for name in [*CAMVID, "ignore"]))
    elif how == "classes.yaml ignore:":
        (tmp_path / "classes.txt").unlink()
        (tmp_path / "classes.yaml").write_text(json.dumps({"names": [*CAMVID, "Void"], "ignore": VOID}))
    elif how == "a named void value":
        (tmp_path / "classes.txt").write_text("".join(f"{name}\n" for name in [*CAMVID, "Void"]))
    data = read_segmentation(str(tmp_path), ignore_index=ignore_index)
    assert data.classes == CAMVID and not has_background(data.classes)
    assert not [w for w in data.warnings if "no name" in w]
    assert (decoded(data, "test1").semantic == np.where(masks["test"][1] == VOID, IGNORE, masks["test"][1])).all()


def test_an_ignored_first_value_moves_the_classes_down(tmp_path):
    """ADE20K's way: value 0 is unlabelled, values 1..3 are classes 0..2 (an `ignore` entry, or --ignore-index 0)."""
    mask = np.array([[0, 1, 2, 3]] * 3, np.uint8)
    save(tmp_path / "images" / "a.png", photo(3, 4))
    save(tmp_path / "masks" / "a.png", mask)
    want = np.array([[IGNORE, 0, 1, 2]] * 3, np.uint8)
    (tmp_path / "classes.yaml").write_text("wall: 1\nfloor: 2\nsky: 3\nignore: 0\n")
    data = read_segmentation(str(tmp_path), val_fraction=0, test_fraction=0)
    assert data.classes == ["wall", "floor", "sky"] and (decoded(data, "a").semantic == want).all()
    (tmp_path / "classes.yaml").unlink()
    unnamed = read_segmentation(str(tmp_path), val_fraction=0, test_fraction=0, ignore_index=0)
    assert unnamed.classes == ["class_1", "class_2", "class_3"] and (decoded(unnamed, "a").semantic == want).all()


def test_mask_values_without_names_are_named_with_a_warning(tmp_path):
    """No class map: the values found become classes (0 background, v class_v), and a warning lists them, so
    CamVid's void is not trained as a silent twelfth class; --ignore-index takes it out of the list."""
    camvid_folder(tmp_path, {"train": 3})
    (tmp_path / "classes.txt").unlink()
    data = read_segmentation(str(tmp_path), val_fraction=0, test_fraction=0)
    assert data.classes == ["background", *(f"class_{v}" for v in range(1, VOID + 1))]
    warned = [w for w in data.warnings if "have no name" in w]
    assert len(warned) == 1 and "12 mask value(s) have no name" in warned[0]
    assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11" in warned[0] and "--ignore-index" in warned[0]
    data = read_segmentation(str(tmp_path), val_fraction=0, test_fraction=0, ignore_index=VOID)
    assert data.classes[-1] == "class_10" and any("11 mask value(s) have no name" in w for w in data.warnings)


def test_voc_segmentation_with_borders_and_objects(tmp_path):
    written = write_voc(tmp_path / "VOCdevkit" / "VOC2012")
    data = read_segmentation(str(tmp_path), val_fraction=0.2, test_fraction=0.25, seed=0)
    assert data.classes == list(VOC_CLASSES) and len(data.classes) == 21 and data.instances
    assert data.val.image_ids == ["2007_000003"] and len(data.train) + len(data.test) == 3
    labels = decoded(data, "2007_000002")
    classes, objects = written["2007_000002"]
    assert (labels.semantic == classes).all() and (labels.semantic == IGNORE).sum() == 10
    assert labels.labels.tolist() == [15, 12]
    assert (labels.masks[0] == (objects == 1)).all() and (labels.masks[1] == (objects == 2)).all()


def test_dsb_nuclei_layout_counts_empty_masks(tmp_path):
    nuclei = write_nuclei(tmp_path)
    data = read_segmentation(str(tmp_path), val_fraction=0.0, test_fraction=0.0, seed=0)
    assert data.classes == ["background", "nucleus"] and data.instances and data.channels == 3
    assert any("1 empty instance mask file(s) were skipped" in w and "zz_deleted.png" in w for w in data.warnings)
    assert any("1 image folder(s) have no masks/" in w for w in data.warnings)
    image = data.train.sources[data.train.image_ids.index(f"{0:064x}")]
    assert data.images.load(image).mode == "RGB"  # RGBA composited to RGB by the image cache
    labels = decoded(data, f"{0:064x}")
    assert len(labels.masks) == 3 and labels.labels.tolist() == [1, 1, 1]
    assert all((got == want).all() for got, want in zip(labels.masks, nuclei[0], strict=True))


def test_coco_polygons_and_rle_decode_as_pycocotools_does(tmp_path):
    file = write_coco(tmp_path)
    data = read_segmentation(str(file), val_fraction=0.0, test_fraction=0.0, seed=0)
    assert data.classes == ["background", "cat", "dog"] and data.instances
    assert any("1 crowd annotation(s)" in w for w in data.warnings)
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO(str(file))
    expected = {i: [a for a in api.loadAnns(api.getAnnIds(imgIds=i))] for i in (1, 2)}
    for image_id, stem in ((1, "a"), (2, "b")):
        labels = decoded(data, stem)
        objects = [a for a in expected[image_id] if not a["iscrowd"]]
        assert labels.labels.tolist() == [{3: 1, 7: 2}[a["category_id"]] for a in objects]
        for got, annotation in zip(labels.masks, objects, strict=True):
            assert got.any() and (got == api.annToMask(annotation).astype(bool)).all()
        for annotation in expected[image_id]:  # crowds too paint their class
            assert (labels.semantic[api.annToMask(annotation).astype(bool)] == {3: 1, 7: 2}[annotation["category_id"]]
                    ).all()


def test_yolo_seg_polygons_fill_as_ultralytics_does(tmp_path):
    save(tmp_path / "images" / "train" / "a.png", photo(20, 30))
    save(tmp_path / "images" / "val" / "b.png", photo(20, 30, 1))
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n"
                                                         "0 0.6 0.2 0.95 0.5 0.7 1.0\n")
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: [cat, dog]\n")
    data = read_segmentation(str(tmp_path), val_fraction=0.0, test_fraction=0.3, seed=0)
    assert data.classes == ["background", "cat", "dog"] and data.instances
    assert data.val.image_ids == ["b"] and len(decoded(data, "b").masks) == 0
    labels = decoded(data, "a")
    assert labels.labels.tolist() == [2, 1]
    for line, got in zip((tmp_path / "labels" / "train" / "a.txt").read_text().splitlines(), labels.masks,
                         strict=True):
        points = np.array(line.split()[1:], float).reshape(-1, 2) * [30, 20]
        want = cv2.fillPoly(np.zeros((20, 30), np.uint8), [np.round(np.clip(points, 0, [29, 19])).astype(np.int32)],
                            1)
        assert (got == want.astype(bool)).all()


def test_built_in_shapes():
    data = read_segmentation("shapes", val_fraction=0.15, test_fraction=0.15, seed=0)
    assert data.classes == ["background", *SHAPES] and data.instances and data.channels == 3
    assert (len(data.train), len(data.val), len(data.test)) == (1050, 225, 225)
    labels = data.train.targets[0].decode((64, 64))
    assert 1 <= len(labels.masks) <= 3 and (labels.semantic == MaskLabels.from_instances(
        labels.masks, labels.labels, (64, 64)).semantic).all()
    again = shapes_segmentation(val_fraction=0.15, test_fraction=0.15, seed=0)
    assert again.val.image_ids == data.val.image_ids and (again.val.sources[0] == data.val.sources[0]).all()


# ---- the real assets ------------------------------------------------------------------------------------------------

@needs(ISBI)
def test_real_isbi_membranes():
    data = read_segmentation(str(ISBI), val_fraction=0.2, test_fraction=0.1, seed=0)
    assert len(data.train) + len(data.val) + len(data.test) == 30 and len(data.val) == 6
    assert data.channels == 1 and data.classes == ["background", "foreground"] and not data.instances
    image_id = data.val.image_ids[0]
    label = np.asarray(Image.open(ISBI / "train" / "label" / f"{image_id}.png"))
    assert (decoded(data, image_id).semantic == (label == 255)).all()


@needs(DSB)
def test_real_dsb_nuclei():
    data = read_segmentation(str(DSB), val_fraction=0.15, test_fraction=0.15, seed=0)
    splits = (data.train, data.val, data.test)
    folders = sorted(p for p in DSB.iterdir() if (p / "masks").is_dir())
    assert sum(map(len, splits)) == len(folders) == 100 and data.instances and data.classes == ["background", "nucleus"]
    on_disk = sum(len(list((p / "masks").glob("*.png"))) for p in folders)
    assert sum(len(t.labels) for split in splits for t in split.targets) == on_disk  # decoded once, kept packed
    image_id = data.test.image_ids[0]
    labels = decoded(data, image_id)
    assert len(labels.masks) == len(list((DSB / image_id / "masks").glob("*.png"))) > 0
    assert labels.masks.shape[1:] == labels.semantic.shape and set(np.unique(labels.semantic)) == {0, 1}


@needs(COCO_MINI)
def test_real_coco_mini():
    data = read_segmentation(str(COCO_MINI), val_fraction=0.15, test_fraction=0.15, seed=0)
    files = {split: COCO_MINI / "annotations" / f"instances_{split}2017.json" for split in ("train", "val")}
    documents = {split: json.loads(file.read_text()) for split, file in files.items()}
    assert len(data.classes) == 81 == len(documents["val"]["categories"]) + 1 and data.instances
    assert sorted(data.val.image_ids) == sorted(Path(i["file_name"]).stem for i in documents["val"]["images"])
    assert len(data.train) + len(data.test) == len(documents["train"]["images"])
    objects = [a for a in documents["val"]["annotations"] if not a["iscrowd"]]  # crowds: in the class map only
    assert sum(len(t.labels) for t in data.val.targets) == len(objects)
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO(str(files["val"]))
    for index in range(3):
        image = api.loadImgs(api.getImgIds())[index]
        objects = [a for a in api.loadAnns(api.getAnnIds(imgIds=image["id"])) if not a["iscrowd"]]
        labels = decoded(data, Path(image["file_name"]).stem)
        assert len(labels.masks) == len(objects)
        assert all((got == api.annToMask(a).astype(bool)).all() for got, a in zip(labels.masks, objects, strict=True))


# ---- augmentation --------------------------------------------------------------------------------------------------


def test_mosaic_masks_move_with_their_pixels():
    """Eight flat 64 px images, each a 32 px square object of its own grey and class: in every mosaic window each
    object's mask covers pixels of its own grey alone, the class map names its class there, and no mask spans more
    than its square; the other three tiles come from the whole split."""
    from ocularis.data.cache import ImageCache
    from ocularis.data.masks import ArrayTarget, SegmentationSplit
    from ocularis.tasks.segment.config import SegmentConfig
    from ocularis.tasks.segment.data import MaskDataset, segment_transform

    split = SegmentationSplit()
    for index in range(8):
        split.sources.append(np.full((64, 64, 3), 20 + index * 30, dtype=np.uint8))
        square = np.zeros((64, 64), bool)
        square[16:48, 16:48] = True
        split.targets.append(ArrayTarget(MaskLabels(square.astype(np.uint8) * (1 + index % 2), square[None],
                                                    np.array([1 + index % 2]))))
        split.image_ids.append(f"flat_{index}")
    transform = segment_transform(SegmentConfig(augment="none"), (0.0,) * 3, (1.0,) * 3, train=True)
    mosaics = MaskDataset(split, transform, images=ImageCache(), imgsz=64, resize=None, train=True, seed=3,
                          mosaic=1.0)
    greys_seen = set()
    for key in [(epoch, index) for epoch in range(3) for index in range(8)]:
        image, target = mosaics[key]
        again, _ = mosaics[key]
        assert torch.equal(image, again)  # seeded per epoch and index
        pixels = (image[0] * 255).round()
        for mask, label, box in zip(target["masks"].bool(), target["labels"], target["boxes"], strict=True):
            greys = pixels[mask].unique()
            assert len(greys) == 1 and (int(greys[0]) - 20) // 30 % 2 + 1 == label
            assert (target["semantic"][mask] == label).all()
            assert box[2] - box[0] <= 32 and box[3] - box[1] <= 32
            greys_seen.add(int(greys[0]))
        assert ((target["semantic"] != 0) == target["masks"].any(0)).all()  # nothing else is an object
    assert len(greys_seen) >= 6


def test_pixels_a_zoom_uncovers_are_no_class_and_in_no_object():
    """--scale zooms out as well as in: the pixels that uncovers are IGNORE in the class map (0 is a real class
    where the data has no background, as CamVid's Sky) and belong to no object; the rest keep their class."""
    from ocularis.data.cache import ImageCache
    from ocularis.data.masks import ArrayTarget, SegmentationSplit
    from ocularis.tasks.segment.config import SegmentConfig
    from ocularis.tasks.segment.data import MaskDataset, segment_transform

    everything = np.ones((64, 64), bool)
    split = SegmentationSplit([np.full((64, 64, 3), 200, np.uint8)],
                              [ArrayTarget(MaskLabels(np.zeros((64, 64), np.uint8), everything[None], np.array([0])))],
                              ["flat"])
    transform = segment_transform(SegmentConfig(augment="none", scale=0.5), (0.0,) * 3, (1.0,) * 3, train=True)
    zoomed = MaskDataset(split, transform, images=ImageCache(), imgsz=64, resize=None, train=True)
    uncovered_seen = False
    for epoch in range(8):
        image, target = zoomed[(epoch, 0)]
        uncovered = image[0] == 0
        uncovered_seen |= bool(uncovered.any())
        assert (target["semantic"][uncovered] == IGNORE).all() and (target["semantic"][~uncovered] == 0).all()
        assert not target["masks"][:, uncovered].any() and target["masks"][:, ~uncovered].all()
    assert uncovered_seen
