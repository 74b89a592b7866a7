"""Options of object detection: the shared training options plus what only detection has."""

from dataclasses import dataclass

from ocularis.config import PredictOptions, TrainConfig, option


@dataclass
class DetectConfig(TrainConfig):
    data: str = option("shapes", "built-in dataset name, YOLO data.yaml, COCO .json, VOC folder or Udacity .csv",
                       path=True)
    model: str = option("yolo", "detector name (see `ocularis info`)")
    imgsz: int | None = option(None, "square input size in pixels (default: the model's own)")
    epochs: int = option(70, "training epochs")
    batch: int = option(16, "images per batch (per device)")
    lr: float | None = option(None, "peak learning rate (default: the model's own, 4e-3 for yolo)")
    weight_decay: float = option(5e-4, "weight decay")
    scheduler: str = option("onecycle", "learning-rate schedule (onecycle: warm-up then cosine, per step)",
                            ("cosine", "onecycle", "step", "none"))
    clip_grad: float = option(10.0, "clip the gradient norm to this (0: no clipping)")
    conf: float = option(0.25, "confidence threshold of predictions")
    iou: float = option(0.45, "IoU threshold of non-maximum suppression")
    max_det: int = option(300, "most detections kept per image")
    class_agnostic: bool = option(False, "suppress overlapping boxes across classes too")
    anchors: str = option("auto", "auto: k-means on the training boxes; default: YOLOv3's, scaled", ("auto", "default"))
    mosaic: float = option(0.0, "share of training images made of four tiled images (YOLOv4's mosaic)")


@dataclass
class DetectOptions(PredictOptions):
    conf: float = option(0.25, "confidence threshold: boxes scoring less are dropped", low=0.0, high=1.0)
    iou: float = option(0.45, "IoU threshold of non-maximum suppression: overlapping boxes above it merge",
                        low=0.0, high=1.0)
