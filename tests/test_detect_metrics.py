"""Box post-processing against torchvision.ops, detection metrics against pycocotools' COCOeval and hand counts."""

import contextlib
import io
import json

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms, box_iou, nms

from ocularis.models.boxes import (
    clip_boxes,
    cxcywh_to_xyxy,
    postprocess_detections,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)
from ocularis.tasks.detect.metrics import confusion_matrix, detection_metrics

# ---------------------------------------------------------------- post-processing


def crowded_boxes(seed: int, count: int = 400, classes: int = 4):
    """Boxes bunched around a few centres (so NMS has plenty to suppress), random scores and classes."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.rand(8, 2, generator=generator) * 200
    xy = centres[torch.randint(0, 8, (count,), generator=generator)] + torch.randn(count, 2, generator=generator) * 6
    wh = 20 + torch.rand(count, 2, generator=generator) * 30
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=1)
    return boxes, torch.rand(count, generator=generator), torch.randint(0, classes, (count,), generator=generator)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("class_agnostic", [False, True])
def test_postprocess_equals_torchvision_nms(seed: int, class_agnostic: bool):
    boxes, scores, labels = crowded_boxes(seed)
    conf, iou, max_det = 0.3, 0.5, 20
    kept = postprocess_detections(boxes, scores, labels, conf=conf, iou=iou, class_agnostic=class_agnostic,
                                  max_det=max_det)
    candidates = torch.nonzero(scores > conf).squeeze(1)
    if class_agnostic:
        survivors = candidates[nms(boxes[candidates], scores[candidates], iou)]
    else:
        survivors = candidates[batched_nms(boxes[candidates], scores[candidates], labels[candidates], iou)]
    assert len(survivors) > max_det  # so max_det really trims
    expected = survivors[:max_det]
    for got, source in zip(kept, (boxes, scores, labels), strict=True):
        assert torch.equal(got, source[expected])
    unlimited = postprocess_detections(boxes, scores, labels, conf=conf, iou=iou, class_agnostic=class_agnostic,
                                       max_det=10_000)
    assert torch.equal(unlimited[1], scores[survivors])
    assert (unlimited[1] > conf).all() and (unlimited[1][:-1] >= unlimited[1][1:]).all()


@pytest.mark.parametrize("seed", range(3))
def test_class_aware_nms_is_nms_per_class(seed: int):
    """An independent reference: plain nms on each class alone, merged by score."""
    boxes, scores, labels = crowded_boxes(seed)
    kept_boxes, kept_scores, kept_labels = postprocess_detections(boxes, scores, labels, conf=0.0, iou=0.45,
                                                                  max_det=10_000)
    per_class = torch.cat([torch.nonzero(labels == c).squeeze(1)[nms(boxes[labels == c], scores[labels == c], 0.45)]
                           for c in labels.unique()])
    per_class = per_class[scores[per_class].argsort(descending=True)]
    assert torch.equal(kept_scores, scores[per_class]) and torch.equal(kept_labels, labels[per_class])
    same_class = kept_labels[:, None] == kept_labels[None, :]
    overlap = box_iou(kept_boxes, kept_boxes).fill_diagonal_(0)
    assert not (overlap[same_class] > 0.45).any()
    assert (overlap[~same_class] > 0.45).any()  # across classes boxes may overlap; agnostic mode would remove them


def test_box_conversions_and_clipping():
    xyxy = torch.tensor([[10.0, 20.0, 50.0, 80.0], [-5.0, -5.0, 700.0, 20.0]])
    assert torch.equal(xyxy_to_xywh(xyxy)[0], torch.tensor([10.0, 20.0, 40.0, 60.0]))
    assert torch.equal(xyxy_to_cxcywh(xyxy)[0], torch.tensor([30.0, 50.0, 40.0, 60.0]))
    assert torch.allclose(xywh_to_xyxy(xyxy_to_xywh(xyxy)), xyxy)
    assert torch.allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy)), xyxy)
    assert torch.equal(clip_boxes(xyxy, height=100, width=640)[1], torch.tensor([0.0, 0.0, 640.0, 20.0]))
    assert xyxy[1, 0] == -5.0  # the input is left alone


# ---------------------------------------------------------------- COCO mAP against pycocotools


def noisy_detection_set(seed: int, images: int = 60, classes: int = 4, integer: bool = True):
    """Ground truth of every size (exact 32² and 96² boundaries included) and detections with jitter, misses,
    duplicates, wrong classes, false positives (some of class `classes`, which has no GT) and tied scores."""
    rng = np.random.default_rng(seed)
    predictions, truths = [], []
    for image in range(images):
        count = 5 if image == 0 else int(rng.integers(0, 9))
        sizes = np.exp(rng.uniform(np.log(4), np.log(300), (count, 2)))
        boundary = rng.random(count) < 0.15
        sizes[boundary] = rng.choice([32.0, 96.0], (int(boundary.sum()), 1))
        corners = rng.uniform(0, 1, (count, 2)) * (np.array([640.0, 480.0]) - sizes)
        gt_boxes = np.concatenate([corners, corners + sizes], axis=1).reshape(-1, 4)
        gt_labels = np.zeros(count, np.int64) if image == 0 else rng.integers(0, classes, count)
        found, found_labels = [], []
        for box, label in zip(gt_boxes, gt_labels, strict=True):
            width, height = box[2] - box[0], box[3] - box[1]
            copies = 40 if image == 0 else (rng.random() < 0.85) + (rng.random() < 0.2)  # image 0: > 100 per class
            for _ in range(int(copies)):
                found.append(box + rng.normal(0, rng.choice([0.03, 0.15]), 4) * [width, height, width, height])
                found_labels.append(label if rng.random() < 0.9 else rng.integers(0, classes))
        for _ in range(int(rng.integers(0, 4))):
            corner = rng.uniform(0, 400, 2)
            found.append(np.concatenate([corner, corner + rng.uniform(5, 200, 2)]))
            found_labels.append(rng.integers(0, classes + 1))
        found = np.array(found, dtype=np.float64).reshape(-1, 4)
        if integer:  # exact arithmetic in both implementations, so IoU ties and IoU == threshold really occur
            gt_boxes, found = np.round(gt_boxes), np.round(found)
        found[:, 2:] = np.maximum(found[:, 2:], found[:, :2] + 1)
        scores = np.round(rng.random(len(found)), 2)  # two decimals: many tied scores
        order = rng.permutation(len(found))
        predictions.append((found[order], scores[order], np.array(found_labels, np.int64)[order]))
        truths.append((gt_boxes, gt_labels))
    predictions.append(TIES_AND_IGNORES[0])
    truths.append(TIES_AND_IGNORES[1])
    return predictions, truths


# Class 0: the .9 detection overlaps both GTs by exactly 9/11; COCO gives it the LAST of equals (the right GT), so
# the .8 detection is left only the left GT (IoU 2/3). Class 1: in the small range the 32x33 detection must take the
# small GT (IoU .85) rather than the medium one, which that range ignores, though it overlaps it more (.97).
TIES_AND_IGNORES = ((np.array([[1, 0, 11, 10], [2, 0, 12, 10], [100, 100, 132, 133]], np.float64),
                     np.array([0.9, 0.8, 0.7]), np.array([0, 0, 1])),
                    (np.array([[0, 0, 10, 10], [2, 0, 12, 10], [100, 100, 130, 130], [100, 100, 133, 133]], np.float64),
                     np.array([0, 0, 1, 1])))


def pycocotools_eval(predictions, truths, num_classes: int):
    """COCOeval('bbox') on the same data converted to COCO json: image ids 1.., category id = class + 1."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations, results = [], []
    for image, ((boxes, labels), (found, scores, found_labels)) in enumerate(zip(truths, predictions, strict=True)):
        for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist(), strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": image + 1, "category_id": label + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        for (x1, y1, x2, y2), score, label in zip(found.tolist(), scores.tolist(), found_labels.tolist(), strict=True):
            results.append({"image_id": image + 1, "category_id": label + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": score})
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = {"images": [{"id": i + 1, "width": 640, "height": 480} for i in range(len(truths))],
                                "annotations": annotations,
                                "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


@pytest.mark.parametrize(("seed", "integer"), [(0, True), (1, True), (2, False)])
def test_coco_map_equals_pycocotools(seed: int, integer: bool):
    predictions, truths = noisy_detection_set(seed, integer=integer)
    classes = ["a", "b", "c", "d", "no_gt"]
    metrics = detection_metrics(predictions, truths, classes)
    reference = pycocotools_eval(predictions, truths, len(classes))
    ours = [metrics.values[k] for k in ("mAP50_95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large")]
    print(f"seed {seed}: ours {np.round(ours, 6).tolist()} pycocotools {np.round(reference.stats[:6], 6).tolist()}")
    assert min(reference.stats[:6]) > 0.05  # every area range occurred and was scored
    np.testing.assert_allclose(ours, reference.stats[:6], rtol=0, atol=1e-6)
    precision = reference.eval["precision"][:, :, :, 0, 2]  # (IoU, recall point, class) at area all, 100 dets
    for k, name in enumerate(classes[:-1]):
        assert metrics.per_class[name]["ap50_95"] == pytest.approx(precision[:, :, k].mean(), abs=1e-9)
        assert metrics.per_class[name]["ap50"] == pytest.approx(precision[0, :, k].mean(), abs=1e-9)
        np.testing.assert_allclose(metrics.pr_curves[name]["precision"], precision[0, :, k], atol=1e-12)
    assert metrics.per_class["no_gt"]["ap50"] is None and "no_gt" not in metrics.pr_curves
    assert 0 < metrics.values["precision"] <= 1 and 0 < metrics.values["recall"] <= 1
    assert 0 < metrics.values["mAP50_voc07"] <= 1 and 0 < metrics.values["mAP50_voc"] <= 1


# ---------------------------------------------------------------- hand-computed cases

THREE_GT = (np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], np.float64), np.zeros(3, np.int64))
# scores .9 hit GT 1, .8 hits nothing, .7 hits GT 2, .6 repeats GT 1: recall 1/3 1/3 2/3 2/3, precision 1 1/2 2/3 1/2
FOUR_DETECTIONS = (np.array([[0, 0, 10, 10], [100, 100, 110, 110], [20, 0, 30, 10], [0, 0, 10, 10]], np.float64),
                   np.array([0.9, 0.8, 0.7, 0.6]), np.zeros(4, np.int64))


def test_voc_and_coco_ap_by_hand():
    metrics = detection_metrics([FOUR_DETECTIONS], [THREE_GT], ["thing"])
    # all-point: recall 0->1/3 at precision 1, 1/3->2/3 at the envelope's 2/3, nothing beyond
    assert metrics.values["mAP50_voc"] == pytest.approx(1 / 3 + 1 / 3 * 2 / 3)
    # 11-point: recall >= 0, .1, .2, .3 -> 1; >= .4, .5, .6 -> 2/3; >= .7 ... 1 -> 0
    assert metrics.values["mAP50_voc07"] == pytest.approx((4 + 3 * 2 / 3) / 11)
    # COCO's 101 points: 0 .. .33 -> 1 (34 points), .34 .. .66 -> 2/3 (33 points), .67 .. 1 -> 0
    assert metrics.values["mAP50"] == pytest.approx((34 + 33 * 2 / 3) / 101)
    assert metrics.values["mAP_small"] == metrics.values["mAP50_95"]  # the boxes are exact, so every IoU matches
    assert metrics.values["mAP_medium"] is None and metrics.values["mAP_large"] is None
    # best F1 at conf .7: precision 2/3, recall 2/3
    assert metrics.values["precision"] == pytest.approx(2 / 3) and metrics.values["recall"] == pytest.approx(2 / 3)


def test_perfect_predictions_score_one_and_none_score_zero():
    predictions, truths = noisy_detection_set(3, images=10)
    perfect = [(torch.tensor(boxes), torch.full((len(boxes),), 0.9), torch.tensor(labels)) for boxes, labels in truths]
    values = detection_metrics(perfect, truths, ["a", "b", "c", "d"]).values
    for name in ("mAP50", "mAP50_95", "mAP75", "mAP_small", "mAP_medium", "mAP_large", "mAP50_voc07", "mAP50_voc",
                 "precision", "recall"):
        assert values[name] == pytest.approx(1.0), name
    empty = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))] * len(truths)
    values = detection_metrics(empty, truths, ["a", "b", "c", "d"]).values
    for name in ("mAP50", "mAP50_95", "mAP_small", "mAP50_voc07", "mAP50_voc", "precision", "recall"):
        assert values[name] == 0.0, name


def test_class_without_ground_truth_is_left_out():
    ghost = (np.array([[200.0, 200, 220, 220]]), np.array([0.95]), np.array([1]))
    alone = detection_metrics([FOUR_DETECTIONS], [THREE_GT], ["thing"])
    with_ghost = detection_metrics([FOUR_DETECTIONS, ghost], [THREE_GT, (np.zeros((0, 4)), np.zeros(0))],
                                   ["thing", "ghost"])
    for name in ("mAP50", "mAP50_95", "mAP50_voc", "mAP50_voc07", "precision", "recall"):
        assert with_ghost.values[name] == pytest.approx(alone.values[name]), name
    assert with_ghost.per_class["ghost"]["ap50"] is None and with_ghost.per_class["ghost"]["gt_count"] == 0


def test_confusion_matrix_by_hand():
    truth = (np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], np.float64), np.array([0, 1, 1]))
    found = (np.array([[0, 0, 10, 10],  # right box, right class
                       [20, 0, 30, 10],  # right box, class 0 for a 1
                       [100, 100, 110, 110],  # nothing there: false positive of class 1
                       [0, 0, 10, 11],  # duplicate of the first: false positive of class 0
                       [40, 0, 50, 10]], np.float64),  # below conf: the third GT is missed
             np.array([0.9, 0.8, 0.9, 0.7, 0.1]), np.array([0, 0, 1, 0, 1]))
    no_truth = (np.zeros((0, 4)), np.zeros(0, np.int64))
    lone = (np.array([[5.0, 5, 9, 9]]), np.array([0.5]), np.array([1]))
    matrix = confusion_matrix([found, lone], [truth, no_truth], num_classes=2)
    expected = [[1, 0, 0],  # true 0: found as 0
                [1, 0, 1],  # true 1: one taken for a 0, one missed
                [1, 2, 0]]  # background: duplicate 0, two class-1 false positives
    assert matrix.tolist() == expected
    assert detection_metrics([found, lone], [truth, no_truth], ["a", "b"]).confusion == expected


def test_report_json_and_plots(tmp_path):
    predictions, truths = noisy_detection_set(4, images=12)
    metrics = detection_metrics(predictions, truths, ["a", "b", "c", "d", "e"])
    assert metrics.headline == ("mAP50", metrics.values["mAP50"])
    assert json.loads(json.dumps(metrics.to_json()))["per_class"]["e"]["ap50"] is None
    text = str(metrics)
    assert "mAP50_95=" in text and all(name in text for name in "abcde")
    written = metrics.plot(tmp_path)
    assert {p.name for p in written} == {"pr_curves.png", "confusion_matrix.png"}
    assert all(p.stat().st_size > 1000 for p in written)
