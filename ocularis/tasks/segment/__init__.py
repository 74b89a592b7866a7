"""Semantic and instance segmentation, declared: its name, options and where its class lives
(ocularis.tasks.segment.task)."""

from ocularis.contract import TaskSpec
from ocularis.tasks.segment.config import SegmentConfig, SegmentOptions

SPEC = TaskSpec("segment", "Semantic and instance segmentation (FCN, SegNet, U-Net, DeepLab, Mask R-CNN, YOLO-seg).",
                SegmentConfig, SegmentOptions, "ocularis.tasks.segment.task:Segmenter",
                models=("unet", "unet32", "unet64", "fcn32s", "fcn16s", "fcn8s", "segnet", "pspnet", "smp_unet",
                        "smp_fpn", "smp_deeplabv3plus", "fcn_resnet50", "deeplabv3_resnet18", "deeplabv3_resnet50",
                        "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "maskrcnn_resnet18_fpn",
                        "yolo_seg", "yolo_seg_s"), datasets=("shapes",))

__all__ = ["SPEC", "SegmentConfig", "SegmentOptions"]
