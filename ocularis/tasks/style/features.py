"""What style transfer measures an image by: a feature network's activations at a few style layers (their Gram
matrices: which features occur together, wherever they are) and one content layer (the features in place), and the
losses on them (Gatys, Ecker and Bethge 2016; Johnson et al. 2016).

The feature network is named by `--features`: `random` (a VGG-shaped stack of random filters, fixed by a seed:
ocularis.models.stylers.random_features), a VGG-16 or VGG-19 weights file (torchvision's state dict, as
`torch.save(vgg19(weights=...).state_dict())` writes it: no ImageNet weights download here), or any ocularis checkpoint
whose network has convolutions (a classifier trained on similar photos): its style layers are the last convolution at
each resolution, its content layer the one at the second-deepest.

Each loss is relative, divided by its target's mean square, so one set of weights suits every feature network (an
absolute Gram loss differs by orders of magnitude between VGG and a random stack)."""

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ocularis.errors import ConfigError
from ocularis.models.stylers import RANDOM_LAYERS, VGG_LAYERS, random_features

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class _Enough(Exception):
    """Raised by the last hook: the layers after it are not needed (and a classifier's fixed-size head may not
    even accept the image)."""


class FeatureNetwork(nn.Module):
    """RGB images in 0..1 -> (style activations, content activations) of the named layers of `body`, frozen."""

    def __init__(self, body: nn.Module, style: list[str], content: list[str], mean, std, channels: int, name: str):
        super().__init__()
        self.body, self.style_layers, self.content_layers, self.name = body.eval(), style, content, name
        self.channels = channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        for parameter in self.body.parameters():
            parameter.requires_grad_(False)
        modules = dict(body.named_modules())
        self._wanted = [*dict.fromkeys(style + content)]
        for name in self._wanted:
            modules[name].register_forward_hook(self._keep(name))
        self._found: dict[str, torch.Tensor] = {}

    def _keep(self, name: str):
        def hook(module, inputs, output):
            self._found[name] = output
            if len(self._found) == len(self._wanted):
                raise _Enough
        return hook

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if self.channels == 1:
            images = images.mean(dim=1, keepdim=True)
        self._found = {}
        with contextlib.suppress(_Enough):
            self.body((images - self.mean) / self.std)
        found, self._found = self._found, {}
        return [found[n] for n in self.style_layers], [found[n] for n in self.content_layers]

    def train(self, mode: bool = True) -> "FeatureNetwork":
        return super().train(False)  # always as in evaluation (batch norm statistics fixed)


def feature_network(features: str) -> FeatureNetwork:
    """The feature network `features` names: "random" or "random:SEED", a VGG-16/19 weights file, or an ocularis
    checkpoint."""
    if features == "random" or features.startswith("random:"):
        seed = features.partition(":")[2] or "0"
        if not seed.isdigit():
            raise ConfigError(f"--features {features}: a random feature network is named random or random:SEED")
        return _sequential(random_features(int(seed)), RANDOM_LAYERS, (0.5,) * 3, (0.25,) * 3, 3,
                           f"random VGG-shaped filters (seed {seed}; no trained weights)")
    path = Path(features)
    if not path.is_file():
        raise ConfigError(f"--features {features}: no such file; give random, a VGG-16/19 weights file or an "
                          "ocularis checkpoint")
    return _from_checkpoint(path) if path.suffix == ".ckpt" else _vgg(path)


def _sequential(body: nn.Sequential, layers: dict, mean, std, channels: int, name: str) -> FeatureNetwork:
    last = max(layers["style"] + layers["content"])
    return FeatureNetwork(body[:last + 1], [str(i) for i in layers["style"]], [str(i) for i in layers["content"]],
                          mean, std, channels, name)


def _vgg(path: Path) -> FeatureNetwork:
    """VGG-16 or VGG-19 from a torchvision state dict (which of the two: by the number of its convolutions)."""
    from torchvision.models import vgg16, vgg19

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same answer
        raise ConfigError(f"--features {path}: not a weights file torch can read ({type(error).__name__})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    convolutions = sum(1 for key in state if key.startswith("features.") and key.endswith(".weight"))
    kind = {13: "vgg16", 16: "vgg19"}.get(convolutions)
    if kind is None:
        raise ConfigError(f"--features {path}: not a VGG-16 or VGG-19 state dict ({convolutions} convolutions under "
                          "features.*); give torchvision's vgg16/vgg19 state_dict(), an ocularis checkpoint, or "
                          "random")
    network = (vgg16 if kind == "vgg16" else vgg19)()
    network.load_state_dict(state)
    return _sequential(network.features, VGG_LAYERS[kind], IMAGENET_MEAN, IMAGENET_STD, 3,
                       f"{kind.upper()} from {path.name}")


def _from_checkpoint(path: Path) -> FeatureNetwork:
    """An ocularis model's convolutions: style at the last of each resolution (five at most, shallowest first),
    content at the second-deepest of those, found by a probe image at the model's size."""
    from ocularis.engine.loading import load_model

    model = load_model(path)
    network = model.network
    if not isinstance(network, nn.Module):
        raise ConfigError(f"--features {path}: an exported file has no layers to read; give its best.ckpt")
    convolutions = [name for name, module in network.named_modules() if isinstance(module, nn.Conv2d)]
    if not convolutions:
        raise ConfigError(f"--features {path}: its network ({model.meta['model']}) has no convolutions to read")
    pixels = model.pixels
    sides: dict[str, int] = {}

    def measure(name: str):
        def hook(module, inputs, output) -> None:
            sides.setdefault(name, output.shape[-1])
        return hook

    modules = dict(network.named_modules())
    hooks = [modules[name].register_forward_hook(measure(name)) for name in convolutions]
    side = pixels.imgsz or 128
    with torch.no_grad():
        network.eval()(torch.zeros(1, pixels.channels, side, side))
    for hook in hooks:
        hook.remove()
    last_at: dict[int, str] = {}
    for name in convolutions:
        if name in sides:
            last_at[sides[name]] = name
    style = list(last_at.values())[:5]
    content = [style[max(0, len(style) - 2)]]
    return FeatureNetwork(network, style, content, pixels.mean, pixels.std, pixels.channels,
                          f"{model.meta['model']} from {path.name} (layers {', '.join(style)}; content {content[0]})")


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, C) which channels fire together, averaged over positions (over the mask's, weighted, given one)."""
    flat = features.flatten(2)
    if mask is None:
        return flat @ flat.transpose(1, 2) / flat.shape[-1]
    weights = F.interpolate(mask, size=features.shape[-2:], mode="bilinear", align_corners=False).flatten(2)
    weighted = flat * weights
    return weighted @ flat.transpose(1, 2) / weights.sum(dim=-1, keepdim=True).clamp(min=1e-6)


def relative(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the target's mean square, per batch item."""
    dims = tuple(range(1, value.dim()))
    return (value - target).square().mean(dims) / target.square().mean(dims).clamp(min=1e-12)


def style_loss(style: list[torch.Tensor], targets: list[torch.Tensor],
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) the Gram matrices' relative error, averaged over the style layers."""
    return torch.stack([relative(gram(f, mask), t.expand(len(f), -1, -1))
                        for f, t in zip(style, targets, strict=True)]).mean(0)


def content_loss(content: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    """(B,) the content layers' relative error."""
    return torch.stack([relative(f, t) for f, t in zip(content, targets, strict=True)]).mean(0)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """(B,) mean squared difference between neighbouring pixels: what keeps an optimised image from speckle."""
    return ((images[..., 1:, :] - images[..., :-1, :]).square().mean((1, 2, 3))
            + (images[..., :, 1:] - images[..., :, :-1]).square().mean((1, 2, 3)))


@dataclass(frozen=True)
class Weights:
    """How much each loss counts."""

    content: float
    style: float
    tv: float

    def total(self, style: torch.Tensor, content: torch.Tensor, tv: torch.Tensor) -> torch.Tensor:
        return self.style * style + self.content * content + self.tv * tv
