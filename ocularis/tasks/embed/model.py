"""Embedding networks: the shared classifier networks (ocularis.models.classifiers) with their head sized to the
embedding and its output L2-normalised. Weights may come from a checkpoint of the same architecture of any task
(a trained classifier's body, say): every tensor but the head's is taken."""

from ocularis.models.classifiers import build_classifier, register_classifiers
from ocularis.models.network import EmbeddingNetwork

TASK = "embed"
register_classifiers(TASK)


def build_network(name: str, *, dim: int, in_channels: int, weights: str | None = None) -> EmbeddingNetwork:
    """The registered architecture `name` giving `dim`-d unit vectors."""
    return EmbeddingNetwork.around(build_classifier(name, task=TASK, num_classes=dim, in_channels=in_channels,
                                                    weights=weights))
