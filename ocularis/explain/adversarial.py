"""Adversarial robustness: how far a small, deliberate change of the pixels moves a classifier.

FGSM (Goodfellow et al. 2015) takes one signed-gradient step; PGD (Madry et al. 2018) takes many, projected back into
the L-inf ball around the image after each. Both come from captum.robust. Budgets are in pixel units (epsilon 0.1 means
each pixel moves by at most a tenth of its range), so the attacks run on a wrapper network that takes [0, 1] pixels and
normalises them itself: the ball and the valid pixel box are then plain scalars, whatever the per-channel mean and std.

Inputs and outputs are normalised image batches (x - mean) / std, as the network sees them; nothing here knows a task.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from captum.robust import FGSM, PGD
from torch import Tensor, nn

from ocularis.errors import ConfigError
from ocularis.explain.common import device_of, evaluating, normalisation

__all__ = ["fgsm", "pgd", "robustness", "plot_robustness", "perturbation_picture"]


class _PixelNetwork(nn.Module):
    """The network behind its own normalisation, so attacks can work on [0, 1] pixels with scalar bounds."""

    def __init__(self, network: nn.Module, mean: Tensor, std: Tensor):
        super().__init__()
        self.network = network
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, pixels: Tensor) -> Tensor:
        return self.network((pixels - self.mean) / self.std)


def _stats(mean: Sequence[float], std: Sequence[float], images: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and std as (1, C, 1, 1) tensors on the images' device, checked against their channel count."""
    if images.dim() != 4:
        raise ConfigError(f"images must be a (N, C, H, W) batch, got shape {tuple(images.shape)}")
    return normalisation(mean, std, images.shape[1], images.device, images.dtype)


def _check_epsilon(epsilon: float) -> None:
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"epsilon is in pixel units and must lie in [0, 1], got {epsilon}")


def _per_image_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy per image (not averaged), so each image's gradient is its own and not shrunk by the batch size."""
    return nn.functional.cross_entropy(logits, labels, reduction="none")


def _to_pixels(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    # The clamp only removes float round-off: a correctly normalised image lies inside the box already.
    return (images.detach() * std + mean).clamp(0.0, 1.0)


@contextlib.contextmanager
def _quiet_captum() -> Iterator[None]:
    """captum warns on every step that it switched on requires_grad for the input, which is what we want it to do."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already require gradients")
        yield


def _attack_fgsm(pixel_net: nn.Module, pixels: Tensor, labels: Tensor, epsilon: float) -> Tensor:
    attack = FGSM(pixel_net, loss_func=_per_image_loss, lower_bound=0.0, upper_bound=1.0)
    # captum leaves pixels whose |gradient| is under 1e-6 unmoved; the method moves every pixel by sign(gradient).
    attack.zero_thresh = 0.0
    with _quiet_captum():
        return attack.perturb(pixels, epsilon=epsilon, target=labels)


def _attack_pgd(pixel_net: nn.Module, pixels: Tensor, labels: Tensor, epsilon: float, steps: int,
                step_size: float, seed: int) -> Tensor:
    attack = PGD(pixel_net, loss_func=_per_image_loss, lower_bound=0.0, upper_bound=1.0)
    attack.fgsm.zero_thresh = 0.0
    # captum draws the random start from the global generator; fork it so the caller's random state is untouched.
    devices = []
    if pixels.device.type == "cuda":
        devices = [pixels.device.index if pixels.device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices), _quiet_captum():
        torch.manual_seed(seed)
        return attack.perturb(pixels, radius=epsilon, step_size=step_size, step_num=steps, target=labels,
                              norm="Linf", random_start=True)


def fgsm(network: nn.Module, images: Tensor, labels: Tensor, epsilon: float, mean: Sequence[float],
         std: Sequence[float]) -> Tensor:
    """Untargeted FGSM: each image moved by epsilon (pixel units) along the sign of its cross-entropy gradient.

    Returns normalised images of the same shape, inside the valid pixel range.
    """
    _check_epsilon(epsilon)
    mean_t, std_t = _stats(mean, std, images)
    pixels = _to_pixels(images, mean_t, std_t)
    with evaluating(network):
        adversarial = _attack_fgsm(_PixelNetwork(network, mean_t, std_t), pixels, labels.to(images.device), epsilon)
    return ((adversarial - mean_t) / std_t).detach()


def pgd(network: nn.Module, images: Tensor, labels: Tensor, epsilon: float, mean: Sequence[float],
        std: Sequence[float], steps: int = 10, step_size: float | None = None, seed: int = 0) -> Tensor:
    """Untargeted L-inf PGD (Madry et al.): `steps` signed-gradient steps from a random start, kept within epsilon.

    step_size defaults to 2.5 * epsilon / steps, Madry's choice, so the walk can cross the ball and still reach its
    edge. The random start is seeded, so the same call gives the same images.
    """
    _check_epsilon(epsilon)
    if steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}")
    step = 2.5 * epsilon / steps if step_size is None else step_size
    if step < 0:
        raise ConfigError(f"step_size must not be negative, got {step_size}")
    mean_t, std_t = _stats(mean, std, images)
    pixels = _to_pixels(images, mean_t, std_t)
    with evaluating(network):
        adversarial = _attack_pgd(_PixelNetwork(network, mean_t, std_t), pixels, labels.to(images.device), epsilon,
                                  steps, step, seed)
    return ((adversarial - mean_t) / std_t).detach()


def _correct(network: nn.Module, images: Tensor, labels: Tensor) -> int:
    with torch.no_grad():
        return int((network(images).argmax(1) == labels).sum())


def robustness(network: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], epsilons: Sequence[float],
               mean: Sequence[float], std: Sequence[float], steps: int = 10,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """Accuracy under FGSM and PGD at each epsilon, over all the batches: the curve that says how brittle a model is.

    Returns {"epsilons", "clean", "fgsm", "pgd", "images", "steps"}: accuracies in [0, 1], one per epsilon in each list.

    Epsilon 0 is no attack, so both lists start at the clean accuracy there. `progress(done, total)` counts work in
    gradient steps (one per FGSM, `steps` per PGD) and is called after each attack. Batches without a length are read
    into memory first, to know the total.
    """
    epsilons = [float(e) for e in epsilons]
    for epsilon in epsilons:
        _check_epsilon(epsilon)
    if steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}")
    batches = list(batches)  # its length gives progress its total
    attacked = [e for e in epsilons if e > 0]
    total = len(batches) * len(attacked) * (1 + steps)
    device = device_of(network)
    correct_clean = 0
    correct_fgsm = [0] * len(epsilons)
    correct_pgd = [0] * len(epsilons)
    count = 0
    done = 0
    with evaluating(network):
        for images, labels in batches:
            images, labels = images.to(device), labels.to(device)
            mean_t, std_t = _stats(mean, std, images)
            pixel_net = _PixelNetwork(network, mean_t, std_t)
            pixels = _to_pixels(images, mean_t, std_t)
            clean = _correct(network, images, labels)
            correct_clean += clean
            count += len(labels)
            for k, epsilon in enumerate(epsilons):
                if epsilon == 0:
                    correct_fgsm[k] += clean
                    correct_pgd[k] += clean
                    continue
                adversarial = _attack_fgsm(pixel_net, pixels, labels, epsilon)
                correct_fgsm[k] += _correct(pixel_net, adversarial, labels)
                done += 1
                if progress is not None:
                    progress(done, total)
                adversarial = _attack_pgd(pixel_net, pixels, labels, epsilon, steps, 2.5 * epsilon / steps, 0)
                correct_pgd[k] += _correct(pixel_net, adversarial, labels)
                done += steps
                if progress is not None:
                    progress(done, total)
    if count == 0:
        raise ConfigError("robustness needs at least one image, but the batches were empty")
    return {
        "epsilons": epsilons,
        "clean": correct_clean / count,
        "fgsm": [c / count for c in correct_fgsm],
        "pgd": [c / count for c in correct_pgd],
        "images": count,
        "steps": steps,
    }


def plot_robustness(report: dict, path: str | os.PathLike) -> Path:
    """Accuracy against epsilon for FGSM and PGD, with clean accuracy dashed, as a PNG written atomically.

    Atomic (temporary file in the same folder, then os.replace) so a reader never sees a half-written picture.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    for key in ("epsilons", "clean", "fgsm", "pgd"):
        if key not in report:
            raise ConfigError(f"the robustness report has no '{key}'; make it with explain.adversarial.robustness")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    epsilons = report["epsilons"]
    axes.plot(epsilons, report["fgsm"], marker="o", label="FGSM")
    pgd_label = f"PGD, {report['steps']} steps" if "steps" in report else "PGD"
    axes.plot(epsilons, report["pgd"], marker="s", label=pgd_label)
    axes.axhline(report["clean"], linestyle="--", color="grey", label=f"clean {report['clean']:.3f}")
    axes.set_xlabel("epsilon (pixel units, L-inf)")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0.0, 1.02)
    images = report.get("images")
    axes.set_title("Accuracy under attack" + (f" ({images} images)" if images else ""))
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best")
    figure.tight_layout()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            figure.savefig(stream, format="png")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def _as_rgb(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ConfigError(f"{name} must be a uint8 pixel image, got dtype {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ConfigError(f"{name} must be HxW or HxWx3, got shape {image.shape}")


def perturbation_picture(original: np.ndarray, adversarial: np.ndarray, magnify: float = 10.0) -> np.ndarray:
    """Original | perturbation | adversarial side by side, as one uint8 RGB picture.

    The perturbation is invisible at true scale, so it is shown magnified around mid-grey: grey means unchanged,
    lighter means the attack brightened that pixel, darker that it darkened it.
    """
    original, adversarial = _as_rgb(original, "original"), _as_rgb(adversarial, "adversarial")
    if original.shape != adversarial.shape:
        raise ConfigError(f"original {original.shape} and adversarial {adversarial.shape} differ in shape")
    difference = adversarial.astype(np.float32) - original.astype(np.float32)
    perturbation = np.clip(np.rint(128.0 + difference * magnify), 0, 255).astype(np.uint8)
    return np.concatenate([original, perturbation, adversarial], axis=1)
