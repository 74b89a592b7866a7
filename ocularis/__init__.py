"""ocularis: deep learning for computer vision as one package."""

from importlib import metadata

from ocularis import errors
from ocularis.api import Classifier, ClassifyMetrics, Labels, TrainingRun, load

try:
    __version__ = metadata.version("ocularis")
except metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["Classifier", "ClassifyMetrics", "Labels", "TrainingRun", "errors", "load", "__version__"]
