"""Classification architectures by name: one line each below. Builders take num_classes, in_channels, weights."""

from pathlib import Path

from ocularis.errors import WeightsError
from ocularis.models.classic import lenet5, simple_cnn
from ocularis.models.network import Network
from ocularis.models.torchvision_zoo import FAMILIES, torchvision_classifier
from ocularis.models.weights import load_matching, read_state_dict
from ocularis.registry import MODELS

TASK = "classify"


def build_network(name: str, *, num_classes: int, in_channels: int, weights: str | None = None) -> Network:
    """The registered architecture `name`, with weights from a torchvision file/name or an ocularis checkpoint."""
    builder = MODELS.get(name, task=TASK)
    own_checkpoint = weights is not None and Path(weights).is_file() and _is_network_state(Path(weights))
    if name in FAMILIES and not own_checkpoint:
        return builder(num_classes=num_classes, in_channels=in_channels, weights=weights)
    network = builder(num_classes=num_classes, in_channels=in_channels)
    if weights and not Path(weights).is_file():
        raise WeightsError(f"{name} has no published weights; --weights must be a file saved from this architecture")
    if weights:
        load_matching(network, read_state_dict(Path(weights)), weights)
    return network


def _is_network_state(path: Path) -> bool:
    """True for a state dict of a Network (ours: body.* and head.*), False for torchvision's format."""
    return any(key.startswith("body.") for key in read_state_dict(path))


def _torchvision(name: str):
    def build(*, num_classes: int, in_channels: int, weights: str | None = None) -> Network:
        return torchvision_classifier(name, num_classes=num_classes, in_channels=in_channels, weights=weights)

    build.__doc__ = f"torchvision's {name}, adapted to the data's classes and channels."
    return build


MODELS.add("simple_cnn", simple_cnn, task=TASK)
MODELS.add("lenet5", lenet5, task=TASK)
for _name in FAMILIES:
    MODELS.add(_name, _torchvision(_name), task=TASK)
