"""The Python API: every task class, and load() that returns the right one from a checkpoint alone."""

from pathlib import Path

from ocularis.core.checkpoint import FORMAT_KEY, load_checkpoint
from ocularis.deploy.formats import exported_kind, read_meta
from ocularis.registry import TASKS
from ocularis.tasks.classify import Classifier, ClassifyMetrics, Labels, TrainingRun
from ocularis.tasks.detect import Boxes, DetectMetrics, Detector, DetectRun

__all__ = ["Boxes", "Classifier", "ClassifyMetrics", "DetectMetrics", "DetectRun", "Detector", "Labels", "TrainingRun",
           "load"]


def load(path: str | Path):
    """The task object (Classifier, ...) of a checkpoint or exported ONNX/TorchScript file, ready to predict."""
    task = read_meta(path)["task"] if exported_kind(path) else load_checkpoint(path)[FORMAT_KEY]["task"]
    return TASKS.get(task).load(path)
