"""Options of a fast style network's training: the shared training options, the style image, the feature network
and the loss weights. An option left unset takes the chosen model's own default (ocularis.models.stylers)."""

from dataclasses import dataclass

from ocularis.config import PredictOptions, TrainConfig, option


@dataclass
class StyleConfig(TrainConfig):
    data: str = option("", "a folder of content photos (any layout) the network learns to stylise", path=True)
    model: str = option("johnson_small", "johnson (Johnson et al. 2016) or johnson_small (real-time on a CPU)")
    style: str = option("", "the style image (a painting) the network learns to paint in", path=True)
    features: str = option("random", "the network the losses are measured on: random (random VGG-shaped filters), "
                           "a VGG-16/19 weights file (torchvision's state dict) or an ocularis checkpoint", path=True)
    style_weight: float = option(3.0, "weight of the style loss (each loss is relative to its target's size)",
                                 low=0.0)
    content_weight: float = option(1.0, "weight of the content loss", low=0.0)
    tv_weight: float = option(1.0, "weight of the total variation (smoothness) loss", low=0.0)
    epochs: int = option(4, "training epochs")
    batch: int = option(4, "photos per batch (per device)")
    lr: float | None = option(None, "learning rate (default: the model's own)")
    scheduler: str = option("none", "learning-rate schedule", ("cosine", "onecycle", "step", "none"))
    weight_decay: float = option(0.0, "weight decay")
    augment: str = option("light", "augmentation preset (random crops of each photo)", ("none", "light", "heavy"))
    val_fraction: float = option(0.1, "share of the photos held out for validation when the data has no val split")
    test_fraction: float = option(0.1, "share held out for scoring when the data has no test split")


@dataclass
class StyleOptions(PredictOptions):
    size: int | None = option(None, "resize each photo so its longer side is this many pixels first (default: as "
                              "it is)", low=16, high=4096)
