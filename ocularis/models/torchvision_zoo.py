"""torchvision's classification families, adapted to any class count, channel count and input size."""

from dataclasses import dataclass

import torchvision
from torch import nn

from ocularis.models.network import Network, normalisation, replace_input_channels
from ocularis.models.weights import load_torchvision_weights


@dataclass(frozen=True)
class Family:
    head: str  # dotted path of the final Linear (or 1x1 conv classifier for SqueezeNet)
    first_conv: str  # dotted path of the input convolution
    min_size: int  # smallest input the architecture's down-sampling survives
    default_size: int = 224


FAMILIES = {
    "alexnet": Family("classifier.6", "features.0", 63),
    "vgg11": Family("classifier.6", "features.0", 32),
    "vgg16": Family("classifier.6", "features.0", 32),
    "resnet18": Family("fc", "conv1", 32),
    "resnet50": Family("fc", "conv1", 32),
    "inception_v3": Family("fc", "Conv2d_1a_3x3.conv", 75, 299),
    "squeezenet1_1": Family("classifier.1", "features.0", 32),
    "densenet121": Family("classifier", "features.conv0", 32),
    "mobilenet_v2": Family("classifier.1", "features.0.0", 32),
    "mobilenet_v3_small": Family("classifier.3", "features.0.0", 32),
    "mobilenet_v3_large": Family("classifier.3", "features.0.0", 32),
}


def torchvision_classifier(name: str, *, num_classes: int, in_channels: int, weights: str | None = None) -> Network:
    """torchvision's `name` with optional ImageNet-format weights, then a new input conv and a new head."""
    family = FAMILIES[name]
    extra = {"aux_logits": True, "init_weights": False} if name == "inception_v3" else {}
    model = getattr(torchvision.models, name)(weights=None, **extra)
    if weights:
        load_torchvision_weights(model, weights, name)
    if name == "inception_v3":  # the auxiliary classifier only exists to load the published weights
        model.AuxLogits, model.aux_logits = None, False
    _set(model, family.first_conv, replace_input_channels(_get(model, family.first_conv), in_channels))
    old_head = _get(model, family.head)
    if isinstance(old_head, nn.Conv2d):  # SqueezeNet classifies with a 1x1 conv; pool first, then a Linear head
        model.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        width = old_head.in_channels
    else:
        width = old_head.in_features
        _set(model, family.head, nn.Identity())
    mean, std = normalisation(in_channels, imagenet=True)
    return Network(model, nn.Linear(width, num_classes), min_size=family.min_size, default_size=family.default_size,
                   mean=mean, std=std)


def _get(module: nn.Module, path: str) -> nn.Module:
    return module.get_submodule(path)


def _set(module: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, name, new)
