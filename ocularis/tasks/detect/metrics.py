"""Detection metrics: COCO mAP (the numbers pycocotools' COCOeval prints for bbox), VOC AP, precision and recall at
the best F1, per-class PR curves and a confusion matrix.

COCO's matching and averaging is ocularis.core.coco_ap, shared with segmentation's mask AP; not torchmetrics'
MeanAveragePrecision, which returns no PR curves. tests/test_detect_metrics.py checks every COCO number against
pycocotools.
Boxes are x1 y1 x2 y2 in continuous coordinates (width = x2 - x1, no +1), as COCO and torchvision.ops count them.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from ocularis.core.coco_ap import (
    AREA_RANGES,
    CONFIDENCE_GRID,
    MAX_DETECTIONS,
    RECALL_POINTS,
    at_best_f1,
    f1_score,
    image_entries,
    mean_defined,
    summarise,
)
from ocularis.core.plots import plot_confusion
from ocularis.core.results import Metrics


@dataclass
class DetectMetrics(Metrics):
    """Dataset-level `values`, `per_class` rows, PR curves at IoU .5 and the confusion matrix (rows true class,
    columns predicted, last row/column background). A metric is None where COCO prints -1: no GT to score against."""

    classes: list[str]
    values: dict[str, float | None]
    per_class: dict[str, dict[str, float | int | None]]
    pr_curves: dict[str, dict[str, list[float]]]  # class -> {"recall": [...], "precision": [...]} at COCO's points
    confusion: list[list[int]]

    @property
    def headline(self) -> tuple[str, float | None]:
        """The one number that ranks models: mAP at IoU .5."""
        return "mAP50", self.values["mAP50"]

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return f"mAP@.5: {_format(self.values['mAP50'])}  mAP@.5:.95: {_format(self.values['mAP50_95'])}"

    def __str__(self) -> str:
        lines = ["  ".join(f"{k}={_format(v)}" for k, v in self.values.items())]
        width = max([len(c) for c in self.classes] + [5]) + 2
        columns = ["gt_count", "precision", "recall", "ap50", "ap50_95"]
        lines.append("class".ljust(width) + "".join(c.rjust(10) for c in columns))
        for name, row in self.per_class.items():
            lines.append(name.ljust(width) + "".join(_format(row[c]).rjust(10) for c in columns))
        return "\n".join(lines)

    def plot(self, folder: str | Path) -> list[Path]:
        """pr_curves.png (per-class precision-recall at IoU .5) and confusion_matrix.png in `folder`."""
        import matplotlib.pyplot as plt  # after ocularis.core.plots chose the file-only backend

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        figure, axis = plt.subplots(figsize=(6, 5))
        for name, curve in self.pr_curves.items():
            axis.plot(curve["recall"], curve["precision"], label=f"{name} {_format(self.per_class[name]['ap50'])}")
        axis.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
                 title=f"PR at IoU .5, mAP50 {_format(self.values['mAP50'])}")
        if 0 < len(self.pr_curves) <= 20:
            axis.legend(fontsize=7, loc="lower left")
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(folder / "pr_curves.png", dpi=110)
        plt.close(figure)
        confusion = plot_confusion(np.array(self.confusion), [*self.classes, "background"],
                                   folder / "confusion_matrix.png")
        return [folder / "pr_curves.png", confusion]


def detection_metrics(predictions: list, ground_truths: list, classes: list[str]) -> DetectMetrics:
    """predictions: per image (boxes (N, 4) x1 y1 x2 y2, scores (N,), labels (N,)); ground_truths: per image
    (boxes (M, 4), labels (M,)); numpy arrays or tensors. Classes without GT are left out of every mean, as COCO."""
    if len(predictions) != len(ground_truths):
        raise ValueError(f"{len(predictions)} images of predictions but {len(ground_truths)} of ground truth")
    predictions = [_as_numpy(*p) for p in predictions]
    ground_truths = [_as_numpy(*g) for g in ground_truths]
    num_classes, areas = len(classes), len(AREA_RANGES)
    coco = [[[] for _ in range(areas)] for _ in range(num_classes)]  # per class and area: one entry per image
    voc = [[] for _ in range(num_classes)]
    for (boxes, scores, labels), (gt_boxes, gt_labels) in zip(predictions, ground_truths, strict=True):
        for c in np.intersect1d(np.union1d(labels, gt_labels), np.arange(num_classes)):
            found = np.flatnonzero(labels == c)
            found = found[np.argsort(-scores[found], kind="mergesort")]  # stable, as COCOeval
            truth = gt_boxes[gt_labels == c]
            iou = box_iou(torch.from_numpy(boxes[found]), torch.from_numpy(truth)).numpy()
            voc[c].append((scores[found], _voc_true_positives(iou), len(truth)))
            found = found[:MAX_DETECTIONS]
            per_area = image_entries(scores[found], iou[:MAX_DETECTIONS], _area(boxes[found]), _area(truth))
            for a, entry in enumerate(per_area):
                coco[c][a].append(entry)

    ap, curves, values = summarise(coco)
    voc_curves = [_voc_curve(entries) for entries in voc]
    values["mAP50_voc07"] = mean_defined(np.array([_voc07_ap(*cur) if cur else np.nan for cur in voc_curves]))
    values["mAP50_voc"] = mean_defined(np.array([_all_point_ap(*cur) if cur else np.nan for cur in voc_curves]))
    precision, recall, best = at_best_f1([entries[0] for entries in coco])
    mean_precision, mean_recall = mean_defined(precision), mean_defined(recall)
    values.update(precision=mean_precision, recall=mean_recall, f1=f1_score(mean_precision, mean_recall),
                  best_f1_conf=None if best is None else float(CONFIDENCE_GRID[best]))

    gt_counts = np.bincount(np.concatenate([g[1] for g in ground_truths] + [np.zeros(0, np.int64)]),
                            minlength=num_classes)
    per_class = {name: {"gt_count": int(gt_counts[c]), "precision": _number(precision[c]),
                        "recall": _number(recall[c]), "ap50": _number(ap[c, 0, 0]),
                        "ap50_95": _number(ap[c, 0].mean())} for c, name in enumerate(classes)}
    pr_curves = {name: {"recall": RECALL_POINTS.tolist(), "precision": curves[c][0][0].tolist()}
                 for c, name in enumerate(classes) if curves[c][0] is not None}
    matrix = confusion_matrix(predictions, ground_truths, num_classes)
    return DetectMetrics(list(classes), values, per_class, pr_curves, matrix.tolist())


def confusion_matrix(predictions: list, ground_truths: list, num_classes: int, conf: float = 0.25,
                     iou: float = 0.45) -> np.ndarray:
    """(C+1) x (C+1) counts: rows true class, columns predicted class, index C background (Ultralytics' rule).

    Detections scoring above `conf` pair one-to-one with GT boxes overlapping above `iou`, highest IoU first and
    whatever the class, so a right box with a wrong class shows as a confusion. A GT left unpaired counts in the
    background column (missed), a detection left unpaired in the background row (false positive).
    """
    matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for prediction, truth in zip(predictions, ground_truths, strict=True):
        boxes, scores, labels = _as_numpy(*prediction)
        gt_boxes, gt_labels = _as_numpy(*truth)
        boxes, labels = boxes[scores > conf], labels[scores > conf]
        overlaps = box_iou(torch.from_numpy(gt_boxes), torch.from_numpy(boxes)).numpy()
        pairs = np.argwhere(overlaps > iou)
        pairs = pairs[np.argsort(-overlaps[pairs[:, 0], pairs[:, 1]], kind="mergesort")]
        detection_of_gt, gt_of_detection = np.full(len(gt_labels), -1), np.full(len(labels), -1)
        for g, d in pairs:
            if detection_of_gt[g] < 0 and gt_of_detection[d] < 0:
                detection_of_gt[g], gt_of_detection[d] = d, g
        predicted = np.append(labels, num_classes)[detection_of_gt]  # index -1 (unpaired) -> background
        np.add.at(matrix, (gt_labels, predicted), 1)
        np.add.at(matrix, (num_classes, labels[gt_of_detection < 0]), 1)
    return matrix


def _voc_true_positives(iou: np.ndarray) -> np.ndarray:
    """VOC's rule for one image and class (detections in score order): a detection is a true positive when its
    highest-IoU GT overlaps it by more than .5 and no earlier detection took that GT; otherwise a false positive."""
    hits = np.zeros(len(iou), bool)
    if iou.shape[1] == 0:
        return hits
    best = iou.argmax(1)
    taken = np.zeros(iou.shape[1], bool)
    for d in np.flatnonzero(iou[np.arange(len(iou)), best] > 0.5):
        if not taken[best[d]]:
            taken[best[d]] = hits[d] = True
    return hits


def _voc_curve(entries: list) -> tuple[np.ndarray, np.ndarray] | None:
    """(recall, precision) over all images' detections of one class in score order; None without GT."""
    gt_count = sum(e[2] for e in entries)
    if gt_count == 0:
        return None
    order = np.argsort(-np.concatenate([e[0] for e in entries]), kind="mergesort")
    hits = np.concatenate([e[1] for e in entries])[order]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    return tp / gt_count, tp / np.maximum(tp + fp, np.finfo(np.float64).eps)


def _voc07_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2007's 11-point AP: mean of the best precision at recall >= 0, .1, ..., 1."""
    return float(np.mean([precision[recall >= r].max(initial=0.0) for r in np.linspace(0, 1, 11)]))


def _all_point_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2010+ AP: area under the precision envelope (precision made monotone), summed where recall changes."""
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def _as_numpy(boxes, *rest) -> tuple[np.ndarray, ...]:
    """(boxes, [scores,] labels) as float64 boxes (n, 4), float64 scores and int64 labels; float64 for COCO's IoUs."""
    as_array = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in (boxes, *rest)]
    boxes = as_array[0].astype(np.float64).reshape(-1, 4)
    scores = [a.astype(np.float64).reshape(-1) for a in as_array[1:-1]]
    return boxes, *scores, as_array[-1].astype(np.int64).reshape(-1)


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _format(value) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
