"""Landmarks and attributes, declared: one network finds named points on an image (a face's eyes, nose and mouth
corners) and names its attributes (gender, smile, glasses), as in the seeds' multi-task face model."""

from ocularis.contract import TaskSpec
from ocularis.models.names import CLASSIFIERS
from ocularis.tasks.landmarks.config import LandmarksConfig, LandmarksOptions

SPEC = TaskSpec("landmarks", "Landmarks and attributes: named points (eyes, nose, mouth) and attributes (gender, "
                "smile, glasses) from one multi-task network.", LandmarksConfig, LandmarksOptions,
                "ocularis.tasks.landmarks.task:LandmarkModel", models=CLASSIFIERS, datasets=())

__all__ = ["SPEC", "LandmarksConfig", "LandmarksOptions"]
