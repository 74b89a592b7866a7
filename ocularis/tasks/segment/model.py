"""Segmentation networks by name: the seeds' hand-written ones, torchvision's and segmentation_models_pytorch's
(semantic), and the instance ones. Each module keeps its builders and their records (imgsz, lr, normalisation) side
by side; this file only registers them under one signature."""

import dataclasses
from pathlib import Path

import numpy as np
from torch import nn

from ocularis.errors import WeightsError
from ocularis.models import mask_rcnn, segmenters, smp_segmenters, torchvision_segmenters, yolo_seg
from ocularis.models.record import ModelRecord
from ocularis.models.weights import load_matching, read_state_dict
from ocularis.registry import MODELS

TASK = "segment"
SEMANTIC = (segmenters, torchvision_segmenters, smp_segmenters)
INSTANCE = (yolo_seg, mask_rcnn)


def _semantic(builder):
    def build(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
              seed: int = 0) -> nn.Module:
        return builder(num_classes=num_classes, in_channels=in_channels)

    build.__doc__ = builder.__doc__
    return build


def _instance(builder):
    def build(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
              seed: int = 0) -> nn.Module:
        return builder(num_classes=num_classes - 1, in_channels=in_channels, imgsz=imgsz, box_sizes=box_sizes,
                       seed=seed)  # instance networks count object classes: the task's class 0 is background

    build.__doc__ = builder.__doc__
    return build


for _module, _wrap in [*((m, _semantic) for m in SEMANTIC), *((m, _instance) for m in INSTANCE)]:
    for _name, _record in _module.RECORDS.items():  # one signature for the task: the record's build wrapped
        MODELS.add(_name, dataclasses.replace(_record, build=_wrap(_record.build)), task=TASK)


def segments_objects(name: str) -> bool:
    """Whether network `name` is an instance one (its builder fits anchors to the training boxes)."""
    return any(name in module.RECORDS for module in INSTANCE)


def model_record(name: str) -> ModelRecord:
    """`name`'s record: its own imgsz, lr and (where it has one) normalisation; an unknown name is refused with the
    known ones."""
    return MODELS.get(name, task=TASK)


def build_segmenter(name: str, *, num_classes: int, in_channels: int, imgsz: int, weights: str | None = None,
                    box_sizes: np.ndarray | None = None, seed: int = 0) -> nn.Module:
    """The registered network `name` for `num_classes` classes (background included); `weights` (a file) may hold a
    whole network or a backbone whose matching tensors are loaded."""
    network = MODELS.get(name, task=TASK).build(num_classes=num_classes, in_channels=in_channels, imgsz=imgsz,
                                          box_sizes=box_sizes, seed=seed)
    if weights:
        if not Path(weights).is_file():
            raise WeightsError(f"--weights {weights}: segmentation networks load weights from a file; download it "
                               "first")
        load_matching(network, read_state_dict(Path(weights)), weights)
    return network
