"""Classification architectures: the shared classifier networks (ocularis.models.classifiers), registered for
this task. Builders take num_classes, in_channels, weights."""

from ocularis.models.classifiers import build_classifier, register_classifiers
from ocularis.models.network import Network

TASK = "classify"
register_classifiers(TASK)


def build_network(name: str, *, num_classes: int, in_channels: int, weights: str | None = None) -> Network:
    """The registered architecture `name`, with weights from a torchvision file/name or an ocularis checkpoint."""
    return build_classifier(name, task=TASK, num_classes=num_classes, in_channels=in_channels, weights=weights)
