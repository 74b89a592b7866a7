"""A YOLO-style one-stage instance segmenter: the detection task's YOLO plus YOLACT's masks, as YOLOv5-seg adds them.

YOLACT (Bolya et al. 2019) splits instance masks into two parallel parts: a prototype branch predicting K masks
for the whole image from the highest-resolution pyramid level, and K coefficients per anchor (tanh, so prototypes can
be added and subtracted); an instance's mask is the linear combination sigmoid(coefficients @ prototypes). The
detector itself is unchanged (ocularis.models.yolo: boxes, objectness, classes and their assignment); YOLOv5-seg's
prototype branch (3x3 conv, 2x upsample, 3x3 conv, 1x1 conv to K) runs on P3, so prototypes lie at stride 4.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ocularis.models.record import ModelRecord
from ocularis.models.segmenter import InstanceNetwork
from ocularis.models.yolo import STRIDES, YOLO, YOLOLoss, conv, default_anchors, fit_anchors, target_table

PROTOTYPE_STRIDE = 4  # P3 (stride 8) upsampled once, as YOLOv5-seg and YOLACT (P3 upsampled to 1/4 of the input)


class Prototypes(nn.Module):
    """YOLOv5-seg's Proto: conv, nearest 2x upsample, conv, then K prototype maps (SiLU, as its convs end)."""

    def __init__(self, c_in: int, hidden: int, count: int):
        super().__init__()
        self.body = nn.Sequential(conv(c_in, hidden, 3), nn.Upsample(scale_factor=2, mode="nearest"),
                                  conv(hidden, hidden, 3), conv(hidden, count, 1))

    def forward(self, p3: torch.Tensor) -> torch.Tensor:
        return self.body(p3)


class YOLOSeg(InstanceNetwork):
    """forward(images) -> (rows (B, N, 4 + 1 + C), coefficients (B, N, K), prototypes (B, K, H/4, W/4)): YOLO's
    rows for every anchor of every level, each with its K mask coefficients in the same order. The mask loss only
    looks inside each ground-truth box, so a row's mask is meant to be read inside its own box: YOLACT crops every
    mask to its predicted box at inference (the learning test: mask IoU ~0.9 cropped, ~0.55-0.6 uncropped)."""

    def __init__(self, num_classes: int, anchors: torch.Tensor, width: int = 16, depth: int = 1, in_channels: int = 3,
                 prototypes: int = 32):
        super().__init__()
        self.num_classes, self.prototype_count = num_classes, prototypes
        self.detector = YOLO(num_classes, anchors, width=width, depth=depth, in_channels=in_channels)
        self.prototypes = Prototypes(4 * width, 4 * width, prototypes)
        self.coefficients = nn.ModuleList(nn.Conv2d(c, 3 * prototypes, 1) for c in (4 * width, 8 * width, 16 * width))

    @property
    def anchors(self) -> torch.Tensor:
        """(3 levels, 3 anchors, w h) pixels: the detector's, fitted to the training boxes by the builder."""
        return self.detector.anchors

    def parts(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """One pass: YOLO's raw maps (B, 3, h, w, 5 + C), raw coefficients (B, 3, h, w, K) per level, prototypes."""
        features = self.detector.features(images)
        coefficients = []
        for head, feature in zip(self.coefficients, features, strict=True):
            raw = head(feature)
            b, _, h, w = raw.shape
            coefficients.append(raw.view(b, 3, self.prototype_count, h, w).permute(0, 1, 3, 4, 2))
        return self.detector.raw_maps(features), coefficients, self.prototypes(features[0])

    def explained_layer(self, row: int | None = None, size: tuple[int, int] | None = None) -> nn.Module:
        return self.detector.explained_layer(row, size)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        maps, coefficients, prototypes = self.parts(images)
        rows = torch.cat([self.detector.decode(raw, level) for level, raw in enumerate(maps)], dim=1)
        flat = torch.cat([c.reshape(images.shape[0], -1, self.prototype_count) for c in coefficients], dim=1).tanh()
        return rows, flat, prototypes

    def training_losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        maps, coefficients, prototypes = self.parts(images)
        losses = YOLOLoss()(self.detector, maps, targets)
        return {**losses, "mask": mask_loss(self.detector.anchors, coefficients, prototypes, targets)}


def mask_loss(anchors: torch.Tensor, coefficients: list[torch.Tensor], prototypes: torch.Tensor,
              targets: list[dict[str, torch.Tensor]], gain: float = 0.5) -> torch.Tensor:
    """YOLACT's mask loss at YOLO's positive anchors: per-pixel BCE between coefficients @ prototypes and the anchor's
    ground-truth mask (area-downsampled to the prototypes' size), summed inside the ground-truth box and divided by
    its area, so small objects weigh as much as large ones (YOLACT crops to the box for the same reason). Averaged
    over positives, summed over levels and scaled by the batch as YOLOLoss's parts (YOLOv5-seg's form)."""
    device = prototypes.device
    table = target_table(targets, device)
    small = downsampled_masks(targets, prototypes.shape[-2:], device)  # (n, h, w), rows in the table's order
    loss = torch.zeros((), device=device)
    for level, raw in enumerate(coefficients):
        positives = YOLOLoss.assign(table, anchors[level], STRIDES[level], raw.shape[2:4])
        if positives is None:
            continue
        order = positives[0].argsort()  # grouped by image: each image's prototypes are combined in one product
        image, anchor, gy, gx, _, _, target = (part[order] for part in positives)
        logits = _combined(raw[image, anchor, gy, gx].tanh(), image, prototypes)
        per_pixel = F.binary_cross_entropy_with_logits(logits, small[target], reduction="none")
        inside = box_windows(table[target, 2:6] / PROTOTYPE_STRIDE, prototypes.shape[-2:])
        loss = loss + ((per_pixel * inside).sum(dim=(1, 2)) / inside.sum(dim=(1, 2)).clamp(min=1)).mean()
    return gain * loss * len(coefficients[0])


def _combined(coefficients: torch.Tensor, image: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """(P, h, w) mask logits, coefficients (P, K) @ the prototypes of each positive's image, for positives sorted by
    image: indexing the prototypes per positive would copy (P, K, h, w), hundreds of MB with crowded images."""
    counts = torch.bincount(image, minlength=len(prototypes)).tolist()
    return torch.cat([torch.einsum("pk,khw->phw", chunk, prototypes[index])
                      for index, chunk in enumerate(coefficients.split(counts)) if len(chunk)])


def downsampled_masks(targets: list[dict[str, torch.Tensor]], size: torch.Size, device: torch.device) -> torch.Tensor:
    """Every target's (H, W) mask as the share of each prototype cell it covers (area interpolation: a soft target
    that keeps thin parts a nearest-neighbour pick would drop)."""
    full = torch.cat([t["masks"].to(device) for t in targets]).float()
    if not len(full):
        return full.new_zeros(0, *size)
    return F.interpolate(full[:, None], size=tuple(size), mode="area")[:, 0]


def box_windows(boxes_cxcywh: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """(n, h, w) 1 inside each box (centre, size in prototype cells) and 0 outside: YOLACT's crop."""
    h, w = size
    xs = torch.arange(w, device=boxes_cxcywh.device, dtype=boxes_cxcywh.dtype) + 0.5
    ys = torch.arange(h, device=boxes_cxcywh.device, dtype=boxes_cxcywh.dtype) + 0.5
    cx, cy, bw, bh = boxes_cxcywh.unbind(1)
    inside_x = (xs[None] >= (cx - bw / 2)[:, None]) & (xs[None] <= (cx + bw / 2)[:, None])
    inside_y = (ys[None] >= (cy - bh / 2)[:, None]) & (ys[None] <= (cy + bh / 2)[:, None])
    return (inside_y[:, :, None] & inside_x[:, None, :]).to(boxes_cxcywh.dtype)


def _builder(width: int, depth: int, prototypes: int):
    def build(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
              seed: int = 0) -> InstanceNetwork:
        anchors = fit_anchors(box_sizes, imgsz, seed) if box_sizes is not None else default_anchors(imgsz)
        return YOLOSeg(num_classes, anchors, width=width, depth=depth, in_channels=in_channels, prototypes=prototypes)

    build.__doc__ = (f"YOLO-style instance segmenter (YOLACT masks), width {width}, depth {depth}, "
                     f"{prototypes} prototypes at stride {PROTOTYPE_STRIDE}.")
    return build


_BUILDERS = {"yolo_seg": _builder(16, 1, 16), "yolo_seg_s": _builder(24, 2, 32)}
RECORDS = {name: ModelRecord(build, imgsz=128, lr=4e-3) for name, build in _BUILDERS.items()}  # detection's YOLO's
