"""Semantic and instance segmentation, declared: its name, options and where its class lives
(ocularis.tasks.segment.task)."""

from ocularis.contract import TaskSpec
from ocularis.tasks.segment.config import SegmentConfig, SegmentOptions

SPEC = TaskSpec("segment", "Semantic and instance segmentation (FCN, SegNet, U-Net, DeepLab, Mask R-CNN, YOLO-seg).",
                SegmentConfig, SegmentOptions, "ocularis.tasks.segment.task:Segmenter")

__all__ = ["SPEC", "SegmentConfig", "SegmentOptions"]
