"""torchvision's semantic segmentation models (DeepLabV3, LR-ASPP, FCN) untrained, as SemanticNetworks.

torchvision's builders return {"out": logits, "aux": ...}, already upsampled (bilinear) to the input's size; the
wrapper returns "out" alone and is built without the auxiliary head (aux_loss=False), so export writes one tensor.
Every builder takes weights=None and weights_backbone=None: nothing is downloaded, and the backbones train from
scratch.

Grey (1-channel) images: the first convolution is replaced by one taking the data's channels
(ocularis.models.network.replace_input_channels, which sums RGB filters into a grey one, so it also suits weights
loaded later), rather than repeating the grey channel three times, which would triple that convolution's work for no
information. The backbones are ImageNet ResNets and MobileNets, which take ImageNet-normalised RGB: RECORDS give
each model's mean and std (for grey images, ImageNet's channel average).

DeepLab (seed 000: multi-scale, atrous convolutions) keeps resolution by dilating the last stages instead of striding
them: the ResNets here run at output stride 8, the MobileNets at 16, which is each wrapper's `stride`. Their
image-pooling branches (ASPP's, LR-ASPP's) pool to 1x1; DeepLabV3's then batch-normalises it, so DeepLabV3 cannot
train on batches of a single image.
"""

from collections.abc import Callable

import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models import segmentation as tv_segmentation
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3

from ocularis.models.network import normalisation, replace_input_channels
from ocularis.models.record import ModelRecord
from ocularis.models.segmenter import SemanticNetwork


class TorchvisionSegmenter(SemanticNetwork):
    """A torchvision segmentation model returning its "out" logits; `stride` is its backbone's output stride."""

    def __init__(self, model: nn.Module, stride: int):
        super().__init__()
        self.model = model
        self.stride = stride  # an instance value: it depends on the backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)["out"]


def adapt_input(model: nn.Module, in_channels: int) -> nn.Module:
    """Make the model's first convolution take `in_channels` (the replacement, not a repeated channel)."""
    path = next(name for name, module in model.named_modules() if isinstance(module, nn.Conv2d))
    parent, _, attribute = path.rpartition(".")
    owner = model.get_submodule(parent)
    setattr(owner, attribute, replace_input_channels(getattr(owner, attribute), in_channels))
    return model


def dilate(layer: nn.Sequential, dilation: int) -> None:
    """Turn a ResNet stage's stride 2 into dilation (the DeepLab way of keeping resolution): strides become 1 and
    every 3x3 convolution samples `dilation` pixels apart. torchvision's replace_stride_with_dilation does this for
    Bottleneck stages only; its BasicBlock (ResNet-18/34) refuses dilation, so this edits the built stage."""
    for module in layer.modules():
        if isinstance(module, nn.Conv2d):
            module.stride = (1, 1)
            if module.kernel_size == (3, 3):
                module.dilation, module.padding = (dilation, dilation), (dilation, dilation)


# ASPP's rates for the slim model: DeepLabV3 uses 12, 24, 36 at output stride 8 on 513-pixel crops (65x65 maps); a
# rate beyond the map leaves only the filter's centre tap on real pixels, so on 128-pixel crops (16x16 maps) the rates
# scale by ~1/4.
SLIM_ATROUS_RATES = (3, 6, 9)


def deeplabv3_resnet18(*, num_classes: int, in_channels: int) -> TorchvisionSegmenter:
    """DeepLabV3 on a dilated ResNet-18 (output stride 8, ASPP rates 3-6-9 for small crops): the one for CPUs."""
    backbone = resnet18(weights=None)
    for layer, dilation in ((backbone.layer3, 2), (backbone.layer4, 4)):
        dilate(layer, dilation)
    body = IntermediateLayerGetter(backbone, return_layers={"layer4": "out"})
    model = DeepLabV3(body, DeepLabHead(512, num_classes, atrous_rates=SLIM_ATROUS_RATES))
    return TorchvisionSegmenter(adapt_input(model, in_channels), stride=8)


def _torchvision(name: str, stride: int, aux: bool = True) -> Callable[..., TorchvisionSegmenter]:
    def build(*, num_classes: int, in_channels: int) -> TorchvisionSegmenter:
        extra = {"aux_loss": False} if aux else {}  # LR-ASPP has no auxiliary head to turn off
        model = getattr(tv_segmentation, name)(weights=None, weights_backbone=None, num_classes=num_classes, **extra)
        return TorchvisionSegmenter(adapt_input(model, in_channels), stride=stride)

    build.__doc__ = f"torchvision's {name} (output stride {stride}), untrained."
    build.__name__ = name
    return build


_BUILDERS: dict[str, Callable[..., TorchvisionSegmenter]] = {
    "deeplabv3_resnet50": _torchvision("deeplabv3_resnet50", 8),
    "deeplabv3_mobilenet_v3_large": _torchvision("deeplabv3_mobilenet_v3_large", 16),
    "lraspp_mobilenet_v3_large": _torchvision("lraspp_mobilenet_v3_large", 16, aux=False),
    "fcn_resnet50": _torchvision("fcn_resnet50", 8),
    "deeplabv3_resnet18": deeplabv3_resnet18,
}

# torchvision's weights take ImageNet-normalised RGB (their transforms' mean and std); grey: the channels' average.
_MEAN, _STD = normalisation(3, imagenet=True)
RECORDS = {name: ModelRecord(build, imgsz=128, lr=1e-3, mean=tuple(_MEAN), std=tuple(_STD))
           for name, build in _BUILDERS.items()}
