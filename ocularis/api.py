"""The Python API: every task class, and load() that returns the right one from a saved model alone."""

from pathlib import Path

from ocularis.deploy.runtime import open_model
from ocularis.engine.explain_report import ExplainReport
from ocularis.engine.task import Task, TrainingRun
from ocularis.explain.result import Explanation
from ocularis.registry import TASKS
from ocularis.tasks.classify.metrics import ClassifyMetrics
from ocularis.tasks.classify.predict import Labels
from ocularis.tasks.classify.task import Classifier
from ocularis.tasks.detect.metrics import DetectMetrics
from ocularis.tasks.detect.predict import Boxes
from ocularis.tasks.detect.task import Detector
from ocularis.tasks.segment.metrics import SegmentMetrics
from ocularis.tasks.segment.predict import Masks
from ocularis.tasks.segment.task import Segmenter

DetectRun = TrainingRun  # every task's fit() returns a TrainingRun; the old name stays for existing code

__all__ = ["Boxes", "Classifier", "ClassifyMetrics", "DetectMetrics", "DetectRun", "Detector", "ExplainReport",
           "Explanation", "Labels", "Masks", "SegmentMetrics", "Segmenter", "Task", "TrainingRun", "load", "task_class"]


def task_class(name: str) -> type[Task]:
    """The class of the registered task `name` (imported on first use)."""
    return TASKS.get(name).task_class()


def load(path: str | Path, task: str | None = None) -> Task:
    """The task object (Classifier, ...) of a checkpoint or exported ONNX/TorchScript file, ready to predict; the
    file is read once. With `task`, a model of another task is refused by name."""
    opened = open_model(path, task)
    return task_class(opened.meta["task"]).from_opened(path, opened)
