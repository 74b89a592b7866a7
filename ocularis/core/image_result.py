"""A result that is a picture: a restored, reconstructed, denoised or generated image, with the input beside it where
one helps (the page's before/after slider, the CLI's side-by-side) and any numbers the task measured of it."""

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field

from ocularis.core.results import Result


class ImagesResult(BaseModel):
    """One output image (base64 PNG), its size, the input it came from (base64 PNG, or null) and its scores."""

    source: str
    width: int
    height: int
    image_png: str = Field(description="base64 PNG of the output image")
    input_png: str | None = Field(description="base64 PNG of the input, at its own size (null: none shown)")
    scores: dict[str, float] = Field(description="numbers measured of the output (an outlier score, a PSNR ...)")
    verdicts: dict[str, bool] = Field(description="yes/no answers about it (is it an outlier ...)")


def png_base64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass
class Images(Result):
    schema = ImagesResult
    renderer = "images"

    source: str
    image: np.ndarray = field(repr=False)  # the output, uint8 (H, W) or (H, W, 3)
    before: np.ndarray | None = field(default=None, repr=False)  # the input, at its own size
    scores: dict[str, float] = field(default_factory=dict)
    verdicts: dict[str, bool] = field(default_factory=dict)  # yes/no answers, such as "outlier"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "width": int(self.image.shape[1]), "height": int(self.image.shape[0]),
                "image_png": png_base64(self.image),
                "input_png": None if self.before is None else png_base64(self.before),
                "scores": {k: float(v) for k, v in self.scores.items()},
                "verdicts": {k: bool(v) for k, v in self.verdicts.items()}}

    def row(self) -> dict[str, str]:
        height, width = self.image.shape[:2]
        return {"output": f"{width}x{height}",
                "scores": ", ".join([*(f"{k} {v:.4g}" for k, v in self.scores.items()),
                                     *(f"{k} {'yes' if v else 'no'}" for k, v in self.verdicts.items())]) or "-"}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        """The input (scaled to the output's size without smoothing, so its pixels show) beside the output, each
        captioned; small images are drawn larger."""
        after = Image.fromarray(self.image).convert("RGB")
        scale = max(1, round(192 / max(after.size))) if enlarge else 1
        after = after.resize((after.width * scale, after.height * scale), Image.NEAREST)
        panels = [(after, "output")]
        if self.before is not None:
            panels.insert(0, (Image.fromarray(self.before).convert("RGB").resize(after.size, Image.NEAREST), "input"))
        sheet = Image.new("RGB", (sum(p.width for p, _ in panels) + 4 * (len(panels) - 1), after.height + 14),
                          (255, 255, 255))
        draw, x = ImageDraw.Draw(sheet), 0
        for panel, caption in panels:
            sheet.paste(panel, (x, 14))
            draw.text((x + 2, 1), caption, fill=(0, 0, 0))
            x += panel.width + 4
        return np.asarray(sheet)

    def save_to(self, folder: Path, stem: str) -> None:
        """The output image itself (<stem>.png) and the input beside it (<stem>_compare.png)."""
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(self.image).save(folder / f"{stem}.png")
        self.save(folder / f"{stem}_compare.png")

    def saved_json(self, stem: str) -> dict[str, Any]:
        """The JSON with the files save_to wrote in place of the base64 pictures."""
        found = {k: v for k, v in self.to_json().items() if k not in ("image_png", "input_png")}
        return {**found, "image_file": f"{stem}.png", "compare_file": f"{stem}_compare.png"}
