"""What every task class shares: the constructor, persistence (checkpoint or exported file), export, and the
preprocess -> infer steps that PyTorch and exported back ends run alike. A task adds fit, evaluate, postprocess,
agreement and sample_inputs, and says how to build its network from a checkpoint's metadata."""

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from ocularis.config import TrainConfig, build_config
from ocularis.core.checkpoint import load_checkpoint, save_checkpoint
from ocularis.core.devices import best_device
from ocularis.data.transforms import eval_transform
from ocularis.deploy.export import Exported, export_task
from ocularis.deploy.formats import exported_kind
from ocularis.deploy.runtime import load_exported
from ocularis.errors import CheckpointError, ConfigError

REQUIRED_META = ("model", "classes", "channels", "imgsz", "mean", "std", "config")


class Task(ABC):
    """Base of Classifier, Detector ...: stores options only; weights come from fit() or load()."""

    task: ClassVar[str]
    config_class: ClassVar[type[TrainConfig]]
    default_model: ClassVar[str]

    def __init__(self, model: str | None = None, weights: str | None = None, **options: Any):
        self.options = {"model": model or self.default_model, "weights": weights, **options}
        self.network = None
        self.meta: dict[str, Any] = {}
        self.source: Path | None = None  # the checkpoint or exported file the weights came from

    @staticmethod
    @abstractmethod
    def build(meta: dict[str, Any]) -> nn.Module:
        """The task's untrained network for a checkpoint's metadata."""

    # ---- the steps of predict(), shared by every back end and by the server's micro-batches -------------------
    def preprocess(self, pictures: list[Image.Image]) -> torch.Tensor:
        """Decoded images (any size and mode) -> the network's input batch."""
        transform = eval_transform(self.meta["imgsz"], self.meta["mean"], self.meta["std"])
        mode = "L" if self.meta["channels"] == 1 else "RGB"
        return torch.stack([transform(picture.convert(mode)) for picture in pictures])

    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        """The network's raw outputs for a preprocessed batch, on the CPU."""
        self._require_network()
        device = best_device()
        with torch.no_grad():
            return self.network.to(device).eval()(batch.to(device)).float().cpu()

    def export(self, format: str = "onnx", path: str | Path | None = None, **options: Any) -> Exported:
        """Write ONNX or TorchScript (options: int8, half, verify, data); see ocularis.deploy.export.export_task."""
        self._require_network()
        if not getattr(self.network, "exportable", True):
            raise ConfigError(f"{self.meta['model']} runs Python code outside the network (such as OpenCV's "
                              "selective search), so it cannot be exported; export a one-stage model instead")
        return export_task(self, format, path, **options)

    # ---- persistence ------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        self._require_network()
        state = {k: v.detach().cpu() for k, v in self.network.state_dict().items()}
        return save_checkpoint(path, state, self.meta)

    @classmethod
    def load(cls, path: str | Path) -> "Task":
        """The task object from a checkpoint, or from an exported ONNX / TorchScript file (same results)."""
        if exported_kind(path):
            meta, network = load_exported(path, cls.task)
        else:
            checkpoint = load_checkpoint(path, cls.task)
            meta = checkpoint["ocularis"]
            missing = [key for key in REQUIRED_META if key not in meta]
            if missing:
                raise CheckpointError(f"{path} lacks the metadata {missing[0]!r}; pass a best.ckpt written by "
                                      "ocularis")
            network = cls.build(meta)
            network.load_state_dict(checkpoint["state_dict"])
        loaded = cls(model=meta["model"])
        loaded.meta, loaded.network, loaded.source = meta, network.eval(), Path(path)
        return loaded

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _data_config(self, data: str | None) -> tuple[TrainConfig, str]:
        """The training config for reading `data` (default: the training data); other data counts whole."""
        self._require_network()
        config = build_config(self.config_class, {k: v for k, v in self.meta["config"].items() if k != "resume"})
        data = data or config.data
        if data != config.data:
            config.val_fraction = config.test_fraction = 0.0
        return config, data

    def _require_network(self) -> None:
        if self.network is None:
            raise ConfigError(f"this {type(self).__name__} has no trained weights yet; call fit() or "
                              "ocularis.load(path) first")
