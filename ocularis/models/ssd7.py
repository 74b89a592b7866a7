"""SSD7, the seven-layer SSD of seed 002's self-driving project (after P. Ferrari's keras_ssd7), written in PyTorch.

Seven conv + BN + ELU blocks, each but the last max-pooled; class and box predictors (3x3 convs) on blocks 4-7.
Each predictor cell holds default boxes of scale s_k (a share of the image side) and aspect ratios 0.5, 1, 2, plus a
second ratio-1 box of scale sqrt(s_k * s_k+1) (two_boxes_for_ar1), with the seed's scales 0.08, 0.16, 0.32, 0.64,
0.96; steps and offsets follow the feature maps (step = image / cells, centres half a step in). A default box is
positive for the ground truth it overlaps best when that IoU is >= 0.5 (and every ground truth keeps its best box),
background below 0.3, ignored between. Targets are the offsets to the default box (centre shift / its size, log size
ratio) over variances of 1; the loss is smooth L1 on positives plus softmax cross entropy on positives and the 3x as
many hardest negatives, divided by the number of positives (alpha 1)."""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_convert, box_iou

from ocularis.models.boxes import decode_deltas, encode_deltas
from ocularis.models.detector import DetectorNetwork

SCALES = (0.08, 0.16, 0.32, 0.64, 0.96)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
VARIANCES = (1.0, 1.0, 1.0, 1.0)
WIDTHS = (32, 48, 64, 64, 48, 48, 32)  # conv1..conv7; conv1 is 5x5, the rest 3x3
PREDICTED = (3, 4, 5, 6)  # conv4..conv7 feed the predictors
BOXES_PER_CELL = len(ASPECT_RATIOS) + 1
POSITIVE_IOU, NEGATIVE_IOU = 0.5, 0.3
NEGATIVES_PER_POSITIVE, MIN_NEGATIVES = 3, 8  # MIN_NEGATIVES: an image without objects still teaches background
ALPHA = 1.0
# Initial p(background), as RetinaNet's prior. Hard negative mining never trains the easy negatives, so they keep the
# scores they start with: from uniform class scores, 8 epochs on shapes reached test mAP@.5 0.03; from 0.99, 0.22.
BACKGROUND_PRIOR = 0.99


def feature_sizes(imgsz: int) -> list[int]:
    """The side of conv4..conv7's maps: every 2x2 max pool halves the side, rounding down (Keras' 'valid' pools)."""
    sizes, side = [], imgsz
    for index in range(len(WIDTHS)):
        if index in PREDICTED:
            sizes.append(side)
        side //= 2
    return sizes


def default_boxes(imgsz: int) -> torch.Tensor:
    """(N, 4) cx cy w h in pixels, predictor by predictor, then row, column and box within the cell: the order
    in which SSD7.raw flattens the predictors' outputs."""
    boxes = []
    for level, cells in enumerate(feature_sizes(imgsz)):
        scale, next_scale = SCALES[level], SCALES[level + 1]
        shapes = [(scale * math.sqrt(r), scale / math.sqrt(r)) for r in ASPECT_RATIOS]
        shapes.append((math.sqrt(scale * next_scale),) * 2)
        centres = (torch.arange(cells, dtype=torch.float32) + 0.5) * (imgsz / cells)
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")
        grid = torch.stack([cx, cy], -1)[:, :, None].expand(cells, cells, len(shapes), 2)
        sizes = (torch.tensor(shapes) * imgsz).expand(cells, cells, len(shapes), 2)
        boxes.append(torch.cat([grid, sizes], -1).reshape(-1, 4))
    return torch.cat(boxes)


def conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.BatchNorm2d(c_out), nn.ELU())


class SSD7(DetectorNetwork):
    """forward(images) -> (B, N, 4 + 1 + C): xyxy boxes in input pixels, 1 - p(background), p(class | object).
    raw(images) -> the class logits (background first) and box offsets the loss needs."""

    def __init__(self, num_classes: int, imgsz: int, in_channels: int = 3):
        super().__init__()
        if imgsz < 2 ** (len(WIDTHS) - 1):
            raise ValueError(f"SSD7 halves the image six times: imgsz must be at least 64, not {imgsz}")
        self.num_classes, self.imgsz = num_classes, imgsz
        widths = (in_channels, *WIDTHS)
        self.blocks = nn.ModuleList(conv_block(widths[i], widths[i + 1], 5 if i == 0 else 3) for i in range(7))
        self.classify = nn.ModuleList(nn.Conv2d(WIDTHS[i], BOXES_PER_CELL * (num_classes + 1), 3, padding=1)
                                      for i in PREDICTED)
        self.regress = nn.ModuleList(nn.Conv2d(WIDTHS[i], BOXES_PER_CELL * 4, 3, padding=1) for i in PREDICTED)
        # saved with the weights, so a checkpoint decodes with the default boxes it was trained on
        self.register_buffer("anchors", box_convert(default_boxes(imgsz), "cxcywh", "xyxy"))
        for head in self.classify:  # every default box starts as background (see BACKGROUND_PRIOR)
            bias = head.bias.detach().view(BOXES_PER_CELL, num_classes + 1)
            bias[:, 0] = math.log(BACKGROUND_PRIOR * num_classes / (1 - BACKGROUND_PRIOR))
            bias[:, 1:] = 0.0

    def raw(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (B, N, 1 + C; column 0 is background) and box offsets (B, N, 4), in default_boxes' order."""
        logits, offsets, x = [], [], images
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in PREDICTED:
                head = PREDICTED.index(index)
                logits.append(self._cells(self.classify[head](x), self.num_classes + 1))
                offsets.append(self._cells(self.regress[head](x), 4))
            if index < len(self.blocks) - 1:
                x = F.max_pool2d(x, 2)
        return torch.cat(logits, 1), torch.cat(offsets, 1)

    @staticmethod
    def _cells(prediction: torch.Tensor, width: int) -> torch.Tensor:
        """(B, boxes * width, H, W) -> (B, H * W * boxes, width): row by row, cell by cell, box by box."""
        return prediction.permute(0, 2, 3, 1).reshape(prediction.shape[0], -1, width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits, offsets = self.raw(images)
        objectness = 1 - logits.softmax(-1)[..., :1]
        # p(c) / (1 - p(background)) is the softmax of the object classes' logits alone: exact, no 0/0 to clamp
        classes = logits[..., 1:].softmax(-1)
        boxes = decode_deltas(self.anchors, offsets, VARIANCES).clamp(0, self.imgsz)
        return torch.cat([boxes, objectness, classes], -1)

    def training_losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        logits, offsets = self.raw(images)
        matched = [self.match(t["boxes"].to(images.device).float(), t["labels"].to(images.device)) for t in targets]
        labels = torch.stack([m[0] for m in matched])  # (B, N): -1 ignored, 0 background, 1 + k class k
        box_targets = torch.stack([m[1] for m in matched])  # (B, N, 4)
        positive, negative = labels > 0, labels == 0
        positives = positive.sum()
        normaliser = positives.clamp(min=1).float()
        box_loss = F.smooth_l1_loss(offsets[positive].float(), box_targets[positive], reduction="sum")
        class_loss = F.cross_entropy(logits.float().flatten(0, 1), labels.clamp(min=0).flatten(),
                                     reduction="none").view_as(labels)
        # hard negative mining, image by image: the 3 x positives (at least MIN_NEGATIVES) worst-classified negatives
        keep = (NEGATIVES_PER_POSITIVE * positive.sum(1)).clamp(min=MIN_NEGATIVES)
        ranking = class_loss.detach().masked_fill(~negative, -1.0).argsort(1, descending=True).argsort(1)
        hard = negative & (ranking < keep[:, None])
        return {"box": ALPHA * box_loss / normaliser, "cls": class_loss[positive | hard].sum() / normaliser}

    def match(self, boxes: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per default box: its label (-1 ignored, 0 background, 1 + k class k) and its encoded target offsets."""
        count = len(self.anchors)
        if not len(boxes):
            return labels.new_zeros(count), boxes.new_zeros(count, 4)
        overlap = box_iou(boxes, self.anchors)  # (G, N)
        best, owner = overlap.max(0)
        own = overlap.argmax(1)  # every ground truth keeps its best default box, however low the IoU
        best[own], owner[own] = 1.0, torch.arange(len(boxes), device=boxes.device)
        assigned = torch.where(best >= POSITIVE_IOU, labels[owner] + 1,
                               torch.where(best < NEGATIVE_IOU, 0, -1))
        return assigned, encode_deltas(self.anchors, boxes[owner], VARIANCES)
