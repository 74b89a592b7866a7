"""A YOLO-style one-stage detector, written here because torchvision has none: a small CSP-like backbone, a
top-down feature pyramid, and at each of three strides (8, 16, 32) three anchors predicting a box, an objectness and
independent sigmoid class scores (YOLOv3). Boxes are parametrised and assigned to anchors as in YOLOv5 (offsets in
-0.5..1.5 of a cell, neighbouring cells share a target, anchor-shape ratio < 4), which trains in few epochs."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_convert, complete_box_iou_loss

from ocularis.models.detector import DetectorNetwork

STRIDES = (8, 16, 32)
ANCHOR_RATIO_LIMIT = 4.0


def conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.SiLU(inplace=True))


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(conv(channels, channels // 2, 1), conv(channels // 2, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def stage(c_in: int, c_out: int, depth: int) -> nn.Sequential:
    """Downsample by 2, then `depth` residual blocks."""
    return nn.Sequential(conv(c_in, c_out, 3, 2), *[Residual(c_out) for _ in range(depth)])


def default_anchors(imgsz: int) -> torch.Tensor:
    """(3 levels, 3 anchors, w h) in pixels, as fractions of the image (YOLOv3's COCO anchors at 416 px)."""
    coco = np.array([[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]])
    return torch.tensor(coco / 416 * imgsz, dtype=torch.float32).view(3, 3, 2)


def fit_anchors(box_sizes: np.ndarray, imgsz: int, seed: int = 0) -> torch.Tensor:
    """Nine anchors by k-means on the training boxes' (w, h) in input pixels (YOLOv2's dimension clusters)."""
    if len(box_sizes) < 9:
        return default_anchors(imgsz)
    from sklearn.cluster import KMeans

    centres = KMeans(n_clusters=9, n_init=10, random_state=seed).fit(box_sizes).cluster_centers_
    centres = centres[np.argsort(centres.prod(axis=1))]
    return torch.tensor(centres, dtype=torch.float32).view(3, 3, 2)


class YOLO(DetectorNetwork):
    """forward(images) -> (B, N, 4 + 1 + C): xyxy boxes in input pixels, objectness, class probabilities.
    heads(images) -> the raw per-level maps the loss needs."""

    def __init__(self, num_classes: int, anchors: torch.Tensor, width: int = 16, depth: int = 1, in_channels: int = 3):
        super().__init__()
        self.num_classes = num_classes
        self.outputs = 5 + num_classes
        self.register_buffer("anchors", anchors.clone().float())  # (3, 3, 2) pixels; saved with the weights
        w = width
        self.stem = conv(in_channels, w, 3, 2)
        self.stage2 = stage(w, 2 * w, depth)            # stride 4
        self.stage3 = stage(2 * w, 4 * w, 2 * depth)    # stride 8
        self.stage4 = stage(4 * w, 8 * w, 2 * depth)    # stride 16
        self.stage5 = stage(8 * w, 16 * w, depth)       # stride 32
        self.lateral5 = conv(16 * w, 8 * w, 1)
        self.merge4 = nn.Sequential(conv(16 * w, 8 * w, 1), conv(8 * w, 8 * w, 3))
        self.lateral4 = conv(8 * w, 4 * w, 1)
        self.merge3 = nn.Sequential(conv(8 * w, 4 * w, 1), conv(4 * w, 4 * w, 3))
        self.predict = nn.ModuleList(nn.Conv2d(c, 3 * self.outputs, 1) for c in (4 * w, 8 * w, 16 * w))
        self._init_biases()

    def _init_biases(self) -> None:
        """Start with low objectness and class scores, as RetinaNet's prior: most cells hold no object."""
        for head in self.predict:
            bias = head.bias.detach().view(3, self.outputs)
            bias[:, 4] = -4.5
            bias[:, 5:] = -np.log(max(self.num_classes - 1, 1))
            head.bias = nn.Parameter(bias.view(-1))

    def heads(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Raw predictions per level: (B, 3 anchors, H, W, 5 + C)."""
        return self.raw_maps(self.features(images))

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The maps the heads read at strides 8, 16 and 32 (widths 4w, 8w, 16w), for networks built on this one."""
        c3 = self.stage3(self.stage2(self.stem(images)))
        c4 = self.stage4(c3)
        c5 = self.stage5(c4)
        p5 = self.lateral5(c5)
        p4 = self.merge4(torch.cat([F.interpolate(p5, size=c4.shape[-2:], mode="nearest"), c4], 1))
        p3 = self.merge3(torch.cat([F.interpolate(self.lateral4(p4), size=c3.shape[-2:], mode="nearest"), c3], 1))
        return p3, p4, c5

    def raw_maps(self, features: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        """features() -> the raw per-level maps (B, 3 anchors, H, W, 5 + C)."""
        maps = []
        for head, feature in zip(self.predict, features, strict=True):
            raw = head(feature)
            b, _, h, w = raw.shape
            maps.append(raw.view(b, 3, self.outputs, h, w).permute(0, 1, 3, 4, 2))
        return maps

    def explained_layer(self, row: int | None = None, size: tuple[int, int] | None = None) -> nn.Module:
        """For the whole output, stage 4 (stride 16), which every level's predictions depend on. For one output row
        (of an input `size` (H, W)), the map its level's 1x1 head reads (P3, P4 or C5): that box's score is read
        from there alone, so the map shows where the box was seen."""
        if row is None:
            return self.stage4
        for level, layer in enumerate((self.merge3, self.merge4, self.stage5)):
            count = 3 * math.ceil(size[0] / STRIDES[level]) * math.ceil(size[1] / STRIDES[level])
            if row < count:
                return layer
            row -= count
        raise IndexError("row beyond the network's outputs")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.decode(raw, level) for level, raw in enumerate(self.heads(images))], dim=1)

    def training_losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return YOLOLoss()(self, self.heads(images), targets)

    def decode(self, raw: torch.Tensor, level: int) -> torch.Tensor:
        """One level's raw map -> (B, 3*H*W, 4 + 1 + C) boxes (xyxy pixels) and probabilities."""
        b, a, h, w, _ = raw.shape
        stride = STRIDES[level]
        ys, xs = torch.meshgrid(torch.arange(h, device=raw.device), torch.arange(w, device=raw.device),
                                indexing="ij")
        grid = torch.stack([xs, ys], dim=-1).to(raw.dtype)  # (H, W, 2)
        p = raw.sigmoid()
        centre = (p[..., 0:2] * 2 - 0.5 + grid) * stride
        size = (p[..., 2:4] * 2) ** 2 * self.anchors[level].view(1, a, 1, 1, 2)
        boxes = torch.cat([centre - size / 2, centre + size / 2], dim=-1)
        return torch.cat([boxes, p[..., 4:]], dim=-1).reshape(b, a * h * w, self.outputs)


def target_table(targets: list[dict[str, torch.Tensor]], device: torch.device) -> torch.Tensor:
    """Every image's targets in one (n, 6) table: image, class, cx, cy, w, h (pixels), in the targets' order."""
    return torch.cat([torch.cat([torch.full((len(t["labels"]), 1), float(i), device=device),
                                 t["labels"].to(device).float()[:, None],
                                 box_convert(t["boxes"].to(device).float(), "xyxy", "cxcywh")], 1)
                      for i, t in enumerate(targets)])


class YOLOLoss:
    """CIoU box loss, objectness BCE towards the predicted box's IoU, and sigmoid class BCE at positive anchors."""

    def __init__(self, box_gain: float = 0.5, obj_gain: float = 1.0, cls_gain: float = 0.5,
                 level_balance: tuple[float, ...] = (4.0, 1.0, 0.4)):
        self.box_gain, self.obj_gain, self.cls_gain = box_gain, obj_gain, cls_gain
        self.level_balance = level_balance

    def __call__(self, network: YOLO, maps: list[torch.Tensor],
                 targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """targets: per image {"boxes": (n, 4) xyxy input pixels, "labels": (n,)}. The weighted parts, summed over
        the batch as YOLOv5's (their sum is the loss)."""
        device = maps[0].device
        table = target_table(targets, device)
        box_loss = obj_loss = cls_loss = torch.zeros((), device=device)
        for level, raw in enumerate(maps):
            objectness = torch.zeros(raw.shape[:4], device=device)
            positives = self.assign(table, network.anchors[level], STRIDES[level], raw.shape[2:4])
            if positives is not None:
                image, anchor, gy, gx, target_box, label, _ = positives
                chosen = raw[image, anchor, gy, gx]
                p = chosen.sigmoid()
                stride = STRIDES[level]
                centre = (p[:, 0:2] * 2 - 0.5 + torch.stack([gx, gy], 1)) * stride
                # + a thousandth of a pixel: a saturated sigmoid gives a size whose square underflows, and CIoU's
                # aspect term atan(w / h) then has a NaN gradient that clipping spreads to every weight
                size = (p[:, 2:4] * 2) ** 2 * network.anchors[level][anchor] + 1e-3
                predicted = torch.cat([centre - size / 2, centre + size / 2], 1)
                box_loss = box_loss + complete_box_iou_loss(predicted, target_box, reduction="mean")
                with torch.no_grad():
                    iou = 1 - complete_box_iou_loss(predicted, target_box, reduction="none")
                objectness[image, anchor, gy, gx] = iou.clamp(min=0).to(objectness.dtype)
                if network.num_classes > 1:
                    one_hot = F.one_hot(label, network.num_classes).to(chosen.dtype)
                    cls_loss = cls_loss + F.binary_cross_entropy_with_logits(chosen[:, 5:], one_hot)
            obj_loss = obj_loss + self.level_balance[level] * F.binary_cross_entropy_with_logits(
                raw[..., 4], objectness)
        batch = maps[0].shape[0]
        return {"box": self.box_gain * box_loss * batch, "obj": self.obj_gain * obj_loss * batch,
                "cls": self.cls_gain * cls_loss * batch}

    @staticmethod
    def assign(table: torch.Tensor, anchors: torch.Tensor, stride: int, shape: tuple[int, int]):
        """Each target goes to every anchor of similar shape, in its own cell and the two nearest neighbours.
        -> (image, anchor, gy, gx, xyxy box, class, table row) per positive, or None."""
        if not len(table):
            return None
        height, width = shape
        ratio = table[:, None, 4:6] / anchors[None]  # (n, 3, 2)
        matched = torch.max(ratio, 1 / ratio).max(dim=2).values < ANCHOR_RATIO_LIMIT  # (n, 3)
        target_index, anchor = matched.nonzero(as_tuple=True)
        if not len(target_index):
            return None
        rows = table[target_index]
        centre = rows[:, 2:4] / stride
        fraction = centre % 1
        offsets = [torch.zeros_like(centre)]
        choices = [torch.ones(len(rows), dtype=torch.bool, device=table.device)]
        for axis in (0, 1):
            low = (fraction[:, axis] < 0.5) & (centre[:, axis] > 1)
            high = (fraction[:, axis] > 0.5) & (centre[:, axis] < (width if axis == 0 else height) - 1)
            for keep, step in ((low, -1.0), (high, 1.0)):
                shift = torch.zeros_like(centre)
                shift[:, axis] = step
                offsets.append(shift)
                choices.append(keep)
        cells = torch.cat([(centre + o).long() for o in offsets])
        keep = torch.cat(choices)
        rows, anchor, cells = rows.repeat(len(offsets), 1)[keep], anchor.repeat(len(offsets))[keep], cells[keep]
        target_index = target_index.repeat(len(offsets))[keep]
        gx, gy = cells[:, 0].clamp(0, width - 1), cells[:, 1].clamp(0, height - 1)
        target_box = box_convert(rows[:, 2:6], "cxcywh", "xyxy")
        return rows[:, 0].long(), anchor, gy, gx, target_box, rows[:, 1].long(), target_index
