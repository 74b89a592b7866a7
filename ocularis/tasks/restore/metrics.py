"""Restoration metrics, each beside the classical answer to the same input. Upscaling: PSNR and SSIM on the luma,
border shaved by the scale, against bicubic interpolation of the same low-resolution image. Inpainting: PSNR on the
hole pixels (RGB) and on the whole photo, against OpenCV's Telea inpainting of the same holes."""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ocularis.core.results import Metrics  # noqa: E402


@dataclass
class RestoreMetrics(Metrics):
    model: str
    baseline: str  # "bicubic" or "telea"
    values: dict[str, float]  # means over the photos: psnr, ssim, <baseline>_psnr ...
    per_image: list[dict] = field(default_factory=list)  # name and the same measures, one photo each

    @property
    def headline(self) -> tuple[str, float | None]:
        return "psnr", self.values.get("psnr")

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return ", ".join(f"{name} {value:.4g}" for name, value in self.values.items())

    def plot(self, folder: Path) -> list[Path]:
        """psnr.png: each photo's PSNR, the model's beside the baseline's."""
        if not self.per_image:
            return []
        names = [Path(row["image"]).stem for row in self.per_image]
        spots = np.arange(len(names))
        figure, axis = plt.subplots(figsize=(max(5, 0.5 * len(names)), 3.5))
        axis.bar(spots - 0.2, [row[f"{self.baseline}_psnr"] for row in self.per_image], 0.4, label=self.baseline)
        axis.bar(spots + 0.2, [row["psnr"] for row in self.per_image], 0.4, label=self.model)
        axis.set_xticks(spots, names, rotation=90 if len(names) > 6 else 0, fontsize=7)
        axis.set_ylabel("PSNR (dB)")
        low = min(min(row["psnr"], row[f"{self.baseline}_psnr"]) for row in self.per_image)
        axis.set_ylim(max(0.0, low - 3), None)
        axis.legend()
        figure.tight_layout()
        path = folder / "psnr.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return [path]


def mean_values(rows: list[dict]) -> dict[str, float]:
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0] if key != "image"} if rows else {}
