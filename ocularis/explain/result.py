"""An explanation of one input, rendered like every task's result: the heat map over the image the network saw (or
the method's own picture: a feature-map grid, a dream, an adversarial triple), with the target it explains."""

import base64
import io
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel

from ocularis.core.drawing import draw_boxes, enlarged
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
                 box: list[float] | None = None, numbers: dict[str, float] | None = None):
        self.source, self.method, self.picture = source, method, picture  # picture: the input as the network saw it
        self.heat, self.panel = heat, panel  # (H, W) in [0, 1] over the picture; or a picture of its own
        self.target, self.score, self.box, self.numbers = target, score, box, numbers or {}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        if self.panel is not None:
            return np.asarray(enlarged(self.panel, enlarge)[0])
        picture, scale = enlarged(self.picture, enlarge)
        shown = np.asarray(picture).astype(np.float32)
        if self.heat is not None:
            import matplotlib

            heat = np.asarray(Image.fromarray((self.heat * 255).astype(np.uint8)).resize(picture.size,
                                                                                         Image.BILINEAR))
            colours = matplotlib.colormaps["jet"](heat / 255.0)[..., :3] * 255
            shown = 0.55 * shown + 0.45 * colours
        shown = shown.round().clip(0, 255).astype(np.uint8)
        if self.box is not None:
            shown = draw_boxes(shown, np.array([self.box]) * scale, [self.target], np.array([0]), enlarge=False)
        return shown

    def to_json(self) -> dict[str, Any]:
        buffer = io.BytesIO()
        Image.fromarray(self.plot()).save(buffer, format="PNG")
        return {"source": self.source, "method": self.method, "target": self.target, "score": self.score,
                "box": self.box, "numbers": self.numbers,
                "image": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}

    def row(self) -> dict[str, str]:
        numbers = "  ".join(f"{k} {v:.3g}" for k, v in self.numbers.items())
        return {"method": self.method, "target": self.target, "numbers": numbers}
