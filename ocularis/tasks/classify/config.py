"""Options of image classification: the shared training options plus what only classification has."""

from dataclasses import dataclass

from ocularis.config import PredictOptions, TrainConfig, option


@dataclass
class ClassifyConfig(TrainConfig):
    model: str = option("simple_cnn", "architecture name (see `ocularis info`)")
    freeze: str | None = option(None, "'backbone' trains only the head; a number N fine-tunes the last N blocks")
    head: str = option("linear", "linear (trained by gradient descent) or a scikit-learn head on bottleneck "
                       "features", ("linear", "logistic", "svm"))
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy loss")
    threshold: float = option(0.5, "multi-label: default sigmoid threshold (tuned per class on val after training)")
    topk: int = option(5, "how many top classes predictions list")


@dataclass
class ClassifyOptions(PredictOptions):
    topk: int = option(5, "classes listed per image, best first", low=1, high=100)
