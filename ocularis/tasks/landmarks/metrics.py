"""Landmark metrics: the normalised mean error (NME: a point's distance from its label over the inter-ocular
distance where the points name both eyes, else over the image diagonal, averaged per image), the failure rate
(images with NME above 0.1), pixel errors per point; each attribute's accuracy beside always answering its most
common value."""

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ocularis.core.plots import plot_cumulative
from ocularis.core.results import Metrics
from ocularis.data.points import eye_pair

FAILURE = 0.1  # the landmark literature's threshold on an image's NME


def image_errors(predicted: np.ndarray, truth: np.ndarray, sizes: np.ndarray, eyes: tuple[int, int] | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per image its NME and per point its distance in pixels (NaN where unlabelled); points (N, K, 2) in units of
    the image's (width, height) `sizes` (N, 2)."""
    scale = sizes[:, None, :]
    distance = np.linalg.norm((predicted - truth) * scale, axis=2)
    if eyes is not None:
        normaliser = np.linalg.norm((truth[:, eyes[0]] - truth[:, eyes[1]]) * sizes, axis=1)
    else:
        normaliser = np.linalg.norm(sizes, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an image with no labelled point has no error: NaN
        nme = np.nanmean(distance, axis=1) / normaliser if distance.shape[1] else np.full(len(truth), np.nan)
    return nme, distance


@dataclass
class LandmarkMetrics(Metrics):
    point_names: list[str]
    normalised_by: str  # "inter-ocular distance" or "image diagonal"
    values: dict[str, float]
    per_point_px: dict[str, float]
    attributes: dict[str, dict[str, float]]  # name -> accuracy, majority (always its commonest value), support
    nme_per_image: list[float]

    @property
    def headline(self) -> tuple[str, float | None]:
        """NME (lower is better) where the model finds points, else its attributes' mean accuracy."""
        if "nme" in self.values:
            return "nme", self.values["nme"]
        return "attribute_accuracy", self.values.get("attribute_accuracy")

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = ["  ".join(f"{k}={v:.4f}" for k, v in self.values.items()) + f"  (NME over {self.normalised_by})"]
        lines += [f"{name:>16}: {px:.2f} px" for name, px in self.per_point_px.items()]
        lines += [f"{name:>16}: accuracy {row['accuracy']:.3f} (always the commonest value: {row['majority']:.3f}, "
                  f"{row['support']} labelled)" for name, row in self.attributes.items()]
        return "\n".join(lines)

    def plot(self, folder: str | Path) -> list[Path]:
        """ced.png: the cumulative distribution of the images' NME."""
        if not self.nme_per_image:
            return []
        return [plot_cumulative(np.array(self.nme_per_image), Path(folder) / "ced.png", limit=0.3,
                                xlabel=f"NME (over {self.normalised_by})", title="cumulative error distribution")]


def landmark_metrics(points: np.ndarray, truth: np.ndarray, sizes: np.ndarray, predicted_values: list[np.ndarray],
                     true_values: np.ndarray, point_names: list[str], attribute_names: list[str]) -> LandmarkMetrics:
    """points, truth (N, K, 2) in units of each image's size; sizes (N, 2) pixels; predicted_values one (N,) array of
    value indices per attribute; true_values (N, A), -1 where unknown."""
    eyes = eye_pair(point_names)
    values: dict[str, float] = {}
    per_point: dict[str, float] = {}
    nme_list: list[float] = []
    if point_names:
        nme, distance = image_errors(points, truth, sizes, eyes)
        scored = nme[~np.isnan(nme)]
        nme_list = scored.tolist()
        values.update(nme=float(scored.mean()) if len(scored) else float("nan"),
                      failure_rate=float((scored > FAILURE).mean()) if len(scored) else float("nan"),
                      mean_error_px=float(np.nanmean(distance)))
        per_point = {name: float(np.nanmean(distance[:, k])) for k, name in enumerate(point_names)}
    attributes = {}
    for a, name in enumerate(attribute_names):
        known = true_values[:, a] >= 0
        labels = true_values[known, a]
        accuracy = float((predicted_values[a][known] == labels).mean()) if known.any() else float("nan")
        majority = float(np.bincount(labels).max() / len(labels)) if known.any() else float("nan")
        attributes[name] = {"accuracy": accuracy, "majority": majority, "support": int(known.sum())}
    if attributes:
        values["attribute_accuracy"] = float(np.nanmean([row["accuracy"] for row in attributes.values()]))
    normalised_by = "inter-ocular distance" if eyes else "image diagonal"
    return LandmarkMetrics(point_names, normalised_by, values, per_point, attributes, nme_list)
