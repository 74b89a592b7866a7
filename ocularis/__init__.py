"""ocularis: deep learning for computer vision as one package.

The public API (ocularis.Classifier, ocularis.load ...) is imported on first use, so that `ocularis --help` and other
entry points that need no model start without importing torch.
"""

from importlib import import_module, metadata

from ocularis import errors

try:
    __version__ = metadata.version("ocularis")
except metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["AutoEncoder", "Boxes", "Classifier", "ClassifyMetrics", "DetectMetrics", "DetectRun", "Detector",
           "EmbedMetrics", "Embedder", "Embeddings", "ExplainReport", "Explanation", "GanMetrics", "Generator",
           "ImageIndex", "Images", "Labels",
           "LandmarkMetrics", "LandmarkModel", "Landmarks", "Masks", "Matches", "RestoreMetrics", "Restorer",
           "SegmentMetrics", "Segmenter", "StyleMetrics", "Styliser", "Task", "TrainingRun",
           "gatys",
           "PairVerdict", "errors", "load", "task_class", "__version__"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(import_module("ocularis.api"), name)
    raise AttributeError(f"module 'ocularis' has no attribute {name!r}")
