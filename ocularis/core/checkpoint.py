"""Checkpoints: one file, written atomically, safe to load (weights_only), carrying everything needed to predict."""

import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ocularis.core.files import atomic_write
from ocularis.core.paths import existing_model
from ocularis.errors import CheckpointError

FORMAT_KEY = "ocularis"


def versions() -> dict[str, str]:
    import torchvision

    try:
        own = metadata.version("ocularis")
    except metadata.PackageNotFoundError:  # a source tree that was not installed
        own = "0.0.0"
    return {"ocularis": own, "torch": str(torch.__version__), "torchvision": str(torchvision.__version__),
            "python": platform.python_version()}


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves a half-written file."""
    atomic_write(path, lambda file: torch.save(obj, file))


@dataclass
class Parts:
    """What a saved model holds beside a network's weights, or instead of them: named arrays (a k-means codebook, an
    SVM's support vectors) and small text files (a vocabulary, a cascade's XML). They are stored as tensors and
    strings, so the file still loads with weights_only=True: no pickle, no code run on load."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def to_saved(self) -> dict[str, dict]:
        return {"arrays": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.arrays.items()},
                "texts": dict(self.texts)}

    @classmethod
    def from_saved(cls, saved: dict[str, dict] | None) -> "Parts":
        saved = saved or {}
        return cls({k: v.numpy() for k, v in saved.get("arrays", {}).items()}, dict(saved.get("texts", {})))


def save_checkpoint(path: str | Path, state_dict: dict[str, torch.Tensor], meta: dict[str, Any],
                    parts: Parts | None = None) -> Path:
    """Write weights, the model's other parts, and metadata (task, architecture, classes, preprocessing, config,
    versions)."""
    atomic_save({FORMAT_KEY: {**meta, "versions": versions()}, "state_dict": state_dict,
                 "parts": (parts or Parts()).to_saved()}, path)
    return Path(path)


def load_checkpoint(path: str | Path, task: str | None = None) -> dict[str, Any]:
    """Load an ocularis checkpoint with weights_only=True; check it belongs to `task` when given."""
    path = existing_model(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(error).__name__}); "
                              "pass a best.ckpt written by ocularis") from None
    if not isinstance(checkpoint, dict) or FORMAT_KEY not in checkpoint:
        raise CheckpointError(f"{path} holds no ocularis metadata; pass a best.ckpt written by ocularis "
                              "(plain state dicts go to --weights)")
    found = checkpoint[FORMAT_KEY].get("task")
    if task is not None and found != task:
        raise CheckpointError(f"{path} is a {found!r} checkpoint, not {task!r}; use `ocularis {found} ...` "
                              "or ocularis.load() to get the right task")
    return checkpoint
