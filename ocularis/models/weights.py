"""Pretrained weights from a local file, a folder, or torchvision's cache (TORCH_HOME) by weights name.

Nothing is downloaded unless OCULARIS_DOWNLOAD=1: offline, a missing file is an error saying where to put it.
"""

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model_weights

from ocularis.errors import WeightsError

WEIGHTS_DIR_ENV = "OCULARIS_WEIGHTS"


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a file: a plain one, or the "state_dict" entry of a checkpoint."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged or foreign file
        raise WeightsError(f"weights file {path} cannot be read ({type(error).__name__}: {error})") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"weights file {path} holds no state dict of tensors")
    return loaded


def torchvision_file(architecture: str, weights_name: str) -> tuple[str, str]:
    """(url, file name) of torchvision's `weights_name` (IMAGENET1K_V1 ...) for `architecture`."""
    try:
        enum = get_model_weights(architecture)
        entry = enum[weights_name.split(".")[-1]]
    except (KeyError, ValueError):
        raise WeightsError(f"--weights {weights_name!r} is neither an existing file nor a torchvision weights name "
                           f"for {architecture}; check the path") from None
    return entry.url, entry.url.rsplit("/", 1)[-1]


def locate(weights: str, architecture: str) -> Path:
    """The local file meant by `weights`: a path, a folder holding torchvision's file, or a cached weights name."""
    path = Path(weights)
    if path.is_file():
        return path
    url, filename = torchvision_file(architecture, weights) if not path.is_dir() else (None, None)
    if path.is_dir():
        for enum_entry in get_model_weights(architecture):
            candidate = path / enum_entry.url.rsplit("/", 1)[-1]
            if candidate.is_file():
                return candidate
        raise WeightsError(f"weights folder {path} holds no torchvision file for {architecture}")
    places = [Path(torch.hub.get_dir()) / "checkpoints" / filename]
    if os.environ.get(WEIGHTS_DIR_ENV):
        places.insert(0, Path(os.environ[WEIGHTS_DIR_ENV]) / filename)
    for place in places:
        if place.is_file():
            return place
    if os.environ.get("OCULARIS_DOWNLOAD") == "1":
        torch.hub.load_state_dict_from_url(url, progress=False)
        return places[-1]
    raise WeightsError(f"{weights} weights for {architecture} are not in {places[-1].parent}; download {url} "
                       f"there (or to ${WEIGHTS_DIR_ENV}), pass --weights PATH, or set OCULARIS_DOWNLOAD=1")


def load_torchvision_weights(model: nn.Module, weights: str, architecture: str) -> None:
    """Load torchvision-format weights into the unmodified torchvision `model`."""
    path = locate(weights, architecture)
    state_dict = read_state_dict(path)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise WeightsError(f"weights file {path} does not fit {architecture}: {len(missing)} missing and "
                           f"{len(unexpected)} unexpected tensors (e.g. {(missing + unexpected)[0]}); "
                           "pass torchvision-format weights for this architecture")


def load_matching(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> int:
    """Copy every tensor whose name and shape match (a new head is left as built); return how many."""
    own = model.state_dict()
    matching = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise WeightsError(f"no tensor in {source} fits this model; pass weights of the same architecture")
    model.load_state_dict(matching, strict=False)
    return len(matching)
