"""Segmentation data given wrongly: each mistake is one line naming the file (and entry) and the fix."""

import json
from pathlib import Path

import numpy as np
import pytest

from ocularis.data.segmentation import read_segmentation
from ocularis.errors import ConfigError, DataError, LabelError
from tests.mask_files import CAMVID, camvid_folder, class_folder, decoded, photo, save, write_nuclei

# ---- bad input: one line naming the file and the fix ----------------------------------------------------------------

def test_a_mask_of_another_size_is_refused(tmp_path):
    class_folder(tmp_path)
    save(tmp_path / "masks" / "im4.png", np.zeros((20, 31), np.uint8))
    with pytest.raises(LabelError, match=r"masks/im4\.png: the mask is 31 x 20 px but its image .*im4\.jpg is 30 x 20"):
        read_segmentation(str(tmp_path))


def test_a_mask_value_outside_the_class_list_is_refused(tmp_path):
    semantic = class_folder(tmp_path)
    semantic[5, 7] = 9
    save(tmp_path / "masks" / "im1.png", semantic)
    with pytest.raises(LabelError, match=r"im1\.png: value 9 at x=7 y=5 is not a class of .*classes\.txt \(0\.\.2"):
        read_segmentation(str(tmp_path))


def test_class_zero_may_be_a_real_class_but_not_where_the_data_has_objects(tmp_path):
    semantic = class_folder(tmp_path)
    (tmp_path / "classes.txt").write_text("sky\nroad\ncar\n")
    assert read_segmentation(str(tmp_path)).classes == ["sky", "road", "car"]
    for i in range(6):  # object ids: the car of each image
        save(tmp_path / "instances" / f"im{i}.png", np.roll(semantic == 2, i, axis=1).astype(np.uint8))
    with pytest.raises(DataError, match=r"has objects, and class 0 \('sky'\) is the pixels no object covers; name "
                                        "it 'background'"):
        read_segmentation(str(tmp_path))


def test_an_unnamed_void_value_is_refused_with_the_way_to_ignore_it(tmp_path):
    camvid_folder(tmp_path, {"train": 2})
    with pytest.raises(LabelError, match=r"train0\.png: value 11 at x=13 y=0 is not a class of .*classes\.txt "
                                         r"\(0\.\.10, or 255 = ignore\); .* --ignore-index 11"):
        read_segmentation(str(tmp_path))
    (tmp_path / "classes.txt").write_text("".join(f"{name}\n" for name in [*CAMVID, "ignore"]))
    with pytest.raises(DataError, match=r"classes\.txt marks value 11 as 'ignore' and --ignore-index says 0; give one"):
        read_segmentation(str(tmp_path), ignore_index=0)
    (tmp_path / "classes.txt").write_text("sky\nignore\nroad\nIgnore\n")
    with pytest.raises(DataError, match=r"classes\.txt: values 1 and 3 are both named 'ignore'"):
        read_segmentation(str(tmp_path))


def test_ignore_index_is_for_class_index_masks(tmp_path):
    file = coco_with(tmp_path, [[1, 1, 20, 1, 20, 20]])
    with pytest.raises(ConfigError, match=r"--ignore-index 0: .*train\.json \(COCO\) names its classes by category"):
        read_segmentation(str(file), ignore_index=0)
    assert read_segmentation(str(file), ignore_index=255).classes == ["background", "thing"]  # the convention


def test_a_mask_without_a_palette_where_a_colour_map_is_required(tmp_path):
    (tmp_path / "classes.yaml").write_text("background: [0, 0, 0]\nsky: [0, 0, 255]\n")
    save(tmp_path / "images" / "a.png", photo(8, 8))
    save(tmp_path / "masks" / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(LabelError, match=r"masks/a\.png: a mask in mode L without a palette, but .*classes\.yaml maps"):
        read_segmentation(str(tmp_path))


def test_a_colour_outside_the_colour_map(tmp_path):
    (tmp_path / "classes.yaml").write_text("background: [0, 0, 0]\nsky: [0, 0, 255]\n")
    save(tmp_path / "images" / "a.png", photo(8, 8))
    mask = np.zeros((8, 8, 3), np.uint8)
    mask[3, 4] = (9, 9, 9)
    save(tmp_path / "masks" / "a.png", mask)
    with pytest.raises(LabelError, match=r"a\.png: colour \(9, 9, 9\) at x=4 y=3 is not in .*classes\.yaml"):
        read_segmentation(str(tmp_path))


def coco_with(tmp_path: Path, segmentation, width: int = 40, height: int = 30) -> Path:
    save(tmp_path / "a.png", photo(height, width))
    (tmp_path / "train.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": width, "height": height}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": segmentation, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "thing"}]}))
    return tmp_path / "train.json"


def test_a_coco_polygon_of_two_points_is_refused(tmp_path):
    file = coco_with(tmp_path, [[1, 1, 5, 5]])
    with pytest.raises(LabelError, match=r"train\.json annotations\[0\]: polygon 0 has 2 points; .* at least 3"):
        read_segmentation(str(file))


def test_a_coco_polygon_outside_the_image_is_refused_but_rounding_is_clipped(tmp_path):
    clipped = read_segmentation(str(coco_with(tmp_path, [[-0.6, 0, 40.8, 0, 40.8, 30.5]])), val_fraction=0,
                                test_fraction=0, seed=0)
    assert decoded(clipped, "a").masks[0].sum() > 500
    file = coco_with(tmp_path, [[1, 1, 55, 1, 20, 20]])
    with pytest.raises(LabelError, match=r"annotations\[0\]: polygon 0 point \(55, 1\) lies outside the 40 x 30 px"):
        read_segmentation(str(file))


@pytest.mark.parametrize("rle, message", [
    ({"size": [30, 41], "counts": [1230]}, r"RLE size \[30, 41\] \(height, width\) is not the image's \[30, 40\]"),
    ({"size": [30, 40], "counts": [1000, 10]}, r"RLE counts cover 1010 pixels, not the 40 x 30 = 1200"),
    ({"size": [30, 40], "counts": "52"}, r"RLE counts cover \d+ pixels, not the 40 x 30 = 1200"),
])
def test_coco_rle_that_does_not_decode_to_the_image_size(tmp_path, rle, message):
    file = coco_with(tmp_path, rle)
    with pytest.raises(LabelError, match=r"train\.json annotations\[0\]: " + message):
        read_segmentation(str(file))


@pytest.mark.parametrize("line, message", [
    ("0 0.1 0.1 0.5 0.5", r"a polygon of 2 points \(a box 'class cx cy w h'\?"),
    ("0 0.1 0.1 0.5 0.1 1.5 0.5", r"point \(1\.5, 0\.5\) lies outside the image"),
    ("3 0.1 0.1 0.5 0.1 0.5 0.5", r"class 3 is not in the data\.yaml names \(0\.\.1\)"),
])
def test_bad_yolo_seg_lines(tmp_path, line, message):
    save(tmp_path / "images" / "a.png", photo(10, 10))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text(f"1 0.1 0.1 0.9 0.1 0.9 0.9\n{line}\n")
    (tmp_path / "data.yaml").write_text("train: images\nnames: [cat, dog]\n")
    with pytest.raises(LabelError, match=r"labels/a\.txt line 2: " + message):
        read_segmentation(str(tmp_path / "data.yaml"))


def test_a_yolo_point_a_pixel_past_the_edge_is_clipped(tmp_path):
    save(tmp_path / "images" / "a.png", photo(10, 10))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 -0.05 0 1.05 0 1.05 1.05 0 1.0\n")
    (tmp_path / "data.yaml").write_text("train: images\nnames: [cat]\n")
    data = read_segmentation(str(tmp_path / "data.yaml"), val_fraction=0, test_fraction=0, seed=0)
    assert decoded(data, "a").masks[0].all()


def test_a_nucleus_mask_of_another_size_is_refused(tmp_path):
    write_nuclei(tmp_path, empty=False)
    bad = tmp_path / f"{1:064x}" / "masks" / "m1.png"
    save(bad, np.zeros((22, 20), np.uint8))
    with pytest.raises(LabelError, match=rf"{bad.name}: the mask is 20 x 22 px but its image .* is 24 x 22 px"):
        read_segmentation(str(tmp_path))


def test_no_dataset_is_named_plainly(tmp_path):
    with pytest.raises(DataError, match="not a built-in segmentation dataset"):
        read_segmentation(str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no segmentation dataset found"):
        read_segmentation(str(tmp_path / "empty"))
