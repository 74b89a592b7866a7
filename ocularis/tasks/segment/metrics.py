"""Segmentation metrics: pixel accuracy, per-class IoU and Dice, mIoU (from one confusion matrix that torchmetrics
accumulates); for two classes the ISBI challenge's pixel error (1 - the foreground pixels' F-score) and adapted Rand
error (scikit-image); for instance models COCO mask AP, matched and averaged by ocularis.core.coco_ap (the numbers
pycocotools prints for segm, as tests/test_segment_metrics.py checks), overlaps from pycocotools' RLE IoU."""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from ocularis.core.coco_ap import (
    CONFIDENCE_GRID,
    MAX_DETECTIONS,
    at_best_f1,
    f1_score,
    image_entries,
    mean_defined,
    summarise,
)
from ocularis.core.plots import plot_bars, plot_confusion
from ocularis.core.results import Metrics
from ocularis.data.masks import IGNORE, has_background, mask_extents


@dataclass
class SegmentMetrics(Metrics):
    """`values` over the dataset, `per_class` rows (iou, dice, pixels), the pixel confusion matrix (rows true class,
    columns predicted). A value is None where it is undefined (a class neither present nor predicted)."""

    classes: list[str]
    values: dict[str, float | None]
    per_class: dict[str, dict[str, float | int | None]]
    confusion: list[list[int]]

    @property
    def headline(self) -> tuple[str, float | None]:
        """Instance models rank by mask mAP@.5, semantic ones by mIoU."""
        return ("mask_mAP50", self.values["mask_mAP50"]) if "mask_mAP50" in self.values else ("mIoU",
                                                                                               self.values["mIoU"])

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        shown = ("mIoU", "mDice", "pixel_accuracy", "pixel_error", "rand_error", "mask_mAP50", "mask_mAP50_95",
                 "box_mAP50", "box_mAP50_95")
        return "  ".join(f"{k}: {_format(self.values[k])}" for k in shown if k in self.values)

    def __str__(self) -> str:
        width = max([len(c) for c in self.classes] + [5]) + 2
        lines = [self.summary(), "class".ljust(width) + "".join(c.rjust(10) for c in ("pixels", "iou", "dice"))]
        for name, row in self.per_class.items():
            lines.append(name.ljust(width) + "".join(_format(row[c]).rjust(10) for c in ("pixels", "iou", "dice")))
        return "\n".join(lines)

    def plot(self, folder: Path) -> list[Path]:
        """iou_per_class.png (bars) and confusion_matrix.png (pixels) in `folder`."""
        folder = Path(folder)
        bars = plot_bars({name: row["iou"] or 0.0 for name, row in self.per_class.items()},
                         folder / "iou_per_class.png", f"IoU per class, mIoU {_format(self.values['mIoU'])}")
        return [bars, plot_confusion(np.array(self.confusion), self.classes, folder / "confusion_matrix.png",
                                     "pixel confusion matrix")]


class PixelCounter:
    """The pixel confusion matrix over many images, by torchmetrics (ignoring IGNORE pixels); and for two classes
    the adapted Rand error per image."""

    def __init__(self, num_classes: int):
        from torchmetrics.classification import MulticlassConfusionMatrix

        self.num_classes = num_classes
        self.matrix = MulticlassConfusionMatrix(num_classes, ignore_index=IGNORE)
        self.rand_errors: list[float] = []

    def update(self, predicted: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor) -> None:
        """One image's (or a batch's) predicted and true class maps."""
        # a copy (torch.tensor): a cached class map is read-only, which torch.as_tensor warns of
        predicted, truth = (torch.tensor(np.asarray(m), dtype=torch.long) for m in (predicted, truth))
        self.matrix.update(predicted.reshape(-1), truth.reshape(-1))
        if self.num_classes == 2:
            for p, t in zip(predicted.reshape(-1, *predicted.shape[-2:]), truth.reshape(-1, *truth.shape[-2:]),
                            strict=True):
                self.rand_errors.append(adapted_rand_error(p.numpy(), t.numpy()))

    def confusion(self) -> np.ndarray:
        return self.matrix.compute().numpy().astype(np.int64)


def adapted_rand_error(predicted: np.ndarray, truth: np.ndarray) -> float:
    """The ISBI 2012 challenge's Rand error for a two-class map: the connected regions of class 1 (cells, between
    membranes of class 0) are the segments; true class-0 pixels are not scored (scikit-image's ignore_labels)."""
    from skimage.measure import label
    from skimage.metrics import adapted_rand_error as rand

    scored = truth != IGNORE
    true_segments = label((truth == 1) & scored, connectivity=1)
    found_segments = label((predicted == 1) & scored, connectivity=1)
    if not true_segments.any():
        return float(found_segments.any())
    return float(rand(true_segments, found_segments)[0])


def semantic_values(confusion: np.ndarray, classes: list[str]) -> tuple[dict, dict]:
    """(values, per_class) from a pixel confusion matrix (rows true, columns predicted)."""
    confusion = confusion.astype(np.float64)
    true_positive = np.diag(confusion)
    truth, predicted = confusion.sum(1), confusion.sum(0)
    union = truth + predicted - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, true_positive / union, np.nan)
        dice = np.where(union > 0, 2 * true_positive / (truth + predicted), np.nan)
    total = confusion.sum()
    accuracy = float(true_positive.sum() / total) if total else None
    values = {"mIoU": mean_defined(iou), "mDice": mean_defined(dice), "pixel_accuracy": accuracy}
    if has_background(classes):  # without one (CamVid's class 0 is Sky) every class is a foreground class
        values["mIoU_foreground"] = mean_defined(iou[1:])
    if len(classes) == 2:  # the ISBI 2012 leaderboard's pixel error: 1 - F-score of the foreground (label > 0)
        # pixels. The challenge took the best F-score over thresholds of a probability map; at the model's own
        # decision this is that value or worse. (1 - pixel accuracy is a different, smaller-looking number.)
        values["pixel_error"] = None if np.isnan(dice[1]) else float(1 - dice[1])
    per_class = {name: {"pixels": int(truth[c]), "iou": _number(iou[c]), "dice": _number(dice[c])}
                 for c, name in enumerate(classes)}
    return values, per_class


def instance_average_precision(predictions: list, truths: list, num_classes: int,
                           max_detections: int = MAX_DETECTIONS) -> dict[str, float | None]:
    """COCO segm and bbox AP, and the mask precision, recall and F1 at IoU .5 of the objects scoring at least the
    confidence where F1 peaks (mask_best_f1_conf, Ultralytics' reading). predictions per image (masks (n, H, W)
    bool, scores (n,), labels (n,), boxes (n, 4)
    xyxy); truths per image (masks (m, H, W) bool, labels (m,)), whose boxes are their masks' extents; labels are
    class indices (background, 0, has no objects). At most `max_detections` per image and class count, as COCOeval's
    maxDets (100 there; crowded images such as nuclei need more)."""
    from pycocotools import mask as coco_mask

    def encode(masks: np.ndarray) -> list:  # (n, W, H) in C order is (H, W, n) in Fortran order: one copy
        return coco_mask.encode(np.ascontiguousarray(np.asarray(masks, bool).transpose(0, 2, 1)).view(np.uint8)
                                .transpose(2, 1, 0))

    entries = {kind: [[[] for _ in range(4)] for _ in range(num_classes)] for kind in ("mask", "box")}
    for (masks, scores, labels, boxes), (gt_masks, gt_labels) in zip(predictions, truths, strict=True):
        scores, labels, gt_labels = np.asarray(scores, np.float64), np.asarray(labels), np.asarray(gt_labels)
        masks, gt_masks = np.asarray(masks, bool), np.asarray(gt_masks, bool)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        found_all, truth_all = encode(masks) if len(labels) else [], encode(gt_masks) if len(gt_labels) else []
        # areas counted here: pycocotools' area() fails on more than 255 masks (a uint8 it sizes its answer with)
        area, gt_area = masks.sum((1, 2), dtype=np.float64), gt_masks.sum((1, 2), dtype=np.float64)
        gt_boxes = mask_extents(gt_masks).astype(np.float64)
        for c in np.intersect1d(np.union1d(labels, gt_labels), np.arange(num_classes)):
            found = np.flatnonzero(labels == c)
            found = found[np.argsort(-scores[found], kind="mergesort")][:max_detections]
            truth = np.flatnonzero(gt_labels == c)
            dt, gt = [found_all[i] for i in found], [truth_all[i] for i in truth]
            overlaps = {"mask": np.asarray(coco_mask.iou(dt, gt, [0] * len(gt)) if dt and gt else
                                           np.zeros((len(dt), len(gt)))).reshape(len(dt), len(gt)),
                        "box": box_iou(torch.from_numpy(boxes[found]), torch.from_numpy(gt_boxes[truth])).numpy()}
            sizes = {"mask": (area[found], gt_area[truth]),
                     "box": (_box_area(boxes[found]), _box_area(gt_boxes[truth]))}
            for kind, iou in overlaps.items():
                for a, entry in enumerate(image_entries(scores[found], iou, *sizes[kind])):
                    entries[kind][c][a].append(entry)
    values = {f"{kind}_{key}": value for kind, per_class in entries.items()
              for key, value in summarise(per_class)[2].items()}
    precision, recall, best = at_best_f1([per_area[0] for per_area in entries["mask"]])
    mean_precision, mean_recall = mean_defined(precision), mean_defined(recall)
    return {**values, "mask_precision": mean_precision, "mask_recall": mean_recall,
            "mask_f1": f1_score(mean_precision, mean_recall),
            "mask_best_f1_conf": None if best is None else float(CONFIDENCE_GRID[best])}


def _box_area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def segmentation_metrics(counter: PixelCounter, classes: list[str], instances: tuple[list, list] | None = None,
                         max_detections: int = MAX_DETECTIONS) -> SegmentMetrics:
    """The metrics from a filled PixelCounter and, for instance models, (predictions, truths) for mask and box AP."""
    confusion = counter.confusion()
    values, per_class = semantic_values(confusion, classes)
    if counter.rand_errors:
        values["rand_error"] = float(np.mean(counter.rand_errors))
    if instances is not None:
        values.update(instance_average_precision(*instances, len(classes), max_detections))
    return SegmentMetrics(list(classes), values, per_class, confusion.tolist())


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _format(value) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
