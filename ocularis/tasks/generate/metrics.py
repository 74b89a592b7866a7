"""How a GAN is scored: its samples against as many held-out real images, by FID, KID and precision/recall
(ocularis.uses.fidelity) on the features of the classifier the run names (--features), or on raw pixels without one;
a conditional GAN's samples are also labelled by that classifier, and the share labelled as the class asked for is
its conditioning accuracy."""

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from ocularis.core.results import Metrics
from ocularis.errors import ConfigError
from ocularis.uses.fidelity import Fidelity, InceptionFeatures, fidelity, image_features, image_fidelity

PIXEL_SIDE = 16  # without a feature network, images are compared as vectors of this many pixels a side


@dataclass
class GanMetrics(Metrics):
    fidelity: Fidelity
    conditioning_accuracy: float | None  # None: unconditional, or no classifier of the same classes given
    code_purity: float | None = None  # an InfoGAN's: how well its categories match the classifier's classes

    @property
    def values(self) -> dict[str, Any]:
        found = {k: v for k, v in asdict(self.fidelity).items() if isinstance(v, float)}
        return {**found, **({"conditioning_accuracy": self.conditioning_accuracy}
                            if self.conditioning_accuracy is not None else {}),
                **({"code_purity": self.code_purity} if self.code_purity is not None else {})}

    @property
    def headline(self) -> tuple[str, float | None]:
        return "fid", self.fidelity.fid

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values, "real": self.fidelity.real, "generated": self.fidelity.generated,
                "features": self.fidelity.features}

    def __str__(self) -> str:
        conditioned = "" if self.conditioning_accuracy is None else \
            f"\nconditioning accuracy {self.conditioning_accuracy:.3f} (samples the classifier labels as asked)"
        purity = "" if self.code_purity is None else (
            f"\ncode purity {self.code_purity:.3f} (samples of each InfoGAN category labelled as the class matched "
            "to it)")
        return str(self.fidelity) + conditioned + purity


def gan_metrics(real: torch.Tensor, fakes: torch.Tensor, labels: torch.Tensor, classes: list[str],
                conditional: bool, features: str | None) -> GanMetrics:
    """Real and generated images (N, C, H, W) in -1..1; `labels` the real images' classes, which a conditional GAN
    was asked to draw."""
    if features is None:
        found = fidelity(_flat(real), _flat(fakes), f"raw pixels at {PIXEL_SIDE} x {PIXEL_SIDE} (no --features "
                                                     "classifier given)")
        return GanMetrics(found, None)
    model = image_features(features)
    found = image_fidelity(model, pictures(real), pictures(fakes))
    accuracy = None
    if conditional and not isinstance(model, InceptionFeatures):  # Inception's classes are not the data's
        known = list(model.meta.get("classes") or [])
        if model.spec.name != "classify" or sorted(known) != sorted(classes):
            raise ConfigError(f"--features {features} is a {model.spec.name} model of the classes {known}; a "
                              f"conditional GAN's samples are labelled by a classifier of its own: {classes}")
        said = [result.label for result in model.predict(pictures(fakes))]
        accuracy = float(np.mean([s == classes[int(k)] for s, k in zip(said, labels, strict=True)]))
    return GanMetrics(found, accuracy)


def code_purity(categories: list[torch.Tensor], features: str) -> float:
    """The samples of each InfoGAN category (one tensor each, in -1..1) labelled by the classifier `features`: the
    share labelled as their category's class, each category matched to a different class so that the share is
    largest (the Hungarian method). An unsupervised code is free to take any class, hence the matching; one to one,
    so that categories that all draw the same digit score 1/categories, not 1."""
    model = image_features(features)
    if isinstance(model, InceptionFeatures) or model.spec.name != "classify":
        raise ConfigError(f"--features {features} is no ocularis classifier; an InfoGAN's categories are labelled "
                          "by a classifier of the data's classes")
    classes = list(model.meta["classes"])
    counts = np.zeros((len(categories), max(len(classes), len(categories))))
    for row, samples in enumerate(categories):
        for result in model.predict(pictures(samples)):
            counts[row, classes.index(result.label)] += 1
    rows, columns = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, columns].sum() / counts.sum())


def _flat(images: torch.Tensor) -> np.ndarray:
    """Images shrunk to PIXEL_SIDE (area averages), as vectors: FID's matrix square root over every pixel of a
    64 px image would take minutes."""
    return F.adaptive_avg_pool2d(images, PIXEL_SIDE).flatten(1).double().numpy()


def pictures(images: torch.Tensor) -> list[np.ndarray]:
    """(N, C, H, W) in -1..1 -> uint8 pictures, (H, W) grey or (H, W, 3)."""
    array = ((images.detach().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    return [a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0) for a in array]
