"""Where a network looks: one heat map per input, (B, H, W) in [0, 1] at the input's size, for the scalar an
ExplainTarget picks from the network's raw outputs.

Class activation maps read one layer's activations A (B, K, h, w):
- `cam` (Zhou et al. 2016): the target class's weights of a global-pooling + linear head, summed over A's channels;
  only defined for such heads.
- `gradcam` (Selvaraju et al. 2017, captum's LayerGradCam): channel weights are the spatial mean of the score's
  gradient; for a pooling + linear head that is CAM up to a positive factor, so it generalises CAM to any network.
- `gradcam++` (Chattopadhyay et al. 2018): weights from the positive gradients, each pixel weighted by second- and
  third-order terms (the paper's closed form for an exponentiated score), which spreads the map over several objects.
- `scorecam` (Wang et al. 2020): no gradients; each channel, upsampled and scaled to [0, 1], masks the input, and the
  softmax over channels of the masked inputs' scores weighs the channels.

Attributions (captum) give every input pixel a value: `saliency` (|gradient|, Simonyan et al. 2014),
`guided_backprop` (Springenberg et al. 2015), `integrated_gradients` (Sundararajan et al. 2017, from a black image)
and `occlusion` (Zeiler & Fergus 2014: the score's drop when a grey patch covers each place).

`grad-cam` (pytorch-grad-cam) is not used: it requires opencv-python-headless, whose cv2 would overwrite the
opencv-contrib build that selective search (ximgproc) needs; captum has Grad-CAM, the rest is written here.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ocularis.errors import ConfigError
from ocularis.explain import ATTRIBUTIONS, CAMS
from ocularis.explain.target import ExplainTarget

SCORECAM_CHUNK = 32  # masked inputs per forward pass


class Scored(nn.Module):
    """network -> every candidate's scalar (B, K): the form captum attributes, with the chosen index as its target
    (captum repeats the target when it expands the batch, as integrated gradients' steps do)."""

    def __init__(self, network: nn.Module, scores: Callable):
        super().__init__()
        self.network, self.scores = network, scores

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.scores(self.network(images))


def heat_maps(method: str, network: nn.Module, layer: nn.Module | None, target: ExplainTarget, images: torch.Tensor,
              baseline: torch.Tensor, progress: bool = False) -> torch.Tensor:
    """(B, H, W) in [0, 1] for `method`, class activation maps read at `layer` (or where the target says each
    input's score is read: target.layers). `baseline` (C, 1, 1) is a black image in the network's normalisation (what
    Score-CAM's masks, occlusion's patches and integrated gradients' path start from)."""
    scored = Scored(network, target.scores).eval()
    if method in ATTRIBUTIONS:
        return _scaled(_attribution(method, scored, target.index, images, baseline, progress).detach())
    if method not in CAMS:
        raise ConfigError(f"unknown heat-map method {method!r}; choose one of {', '.join(CAMS + ATTRIBUTIONS)}")
    layers = target.layers or [layer] * len(images)
    if any(chosen is None for chosen in layers):
        raise ConfigError(f"{method} reads a layer's activations, and this model declares none to read; pass "
                          "--layer NAME, or use occlusion or saliency")
    cam = {"cam": _cam, "gradcam": _gradcam, "gradcam++": _gradcam_plus_plus, "scorecam": _scorecam}[method]
    maps = images.new_zeros(images.shape[0], *images.shape[-2:])
    for chosen in {id(c): c for c in layers}.values():  # inputs explained at the same layer go together
        rows = [i for i, c in enumerate(layers) if c is chosen]
        found = cam(scored, chosen, target.subset(rows), images[rows], baseline)
        maps[rows] = F.interpolate(found, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return _scaled(maps.detach())


def _activations(scored: Scored, layer: nn.Module, images: torch.Tensor, index: torch.Tensor, gradients: bool):
    """`layer`'s output for `images` and (with `gradients`) the chosen scores' gradients with respect to it."""
    kept: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, output: kept.append(output))
    try:
        with torch.set_grad_enabled(gradients):
            scores = scored(images).gather(1, index[:, None]).squeeze(1)
    finally:
        handle.remove()
    activation = kept[-1]
    if not gradients:
        return activation, None
    return activation.detach(), torch.autograd.grad(scores.sum(), activation)[0]


def _cam(scored, layer, target, images, baseline) -> torch.Tensor:
    if target.class_weights is None:
        raise ConfigError("cam reads the target class's weights of a global-pooling + linear head, which this model "
                          "lacks; use gradcam, which is CAM for such heads and works for any network")
    activation, _ = _activations(scored, layer, images, target.index, gradients=False)
    if activation.shape[1] != target.class_weights.shape[1]:
        raise ConfigError(f"cam: the head has {target.class_weights.shape[1]} weights per class but the layer "
                          f"{activation.shape[1]} channels; use gradcam")
    return F.relu(torch.einsum("bk,bkhw->bhw", target.class_weights, activation))[:, None]


def _gradcam(scored, layer, target, images, baseline) -> torch.Tensor:
    from captum.attr import LayerGradCam

    return LayerGradCam(scored, layer).attribute(images, target=target.index, relu_attributions=True)


def _gradcam_plus_plus(scored, layer, target, images, baseline) -> torch.Tensor:
    activation, gradient = _activations(scored, layer, images, target.index, gradients=True)
    squared = gradient.pow(2)
    denominator = 2 * squared + activation.sum(dim=(2, 3), keepdim=True) * gradient.pow(3)
    alpha = torch.where(denominator != 0, squared / denominator, torch.zeros_like(squared))
    weights = (alpha * F.relu(gradient)).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * activation).sum(dim=1, keepdim=True))


def _scorecam(scored, layer, target, images, baseline) -> torch.Tensor:
    with torch.no_grad():
        activation, _ = _activations(scored, layer, images, target.index, gradients=False)
        masks = F.interpolate(activation, size=images.shape[-2:], mode="bilinear", align_corners=False)
        low = masks.amin(dim=(2, 3), keepdim=True)
        masks = (masks - low) / (masks.amax(dim=(2, 3), keepdim=True) - low).clamp(min=1e-8)
        maps = []
        for image, image_masks, choice in zip(images, masks, target.index, strict=True):
            scores = []
            for chunk in image_masks.split(SCORECAM_CHUNK):
                masked = baseline + (image - baseline) * chunk[:, None]
                scores.append(scored(masked)[:, choice])
            weights = torch.cat(scores).softmax(dim=0)
            maps.append(F.relu((weights[:, None, None] * activation[len(maps)]).sum(dim=0)))
    return torch.stack(maps)[:, None]


def _attribution(method, scored, index, images, baseline, progress) -> torch.Tensor:
    from captum.attr import GuidedBackprop, IntegratedGradients, Occlusion, Saliency

    images = images.clone().requires_grad_(True)
    black = baseline.expand_as(images[0])[None].expand_as(images).contiguous()
    if method == "saliency":
        return Saliency(scored).attribute(images, target=index, abs=True).amax(dim=1)
    if method == "guided_backprop":
        with _no_inplace_relu(scored):
            return GuidedBackprop(scored).attribute(images, target=index).abs().amax(dim=1)
    if method == "integrated_gradients":
        found = IntegratedGradients(scored).attribute(images, baselines=black, target=index, n_steps=32,
                                                      internal_batch_size=64)
        return found.abs().sum(dim=1)
    side = max(4, min(images.shape[-2:]) // 8)  # a patch an eighth of the image wide, moved half a patch a step
    found = Occlusion(scored).attribute(images, sliding_window_shapes=(images.shape[1], side, side),
                                        strides=(images.shape[1], side // 2, side // 2), baselines=black,
                                        target=index, perturbations_per_eval=32, show_progress=progress)
    return F.relu(found.mean(dim=1))


class _no_inplace_relu:
    """Guided backpropagation replaces ReLU's backward through module hooks, which in-place ReLUs defeat."""

    def __init__(self, module: nn.Module):
        self.relus = [m for m in module.modules() if isinstance(m, nn.ReLU) and m.inplace]

    def __enter__(self):
        for relu in self.relus:
            relu.inplace = False

    def __exit__(self, *_):
        for relu in self.relus:
            relu.inplace = True


def _scaled(maps: torch.Tensor) -> torch.Tensor:
    """Each map divided by its maximum (all maps here are >= 0), so 1 is the most important place."""
    maps = maps.float().clamp(min=0)
    return maps / maps.flatten(1).amax(dim=1).clamp(min=1e-12)[:, None, None]
