"""Autoencoder metrics: how well images come back (mean squared error and mean PSNR per image, pixels in 0..1; for a
denoiser, PSNR of the noisy input beside the output's, and the gain), and how well the reconstruction error tells
outliers from the normal images (ROC AUC, average precision, precision and recall at the model's threshold)."""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from ocularis.core.plots import plot_histograms
from ocularis.core.results import Metrics


@dataclass
class ReconstructionMetrics(Metrics):
    values: dict[str, float]  # mse, psnr (denoisers: psnr_noisy, psnr_gain)
    noise: str  # what the inputs were corrupted with ("none": the clean images themselves)
    noise_level: float
    errors: list[float] = field(default_factory=list)  # per image: its mean squared error (the outlier score)
    threshold: float | None = None  # the outlier threshold the model chose on its clean validation images

    @property
    def headline(self) -> tuple[str, float]:
        return "psnr", self.values["psnr"]

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        noise = f" (inputs with {self.noise} noise {self.noise_level:g})" if self.noise != "none" else ""
        return "  ".join(f"{k}={v:.4f}" for k, v in self.values.items()) + noise

    def plot(self, folder: Path) -> list[Path]:
        """reconstruction_errors.png: the test images' errors with the outlier threshold."""
        return [plot_histograms({"test images": np.array(self.errors)}, Path(folder) / "reconstruction_errors.png",
                                xlabel="reconstruction error (MSE)", title="reconstruction error",
                                threshold=self.threshold)]


def reconstruction_metrics(errors: np.ndarray, psnrs: np.ndarray, noisy_psnrs: np.ndarray | None, noise: str,
                           noise_level: float, threshold: float | None) -> ReconstructionMetrics:
    values = {"mse": float(errors.mean()), "psnr": float(psnrs.mean())}
    if noisy_psnrs is not None:
        values["psnr_noisy"] = float(noisy_psnrs.mean())
        values["psnr_gain"] = values["psnr"] - values["psnr_noisy"]
    return ReconstructionMetrics(values, noise if noisy_psnrs is not None else "none",
                                 noise_level if noisy_psnrs is not None else 0.0, errors.tolist(), threshold)


def false_alarm_threshold(clean_errors: np.ndarray, false_alarm: float) -> float:
    """The error above which a share `false_alarm` of these clean (validation) images lie: the outlier threshold."""
    return float(np.quantile(clean_errors, 1.0 - false_alarm)) if len(clean_errors) else float("inf")


@dataclass
class OutlierMetrics:
    """Outlier detection against known labels: each image normal (its class one the model trained on) or not."""

    roc_auc: float | None
    average_precision: float | None
    precision: float  # of the flagged images, the share that are outliers
    recall: float  # of the outliers, the share flagged
    false_alarm: float  # of the normal images, the share flagged
    outliers: int
    normal: int

    def __str__(self) -> str:
        auc = "n/a" if self.roc_auc is None else f"{self.roc_auc:.4f}"
        ap = "n/a" if self.average_precision is None else f"{self.average_precision:.4f}"
        return (f"ROC AUC {auc}  average precision {ap}  precision {self.precision:.4f}  recall {self.recall:.4f}  "
                f"false alarms {self.false_alarm:.4f}  ({self.outliers} outliers, {self.normal} normal)")


def outlier_metrics(scores: np.ndarray, is_outlier: np.ndarray, threshold: float) -> OutlierMetrics:
    flagged = scores > threshold
    both = 0 < is_outlier.sum() < len(is_outlier)
    return OutlierMetrics(
        roc_auc=float(roc_auc_score(is_outlier, scores)) if both else None,
        average_precision=float(average_precision_score(is_outlier, scores)) if both else None,
        precision=float((flagged & is_outlier).sum() / max(1, flagged.sum())),
        recall=float((flagged & is_outlier).sum() / max(1, is_outlier.sum())),
        false_alarm=float((flagged & ~is_outlier).sum() / max(1, (~is_outlier).sum())),
        outliers=int(is_outlier.sum()), normal=int((~is_outlier).sum()))
