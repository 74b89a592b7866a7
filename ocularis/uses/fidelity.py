"""How close generated images lie to real ones, measured on the features of any ocularis model (its `embed`: the
unit-length pooled features of its feature layer): FID and KID by torchmetrics' formulas, and the precision and
recall of the generated distribution (Kynkäänniemi et al. 2019). Inception's features are the published
convention; a network trained on the same kind of images measures the same distances on its own features, and the
report names which network it was, so numbers are compared only between runs scored by the same one."""

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ocularis.errors import DataError

KID_SUBSET = 100  # images per KID subset (fewer where fewer were given)


@dataclass
class Fidelity:
    """FID and KID (lower is closer; 0 for the same distribution), and precision (the share of generated images
    inside the real images' manifold) and recall (the share of real images inside the generated ones')."""

    fid: float
    kid: float
    kid_std: float
    precision: float
    recall: float
    real: int
    generated: int
    features: str  # which network's features: the numbers compare only between runs scored by the same one

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"FID {self.fid:.3g}  KID {self.kid:.3g} ± {self.kid_std:.2g}  precision {self.precision:.3f}  "
                f"recall {self.recall:.3f}  ({self.generated} generated against {self.real} real images, on the "
                f"features of {self.features})")


def fidelity(real: np.ndarray, generated: np.ndarray, features: str, k: int = 3, kid_subsets: int = 50,
             seed: int = 0) -> Fidelity:
    """The measures of (N, D) real and (M, D) generated feature vectors."""
    if len(real) <= k or len(generated) <= k:
        raise DataError(f"scoring generated images needs more than {k} real and {k} generated images; got "
                        f"{len(real)} and {len(generated)}")
    if real.shape[1] != generated.shape[1]:
        raise DataError(f"real features have {real.shape[1]} dimensions, generated ones {generated.shape[1]}: "
                        "score both with the same network")
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    first, second = (torch.from_numpy(np.asarray(v, np.float64)) for v in (real, generated))
    torch.manual_seed(seed)  # KID draws its subsets with torch's generator
    subset = min(KID_SUBSET, len(first), len(second))
    fid = FrechetInceptionDistance(feature=_Given(first.shape[1]))
    with warnings.catch_warnings():  # that it keeps the features in memory: these are the features, already there
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer")
        kid = KernelInceptionDistance(feature=_Given(first.shape[1]), subsets=kid_subsets, subset_size=subset)
    for measure in (fid, kid):
        measure.update(first, real=True)
        measure.update(second, real=False)
    kid_mean, kid_std = kid.compute()
    precision, recall = manifold_precision_recall(real, generated, k)
    return Fidelity(float(fid.compute()), float(kid_mean), float(kid_std), precision, recall, len(real),
                    len(generated), features)


def manifold_precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkäänniemi et al.'s improved precision and recall: each sample's manifold is the union of balls around
    it reaching its k-th nearest neighbour in its own set; precision is the share of generated samples inside the
    real manifold, recall the share of real samples inside the generated one."""
    first, second = (torch.from_numpy(np.asarray(v, np.float32)) for v in (real, generated))
    return _inside(second, first, k), _inside(first, second, k)


def _inside(samples: torch.Tensor, manifold: torch.Tensor, k: int, chunk: int = 1024) -> float:
    """The share of `samples` within the k-NN radius of at least one point of `manifold`."""
    radii = torch.cat([torch.cdist(part, manifold).kthvalue(k + 1, dim=1).values  # +1: each point is its own 0th
                       for part in manifold.split(chunk)])
    hits = torch.cat([(torch.cdist(part, manifold) <= radii).any(dim=1) for part in samples.split(chunk)])
    return float(hits.float().mean())


def image_fidelity(model: Any, real: Any, generated: Any, k: int = 3, batch: int = 64) -> Fidelity:
    """The measures of images (paths, folders, PIL images, arrays) on `model`'s features (any loaded task)."""
    name = f"{model.meta['model']} ({model.spec.name}, {model.source or 'not saved'})"
    return fidelity(model.embed(real, batch=batch), model.embed(generated, batch=batch), name, k)


class _Given(nn.Module):
    """Features already computed: torchmetrics' FID and KID read them as if a network had just made them."""

    def __init__(self, dimensions: int):
        super().__init__()
        self.num_features = dimensions

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features
