"""How a fast style network is scored on held-out photos: the style loss of its output beside the photo's own (the
baseline: not stylising at all), and the content loss it paid, on the feature network it trained with."""

from dataclasses import dataclass
from typing import Any

from ocularis.core.results import Metrics


@dataclass
class StyleMetrics(Metrics):
    losses: dict[str, float]  # means over the photos: style_loss, photo_style_loss, content_loss
    features: str  # the feature network they were measured on, in words
    photos: int

    @property
    def values(self) -> dict[str, float]:
        reduction = self.losses["photo_style_loss"] / max(self.losses["style_loss"], 1e-12)
        return {**self.losses, "style_reduction": reduction}

    @property
    def headline(self) -> tuple[str, float | None]:
        return "style_reduction", self.values["style_reduction"]

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values, "features": self.features, "photos": self.photos}

    def __str__(self) -> str:
        numbers = ", ".join(f"{name} {value:.4g}" for name, value in self.values.items())
        return f"{numbers} ({self.photos} photos; losses on {self.features})"
