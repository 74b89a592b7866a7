"""Gatys, Ecker and Bethge's style transfer (CVPR 2016): the picture itself is optimised, starting from the content
photo (or noise), until its style layers' Gram matrices match the style image's while its content layer stays near
the photo's; total variation keeps it from speckle. L-BFGS as in the paper, or Adam.

Two controls from Gatys et al.'s follow-up ("Controlling perceptual factors in neural style transfer", CVPR 2017):
`preserve_colour` keeps the photo's colours (the stylised luminance over the photo's chroma, in YCbCr), and `mask`
limits the style to a region (the Gram matrices are taken over the mask's positions only, and the result outside it
is the photo)."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from ocularis.core.image_result import Images
from ocularis.core.images import read_picture, resized
from ocularis.errors import ConfigError
from ocularis.tasks.style.features import (
    FeatureNetwork,
    Weights,
    content_loss,
    feature_network,
    gram,
    style_loss,
    total_variation,
)

LANCZOS = Image.Resampling.LANCZOS  # the sharpest downscale for photos and paintings
GATYS_WEIGHTS = Weights(content=1.0, style=10.0, tv=1.0)


@dataclass
class Stylised:
    """The result (an Images: the stylised picture, the photo as `before`, the final losses as scores), the losses
    every `log_every` evaluations, and the feature network they were measured on."""

    result: Images
    history: list[dict[str, float]] = field(repr=False)
    features: str

    @property
    def style_drop(self) -> float:
        """How many times smaller the style loss ended than it started."""
        return self.history[0]["style"] / max(self.history[-1]["style"], 1e-12)

    def to_json(self) -> dict[str, Any]:
        return {"features": self.features, "style_drop": self.style_drop, "first": self.history[0],
                "last": self.history[-1], "history": self.history}


def as_tensor(picture: Image.Image) -> torch.Tensor:
    """(1, C, H, W) in 0..1."""
    return (pil_to_tensor(picture)[None].float() / 255).contiguous()


def gatys(content: Any, style: Any, features: str | FeatureNetwork = "random", *, size: int = 256, steps: int = 200,
          optimizer: str = "lbfgs", weights: Weights = GATYS_WEIGHTS, init: str = "content",
          preserve_colour: bool = False, mask: Any = None, seed: int = 0, log_every: int = 10) -> Stylised:
    """Stylise the photo `content` after the picture `style` (each a path, PIL image or array) at `size` pixels on
    its longer side, by `steps` evaluations of the losses on the feature network `features` (a name or path, see
    ocularis.tasks.style.features, or a FeatureNetwork)."""
    if optimizer not in ("lbfgs", "adam") or init not in ("content", "noise"):
        raise ConfigError(f"optimizer {optimizer!r}, init {init!r}: choose lbfgs or adam, and content or noise")
    if steps < 1:
        raise ConfigError(f"--steps {steps}: at least one step")
    network = feature_network(features) if isinstance(features, str) else features
    photo = resized(read_picture(content), size, LANCZOS)
    painting = resized(read_picture(style), size, LANCZOS)
    region = None if mask is None else as_tensor(read_picture(mask, "L").resize(photo.size))
    target = as_tensor(photo)
    with torch.no_grad():
        style_targets = [gram(f) for f in network(as_tensor(painting))[0]]
        content_targets = network(target)[1]
    image = target.clone() if init == "content" else \
        torch.rand(target.shape, generator=torch.Generator().manual_seed(seed))
    image.requires_grad_(True)
    history: list[dict[str, float]] = []

    def closure() -> torch.Tensor:
        with torch.no_grad():
            image.clamp_(0, 1)
        solver.zero_grad()
        style_part, content_part = network(image)
        losses = (style_loss(style_part, style_targets, region), content_loss(content_part, content_targets),
                  total_variation(image))
        total = weights.total(*losses).sum()
        total.backward()
        if len(history) == 0 or evaluations[0] % log_every == 0:
            history.append({"step": evaluations[0], **{k: float(v.detach()) for k, v in zip(
                ("style", "content", "tv"), losses, strict=True)}, "total": float(total.detach())})
        evaluations[0] += 1
        return total

    evaluations = [0]
    if optimizer == "lbfgs":
        solver = torch.optim.LBFGS([image], lr=1, max_iter=steps, max_eval=steps, history_size=50,
                                   tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")
        solver.step(closure)
    else:
        solver = torch.optim.Adam([image], lr=0.02)
        for _ in range(steps):
            solver.step(closure)
    with torch.no_grad():
        image.clamp_(0, 1)
        style_part, content_part = network(image)
        final = [float(style_loss(style_part, style_targets, region)),
                 float(content_loss(content_part, content_targets)), float(total_variation(image))]
    history.append({"step": evaluations[0], "style": final[0], "content": final[1], "tv": final[2],
                    "total": float(weights.total(*map(torch.tensor, final)))})
    if region is not None:  # outside the region the photo stays as it was
        image = region * image + (1 - region) * target
    picture = Image.fromarray(as_array(image[0]))
    if preserve_colour:
        picture = keep_colours(picture, photo)
    name = content if isinstance(content, str | Path) else "content"
    scores = {"style_loss": final[0], "content_loss": final[1],
              "style_drop": history[0]["style"] / max(final[0], 1e-12)}
    return Stylised(Images(str(name), np.asarray(picture), np.asarray(photo), scores), history, network.name)


def keep_colours(stylised: Image.Image, photo: Image.Image) -> Image.Image:
    """The stylised luminance with the photo's chroma (YCbCr): the style's strokes in the photo's colours."""
    luma = stylised.convert("YCbCr").split()[0]
    _, blue, red = photo.resize(stylised.size).convert("YCbCr").split()
    return Image.merge("YCbCr", (luma, blue, red)).convert("RGB")


def as_array(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in 0..1 -> (H, W, 3) uint8."""
    return (image.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
