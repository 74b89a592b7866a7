"""What the explanation methods share: running a network in eval mode, and a model's normalisation as tensors."""

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from ocularis.errors import ConfigError


@contextlib.contextmanager
def evaluating(network: nn.Module) -> Iterator[None]:
    """Explanations must see the deployed network (no dropout, frozen batch-norm statistics); the caller's mode
    returns afterwards."""
    was_training = network.training
    network.eval()
    try:
        yield
    finally:
        network.train(was_training)


def device_of(network: nn.Module) -> torch.device:
    parameter = next(network.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def normalisation(mean: Sequence[float], std: Sequence[float], channels: int, device: torch.device,
                  dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Mean and std as (1, C, 1, 1) tensors, checked against the channel count."""
    if len(mean) != channels or len(std) != channels:
        raise ConfigError(f"mean and std need one value per channel ({channels}), got {len(mean)} and {len(std)}")
    if any(s <= 0 for s in std):
        raise ConfigError(f"std values must be positive, got {list(std)}")
    shape = (1, channels, 1, 1)
    return (torch.tensor(list(mean), device=device, dtype=dtype).view(shape),
            torch.tensor(list(std), device=device, dtype=dtype).view(shape))
