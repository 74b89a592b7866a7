"""Image embeddings, declared: metric learning (contrastive, triplet, ArcFace) and the verbs that index, search,
verify and cluster images with any task's model (ocularis.tasks.embed.task, ocularis.tasks.embed.commands)."""

from ocularis.contract import TaskSpec
from ocularis.models.names import CLASSIFIERS
from ocularis.tasks.embed.config import EmbedConfig, EmbedOptions

SPEC = TaskSpec("embed", "Image embeddings: metric learning, search, verification and clustering.", EmbedConfig,
                EmbedOptions, "ocularis.tasks.embed.task:Embedder", commands="ocularis.tasks.embed.commands",
                models=CLASSIFIERS, datasets=("digits", "shapes"))

__all__ = ["SPEC", "EmbedConfig", "EmbedOptions"]
