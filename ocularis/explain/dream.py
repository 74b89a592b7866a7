"""Pictures a network wants to see: DeepDream and activation maximisation, by gradient ascent on the input.

DeepDream (Mordvintsev et al. 2015) starts from a photograph and amplifies whatever a layer already responds to in it,
over an image pyramid so that patterns grow at several scales. Activation maximisation (Simonyan et al. 2014) starts
from faint noise and climbs a score (a class logit, a filter's mean activation); the regularisers of Yosinski et al.
2015 (L2 decay, periodic Gaussian blur, jitter) keep the result from turning into high-frequency adversarial noise.

Both work on [0, 1] pixels internally, so the valid range is a plain clamp, and take and return images normalised by
(x - mean) / std per channel, as the network sees them. They know no task: any nn.Module, any layer inside it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms.functional import gaussian_blur

from ocularis.errors import ConfigError
from ocularis.explain.common import device_of, evaluating, normalisation

__all__ = ["deepdream", "maximise", "filter_score"]

_BLUR_KERNEL = 3
_BLUR_SIGMA = 0.5
_START_NOISE = 0.02  # pixel units: faint enough to carry no pattern of its own


@contextlib.contextmanager
def _capture(layer: nn.Module) -> Iterator[dict]:
    """Hold `layer`'s output from the next forward pass, for as long as the block runs; the hook is removed after."""
    held: dict = {}

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        tensor = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(tensor, Tensor):
            raise ConfigError(f"the layer {type(module).__name__} does not output a tensor")
        # A copy, because an in-place activation after the layer (ReLU(inplace=True)) would rewrite the output.
        held["output"] = tensor.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield held
    finally:
        handle.remove()


def _output_of(held: dict, layer: nn.Module) -> Tensor:
    if "output" not in held:
        raise ConfigError(f"the layer {type(layer).__name__} did not run in the network's forward pass; "
                          "pass a module that is part of this network")
    return held.pop("output")


def _shifts(generator: torch.Generator, limit: int) -> tuple[int, int]:
    """A random roll of up to `limit` pixels each way, so the ascent cannot lock patterns onto the pixel grid."""
    if limit < 1:
        return 0, 0
    dy, dx = torch.randint(-limit, limit + 1, (2,), generator=generator).tolist()
    return int(dy), int(dx)


def _ascent_step(pixels: Tensor, objective: Callable[[Tensor], Tensor], lr: float, shifts: tuple[int, int]) -> Tensor:
    """One normalised gradient-ascent step on [0, 1] pixels, the objective seeing the jittered image.

    The gradient is divided by its mean magnitude, so `lr` is the average pixel change per step whatever the
    objective's scale; the roll is part of the graph, so the gradient comes back un-rolled.
    """
    pixels = pixels.detach().requires_grad_(True)
    value = objective(torch.roll(pixels, shifts=shifts, dims=(2, 3)))
    if value.numel() != 1:
        raise ConfigError(f"the objective must be a scalar, got a tensor of shape {tuple(value.shape)}")
    (gradient,) = torch.autograd.grad(value.reshape(()), pixels)
    step = gradient / (gradient.abs().mean() + 1e-12)
    return (pixels + lr * step).detach()


def deepdream(network: nn.Module, layer: nn.Module, image: Tensor, mean: Sequence[float], std: Sequence[float],
              octaves: int = 3, octave_scale: float = 1.4, steps: int = 10, lr: float = 0.01,
              seed: int = 0) -> Tensor:
    """Multi-scale DeepDream: amplify what `layer` sees in `image` by gradient ascent on its mean squared activation.

    The ascent runs on a pyramid from the smallest octave (full size / octave_scale ** (octaves - 1)) up to the full
    size; the detail added at one octave is enlarged and carried into the next, so large patterns form first and fine
    ones refine them. Each step is jittered by a random roll and clamped to the valid pixel range; `lr` is in pixel
    units, the average change of a pixel per step (the gradient is normalised by its mean magnitude).
    `image` is (1, C, H, W), normalised; so is the result, of the same shape.
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ConfigError(f"deepdream takes one image as a (1, C, H, W) tensor, got shape {tuple(image.shape)}")
    if octaves < 1:
        raise ConfigError(f"octaves must be at least 1, got {octaves}")
    if octave_scale <= 1.0:
        raise ConfigError(f"octave_scale must be greater than 1, got {octave_scale}")
    if steps < 0:
        raise ConfigError(f"steps must not be negative, got {steps}")
    device = device_of(network)
    image = image.detach().to(device)
    mean_t, std_t = normalisation(mean, std, image.shape[1], device, image.dtype)
    height, width = image.shape[2:]
    pixels = (image * std_t + mean_t).clamp(0.0, 1.0)
    sizes = []
    for octave in range(octaves):
        factor = octave_scale ** (octaves - 1 - octave)
        size = (max(1, round(height / factor)), max(1, round(width / factor)))
        if not sizes or sizes[-1] != size:
            sizes.append(size)
    generator = torch.Generator().manual_seed(seed)

    def mean_squared_activation(batch: Tensor) -> Tensor:
        with _capture(layer) as held:
            network((batch - mean_t) / std_t)
        return _output_of(held, layer).pow(2).mean()

    detail = torch.zeros(1, image.shape[1], *sizes[0], device=device, dtype=image.dtype)
    dreamed = pixels
    with evaluating(network):
        for size in sizes:
            base = pixels if size == (height, width) else F.interpolate(
                pixels, size=size, mode="bilinear", align_corners=False, antialias=True)
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            dreamed = (base + detail).clamp(0.0, 1.0)
            limit = max(1, min(size) // 8)
            for _ in range(steps):
                dreamed = _ascent_step(dreamed, mean_squared_activation, lr, _shifts(generator, limit))
                dreamed = dreamed.clamp(0.0, 1.0)
            detail = dreamed - base
    return ((dreamed - mean_t) / std_t).detach()


def maximise(network: nn.Module, score: Callable[[Tensor], Tensor], shape: tuple[int, int, int],
             mean: Sequence[float], std: Sequence[float], steps: int = 200, lr: float = 0.05,
             weight_decay: float = 1e-4, blur_every: int = 4, seed: int = 0) -> Tensor:
    """Activation maximisation: the image, grown from faint noise, that drives `score` as high as it will go.

    `score` maps a normalised (1, C, H, W) batch to a scalar (a class logit, a filter's mean activation, see
    filter_score). Each step is a jittered, normalised gradient-ascent step; L2 decay then pulls the image towards the
    mean pixel, every `blur_every` steps a small Gaussian blur removes high frequencies (0 turns it off), and the
    pixels are clamped to the valid range. `lr` is in pixel units, the average change of a pixel per step. `shape`
    is (C, H, W); steps=0 returns the starting noise. Returns (1, C, H, W), normalised.
    """
    if len(shape) != 3:
        raise ConfigError(f"shape must be (channels, height, width), got {shape}")
    if steps < 0:
        raise ConfigError(f"steps must not be negative, got {steps}")
    if not 0.0 <= weight_decay < 1.0:
        raise ConfigError(f"weight_decay must lie in [0, 1), got {weight_decay}")
    if blur_every < 0:
        raise ConfigError(f"blur_every must not be negative (0 turns the blur off), got {blur_every}")
    channels, height, width = (int(v) for v in shape)
    device = device_of(network)
    mean_t, std_t = normalisation(mean, std, channels, device, torch.float32)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, channels, height, width, generator=generator).to(device)
    pixels = (mean_t + _START_NOISE * noise).clamp(0.0, 1.0)
    limit = max(1, math.ceil(min(height, width) / 16))

    def objective(batch: Tensor) -> Tensor:
        return score((batch - mean_t) / std_t)

    with evaluating(network):
        for step in range(steps):
            pixels = _ascent_step(pixels, objective, lr, _shifts(generator, limit))
            pixels = mean_t + (pixels - mean_t) * (1.0 - weight_decay)
            if blur_every and (step + 1) % blur_every == 0:
                pixels = gaussian_blur(pixels, kernel_size=[_BLUR_KERNEL, _BLUR_KERNEL], sigma=[_BLUR_SIGMA] * 2)
            pixels = pixels.clamp(0.0, 1.0)
    return ((pixels - mean_t) / std_t).detach()


def filter_score(network: nn.Module, layer: nn.Module, channel: int) -> Callable[[Tensor], Tensor]:
    """A score for `maximise`: the mean activation of one channel of `layer`'s output, i.e. what that filter likes.

    The hook is attached only while the score runs, so the network is left as it was between calls.
    """
    if channel < 0:
        raise ConfigError(f"channel must not be negative, got {channel}")

    def score(batch: Tensor) -> Tensor:
        with _capture(layer) as held:
            network(batch)
        output = _output_of(held, layer)
        if output.dim() < 2 or channel >= output.shape[1]:
            raise ConfigError(f"channel {channel} is out of range for the layer {type(layer).__name__}, whose output "
                              f"has shape {tuple(output.shape)}")
        return output[:, channel].mean()

    return score
