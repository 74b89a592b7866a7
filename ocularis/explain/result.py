"""An explanation of one input, rendered like every task's result: the heat map over the image the network saw (or
the method's own picture: a feature-map grid, a dream, an adversarial triple), with the target it explains."""

import base64
import io
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel

from ocularis.core.drawing import caption, draw_boxes, enlarged
from ocularis.core.results import Result


class ExplanationResult(BaseModel):
    source: str
    method: str
    target: str
    score: float | None
    box: list[float] | None
    numbers: dict[str, float]
    image: str  # the picture as a data: URL (PNG)


class Explanation(Result):
    schema = ExplanationResult
    renderer = "explanation"
    source_column = "input"

    def __init__(self, source: str, method: str, picture: np.ndarray, *, heat: np.ndarray | None = None,
                 panel: np.ndarray | None = None, target: str = "", score: float | None = None,
                 box: list[float] | None = None, numbers: dict[str, float] | None = None,
                 photo: np.ndarray | None = None):
        self.source, self.method, self.picture = source, method, picture  # picture: the input as the network saw it
        self.photo = photo  # the input at its own size, which the network saw resized: plot draws the map over it
        self.heat, self.panel = heat, panel  # (H, W) in [0, 1] over the picture; or a picture of its own
        self.target, self.score, self.box, self.numbers = target, score, box, numbers or {}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        """The heat map over the input at its own size (or as the network saw it), the method and target written
        on it; a method's own picture as it is."""
        if self.panel is not None:
            return np.asarray(enlarged(self.panel, enlarge)[0])
        under = self.photo if self.photo is not None else self.picture
        picture, scale = enlarged(under, enlarge)
        scale_x = scale * under.shape[1] / self.picture.shape[1]  # network pixels -> drawn pixels
        scale_y = scale * under.shape[0] / self.picture.shape[0]
        shown = np.asarray(picture).astype(np.float32)
        if self.heat is not None:
            import matplotlib

            heat = np.asarray(Image.fromarray((self.heat * 255).astype(np.uint8)).resize(picture.size,
                                                                                         Image.BILINEAR))
            colours = matplotlib.colormaps["jet"](heat / 255.0)[..., :3] * 255
            shown = 0.55 * shown + 0.45 * colours
        shown = shown.round().clip(0, 255).astype(np.uint8)
        if self.box is not None:
            box = np.array([self.box]) * [scale_x, scale_y, scale_x, scale_y]
            shown = draw_boxes(shown, box, [self.target], np.array([0]), enlarge=False)
        titled = Image.fromarray(shown)
        caption(titled, f"{self.method}: {self.target}" if self.target else self.method, (4, 4), fill=(0, 0, 0),
                colour=(255, 255, 255))
        return np.asarray(titled)

    def to_json(self) -> dict[str, Any]:
        buffer = io.BytesIO()
        Image.fromarray(self.plot()).save(buffer, format="PNG")
        return {**self._described(), "image": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}

    def saved_json(self, stem: str) -> dict[str, Any]:
        """The JSON with the picture save_to wrote in place of the base64 one."""
        return {**self._described(), "image_file": f"{stem}.png"}

    def _described(self) -> dict[str, Any]:
        return {"source": self.source, "method": self.method, "target": self.target, "score": self.score,
                "box": self.box, "numbers": self.numbers}

    def row(self) -> dict[str, str]:
        numbers = "  ".join(f"{k} {v:.3g}" for k, v in self.numbers.items())
        return {"method": self.method, "target": self.target, "numbers": numbers}
