"""Detection results: `Boxes` per image, with JSON, YOLO-txt and drawn outputs."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field

from ocularis.core.results import Result

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


class Detection(BaseModel):
    label: str
    class_id: int
    score: float
    box: list[float] = Field(description="x1, y1, x2, y2 in the image's pixels")


class BoxesResult(BaseModel):
    """Detection in one image: every object's class, score and box."""

    source: str
    width: int
    height: int
    detections: list[Detection]


@dataclass
class Boxes(Result):
    """The objects found in one image: `boxes` (n, 4) x1 y1 x2 y2 in the image's pixels, `scores`, `labels`
    (class indices) and `names`."""

    schema = BoxesResult
    renderer = "boxes"

    source: str
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    names: list[str]
    size: tuple[int, int]  # width, height of the image
    image: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.boxes)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "width": self.size[0], "height": self.size[1],
                "detections": [{"label": name, "class_id": int(label), "score": round(float(score), 6),
                                "box": [round(float(v), 2) for v in box]}
                               for box, score, label, name in zip(self.boxes, self.scores, self.labels, self.names,
                                                                  strict=True)]}

    def to_yolo(self) -> str:
        """One `class cx cy w h score` line per box, normalised to the image size (Ultralytics' --save-txt)."""
        width, height = self.size
        lines = []
        for (x1, y1, x2, y2), score, label in zip(self.boxes, self.scores, self.labels, strict=True):
            lines.append(f"{int(label)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                         f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f} {score:.6f}")
        return "".join(line + "\n" for line in lines)

    def plot(self, enlarge: bool = True) -> np.ndarray:
        """The image with its boxes and labels drawn (RGB uint8); small images are enlarged unless told not to."""
        return draw_boxes(self.image, self.boxes, [f"{n} {s:.2f}" for n, s in zip(self.names, self.scores,
                                                                                   strict=True)], self.labels, enlarge)

    def row(self) -> dict[str, str]:
        return {"image": self.source, "objects": str(len(self)),
                "detections": ", ".join(f"{n} {s:.2f}" for n, s in zip(self.names, self.scores, strict=True))}

    def save_to(self, folder: Path, stem: str) -> None:
        """The drawn image and, as Ultralytics' --save-txt, labels/<stem>.txt."""
        self.save(folder / f"{stem}.png")
        (folder / "labels").mkdir(exist_ok=True)
        (folder / "labels" / f"{stem}.txt").write_text(self.to_yolo())


def draw_boxes(image: np.ndarray, boxes: np.ndarray, texts: list[str], labels: np.ndarray,
               enlarge: bool = True) -> np.ndarray:
    """Boxes and captions over a copy of `image`, one colour per class; small images are enlarged first."""
    picture = Image.fromarray(image).convert("RGB")
    scale = max(1, round(384 / max(picture.size))) if enlarge else 1
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(picture)
    for box, text, label in zip(boxes, texts, labels, strict=True):
        colour = PALETTE[int(label) % len(PALETTE)]
        x1, y1, x2, y2 = (float(v) * scale for v in box)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=2)
        corner = draw.textbbox((x1 + 2, y1 + 1), text)
        draw.rectangle((corner[0] - 2, corner[1] - 1, corner[2] + 2, corner[3] + 1), fill=colour)
        draw.text((x1 + 2, y1 + 1), text, fill=(0, 0, 0))
    return np.asarray(picture)
