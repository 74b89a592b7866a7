"""Box post-processing every detector shares: confidence filter + NMS + top-k, format conversions, clipping.

Thin wrappers over torchvision.ops, so every detector suppresses and converts boxes the same (tested) way.
"""

import math

import torch
from torchvision.ops import batched_nms, box_convert, clip_boxes_to_image, nms

MAX_LOG_SIZE = math.log(1000 / 16)  # as torchvision's BoxCoder: a decoded box grows at most ~60x its reference


def postprocess_detections(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, *, conf: float = 0.25,
                           iou: float = 0.45, class_agnostic: bool = False,
                           max_det: int = 300) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep boxes scoring above `conf`, suppress overlaps above `iou`, return the best `max_det` by score.

    boxes (N, 4) x1 y1 x2 y2, scores (N,), labels (N,) class indices. NMS runs per class unless `class_agnostic`,
    where a box also suppresses overlapping boxes of other classes. Results are sorted by descending score.
    """
    keep = kept_detections(boxes, scores, labels, conf=conf, iou=iou, class_agnostic=class_agnostic, max_det=max_det)
    return boxes[keep], scores[keep], labels[keep]


def kept_detections(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, *, conf: float, iou: float,
                    class_agnostic: bool, max_det: int) -> torch.Tensor:
    """The indices `postprocess_detections` keeps, best first."""
    confident = (scores > conf).nonzero().squeeze(1)
    chosen = boxes[confident], scores[confident]
    keep = nms(*chosen, iou) if class_agnostic else batched_nms(*chosen, labels[confident], iou)
    return confident[keep[:max_det]]  # both NMS functions return indices sorted by descending score


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """x_min y_min width height (COCO's format) -> x1 y1 x2 y2."""
    return box_convert(boxes, "xywh", "xyxy")


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """x1 y1 x2 y2 -> x_min y_min width height (COCO's format)."""
    return box_convert(boxes, "xyxy", "xywh")


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """centre x, centre y, width, height (YOLO's format) -> x1 y1 x2 y2."""
    return box_convert(boxes, "cxcywh", "xyxy")


def xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    """x1 y1 x2 y2 -> centre x, centre y, width, height (YOLO's format)."""
    return box_convert(boxes, "xyxy", "cxcywh")


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """x1 y1 x2 y2 boxes clipped to an image of `height` x `width` pixels (a new tensor)."""
    return clip_boxes_to_image(boxes, (height, width))


def encode_deltas(reference: torch.Tensor, boxes: torch.Tensor, scale=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """R-CNN's box regression targets from x1 y1 x2 y2 `reference` boxes (proposals, windows, anchors) to `boxes`:
    the centre shift in reference sizes and the log size ratio, each divided by `scale` (SSD's variances)."""
    size, target = reference[..., 2:] - reference[..., :2], boxes[..., 2:] - boxes[..., :2]
    shift = (boxes[..., :2] + target / 2 - reference[..., :2] - size / 2) / size
    return torch.cat([shift, (target / size).log()], -1) / reference.new_tensor(scale)


def decode_deltas(reference: torch.Tensor, deltas: torch.Tensor, scale=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """encode_deltas' inverse: x1 y1 x2 y2 boxes; `reference` (..., 4) broadcasts against `deltas` (..., 4)."""
    deltas = deltas * deltas.new_tensor(scale)
    size = reference[..., 2:] - reference[..., :2]
    centre = reference[..., :2] + size / 2 + deltas[..., :2] * size
    size = size * deltas[..., 2:].clamp(max=MAX_LOG_SIZE).exp()
    return torch.cat([centre - size / 2, centre + size / 2], -1)
