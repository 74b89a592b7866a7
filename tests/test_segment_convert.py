"""Segmentation data written back out: every mask writer, `data convert` and its command line, each read back to
the same masks (objects, ignore labels, VOC borders). Readers: tests/test_segment_data.py."""

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from ocularis.data.coco_seg import write_coco_masks
from ocularis.data.convert import convert
from ocularis.data.formats import MASK_FORMATS
from ocularis.data.masks import (
    IGNORE,
    ArrayTarget,
    MaskLabels,
    PackedTarget,
    SegmentationSplit,
    SourceMasks,
)
from ocularis.data.segmentation import WRITERS, read_mask_source, read_segmentation
from ocularis.data.shapes import SHAPES, draw_scene
from ocularis.data.voc_seg import VOC_CLASSES
from ocularis.errors import ConfigError, DataError
from tests.conftest import ASSETS
from tests.mask_files import class_folder, decoded, write_coco, write_voc

ISBI, DSB, COCO_MINI = ASSETS / "isbi_membranes", ASSETS / "dsb2018_nuclei", ASSETS / "coco_mini"



# ---- writers: convert, then read back the same masks -----------------------------------------------------------------

@pytest.fixture(scope="module")
def shape_coco(tmp_path_factory) -> tuple[SourceMasks, Path]:
    """24 drawn scenes (train 16, val 8) as objects in memory, and written as a COCO folder to convert from."""
    rng = np.random.default_rng(7)
    split = SegmentationSplit()
    while len(split) < 24:
        image, objects = draw_scene(rng, 48, int(rng.integers(1, 4)))
        if objects:
            labels = MaskLabels.from_instances(np.stack([o.mask for o in objects]), [o.label + 1 for o in objects],
                                               (48, 48))
            split.sources.append(image)
            split.targets.append(ArrayTarget(labels))
            split.image_ids.append(f"scene{len(split):02d}")
    splits = {"train": split.subset(range(16)), "val": split.subset(range(16, 24))}
    source = SourceMasks(["background", *SHAPES], splits, instances=True)
    folder = tmp_path_factory.mktemp("shape_coco")
    write_coco_masks(source, folder)
    return source, folder


def test_packed_objects_unpack_whole_and_inside_a_crop():
    """A read keeps each object's mask only inside its box: unpacked whole it is the decode it came from; a training
    crop unpacks the objects it meets, each cut exactly as cropping the whole masks would."""
    rng = np.random.default_rng(0)
    masks = np.zeros((12, 50, 70), bool)
    for mask in masks[:11]:  # the last object is empty, as a mask file that deletes a nucleus
        x, y = rng.integers(0, 60), rng.integers(0, 40)
        mask[y:y + rng.integers(1, 12), x:x + rng.integers(1, 12)] = True
    labels = MaskLabels.from_instances(masks, rng.integers(1, 3, 12), (70, 50))
    labels.semantic[:3, :3] = IGNORE  # a crowd region: in the class map only
    packed = PackedTarget.pack(labels, "where.json")
    whole = packed.decode((70, 50))
    for got, want in zip((whole.semantic, whole.masks, whole.labels), (labels.semantic, masks, labels.labels),
                         strict=True):
        np.testing.assert_array_equal(got, want)
    box = (17, 9, 49, 41)
    crop, cut = packed.window((70, 50), box), labels.crop(box)
    np.testing.assert_array_equal(crop.semantic, cut.semantic)
    met = cut.masks.any(axis=(1, 2))
    np.testing.assert_array_equal(crop.masks, cut.masks[met])
    np.testing.assert_array_equal(crop.labels, labels.labels[met])


def test_the_writers_are_the_mask_formats():
    assert tuple(WRITERS) == MASK_FORMATS


@pytest.mark.parametrize("target_format", MASK_FORMATS)
def test_convert_and_read_back_the_same_masks(shape_coco, target_format, tmp_path):
    source, folder = shape_coco
    out = convert(str(folder), target_format, str(tmp_path / "out"))
    back = read_mask_source(out)
    if target_format == "coco-seg":  # a file pycocotools itself loads, with the same masks
        with contextlib.redirect_stdout(io.StringIO()):
            api = COCO(str(out / "val.json"))
        first = api.loadAnns(api.getAnnIds(imgIds=api.getImgIds()[0]))[0]
        assert (api.annToMask(first).astype(bool) == source.splits["val"].targets[0].decode((48, 48)).masks[0]).all()
    assert back.classes == source.classes and back.instances and list(back.splits) == ["train", "val"]
    agree = []
    for name, split in source.splits.items():
        assert back.splits[name].image_ids == split.image_ids
        for want_target, got_target in zip(split.targets, back.splits[name].targets, strict=True):
            want, got = want_target.decode((48, 48)), got_target.decode((48, 48))
            assert got.labels.tolist() == want.labels.tolist()
            if target_format != "yolo-seg":
                assert (got.semantic == want.semantic).all() and (got.masks == want.masks).all()
                continue
            agree.append((got.semantic == want.semantic).mean())
            for got_mask, want_mask in zip(got.masks, want.masks, strict=True):
                parts = cv2.findContours(want_mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)[0]
                if len(parts) == 1:  # one part, no hole: a polygon holds it exactly
                    assert (got_mask == want_mask).all()
    assert target_format != "yolo-seg" or np.mean(agree) > 0.98


def test_semantic_masks_round_trip_and_keep_their_ignore_label(tmp_path):
    """Class maps with no objects: masks keeps them exactly (IGNORE too); coco-seg and yolo-seg keep each class's
    regions (IGNORE, which they cannot say, becomes background)."""
    semantic = class_folder(tmp_path / "src")
    for target_format in MASK_FORMATS:
        back = read_mask_source(convert(str(tmp_path / "src"), target_format, str(tmp_path / target_format)))
        assert back.classes == ["background", "road", "car"]
        got = decoded(back, "im2").semantic
        want = np.roll(semantic, 2, axis=1)
        if target_format != "masks":
            want = np.where(want == IGNORE, 0, want)
        assert (got == want).all(), target_format
    assert not read_mask_source(str(tmp_path / "masks")).instances


def test_voc_to_masks_keeps_objects_and_borders(tmp_path):
    write_voc(tmp_path / "voc")
    back = read_mask_source(convert(str(tmp_path / "voc"), "masks", str(tmp_path / "out")))
    original = read_mask_source(str(tmp_path / "voc"))
    assert back.instances and back.classes == list(VOC_CLASSES)
    want, got = decoded(original, "2007_000001"), decoded(back, "2007_000001")
    assert (got.semantic == want.semantic).all() and (got.masks == want.masks).all()
    assert got.labels.tolist() == want.labels.tolist()


def test_the_command_line_converts_coco_masks_to_yolo_seg(tmp_path):
    from ocularis.cli import main

    file = write_coco(tmp_path / "coco")
    with pytest.raises(SystemExit) as stop:
        main(["data", "convert", str(file), str(tmp_path / "out"), "--to", "yolo-seg"])
    assert stop.value.code == 0
    back = read_segmentation(str(tmp_path / "out" / "data.yaml"), val_fraction=0.0, test_fraction=0.0, seed=0)
    assert back.classes == ["background", "cat", "dog"]
    assert decoded(back, "b").labels.tolist() == [1, 2]  # YOLO has no crowds: the crowd region is an object
    assert len(decoded(back, "a").masks) == 2


def test_detection_formats_still_convert_boxes_and_unknown_formats_are_named(tmp_path):
    out = convert("shapes", "coco", str(tmp_path / "boxes"))
    document = json.loads((out / "train.json").read_text())
    assert "segmentation" not in document["annotations"][0]
    with pytest.raises(ConfigError, match=r"choose one of yolo, coco, voc, csv \(or masks, coco-seg, yolo-seg"):
        convert("shapes", "png", str(tmp_path / "x"))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "old.txt").write_text("")
    with pytest.raises(DataError, match="is not empty"):
        convert("shapes", "masks", str(tmp_path / "busy"))
