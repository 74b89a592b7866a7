"""Landmark networks: the shared classifier networks (ocularis.models.classifiers) with one head for everything —
two outputs per point (x, y in units of the input's side) followed by each attribute's logits."""

import torch
from torch import nn

from ocularis.models.classifiers import build_classifier, register_classifiers
from ocularis.models.network import Network

TASK = "landmarks"
register_classifiers(TASK)


def head_size(points: int, attributes: dict[str, list[str]]) -> int:
    return 2 * points + sum(len(values) for values in attributes.values())


def build_network(name: str, *, points: int, attributes: dict[str, list[str]], in_channels: int,
                  weights: str | None = None) -> Network:
    """The registered architecture `name`, its head sized for `points` points and the attributes' values, without
    dropout: on ORL, simple_cnn's dropout moved its points by more than the offsets from the mean face it had to
    learn, and it learnt none (training error stayed at the mean face's)."""
    network = build_classifier(name, task=TASK, num_classes=head_size(points, attributes), in_channels=in_channels,
                               weights=weights)
    for module in network.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return network


def split_outputs(outputs: torch.Tensor, points: int, attributes: dict[str, list[str]]
                  ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The head's row -> points (B, K, 2) in units of the input's side, and each attribute's logits (B, V)."""
    sizes = [len(values) for values in attributes.values()]
    coordinates, *logits = outputs.split([2 * points, *sizes], dim=1)
    return coordinates.reshape(len(outputs), points, 2), list(logits)
