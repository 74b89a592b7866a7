"""ocularis: deep learning for computer vision as one package."""

from importlib import metadata

from ocularis import errors
from ocularis.api import (
    Boxes,
    Classifier,
    ClassifyMetrics,
    DetectMetrics,
    Detector,
    DetectRun,
    Labels,
    TrainingRun,
    load,
)

try:
    __version__ = metadata.version("ocularis")
except metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["Boxes", "Classifier", "ClassifyMetrics", "DetectMetrics", "DetectRun", "Detector", "Labels", "TrainingRun",
           "errors", "load", "__version__"]
