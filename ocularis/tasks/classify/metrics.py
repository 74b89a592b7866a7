"""Classification metrics from predicted probabilities: accuracy, top-5, per-class P/R/F1, confusion matrix;
for multi-label: mAP, per-class AP and F1 at per-class thresholds (tuned on the validation split)."""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional import classification as C

from ocularis.core.plots import plot_bars, plot_confusion
from ocularis.core.results import Metrics


@dataclass
class ClassifyMetrics(Metrics):
    classes: list[str]
    multi_label: bool
    values: dict[str, float]
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]] = field(default_factory=list)

    @property
    def headline(self) -> tuple[str, float]:
        """The one number that ranks models: accuracy (mAP for multi-label)."""
        name = "mAP" if self.multi_label else "accuracy"
        return name, self.values[name]

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = ["  ".join(f"{k}={v:.4f}" for k, v in self.values.items())]
        columns = list(next(iter(self.per_class.values())))
        width = max(len(c) for c in self.classes) + 2
        lines.append("class".ljust(width) + "".join(c.rjust(10) for c in columns))
        for name, row in self.per_class.items():
            lines.append(name.ljust(width) + "".join(f"{row[c]:10.3f}" if c != "support" else f"{row[c]:10d}"
                                                     for c in columns))
        return "\n".join(lines)

    def plot(self, folder: str | Path) -> list[Path]:
        """confusion_matrix.png (single-label) or per_class_ap.png (multi-label) in `folder`."""
        if self.multi_label:
            return [plot_bars({k: v["ap"] for k, v in self.per_class.items()}, Path(folder) / "per_class_ap.png",
                              "average precision")]
        return [plot_confusion(np.array(self.confusion), self.classes, Path(folder) / "confusion_matrix.png")]


def classification_metrics(probs: torch.Tensor, targets: torch.Tensor, classes: list[str]) -> ClassifyMetrics:
    """probs (N, C) softmax outputs, targets (N,) class indices."""
    n = len(classes)
    values = {"accuracy": C.multiclass_accuracy(probs, targets, n, average="micro").item(),
              "balanced_accuracy": C.multiclass_accuracy(probs, targets, n, average="macro").item()}
    if n > 5:
        values["top5"] = C.multiclass_accuracy(probs, targets, n, average="micro", top_k=5).item()
    values["macro_f1"] = C.multiclass_f1_score(probs, targets, n, average="macro").item()
    precision = C.multiclass_precision(probs, targets, n, average=None)
    recall = C.multiclass_recall(probs, targets, n, average=None)
    f1 = C.multiclass_f1_score(probs, targets, n, average=None)
    support = torch.bincount(targets, minlength=n)
    per_class = {name: {"precision": precision[i].item(), "recall": recall[i].item(), "f1": f1[i].item(),
                        "support": int(support[i])} for i, name in enumerate(classes)}
    confusion = C.multiclass_confusion_matrix(probs, targets, n).tolist()
    return ClassifyMetrics(classes, False, values, per_class, confusion)


def multilabel_metrics(probs: torch.Tensor, targets: torch.Tensor, classes: list[str],
                       thresholds: list[float]) -> ClassifyMetrics:
    """probs (N, C) sigmoid outputs, targets (N, C) 0/1; F1 at each class's own threshold."""
    n = len(classes)
    targets = targets.long()
    ap = C.multilabel_average_precision(probs, targets, n, average=None)
    predicted = (probs >= torch.tensor(thresholds)).long()
    f1 = C.multilabel_f1_score(predicted, targets, n, average=None, threshold=0.5)
    precision = C.multilabel_precision(predicted, targets, n, average=None, threshold=0.5)
    recall = C.multilabel_recall(predicted, targets, n, average=None, threshold=0.5)
    values = {"mAP": float(torch.nan_to_num(ap).mean()), "macro_f1": f1.mean().item(),
              "micro_f1": C.multilabel_f1_score(predicted, targets, n, average="micro", threshold=0.5).item(),
              "exact_match": (predicted == targets).all(dim=1).float().mean().item()}
    per_class = {name: {"ap": float(torch.nan_to_num(ap[i])), "precision": precision[i].item(),
                        "recall": recall[i].item(), "f1": f1[i].item(), "threshold": thresholds[i],
                        "support": int(targets[:, i].sum())} for i, name in enumerate(classes)}
    return ClassifyMetrics(classes, True, values, per_class)


def tune_thresholds(probs: torch.Tensor, targets: torch.Tensor, default: float) -> list[float]:
    """Per class, the sigmoid threshold with the best F1 on these (validation) predictions."""
    candidates = torch.linspace(0.05, 0.95, 19)
    thresholds = []
    for c in range(probs.shape[1]):
        positives = targets[:, c] > 0.5
        if not positives.any():
            thresholds.append(default)
            continue
        predicted = probs[:, c][None, :] >= candidates[:, None]
        tp = (predicted & positives).sum(1).float()
        f1 = 2 * tp / (predicted.sum(1) + positives.sum()).clamp(min=1)
        thresholds.append(round(float(candidates[int(f1.argmax())]), 2))
    return thresholds
