"""Segmentation results: `Masks` per image — a class per pixel and, from instance models, each object's mask, box,
score and class — with JSON (the class map as a PNG, objects as COCO RLE), PNG, YOLO-seg and drawn outputs."""

import base64
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import BaseModel, Field
from torchvision.ops import batched_nms

from ocularis.core.drawing import class_colours, draw_boxes, draw_legend, enlarged, overlay_mask
from ocularis.core.results import Result
from ocularis.data.masks import has_background

# Candidates NMS sees at most, best first: at conf 0.001 an early model keeps nearly every row of a whole image (tens
# of thousands), and NMS over them cost 9 s an image; torchvision's detectors cap theirs (pre_nms_top_n) the same way.
PRE_NMS = 3000
# Objects x pixels up to which every mask is one product over the whole image (on the shapes' 64 px scenes 5 times
# faster than a loop over boxes); past it each mask is computed inside its own box only, as a 1,000 px image of
# hundreds of small nuclei needs.
WHOLE_IMAGE_MASKS = 1 << 22


class ObjectMask(BaseModel):
    label: str
    class_id: int
    score: float
    box: list[float] = Field(description="x1, y1, x2, y2 in the image's pixels")
    area: int = Field(description="pixels in the mask")
    rle: dict = Field(description="the mask as COCO run-length encoding: {size: [height, width], counts: str}")


class MasksResult(BaseModel):
    """Segmentation of one image."""

    source: str
    width: int
    height: int
    classes: list[str] = Field(description="class names; index i is value i of the class map")
    background: bool = Field(True, description="class 0 is the background (left untinted), not a class such as Sky")
    class_map_png: str = Field(description="base64 PNG (8-bit greyscale): each pixel's class index")
    pixels: dict[str, int] = Field(description="pixels per class present")
    objects: list[ObjectMask] = Field(description="instance models: one entry per object")


@dataclass
class Masks(Result):
    """`semantic` (H, W) class indices into `classes` (0 background where has_background(classes), as it always is
    with objects); instance models add `masks` (n, H, W) bool
    with `boxes` (n, 4), `scores` and `labels` (class indices >= 1)."""

    schema = MasksResult
    renderer = "masks"

    source: str
    semantic: np.ndarray
    classes: list[str]
    masks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), bool), repr=False)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    image: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def size(self) -> tuple[int, int]:
        return self.semantic.shape[1], self.semantic.shape[0]

    def pixels(self) -> dict[str, int]:
        counts = np.bincount(self.semantic.reshape(-1), minlength=len(self.classes))
        return {self.classes[i]: int(n) for i, n in enumerate(counts) if n and i < len(self.classes)}

    def rles(self) -> list[dict]:
        """Each object's mask as COCO RLE (pycocotools), counts decoded to text so it travels as JSON."""
        from pycocotools import mask as coco_mask

        encoded = coco_mask.encode(np.asfortranarray(self.masks.transpose(1, 2, 0).astype(np.uint8)))
        return [{"size": [int(s) for s in e["size"]], "counts": e["counts"].decode("ascii")} for e in encoded]

    def to_json(self) -> dict[str, Any]:
        objects = [{"label": self.classes[int(label)], "class_id": int(label), "score": round(float(score), 6),
                    "box": [round(float(v), 2) for v in box], "area": int(mask.sum()), "rle": rle}
                   for box, score, label, mask, rle in zip(self.boxes, self.scores, self.labels, self.masks,
                                                           self.rles() if len(self) else [], strict=True)]
        return {"source": self.source, "width": self.size[0], "height": self.size[1], "classes": self.classes,
                "background": has_background(self.classes),
                "class_map_png": base64.b64encode(self.class_map_png()).decode("ascii"), "pixels": self.pixels(),
                "objects": objects}

    def class_map_png(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.semantic).save(buffer, format="PNG")
        return buffer.getvalue()

    def to_yolo(self) -> str:
        """YOLO-seg lines: `class x1 y1 x2 y2 ...` of each object's outline, normalised (classes from 0, no
        background), largest outline per object."""
        import cv2

        width, height = self.size
        lines = []
        for mask, label in zip(self.masks, self.labels, strict=True):
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            if contours:
                points = max(contours, key=cv2.contourArea).reshape(-1, 2) / [width, height]
                lines.append(f"{int(label) - 1} " + " ".join(f"{v:.6f}" for v in points.reshape(-1)))
        return "".join(line + "\n" for line in lines)

    def plot(self, enlarge: bool = True) -> np.ndarray:
        """The image with classes tinted, objects boxed and a legend (RGB uint8)."""
        background = has_background(self.classes)
        picture = overlay_mask(self.image, self.semantic, background=background)
        if len(self):
            picture = draw_boxes(picture, self.boxes, [f"{self.classes[int(n)]} {s:.2f}" for n, s in
                                                       zip(self.labels, self.scores, strict=True)],
                                 self.labels - 1, enlarge)
        else:
            picture = np.asarray(enlarged(picture, enlarge)[0])
        present = [i for i in np.unique(self.semantic).tolist() if int(background) <= i < len(self.classes)]
        return draw_legend(picture, self.classes, present, background)

    def row(self) -> dict[str, str]:
        total = self.semantic.size
        share = ", ".join(f"{name} {count / total:.1%}" for name, count in self.pixels().items()
                          if name != self.classes[0] or not has_background(self.classes))
        return {"objects": str(len(self)), "classes": share or "-"}

    def save_to(self, folder: Path, stem: str) -> None:
        """The overlay (<stem>.png), the class map as a palette PNG (masks/<stem>.png) and, for objects, COCO RLE
        (masks/<stem>.json) and YOLO-seg polygons (labels/<stem>.txt)."""
        self.save(folder / f"{stem}.png")
        (folder / "masks").mkdir(exist_ok=True)
        palette = Image.fromarray(self.semantic, mode="P")
        palette.putpalette(class_colours(256, has_background(self.classes)).reshape(-1).tolist()
                           if len(self.classes) <= 256 else [])
        palette.save(folder / "masks" / f"{stem}.png")
        if len(self):
            (folder / "masks" / f"{stem}.json").write_text(json.dumps(self.to_json()["objects"]))
            (folder / "labels").mkdir(exist_ok=True)
            (folder / "labels" / f"{stem}.txt").write_text(self.to_yolo())


@dataclass
class Objects:
    """Decoded objects in some frame's pixels: boxes (n, 4), scores, labels (task classes, >= 1), masks (n, H, W)
    bool."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep) -> "Objects":
        return Objects(self.boxes[keep], self.scores[keep], self.labels[keep], self.masks[keep])

    def as_numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(masks, scores, labels, boxes) as the mask and box AP take them."""
        return self.masks.numpy(), self.scores.numpy(), self.labels.numpy(), self.boxes.numpy()


def decode_objects(rows, coefficients, prototypes, size: tuple[int, int], conf: float, iou: float, max_det: int,
                   threshold: float = 0.5) -> Objects:
    """One input's raw instance outputs (the contract of ocularis.models.segmenter) -> its objects over an input of
    `size` (height, width): rows scoring above `conf` (objectness x class probability, a row may carry several
    classes), NMS per class, each kept row's mask = sigmoid(coefficients @ prototypes) upsampled, cut to its box
    (YOLACT's crop: outside its box an object has no pixels) and thresholded."""
    rows, coefficients, prototypes = rows.float(), coefficients.float(), prototypes.float()
    scores = rows[:, 4:5] * rows[:, 5:]
    candidate, label = (scores > conf).nonzero(as_tuple=True)
    if len(candidate) > PRE_NMS:
        best = scores[candidate, label].topk(PRE_NMS).indices
        candidate, label = candidate[best], label[best]
    boxes, picked = rows[candidate, :4], scores[candidate, label]
    keep = batched_nms(boxes, picked, label, iou)[:max_det]
    boxes, picked, label, candidate = boxes[keep], picked[keep], label[keep], candidate[keep]
    height, width = size
    if not len(keep):
        return Objects(boxes, picked, label + 1, torch.zeros(0, height, width, dtype=torch.bool))
    # upsampling is linear, so upsampling the K prototypes once and combining them gives each mask; sigmoid(x) > t
    # where x > logit(t)
    prototypes = F.interpolate(prototypes[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    cut = math.log(threshold / (1 - threshold)) if 0 < threshold < 1 else (math.inf if threshold >= 1 else -math.inf)
    weights = coefficients[candidate]
    if len(keep) * height * width <= WHOLE_IMAGE_MASKS:  # one product for all: small images, few objects
        ys, xs = torch.arange(height), torch.arange(width)
        x0, y0, x1, y1 = _box_pixels(boxes, width, height).unbind(1)
        inside = (((ys >= y0[:, None]) & (ys < y1[:, None]))[:, :, None]
                  & ((xs >= x0[:, None]) & (xs < x1[:, None]))[:, None, :])
        return Objects(boxes, picked, label + 1, (torch.einsum("nk,khw->nhw", weights, prototypes) > cut) & inside)
    masks = torch.zeros(len(keep), height, width, dtype=torch.bool)  # each mask at its box's cost, not the image's
    for index, (box, row) in enumerate(zip(_box_pixels(boxes, width, height).tolist(), weights, strict=True)):
        x0, y0, x1, y1 = box
        masks[index, y0:y1, x0:x1] = torch.einsum("k,khw->hw", row, prototypes[:, y0:y1, x0:x1]) > cut
    return Objects(boxes, picked, label + 1, masks)


def _box_pixels(boxes: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The pixels whose centres lie inside each box (x0, y0, x1, y1), as (N, 4) slice bounds within the image."""
    first, last = torch.ceil(boxes - 0.5), torch.floor(boxes - 0.5) + 1
    bounds = torch.cat([first[:, :2], last[:, 2:]], 1).long()
    return torch.minimum(bounds.clamp(min=0), torch.tensor([width, height, width, height]))


def paint(masks: np.ndarray, scores: np.ndarray, labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The class map objects make: each pixel the class of the best-scoring object covering it (0: none)."""
    semantic = np.zeros(size, np.uint8)
    for index in np.argsort(scores, kind="stable"):  # best last, so it stays on top
        semantic[masks[index]] = int(labels[index])
    return semantic
