"""Image classification, declared: its name, options and where its class lives (ocularis.tasks.classify.task)."""

from ocularis.contract import TaskSpec
from ocularis.models.names import CLASSIFIERS
from ocularis.tasks.classify.config import ClassifyConfig, ClassifyOptions

SPEC = TaskSpec("classify", "Image classification (single- and multi-label).", ClassifyConfig, ClassifyOptions,
                "ocularis.tasks.classify.task:Classifier", models=CLASSIFIERS, datasets=("digits", "shapes"))

__all__ = ["SPEC", "ClassifyConfig", "ClassifyOptions"]
