"""Classification results: probabilities -> Labels, one per image."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel

from ocularis.core.drawing import caption, enlarged
from ocularis.core.results import Result


class ScoredLabel(BaseModel):
    label: str
    score: float


class LabelsResult(BaseModel):
    """Classification of one image: the chosen label(s) and the top-k ranking."""

    source: str
    labels: list[str]
    scores: list[float]
    topk: list[ScoredLabel]


@dataclass
class Labels(Result):
    """The classes predicted for one image: `names` and `scores` (the top one, or every class above its
    threshold for multi-label), plus the `topk` ranking."""

    schema = LabelsResult
    renderer = "labels"

    source: str
    names: list[str]
    scores: list[float]
    topk: list[tuple[str, float]]
    image: np.ndarray | None = field(default=None, repr=False)

    @property
    def label(self) -> str | None:
        return self.names[0] if self.names else None

    @property
    def score(self) -> float:
        return self.scores[0] if self.scores else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "labels": self.names, "scores": [round(s, 6) for s in self.scores],
                "topk": [{"label": n, "score": round(s, 6)} for n, s in self.topk]}

    def row(self) -> dict[str, str]:
        return {"label": "|".join(self.names), "score": f"{self.score:.3f}",
                "top-k": ", ".join(f"{n} {s:.2f}" for n, s in self.topk)}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        """The image in its own colours (small ones enlarged) with its labels and scores written legibly on it (RGB
        uint8)."""
        picture, _ = enlarged(self.image, enlarge)
        text = ", ".join(f"{n} {s:.2f}" for n, s in zip(self.names, self.scores, strict=True)) or "(none)"
        caption(picture, text, (4, 4), fill=(0, 0, 0), colour=(255, 255, 255))
        return np.asarray(picture)


def to_labels(names: Iterable[str], pixels: Iterable[np.ndarray], probs: torch.Tensor, classes: list[str],
              topk: int, thresholds: list[float] | None) -> list[Labels]:
    """Labels from probabilities; `thresholds` (multi-label) selects every class at or above its threshold."""
    results = []
    k = min(topk, len(classes))
    for name, image, row in zip(names, pixels, probs, strict=True):
        scores, indices = row.topk(k)
        ranking = [(classes[i], float(s)) for s, i in zip(scores, indices, strict=True)]
        if thresholds is None:
            chosen = ranking[:1]
        else:
            chosen = [(classes[i], float(row[i])) for i in row.argsort(descending=True).tolist()
                      if row[i] >= thresholds[i]]
        results.append(Labels(name, [n for n, _ in chosen], [s for _, s in chosen], ranking, image))
    return results
