"""Instance segmentation through the segment task: the YOLO-style instance head learns object masks on the built-in
shapes, predictions carry masks, boxes and RLE, tiled prediction merges objects across tile borders, crowded images
(hundreds of objects) are scored, predicted and written whole, each epoch's validation is the `val` number, the
exported ONNX file (three outputs) reproduces PyTorch, and the server returns the objects."""

import base64
import io
import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from pycocotools import mask as coco_mask

import ocularis
from ocularis.data.coco_seg import write_coco_masks
from ocularis.data.masks import BACKGROUND, ArrayTarget, MaskLabels, SegmentationSplit, SourceMasks
from ocularis.data.segmentation import read_segmentation
from ocularis.data.shapes import SHAPES
from ocularis.errors import ConfigError
from ocularis.serve.app import create_app


def shapes_test():
    return read_segmentation("shapes", val_fraction=0.15, test_fraction=0.15, seed=0).test


@pytest.fixture(scope="module")
def yolo_seg_run(tmp_path_factory):
    project = tmp_path_factory.mktemp("instance_runs")
    segmenter = ocularis.Segmenter(model="yolo_seg", progress=False, project=str(project))
    return segmenter, segmenter.fit("shapes", epochs=EPOCHS)


EPOCHS = 3  # 12-25 s each; mask mAP@.5 0.28 after three (0.3-0.35 after four)


def mosaic(scenes: SegmentationSplit, first: int, rows: int, columns: int) -> tuple[np.ndarray, MaskLabels]:
    """rows x columns 64 px test scenes from `first` on, as one image with every scene's objects."""
    chosen = [first + r * columns + c for r in range(rows) for c in range(columns)]
    picture = np.concatenate([np.concatenate([scenes.sources[i] for i in chosen[r * columns:(r + 1) * columns]],
                                             axis=1) for r in range(rows)])
    height, width = picture.shape[:2]
    masks, labels = [], []
    for slot, index in enumerate(chosen):
        y, x = 64 * (slot // columns), 64 * (slot % columns)
        scene = scenes.targets[index].decode((64, 64))
        for mask, label in zip(scene.masks, scene.labels, strict=True):
            placed = np.zeros((height, width), bool)
            placed[y:y + 64, x:x + 64] = mask
            masks.append(placed)
            labels.append(label)
    return picture, MaskLabels.from_instances(np.array(masks), np.array(labels), (width, height))


def write_mosaics(folder, layouts: dict[str, list[tuple[int, int]]]) -> dict[str, list]:
    """COCO JSON splits of mosaics of test scenes ({split: [(rows, columns), ...]}); the labels of each split."""
    scenes, first, splits, written = shapes_test(), 0, {}, {}
    for name, shapes in layouts.items():
        split = SegmentationSplit()
        for rows, columns in shapes:
            picture, labels = mosaic(scenes, first % (len(scenes) - rows * columns), rows, columns)
            first += rows * columns
            split.sources.append(picture)
            split.targets.append(ArrayTarget(labels))
            split.image_ids.append(f"{name}_{len(split)}")
        splits[name], written[name] = split, [t.labels for t in split.targets]
    write_coco_masks(SourceMasks([BACKGROUND, *SHAPES], splits, instances=True), folder)
    return written


def test_crowded_images_of_hundreds_of_objects_are_scored_predicted_and_written(yolo_seg_run, tmp_path):
    """One 768 px image of 12 x 12 scenes holds some 300 objects: pycocotools' area() overflowed past 255 when
    scoring it; COCO's 100 detections would cap its recall. Scored, predicted (RLE and YOLO-seg lines) and served
    whole."""
    _, run = yolo_seg_run
    loaded = ocularis.load(run.best)
    truth = write_mosaics(tmp_path / "crowded", {"train": [(12, 12)]})["train"][0]
    assert len(truth.labels) > 255
    metrics = loaded.evaluate(str(tmp_path / "crowded" / "train.json"))
    assert metrics.scored.count == 1 and metrics.values["mask_mAP50"] > 0.1 and metrics.values["box_mAP50"] > 0.1
    result = loaded.predict(str(next((tmp_path / "crowded" / "images").iterdir())), conf=0.05)[0]
    assert len(result) > 150  # more than COCO's 100 are kept (the model finds about 2 in 3 at this conf)
    objects = result.to_json()["objects"]
    assert len(objects) == len(result) == len(result.to_yolo().splitlines())
    rle = objects[-1]["rle"]
    np.testing.assert_array_equal(coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()}),
                                  result.masks[-1])


def test_each_epochs_validation_is_the_val_commands_number(yolo_seg_run, tmp_path):
    """On images of different sizes (mosaics of 1 x 1 to 3 x 2 scenes), the mask mAP@.5 an epoch logs, which
    picks best.ckpt, is what `val --split val` reports for that checkpoint (batches padded to their largest image
    once logged half of it)."""
    _, run = yolo_seg_run
    sizes = [(1, 1), (3, 2), (1, 2), (2, 3), (2, 1), (3, 1), (1, 3), (2, 2)]
    write_mosaics(tmp_path / "sizes", {"train": sizes, "val": sizes})
    tuned = ocularis.Segmenter(model="yolo_seg", progress=False, project=str(tmp_path)).fit(
        str(tmp_path / "sizes"), weights=str(run.best), epochs=1, lr=1e-5, batch=4)
    logged = tuned.history[-1]["val/mask_mAP50"]
    assert logged > 0.1
    assert ocularis.load(tuned.best).evaluate(split="val").values["mask_mAP50"] == pytest.approx(logged, abs=1e-6)


def test_yolo_seg_learns_object_masks(yolo_seg_run):
    _, run = yolo_seg_run
    assert run.metrics.headline[0] == "mask_mAP50"
    assert run.metrics.values["mask_mAP50"] > 0.2  # untrained: about 0; three epochs 0.28
    assert run.metrics.values["mIoU"] > 0.2  # the class map the objects paint (all background: 0.14)


def test_the_threshold_is_where_mask_f1_peaks_on_the_val_images(yolo_seg_run):
    """Trained without --conf, the model keeps the confidence where mask F1 peaks on its val images: predictions,
    and the class map score() draws, use it; metrics.json says so."""
    _, run = yolo_seg_run
    loaded = ocularis.load(run.best)
    chosen = loaded.evaluate(split="val").values["mask_best_f1_conf"]
    assert loaded.meta["config"]["conf"] is None and loaded.meta["conf"] == pytest.approx(max(chosen, 0.001))
    assert loaded.default_options().conf == loaded.meta["conf"]
    saved = json.loads((run.dir / "metrics.json").read_text())["conf"]
    assert saved == {"value": loaded.meta["conf"], "chosen_on": "val"}


def test_instance_predictions_carry_masks_boxes_and_rle(yolo_seg_run):
    _, run = yolo_seg_run
    loaded = ocularis.load(run.best)
    test = shapes_test()
    picture = test.sources[0]
    truth = test.targets[0].decode((picture.shape[1], picture.shape[0]))
    result = loaded.predict(picture, conf=0.1)[0]
    assert len(result) >= 1 and result.masks.shape == (len(result), *picture.shape[:2])
    best = result.masks[int(np.argmax(result.scores))]
    overlaps = [(best & m).sum() / max((best | m).sum(), 1) for m in truth.masks]
    assert max(overlaps) > 0.5
    objects = result.to_json()["objects"]
    for mask, entry in zip(result.masks, objects, strict=True):
        rle = {"size": entry["rle"]["size"], "counts": entry["rle"]["counts"].encode()}
        np.testing.assert_array_equal(coco_mask.decode(rle).astype(bool), mask)
        assert entry["area"] == mask.sum() and entry["label"] in loaded.meta["classes"][1:]
    assert len(result.to_yolo().splitlines()) == len(result)
    painted = result.semantic[best]
    assert (painted > 0).mean() > 0.9  # the class map shows the objects


def test_tiled_instances_are_merged_across_tile_borders(yolo_seg_run):
    """Four test scenes as one 128 x 128 image: whole, and in 96 px tiles overlapping by 64 (every shape lies whole
    in some tile). The same objects are found, none twice."""
    _, run = yolo_seg_run
    loaded = ocularis.load(run.best)
    sources = shapes_test().sources[4:8]
    mosaic = np.concatenate([np.concatenate(sources[:2], axis=1), np.concatenate(sources[2:], axis=1)], axis=0)
    whole = loaded.predict(mosaic, conf=0.1)[0]
    tiled = loaded.predict(mosaic, tile=96, overlap=64, conf=0.1)[0]
    with pytest.raises(ConfigError, match="--tta averages class maps"):  # objects do not average
        loaded.predict(mosaic, tta=True)
    assert len(whole) >= 4
    from torchvision.ops import box_iou

    overlap = box_iou(torch.tensor(whole.boxes), torch.tensor(tiled.boxes))
    assert (overlap.max(dim=1).values > 0.5).float().mean() >= 0.75  # found again
    assert abs(len(tiled) - len(whole)) <= max(1, len(whole) // 4)  # and not duplicated at the tile borders


def test_onnx_export_of_three_outputs_reproduces_the_instances(yolo_seg_run, tmp_path):
    _, run = yolo_seg_run
    loaded = ocularis.load(run.best)
    exported = loaded.export("onnx", tmp_path / "yolo_seg.onnx", verify=True)
    assert exported.verification.agreement >= 0.95 and exported.verification.max_abs_diff < 1e-2
    onnx_model = ocularis.load(exported.path)
    picture = shapes_test().sources[1]
    ours, theirs = loaded.predict(picture, conf=0.1)[0], onnx_model.predict(picture, conf=0.1)[0]
    assert len(ours) == len(theirs) and (ours.semantic == theirs.semantic).mean() > 0.99


def test_the_server_returns_objects(yolo_seg_run):
    _, run = yolo_seg_run
    buffer = io.BytesIO()
    Image.fromarray(shapes_test().sources[2]).save(buffer, format="PNG")
    with TestClient(create_app({"shapes": ocularis.load(run.best)})) as client:
        response = client.post("/v1/models/shapes/predict", files=[("image", ("s.png", buffer.getvalue()))],
                               params={"conf": 0.1, "mask_threshold": 0.5})
        assert response.status_code == 200, response.text
        result = response.json()["results"][0]
        assert result["objects"] and all(o["rle"]["size"] == [64, 64] for o in result["objects"])
        class_map = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["class_map_png"]))))
        assert (class_map > 0).sum() >= max(o["area"] for o in result["objects"]) * 0.5
