"""Options of landmark + attribute learning: the shared training options plus how the two losses are weighed."""

from dataclasses import dataclass

from ocularis.config import PredictOptions, TrainConfig, option


@dataclass
class LandmarksConfig(TrainConfig):
    data: str = option("", "a CSV (path, NAME_x, NAME_y ..., attribute columns) or MTFL's folder / .txt file",
                       path=True)
    model: str = option("simple_cnn", "the body's architecture (see `ocularis info`); its head regresses every point "
                        "and scores every attribute")
    point_weight: float = option(1.0, "weight of the points' loss (smooth L1 in units of the image side)", low=0.0)
    attribute_weight: float = option(0.3, "weight of each attribute's cross-entropy", low=0.0)
    fliplr: float | None = option(None, "horizontal flip probability (default: 0.5 where every point named left_* or "
                                  "right_* has its mirror partner, else 0)")


@dataclass
class LandmarksOptions(PredictOptions):
    """Predicting takes no options: every point and every attribute is the answer."""
