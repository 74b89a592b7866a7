"""How close generated images lie to real ones, measured on the features of any ocularis model (its `embed`: the
unit-length pooled features of its feature layer): FID and KID by torchmetrics' formulas, and the precision and
recall of the generated distribution (Kynkäänniemi et al. 2019). Inception's features are the published
convention; a network trained on the same kind of images measures the same distances on its own features, and the
report names which network it was, so numbers are compared only between runs scored by the same one. With
Inception-v3 weights at hand (torchvision's state dict, a file), `InceptionFeatures` reads the 2048 pooled features
FID was defined on; torchvision's port differs slightly from the TensorFlow graph published FIDs used, so its
numbers come near, not exactly to, published ones."""

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ocularis.data.inputs import batches, expand_inputs
from ocularis.errors import ConfigError, DataError

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
    """The measures of images (paths, folders, PIL images, arrays) on `model`'s features (any loaded task, or
    InceptionFeatures)."""
    name = model.name if isinstance(model, InceptionFeatures) else \
        f"{model.meta['model']} ({model.spec.name}, {model.source or 'not saved'})"
    return fidelity(model.embed(real, batch=batch), model.embed(generated, batch=batch), name, k)


class InceptionFeatures:
    """torchvision's Inception-v3 from a weights file (its state dict, as `torch.save(inception_v3(weights=...)
    .state_dict())` writes it), read up to the 2048 pooled features FID is defined on; images resized to 299 px."""

    def __init__(self, path: str | Path):
        from torchvision.models import inception_v3

        network = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
        try:
            network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as error:  # noqa: BLE001 - an unreadable file and a wrong layout get the same answer
            raise ConfigError(f"{path}: not Inception-v3 weights torchvision can load ({type(error).__name__}); give "
                              "torchvision's inception_v3 state_dict() or an ocularis checkpoint (.ckpt)") from None
        network.fc = nn.Identity()
        self.network = network.eval()
        self.name = f"Inception-v3 pool features ({Path(path).name}; torchvision's port)"

    def embed(self, inputs: Any, batch: int = 32) -> np.ndarray:
        """(N, 2048) the pooled features of images (paths, folders, PIL images, arrays)."""
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        found = []
        with torch.no_grad():
            for _, pictures in batches(expand_inputs(inputs), 3, batch):
                rows = torch.stack([torch.from_numpy(np.asarray(p.convert("RGB").resize((299, 299)), np.float32))
                                    for p in pictures]).permute(0, 3, 1, 2) / 255
                found.append(self.network((rows - mean) / std).numpy())
        return np.concatenate(found)


def image_features(path: str | Path) -> Any:
    """What measures images for a score: an ocularis checkpoint (.ckpt or an exported file: its `embed`), or
    Inception-v3 from a torchvision weights file (.pth / .pt)."""
    if Path(path).suffix in (".pth", ".pt"):
        return InceptionFeatures(path)
    from ocularis.engine.loading import load_model

    return load_model(path)


class _Given(nn.Module):
    """Features already computed: torchmetrics' FID and KID read them as if a network had just made them."""

    def __init__(self, dimensions: int):
        super().__init__()
        self.num_features = dimensions

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features
