"""torchvision's detectors (Faster R-CNN with an RPN, RetinaNet, FCOS, SSD, SSDlite) behind the same interface as
our YOLO: forward(images) -> (B, max_det, 4 + 1 + C) rows (box in input pixels, score, one-hot class), and
training_losses(images, targets) -> torchvision's loss dict."""

from functools import partial

import torch
from torch import nn
from torchvision import models
from torchvision.models import detection
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, mobilenet_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from ocularis.models.detector import DetectorNetwork


class TorchvisionDetector(DetectorNetwork):
    """Wraps a torchvision detection model; class k here is label k + 1 there (0 is torchvision's background)."""

    export_refusal = ("torchvision's detectors do not export: torch.export stops at their post-processing, whose "
                      "shapes depend on the data (score filtering and batched NMS keep a varying number of boxes); "
                      "yolo, yolo_s and ssd7 export with NMS outside the graph")

    def __init__(self, model: nn.Module, num_classes: int, max_det: int = 100):
        super().__init__()
        self.model, self.num_classes, self.max_det = model, num_classes, max_det

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return detection_rows(eval_detections(self.model, images), self.num_classes, self.max_det, images)

    def training_losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        shifted = [{"boxes": t["boxes"].float(), "labels": t["labels"] + 1} for t in targets]
        return self.model(list(images), shifted)


def eval_detections(model: nn.Module, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """torchvision's post-processed detections, run in eval mode whatever the model's mode (restored after)."""
    was_training = model.training
    model.eval()
    detections = model(list(images))
    model.train(was_training)
    return detections


def detection_rows(detections: list[dict[str, torch.Tensor]], num_classes: int, max_det: int,
                   like: torch.Tensor) -> torch.Tensor:
    """torchvision's detections -> (B, max_det, 4 + 1 + C) rows: box, score as objectness, one-hot class; the rows
    past an image's detections are zeros (score 0)."""
    rows = like.new_zeros(len(detections), max_det, 5 + num_classes)
    for index, found in enumerate(detections):
        count = min(len(found["boxes"]), max_det)
        rows[index, :count, :4] = found["boxes"][:count]
        rows[index, :count, 4] = found["scores"][:count]
        classes = (found["labels"][:count] - 1).clamp(0, num_classes - 1)
        rows[index, torch.arange(count), 5 + classes] = 1.0
    return rows


def anchor_generator(levels: int) -> AnchorGenerator:
    """Anchors from 24 pixels at stride 8, doubling per level, three scales an octave and three aspect ratios (as
    RetinaNet's; torchvision's start at 32 pixels, fit for 800-pixel photos). On shapes (20-60 pixel objects in
    128-pixel images) 75% of objects find an anchor of IoU >= 0.7, the RPN's positives; with one scale from 16
    pixels, as before, 13% did."""
    sizes = tuple((s, s * 2 ** (1 / 3), s * 2 ** (2 / 3)) for s in (24 * 2**i for i in range(levels)))
    return AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * levels)


FPN_WIDTH = 128  # torchvision's 256 quadruples every FPN and head convolution; 128 trains the seeds' data as well


def resnet_fpn(name: str, p6p7: bool = False) -> BackboneWithFPN:
    """ResNet with an FPN on its stride 8, 16 and 32 stages (skipping stride 4, the dearest level, as RetinaNet
    does), plus P6/P7 (RetinaNet, FCOS) or a max-pooled level (Faster R-CNN)."""
    resnet = getattr(models, name)(weights=None, norm_layer=nn.BatchNorm2d)
    stages = [2, 3, 4]
    widths = [resnet.inplanes // 8 * 2 ** (i - 1) for i in stages]
    extra = LastLevelP6P7(FPN_WIDTH, FPN_WIDTH) if p6p7 else None
    return BackboneWithFPN(resnet, {f"layer{k}": str(v) for v, k in enumerate(stages)}, widths, FPN_WIDTH,
                           extra_blocks=extra)


def light_roi_settings(classes: int, channels: int) -> dict:
    """Faster R-CNN's defaults (2000 proposals, 512 sampled RoIs through a 1024-wide two-layer head) cost ~7 GMAC per
    training image in the head alone, 300 s an epoch of the built-in shapes on a 2-core CPU; images with a few
    objects need far fewer proposals and a narrower head (as torchvision's own mobilenet 320 variant trims them)."""
    width = 256
    return {"rpn_pre_nms_top_n_train": 600, "rpn_post_nms_top_n_train": 300, "rpn_pre_nms_top_n_test": 300,
            "rpn_post_nms_top_n_test": 100, "box_batch_size_per_image": 128,
            "box_head": TwoMLPHead(channels * 7 * 7, width), "box_predictor": FastRCNNPredictor(width, classes)}


def _retinanet_settings(classes: int) -> dict:
    """RetinaNet as torchvision's v2: a GroupNorm head and a GIoU box loss. Trained from scratch, torchvision's v1
    head (no normalisation) swung its class loss and stayed near 0.02 mAP@.5 on shapes whatever the anchors; this head
    reached 0.14 in the same 6 epochs."""
    anchors = anchor_generator(5)
    head = RetinaNetHead(FPN_WIDTH, anchors.num_anchors_per_location()[0], classes,
                         norm_layer=partial(nn.GroupNorm, 32))
    head.regression_head._loss_type = "giou"  # as torchvision's retinanet_resnet50_fpn_v2 sets it
    return {"anchor_generator": anchors, "head": head}


def build(name: str, *, num_classes: int, imgsz: int) -> TorchvisionDetector:
    """torchvision detector `name` for `num_classes` objects at `imgsz` (no resizing inside the model)."""
    sizes = {"min_size": imgsz, "max_size": imgsz}
    classes = num_classes + 1
    if name.startswith("fasterrcnn_resnet"):
        backbone = resnet_fpn(name.split("_")[1])
        model = detection.FasterRCNN(backbone, None, rpn_anchor_generator=anchor_generator(4), **sizes,
                                     **light_roi_settings(classes, backbone.out_channels))
    elif name == "fasterrcnn_mobilenet_v3_large_fpn":
        # torchvision's default levels are two stride-32 maps (blocks 13 and 16), 4 x 4 cells at 128 px: too coarse
        # for small objects (0.04 mAP@.5 on shapes after 10 epochs). Blocks 4, 7 and 13 give strides 8, 16 and 32.
        backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                      trainable_layers=6, norm_layer=nn.BatchNorm2d, returned_layers=[2, 3, 4])
        model = detection.FasterRCNN(backbone, None, rpn_anchor_generator=anchor_generator(4), **sizes,
                                     **light_roi_settings(classes, backbone.out_channels))
    elif name.startswith("retinanet_resnet"):
        model = detection.RetinaNet(resnet_fpn(name.split("_")[1], p6p7=True), classes, **sizes,
                                    **_retinanet_settings(classes))
    elif name.startswith("fcos_resnet"):
        model = detection.FCOS(resnet_fpn(name.split("_")[1], p6p7=True), classes, **sizes)
    elif name == "ssd300_vgg16":
        # SSD's default boxes are laid out for its own input size: it resizes to 300 (320) inside and maps the
        # boxes back, so it runs at its size whatever imgsz is.
        model = detection.ssd300_vgg16(weights=None, weights_backbone=None, num_classes=classes)
    elif name == "ssdlite320_mobilenet_v3_large":
        model = detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=classes,
                                                        norm_layer=nn.BatchNorm2d)
    else:
        raise KeyError(name)
    return TorchvisionDetector(model, num_classes)


NAMES = ("fasterrcnn_resnet18_fpn", "fasterrcnn_resnet50_fpn", "fasterrcnn_mobilenet_v3_large_fpn",
         "retinanet_resnet18_fpn", "fcos_resnet18_fpn", "ssd300_vgg16", "ssdlite320_mobilenet_v3_large")
