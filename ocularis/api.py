"""The Python API: every task class, and load() that returns the right one from a saved model alone."""

from pathlib import Path

from ocularis.core.image_result import Images
from ocularis.engine.explain_report import ExplainReport
from ocularis.engine.loading import load_model
from ocularis.engine.task import Task, TrainingRun
from ocularis.explain.result import Explanation
from ocularis.registry import TASKS
from ocularis.search.index import ImageIndex
from ocularis.search.results import Matches
from ocularis.tasks.autoencode.task import AutoEncoder
from ocularis.tasks.classify.metrics import ClassifyMetrics
from ocularis.tasks.classify.predict import Labels
from ocularis.tasks.classify.task import Classifier
from ocularis.tasks.detect.metrics import DetectMetrics
from ocularis.tasks.detect.predict import Boxes
from ocularis.tasks.detect.task import Detector
from ocularis.tasks.embed.metrics import EmbedMetrics
from ocularis.tasks.embed.predict import Embeddings
from ocularis.tasks.embed.task import Embedder
from ocularis.tasks.generate.metrics import GanMetrics
from ocularis.tasks.generate.task import Generator
from ocularis.tasks.landmarks.metrics import LandmarkMetrics
from ocularis.tasks.landmarks.predict import Landmarks
from ocularis.tasks.landmarks.task import LandmarkModel
from ocularis.tasks.restore.metrics import RestoreMetrics
from ocularis.tasks.restore.task import Restorer
from ocularis.tasks.segment.metrics import SegmentMetrics
from ocularis.tasks.segment.predict import Masks
from ocularis.tasks.segment.task import Segmenter
from ocularis.tasks.style.gatys import gatys
from ocularis.tasks.style.metrics import StyleMetrics
from ocularis.tasks.style.task import Styliser
from ocularis.uses.verifying import PairVerdict

DetectRun = TrainingRun  # every task's fit() returns a TrainingRun; the old name stays for existing code

__all__ = ["AutoEncoder", "Boxes", "Classifier", "ClassifyMetrics", "DetectMetrics", "DetectRun", "Detector",
           "EmbedMetrics", "Embedder", "Embeddings", "ExplainReport", "Explanation", "GanMetrics", "Generator",
           "ImageIndex", "Images", "Labels",
           "LandmarkMetrics", "LandmarkModel", "Landmarks", "Masks", "Matches", "RestoreMetrics", "Restorer",
           "SegmentMetrics", "Segmenter", "StyleMetrics", "Styliser", "Task", "TrainingRun",
           "gatys",
           "PairVerdict", "load", "task_class"]


def task_class(name: str) -> type[Task]:
    """The class of the registered task `name` (imported on first use)."""
    return TASKS.get(name).task_class()


def load(path: str | Path, task: str | None = None) -> Task:
    """The task object (Classifier, ...) of a checkpoint or exported ONNX/TorchScript file, ready to predict; the
    file is read once. With `task`, a model of another task is refused by name."""
    return load_model(path, task)
