"""Landmark results: one image's named points in its own pixels and its attributes with their probabilities."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import ImageDraw
from pydantic import BaseModel

from ocularis.core.drawing import PALETTE, enlarged
from ocularis.core.results import Result


class AttributeJson(BaseModel):
    value: str
    score: float


class LandmarksResult(BaseModel):
    """One image's points ({name: [x, y]} in its pixels) and attributes ({name: {value, score}})."""

    source: str
    points: dict[str, list[float]]
    attributes: dict[str, AttributeJson]


@dataclass
class Landmarks(Result):
    schema = LandmarksResult

    source: str
    points: dict[str, tuple[float, float]]
    attributes: dict[str, tuple[str, float]]  # name -> (value, its probability)
    image: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "points": {k: [round(x, 2), round(y, 2)] for k, (x, y) in self.points.items()},
                "attributes": {k: {"value": v, "score": round(s, 6)} for k, (v, s) in self.attributes.items()}}

    def row(self) -> dict[str, str]:
        return {"points": ", ".join(f"{k} ({x:.0f}, {y:.0f})" for k, (x, y) in
                                                          self.points.items()) or "-",
                "attributes": ", ".join(f"{k}: {v} {s:.2f}" for k, (v, s) in self.attributes.items()) or "-"}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        """The image with each point as a coloured ring and the attributes written above it (RGB uint8)."""
        picture, scale = enlarged(self.image, enlarge)
        draw = ImageDraw.Draw(picture)
        radius = max(2, picture.width // 60)
        for number, (x, y) in enumerate(self.points.values()):
            x, y = x * scale, y * scale
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=PALETTE[number % len(PALETTE)],
                         width=2)
        for line, (name, (value, score)) in enumerate(self.attributes.items()):
            text = f"{name}: {value} {score:.2f}"
            box = draw.textbbox((4, 4 + 14 * line), text)
            draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
            draw.text((4, 4 + 14 * line), text, fill=(255, 255, 255))
        return np.asarray(picture)
