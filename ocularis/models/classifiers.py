"""Image classifier networks by name (the seeds' small CNNs and torchvision's families), with weights from a
torchvision file/name or an ocularis checkpoint. Shared by the tasks that learn from classes: a classifier's head
scores classes, a metric learner's head is its embedding."""

from collections.abc import Callable
from pathlib import Path

from ocularis.errors import WeightsError
from ocularis.models.classic import lenet5, simple_cnn
from ocularis.models.network import Network
from ocularis.models.record import ModelRecord
from ocularis.models.torchvision_zoo import FAMILIES, torchvision_classifier
from ocularis.models.weights import load_matching, read_state_dict
from ocularis.registry import MODELS


def _torchvision(name: str) -> Callable[..., Network]:
    def build(*, num_classes: int, in_channels: int, weights: str | None = None) -> Network:
        return torchvision_classifier(name, num_classes=num_classes, in_channels=in_channels, weights=weights)

    build.__doc__ = f"torchvision's {name}, adapted to the data's classes and channels."
    return build


# torchvision's families load its published weights by name (DEFAULT, IMAGENET1K_V1 ...) through its cache
RECORDS = {"simple_cnn": ModelRecord(simple_cnn), "lenet5": ModelRecord(lenet5),
           **{name: ModelRecord(_torchvision(name), weights=("DEFAULT",)) for name in FAMILIES}}


def register_classifiers(task: str) -> None:
    """Every classifier network under `task` in the model registry (one line in each task that uses them); their
    names are declared without torch in ocularis.models.names.CLASSIFIERS."""
    for name, record in RECORDS.items():
        MODELS.add(name, record, task=task)


def build_classifier(name: str, *, task: str, num_classes: int, in_channels: int,
                     weights: str | None = None) -> Network:
    """The architecture `name` registered for `task`, with `num_classes` outputs; weights from a torchvision
    file/name or a checkpoint saved from the same architecture (by any task: its head is left out where it differs)."""
    builder = MODELS.get(name, task=task).build
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
