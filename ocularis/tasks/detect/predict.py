"""Detection results: `Boxes` per image, with JSON, YOLO-txt and drawn outputs."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ocularis.core.drawing import draw_boxes
from ocularis.core.results import Result


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
        """How many of each class and the best score of each, most found first (the boxes: --save, JSON)."""
        found: dict[str, list[float]] = {}
        for name, score in zip(self.names, self.scores, strict=True):
            found.setdefault(name, []).append(float(score))
        ranked = sorted(found.items(), key=lambda item: (-len(item[1]), -max(item[1])))
        return {"objects": str(len(self)),
                "detections": ", ".join(f"{len(s)} {n} (best {max(s):.2f})" for n, s in ranked) or "-"}

    def save_to(self, folder: Path, stem: str) -> None:
        """The drawn image and, as Ultralytics' --save-txt, labels/<stem>.txt."""
        self.save(folder / f"{stem}.png")
        (folder / "labels").mkdir(exist_ok=True)
        (folder / "labels" / f"{stem}.txt").write_text(self.to_yolo())

