"""`Task.explain`: the explanation methods (ocularis.explain, which knows no task) run on any task through its
declared hooks — `explain_inputs` (one row per image), `explain_layer` (what class activation maps read) and
`explain_target` (the scalar per input that is explained)."""

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ocularis.contract import Inputs
from ocularis.data.inputs import batches, expand_inputs
from ocularis.errors import ConfigError
from ocularis.explain import ATTACKS, IMAGE_METHODS, LAYER_PICTURES, PICTURES
from ocularis.explain.adversarial import fgsm, perturbation_picture, pgd
from ocularis.explain.dream import deepdream
from ocularis.explain.inside import feature_grid
from ocularis.explain.maps import heat_maps
from ocularis.explain.result import Explanation

if TYPE_CHECKING:
    from ocularis.engine.task import Task


def explain_images(task: "Task", method: str, inputs: Any, target: str | None = None, layer: str | None = None,
                   batch: int = 16, progress: bool = False, epsilon: float = 0.05) -> list[Explanation]:
    """One Explanation per input image."""
    if method not in IMAGE_METHODS:
        raise ConfigError(f"unknown explanation {method!r}; per-image methods are {', '.join(IMAGE_METHODS)}")
    if method in ATTACKS and not task.explains_logits:
        raise ConfigError(f"{method} attacks a classifier's class logits; a {task.spec.name} model has none")
    network = explained_network(task)
    if not task.explainable:
        raise ConfigError(f"{task.spec.name} models declare nothing to explain")
    chosen_layer = named_layer(network, layer) if layer else task.explain_layer()
    mean, std = (torch.tensor(task.meta[k], dtype=torch.float32)[:, None, None] for k in ("mean", "std"))
    results: list[Explanation] = []
    for names, pictures in batches(expand_inputs(inputs), task.pixels.channels, batch):
        images = task.explain_inputs(pictures)
        with torch.no_grad():
            explained = task.explain_target(network(images), target)
        if explained.inputs is not None:  # several targets in an input (a detector's every box): one row each
            images, names = images[explained.inputs], [names[i] for i in explained.inputs]
            pictures = [pictures[i] for i in explained.inputs]
        # every task's explain_inputs resizes a whole image to the network's side: a map over the network's input
        # lies over the image at its own size, resized
        photos = ([np.asarray(p.convert("RGB")) for p in pictures] if task.spec.inputs == Inputs.IMAGE
                  else [None] * len(names))
        if layer:  # the user's layer for every input, over where the target reads each score
            explained.layers = None
        seen = [_picture(row, mean, std) for row in images]
        if method in PICTURES:
            panels, numbers = _pictures(task, method, network, chosen_layer, images, explained, epsilon)
            results += [Explanation(n, method, p, panel=g, target=t, numbers=k) for n, p, g, t, k in
                        zip(names, seen, panels, explained.names, numbers, strict=True)]
            continue
        maps = heat_maps(method, network, chosen_layer, explained, images, -mean / std, progress).numpy()
        for i, name in enumerate(names):
            results.append(Explanation(name, method, seen[i], heat=maps[i], target=explained.names[i],
                                       box=explained.boxes[i], numbers=_numbers(maps[i], explained.boxes[i]),
                                       photo=photos[i]))
    return results


def explained_network(task: "Task") -> nn.Module:
    if not isinstance(task.network, nn.Module):
        raise ConfigError(f"explanations need the PyTorch weights: pass the best.ckpt, not the exported file "
                          f"{task.source}")
    return task.network.eval()


def named_layer(network: nn.Module, name: str) -> nn.Module:
    """The sub-module called `name` (as named_modules spells it: stage3, body.7, expansive.0 ...)."""
    try:
        return network.get_submodule(name)
    except AttributeError:
        known = ", ".join(n for n, _ in network.named_children())
        raise ConfigError(f"--layer {name}: this network has no such layer; its top-level layers are {known} "
                          "(nested ones as parent.child)") from None


def _pictures(task, method, network, layer, images, explained, epsilon) -> tuple[list[np.ndarray], list[dict]]:
    """The picture-valued methods: a layer's feature maps, a DeepDream of it, an attack's original | perturbation
    (magnified) | adversarial triple; with their numbers."""
    if layer is None and method in LAYER_PICTURES:
        raise ConfigError(f"{method} needs a layer: pass --layer NAME (this model declares no default)")
    mean, std = task.pixels.mean, task.pixels.std
    if method == "feature_maps":
        kept: list[torch.Tensor] = []
        handle = layer.register_forward_hook(lambda _m, _i, output: kept.append(output.detach()))
        try:
            with torch.no_grad():
                network(images)
        finally:
            handle.remove()
        return [feature_grid(a) for a in kept[-1]], [{"channels": float(len(a))} for a in kept[-1]]
    to_pixels = pixels_of(mean, std)
    if method == "deepdream":
        dreams = [deepdream(network, layer, image[None], mean, std)[0] for image in images]
        return [to_pixels(d) for d in dreams], [{} for _ in dreams]
    attack = fgsm if method == "fgsm" else pgd
    adversarial = attack(network, images, explained.index, epsilon, mean, std)
    with torch.no_grad():
        before, after = (network(x).softmax(dim=1) for x in (images, adversarial))
    panels = [perturbation_picture(to_pixels(a), to_pixels(b)) for a, b in zip(images, adversarial, strict=True)]
    numbers = [{"epsilon": epsilon, "probability_before": float(before[i, c]), "probability_after": float(after[i, c]),
                "answer_after": float(after[i].argmax())} for i, c in enumerate(explained.index.tolist())]
    return panels, numbers


def pixels_of(mean, std):
    """A function turning a preprocessed row back into the uint8 image the network saw."""
    mean, std = (torch.tensor(v, dtype=torch.float32)[:, None, None] for v in (mean, std))
    return lambda row: _picture(row.detach(), mean, std)


def _numbers(heat: np.ndarray, box: list[float] | None) -> dict[str, float]:
    """Where the map's mass is: its peak (x, y as fractions of the side) and, for a box, the share inside it."""
    y, x = np.unravel_index(int(heat.argmax()), heat.shape)
    numbers = {"peak_x": float(x / heat.shape[1]), "peak_y": float(y / heat.shape[0])}
    if box is not None:
        numbers["mass_in_box"] = box_mass(heat, box)
    return numbers


def box_mass(heat: np.ndarray, box: list[float]) -> float:
    """Share of a heat map's mass inside a box (x1 y1 x2 y2 in the map's pixels)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    inside = heat[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)].sum()
    return float(inside / max(heat.sum(), 1e-12))


def _picture(row: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """A preprocessed row back as the uint8 image the network saw (H, W) or (H, W, 3)."""
    pixels = (row * std + mean).clamp(0, 1).mul(255).round().byte()
    return pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
