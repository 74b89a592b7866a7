"""torchvision's Mask R-CNN (He et al. 2017) behind the instance contract of ocularis.models.segmenter.

Mask R-CNN is Faster R-CNN plus a small fully convolutional head that predicts, for each positive RoI, one 28 x 28
binary mask per class from RoIAlign'ed 14 x 14 features; only the ground-truth class's mask enters the loss, so masks
never compete across classes (the paper's decoupling of mask and class). The backbone, anchors and proposal budgets
are the ones that made Faster R-CNN train from scratch on a 2-core CPU (ocularis.models.torchvision_detectors).

forward maps torchvision's kept detections to the contract: rows (B, D, 4 + 1 + C) with the detection's score as
objectness and a one-hot class (as TorchvisionDetector), D = box_detections_per_img, padded with zero rows;
prototypes (B, D, H/4, W/4) each detection's own mask logits over the whole input; coefficients the identity, so
coefficients @ prototypes hands each row its mask.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import detection
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from ocularis.errors import ConfigError
from ocularis.models.record import ModelRecord
from ocularis.models.segmenter import InstanceNetwork
from ocularis.models.torchvision_detectors import (
    anchor_generator,
    detection_rows,
    eval_detections,
    light_roi_settings,
    resnet_fpn,
)

MASK_WIDTH = 128  # torchvision's head is 4 convs x 256 (462 MMAC per RoI); 2 x 128 costs 58 MMAC
MASK_CONVS = 2
PROTOTYPE_STRIDE = 4
PROBABILITY_FLOOR = 1e-4  # logit(1e-4) = -9.2: where torchvision's pasted mask is 0 (outside the box), and padding


class MaskRCNNSegmenter(InstanceNetwork):
    """Wraps a torchvision MaskRCNN; class k here is label k + 1 there (0 is torchvision's background)."""

    export_refusal = ("torchvision's Mask R-CNN does not export: torch.export stops at its post-processing, whose "
                      "shapes depend on the data (score filtering and batched NMS keep a varying number of boxes), "
                      "and a trace would freeze the detection count of the example images")

    def __init__(self, model: detection.MaskRCNN, num_classes: int):
        super().__init__()
        self.model, self.num_classes = model, num_classes
        self.max_det = model.roi_heads.detections_per_img

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prototypes are the logits of torchvision's masks: its eval output is each detection's probabilities,
        already pasted into the input frame at full size (bilinear from 28 x 28 inside the box, 0 outside);
        area-averaged down to H/4 x W/4 and clamped to PROBABILITY_FLOOR, their logits threshold at 0.5 where
        torchvision's do, to within the 4x downsampling."""
        detections = eval_detections(self.model, images)
        rows = detection_rows(detections, self.num_classes, self.max_det, images)
        size = (images.shape[-2] // PROTOTYPE_STRIDE, images.shape[-1] // PROTOTYPE_STRIDE)
        probabilities = images.new_zeros(len(images), self.max_det, *size)
        for index, found in enumerate(detections):
            count = min(len(found["masks"]), self.max_det)
            if count:
                probabilities[index, :count] = F.interpolate(found["masks"][:count], size=size, mode="area")[:, 0]
        prototypes = probabilities.clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR).logit()
        coefficients = torch.eye(self.max_det, dtype=images.dtype, device=images.device).expand(len(images), -1, -1)
        return rows, coefficients, prototypes

    def training_losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """torchvision's five losses: RPN objectness and box, RoI class and box, and the per-class mask BCE."""
        shifted = [{"boxes": t["boxes"].float(), "labels": t["labels"] + 1, "masks": t["masks"]} for t in targets]
        return self.model(list(images), shifted)


class KeepSize(GeneralizedRCNNTransform):
    """torchvision's input transform without its resize: the task hands the network images at the pixels it trains
    on (crops in training, whole images or tiles after), where torchvision would scale each to min_size."""

    def resize(self, image: torch.Tensor, target=None):
        return image, target


def build_mask_rcnn(backbone: str, num_classes: int, imgsz: int) -> MaskRCNNSegmenter:
    """Mask R-CNN on a from-scratch ResNet FPN, Faster R-CNN's CPU budgets, a slimmer mask head and no resizing
    (KeepSize: the task already sized the images)."""
    fpn = resnet_fpn(backbone)
    classes = num_classes + 1
    model = detection.MaskRCNN(fpn, None, min_size=imgsz, max_size=imgsz, rpn_anchor_generator=anchor_generator(4),
                               mask_head=MaskRCNNHeads(fpn.out_channels, [MASK_WIDTH] * MASK_CONVS, 1),
                               mask_predictor=MaskRCNNPredictor(MASK_WIDTH, MASK_WIDTH, classes),
                               **light_roi_settings(classes, fpn.out_channels))
    model.transform = KeepSize(imgsz, imgsz, model.transform.image_mean, model.transform.image_std)
    return MaskRCNNSegmenter(model, num_classes)


def _build_resnet18(*, num_classes: int, in_channels: int, imgsz: int, box_sizes: np.ndarray | None = None,
                    seed: int = 0) -> InstanceNetwork:
    """torchvision's Mask R-CNN, ResNet-18 FPN, trained from scratch with a 2 x 128 mask head."""
    if in_channels != 3:
        raise ConfigError(f"maskrcnn_resnet18_fpn takes RGB images; the data has {in_channels} channel(s)")
    return build_mask_rcnn("resnet18", num_classes, imgsz)


RECORDS = {"maskrcnn_resnet18_fpn": ModelRecord(_build_resnet18, imgsz=128, lr=1e-3)}  # the torchvision detectors' rate
