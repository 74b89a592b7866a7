"""Detectors by name. Each builder takes num_classes, in_channels, imgsz and the training boxes (for anchors)."""

from pathlib import Path

import numpy as np
from torch import nn

from ocularis.errors import ConfigError, WeightsError
from ocularis.models import torchvision_detectors
from ocularis.models.weights import load_matching, read_state_dict
from ocularis.models.yolo import YOLO, default_anchors, fit_anchors
from ocularis.registry import MODELS

TASK = "detect"
DEFAULT_SIZE = {"yolo": 96, "yolo_s": 128}  # others: 128


def _yolo(width: int, depth: int):
    def build(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
              seed: int = 0) -> nn.Module:
        anchors = fit_anchors(box_sizes, imgsz, seed) if box_sizes is not None else default_anchors(imgsz)
        return YOLO(num_classes, anchors, width=width, depth=depth, in_channels=in_channels)

    build.__doc__ = f"The YOLO-style detector, width {width}, depth {depth}."
    return build


def build_detector(name: str, *, num_classes: int, in_channels: int, imgsz: int, weights: str | None = None,
                   box_sizes: np.ndarray | None = None, seed: int = 0) -> nn.Module:
    """The registered detector `name`; `weights` (a file) may hold a whole detector or a classification backbone
    (torchvision's resnet18.pth, mobilenet_v3_large.pth ...), whose tensors go into the detector's backbone."""
    network = MODELS.get(name, task=TASK)(num_classes=num_classes, in_channels=in_channels, imgsz=imgsz,
                                          box_sizes=box_sizes, seed=seed)
    if weights:
        if not Path(weights).is_file():
            raise WeightsError(f"--weights {weights}: detectors load weights from a file; download it first")
        state = read_state_dict(Path(weights))
        if isinstance(network, torchvision_detectors.TorchvisionDetector) and not any(
                key.startswith("model.") for key in state):
            state = {"model.backbone.body." + key.removeprefix("features."): value for key, value in state.items()}
        load_matching(network, state, weights)
    return network


def _torchvision(name: str):
    def build(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
              seed: int = 0) -> nn.Module:
        if in_channels != 3:
            raise ConfigError(f"{name} takes RGB images; the data has {in_channels} channel(s)")
        return torchvision_detectors.build(name, num_classes=num_classes, imgsz=imgsz)

    build.__doc__ = f"torchvision's {name}, trained from scratch (or from --weights)."
    return build


MODELS.add("yolo", _yolo(16, 1), task=TASK)
MODELS.add("yolo_s", _yolo(24, 2), task=TASK)
for _name in torchvision_detectors.NAMES:
    MODELS.add(_name, _torchvision(_name), task=TASK)
