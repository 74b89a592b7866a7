"""Segmentation metrics against their references: COCO mask and box AP against pycocotools' COCOeval('segm' and
'bbox'), crowded images (hundreds of objects) included, pixel metrics
against torchmetrics, the ISBI Rand error against scikit-image; and tiling's stitch against the untiled image."""

import contextlib
import io

import numpy as np
import pytest
import torch

from ocularis.core.tiling import Stitcher, TileLayout, tile_starts
from ocularis.data.masks import mask_extents
from ocularis.tasks.segment.metrics import (
    PixelCounter,
    adapted_rand_error,
    instance_average_precision,
    segmentation_metrics,
)

HEIGHT, WIDTH = 96, 128


def blob(rng: np.random.Generator) -> np.ndarray:
    """An ellipse of random size and place: areas from ~10 px to ~3,000 px cross COCO's small/medium bounds."""
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    cy, cx = rng.uniform(0, HEIGHT), rng.uniform(0, WIDTH)
    ry, rx = np.exp(rng.uniform(np.log(2), np.log(40), 2))
    return ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1


def noisy_mask_set(seed: int, images: int = 60, classes: int = 3):
    """GT objects and predictions: shifted and dilated copies, misses, duplicates, wrong classes, false positives,
    tied scores."""
    rng = np.random.default_rng(seed)
    predictions, truths = [], []
    for _ in range(images):
        gt = [m for m in (blob(rng) for _ in range(int(rng.integers(0, 6)))) if m.any()]
        gt_labels = rng.integers(1, classes + 1, len(gt))
        found, labels = [], []
        for mask, label in zip(gt, gt_labels, strict=True):
            for _ in range(int(rng.random() < 0.85) + int(rng.random() < 0.2)):
                shifted = np.roll(mask, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
                found.append(shifted)
                labels.append(label if rng.random() < 0.9 else rng.integers(1, classes + 1))
        for _ in range(int(rng.integers(0, 3))):
            found.append(blob(rng))
            labels.append(rng.integers(1, classes + 1))
        keep = [i for i, m in enumerate(found) if m.any()]
        masks = np.array([found[i] for i in keep], bool).reshape(-1, HEIGHT, WIDTH)
        scores = np.round(rng.random(len(keep)), 2)
        boxes = mask_extents(masks) + rng.normal(0, 1.5, (len(keep), 4))  # a box head is not its mask's extent
        predictions.append((masks, scores, np.array([labels[i] for i in keep], np.int64), boxes))
        truths.append((np.array(gt, bool).reshape(-1, HEIGHT, WIDTH), gt_labels.astype(np.int64)))
    return predictions, truths


def pycocotools_eval(predictions, truths, classes: int, kind: str, max_detections: int = 100,
                     height: int = HEIGHT, width: int = WIDTH):
    """COCOeval's six AP numbers ("segm" or "bbox"); a GT's area is its mask's pixels, or its box's for bbox."""
    from pycocotools import mask as coco_mask
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def rle(mask):
        encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        encoded["counts"] = encoded["counts"].decode("ascii")
        return encoded

    def xywh(box):
        return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]

    annotations, results = [], []
    for image, ((gt_masks, gt_labels), (masks, scores, labels, boxes)) in enumerate(zip(truths, predictions,
                                                                                       strict=True)):
        for mask, label, box in zip(gt_masks, gt_labels, mask_extents(gt_masks), strict=True):
            area = float(mask.sum()) if kind == "segm" else xywh(box)[2] * xywh(box)[3]
            annotations.append({"id": len(annotations) + 1, "image_id": image + 1, "category_id": int(label),
                                "segmentation": rle(mask), "area": area, "iscrowd": 0, "bbox": xywh(box)})
        for mask, score, label, box in zip(masks, scores, labels, boxes, strict=True):
            results.append({"image_id": image + 1, "category_id": int(label), "score": float(score),
                            **({"segmentation": rle(mask)} if kind == "segm" else {"bbox": xywh(box)})})
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = {"images": [{"id": i + 1, "width": width, "height": height}
                                           for i in range(len(truths))],
                                "annotations": annotations,
                                "categories": [{"id": c, "name": str(c)} for c in range(1, classes + 1)]}
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), kind)
        evaluation.params.maxDets = [1, 10, max_detections]
        evaluation.evaluate()
        evaluation.accumulate()
    # summarize()'s stats, read at the last maxDets (its first line asks for maxDets=100 whatever was set)
    precision = evaluation.eval["precision"][..., -1]  # (IoU, recall, class, area)
    chosen = [precision[:, :, :, 0], precision[:1, :, :, 0], precision[5:6, :, :, 0], *(precision[..., a]
                                                                                    for a in (1, 2, 3))]
    return [float(p[p > -1].mean()) if (p > -1).any() else -1.0 for p in chosen]


def assert_equals_pycocotools(ours: dict, reference, kind: str) -> None:
    keys = ("mAP50_95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large")
    values = [ours[f"{kind}_{k}"] for k in keys]
    np.testing.assert_allclose([-1 if v is None else v for v in values], reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_mask_and_box_ap_equal_pycocotools(seed: int):
    predictions, truths = noisy_mask_set(seed)
    ours = instance_average_precision(predictions, truths, num_classes=4)  # class 0 (background) has no objects
    reference = pycocotools_eval(predictions, truths, classes=3, kind="segm")
    assert min(reference[:3]) > 0.1  # the set has matches to score
    assert_equals_pycocotools(ours, reference, "mask")
    assert_equals_pycocotools(ours, pycocotools_eval(predictions, truths, classes=3, kind="bbox"), "box")


def test_the_best_f1_confidence_of_masks_is_detections_for_rectangles():
    """Masks that fill their boxes overlap as their boxes do: the mask precision, recall and the confidence where
    F1 peaks (what an instance model's threshold is chosen by) equal the detection metrics' on those boxes."""
    from ocularis.tasks.detect.metrics import detection_metrics

    predictions, truths = noisy_mask_set(2)
    square_truths = [(_filled(masks), labels) for masks, labels in truths]
    square = []
    for (masks, scores, labels, _), (gt_masks, gt_labels) in zip(predictions, square_truths, strict=True):
        masks = _filled(masks)
        right = np.array([(mask & gt_masks[gt_labels == label]).any() for mask, label in zip(masks, labels,
                                                                                           strict=True)], bool)
        square.append((masks, np.where(right, 0.4 + 0.6 * scores, 0.6 * scores), labels,
                       mask_extents(masks).astype(float)))  # right objects mostly score higher: F1 peaks inside
    ours = instance_average_precision(square, square_truths, num_classes=4)
    boxes = detection_metrics([(b, s, lab) for _, s, lab, b in square],
                              [(mask_extents(m).astype(float), lab) for m, lab in square_truths],
                              ["bg", "a", "b", "c"])
    assert 0.05 < ours["mask_best_f1_conf"] < 0.95
    for key in ("best_f1_conf", "precision", "recall", "f1"):
        assert ours[f"mask_{key}"] == pytest.approx(boxes.values[key], abs=1e-9), key


def _filled(masks: np.ndarray) -> np.ndarray:
    """Each mask as the rectangle of its extent."""
    filled = np.zeros_like(masks)
    for mask, (x0, y0, x1, y1) in zip(filled, mask_extents(masks), strict=True):
        mask[y0:y1, x0:x1] = True
    return filled


def test_crowded_images_of_hundreds_of_objects_are_scored_like_pycocotools():
    """A 20 x 20 grid of small discs (400 objects of one class, as nuclei crowd a microscope image): pycocotools'
    own area() overflows past 255 masks; our AP counts every object, up to max_detections a image."""
    rng = np.random.default_rng(0)
    side, cell = 20, 12
    ys, xs = np.mgrid[:side * cell, :side * cell]
    centres = [(r * cell + 6 + rng.uniform(-1, 1), c * cell + 6 + rng.uniform(-1, 1)) for r in range(side)
               for c in range(side)]
    gt = np.array([(ys - y) ** 2 + (xs - x) ** 2 <= rng.uniform(9, 20) for y, x in centres])
    found = np.array([np.roll(m, tuple(rng.integers(-1, 2, 2)), axis=(0, 1)) for m in gt[rng.random(len(gt)) < 0.9]])
    predictions = [(found, rng.random(len(found)), np.ones(len(found), np.int64), mask_extents(found))]
    truths = [(gt, np.ones(len(gt), np.int64))]
    for kind, name in (("segm", "mask"), ("bbox", "box")):
        ours = instance_average_precision(predictions, truths, num_classes=2, max_detections=1000)
        assert ours[f"{name}_mAP50"] > 0.8  # every object counted: at COCO's 100 detections it would be < 0.3
        reference = pycocotools_eval(predictions, truths, 1, kind, 1000, side * cell, side * cell)
        assert_equals_pycocotools(ours, reference, name)


def test_pixel_metrics_equal_torchmetrics():
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_f1_score,
        multiclass_jaccard_index,
    )

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, (5, 40, 50))
    predicted = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 4, truth.shape))
    truth[:, :3] = 255  # ignored pixels count nowhere
    counter = PixelCounter(4)
    for p, t in zip(predicted, truth, strict=True):
        counter.update(p, t)
    metrics = segmentation_metrics(counter, ["background", "a", "b", "c"])
    p, t = torch.from_numpy(predicted), torch.from_numpy(truth)
    expected_iou = multiclass_jaccard_index(p, t, 4, average=None, ignore_index=255)
    expected_dice = multiclass_f1_score(p, t, 4, average=None, ignore_index=255, multidim_average="global")
    ious = [metrics.per_class[c]["iou"] for c in metrics.classes]
    dices = [metrics.per_class[c]["dice"] for c in metrics.classes]
    np.testing.assert_allclose(ious, expected_iou.numpy(), atol=1e-6)
    np.testing.assert_allclose(dices, expected_dice.numpy(), atol=1e-6)
    assert metrics.values["mIoU"] == pytest.approx(float(expected_iou.mean()), abs=1e-6)
    assert metrics.values["pixel_accuracy"] == pytest.approx(
        float(multiclass_accuracy(p, t, 4, average="micro", ignore_index=255)), abs=1e-6)


def test_pixel_error_is_the_isbi_leaderboards_one_minus_foreground_f_score():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    truth = (rng.random((3, 40, 40)) < 0.8).astype(np.int64)  # mostly cell interior (1), as ISBI's slices
    predicted = np.where(rng.random(truth.shape) < 0.9, truth, 1 - truth)
    counter = PixelCounter(2)
    counter.update(predicted, truth)
    metrics = segmentation_metrics(counter, ["membrane", "cell"])
    expected = 1 - f1_score(truth.reshape(-1), predicted.reshape(-1), pos_label=1)
    assert metrics.values["pixel_error"] == pytest.approx(expected, abs=1e-9)
    assert metrics.values["pixel_error"] < 1 - metrics.values["pixel_accuracy"]  # not the misclassified fraction


def test_rand_error_is_scikit_images_on_cell_regions():
    from skimage.measure import label
    from skimage.metrics import adapted_rand_error as reference

    truth = np.ones((60, 60), np.uint8)
    truth[:, 29:31] = truth[29:31, :] = 0  # four cells split by membranes
    assert adapted_rand_error(truth, truth) == 0.0
    merged = truth.copy()
    merged[:29, 29:31] = 1  # a broken membrane merges two cells
    expected = reference(label(truth == 1, connectivity=1), label(merged == 1, connectivity=1))[0]
    assert adapted_rand_error(merged, truth) == pytest.approx(expected) and expected > 0.05


def test_stitched_tiles_reproduce_the_image_and_cover_it():
    image = torch.rand(3, 150, 211)
    layout = TileLayout(211, 150, 64, 16)
    tiles = layout.cut(image)
    assert tiles.shape == (len(tile_starts(150, 64, 16)) * len(tile_starts(211, 64, 16)), 3, 64, 64)
    stitcher = Stitcher(layout, 3)
    for start in range(0, len(tiles), 5):  # chunk by chunk, as prediction runs them
        stitcher.add(tiles[start:start + 5], start)
    torch.testing.assert_close(stitcher.result(), image)
    small = TileLayout(40, 30, 64, 16)  # smaller than a tile: one padded tile
    assert small.corners == [(0, 0)] and small.cut(torch.rand(1, 30, 40)).shape == (1, 1, 64, 64)
    whole = TileLayout.whole(211, 150, 32)  # one pass: a tile of the image's sides rounded up to the stride
    assert whole.corners == [(0, 0)] and whole.cut(image).shape == (1, 3, 160, 224)
    stitcher = Stitcher(whole, 3)
    stitcher.add(whole.cut(image), 0)
    torch.testing.assert_close(stitcher.result(), image)


def test_masks_made_in_one_product_over_a_small_image_are_the_per_box_masks(monkeypatch):
    """decode_objects' two ways to the masks (one product over the whole of a small image; one per box in a large
    one) give the same pixels, boxes over the image's edges included."""
    from ocularis.tasks.segment import predict

    torch.manual_seed(0)
    rows, centres, sizes = torch.rand(60, 10), torch.rand(60, 2) * torch.tensor([80.0, 64.0]), torch.rand(60, 2) * 30
    rows[:, :4] = torch.cat([centres - sizes / 2, centres + sizes / 2], 1)
    outputs = (rows, torch.randn(60, 32), torch.randn(32, 16, 20), (64, 80), 0.01, 0.7, 300)
    whole = predict.decode_objects(*outputs)
    monkeypatch.setattr(predict, "WHOLE_IMAGE_MASKS", 0)
    boxed = predict.decode_objects(*outputs)
    assert len(whole) > 20 and whole.masks.any() and torch.equal(whole.masks, boxed.masks)
