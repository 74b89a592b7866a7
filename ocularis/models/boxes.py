"""Box post-processing every detector shares: confidence filter + NMS + top-k, format conversions, clipping.

Thin wrappers over torchvision.ops, so every detector suppresses and converts boxes the same (tested) way.
"""

import torch
from torchvision.ops import batched_nms, box_convert, clip_boxes_to_image, nms


def postprocess_detections(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, *, conf: float = 0.25,
                           iou: float = 0.45, class_agnostic: bool = False,
                           max_det: int = 300) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep boxes scoring above `conf`, suppress overlaps above `iou`, return the best `max_det` by score.

    boxes (N, 4) x1 y1 x2 y2, scores (N,), labels (N,) class indices. NMS runs per class unless `class_agnostic`,
    where a box also suppresses overlapping boxes of other classes. Results are sorted by descending score.
    """
    confident = scores > conf
    boxes, scores, labels = boxes[confident], scores[confident], labels[confident]
    keep = nms(boxes, scores, iou) if class_agnostic else batched_nms(boxes, scores, labels, iou)
    keep = keep[:max_det]  # both NMS functions return indices sorted by descending score
    return boxes[keep], scores[keep], labels[keep]


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
