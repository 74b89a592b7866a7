"""Object detection, declared: its name, options and where its class lives (ocularis.tasks.detect.task)."""

from ocularis.contract import TaskSpec
from ocularis.tasks.detect.config import DetectConfig, DetectOptions

SPEC = TaskSpec("detect", "Object detection (YOLO-style and the seeds' other detectors).", DetectConfig,
                DetectOptions, "ocularis.tasks.detect.task:Detector")

__all__ = ["SPEC", "DetectConfig", "DetectOptions"]
