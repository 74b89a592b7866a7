"""Object detection, declared: its name, options and where its class lives (ocularis.tasks.detect.task)."""

from ocularis.contract import TaskSpec
from ocularis.tasks.detect.config import DetectConfig, DetectOptions

SPEC = TaskSpec("detect", "Object detection (YOLO-style and the seeds' other detectors).", DetectConfig,
                DetectOptions, "ocularis.tasks.detect.task:Detector",
                models=("yolo", "yolo_s", "ssd7", "sliding_window", "rcnn", "fast_rcnn", "fasterrcnn_resnet18_fpn",
                        "fasterrcnn_resnet50_fpn", "fasterrcnn_mobilenet_v3_large_fpn", "retinanet_resnet18_fpn",
                        "fcos_resnet18_fpn", "ssd300_vgg16", "ssdlite320_mobilenet_v3_large"), datasets=("shapes",))

__all__ = ["SPEC", "DetectConfig", "DetectOptions"]
