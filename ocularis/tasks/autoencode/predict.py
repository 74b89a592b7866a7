"""Autoencoder results: a reconstruction is an `Images` result (ocularis.core.image_result: the output, the input as
`before`, its error in `scores`); an outlier run is an `OutlierReport`, every image ranked by its reconstruction
error against the threshold the model chose, with detection metrics where the images carry labels."""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table

from ocularis.core.plots import plot_histograms, plot_image_grid
from ocularis.core.runs import write_json
from ocularis.tasks.autoencode.metrics import OutlierMetrics


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """(C, H, W) in 0..1 -> (H, W) grey or (H, W, 3) uint8."""
    array = (pixels.clamp(0, 1) * 255).round().byte().cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


@dataclass
class Ranked:
    """One image of an outlier run: its reconstruction error, whether it is above the threshold, its label."""

    source: str
    score: float
    outlier: bool
    label: str | None = None  # its class folder, where it has one
    image: np.ndarray | None = field(default=None, repr=False)


@dataclass
class OutlierReport:
    """Every image ranked by reconstruction error, highest first; the threshold and the false-alarm rate it was
    chosen at (on the model's clean validation images); metrics where labels say which images are outliers."""

    ranked: list[Ranked]
    threshold: float
    false_alarm: float
    normal_classes: list[str]
    metrics: OutlierMetrics | None = None

    @property
    def flagged(self) -> list[Ranked]:
        return [r for r in self.ranked if r.outlier]

    def __str__(self) -> str:
        text = (f"{len(self.flagged)} of {len(self.ranked)} images above the threshold {self.threshold:.5g} "
                f"(chosen to flag {self.false_alarm:.1%} of the clean validation images)")
        return text + (f"\n{self.metrics}" if self.metrics else "")

    def table(self, rows: int = 20) -> Table:
        table = Table("rank", "image", "score", "outlier", "label")
        for rank, row in enumerate(self.ranked[:rows], 1):
            table.add_row(str(rank), row.source, f"{row.score:.5g}", "yes" if row.outlier else "no", row.label or "-")
        return table

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "false_alarm": self.false_alarm, "normal_classes": self.normal_classes,
                "metrics": asdict(self.metrics) if self.metrics else None,
                "ranked": [{"source": r.source, "score": r.score, "outlier": r.outlier, "label": r.label}
                           for r in self.ranked]}

    def save(self, folder: Path, count: int = 32) -> list[Path]:
        """outliers.json, the highest-ranked images (outliers.png) and the scores' histogram (scores.png)."""
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "outliers.json", self.to_json())
        top = [r for r in self.ranked[:count] if r.image is not None]
        paths = [folder / "outliers.json"]
        if top:
            paths.append(plot_image_grid([r.image for r in top], [f"{r.score:.3g} {r.label or ''}" for r in top],
                                         folder / "outliers.png", [r.outlier for r in top]))
        labelled = any(r.label is not None for r in self.ranked)
        groups = ({"normal": [r.score for r in self.ranked if r.label in self.normal_classes],
                   "other classes": [r.score for r in self.ranked if r.label not in self.normal_classes]}
                  if labelled else {"images": [r.score for r in self.ranked]})
        paths.append(plot_histograms({k: np.array(v) for k, v in groups.items()}, folder / "scores.png",
                                     xlabel="reconstruction error (MSE)", title="outlier scores",
                                     threshold=self.threshold))
        return paths
