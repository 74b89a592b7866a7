"""Neural style transfer, declared: fast feed-forward style networks (Johnson et al. 2016) trained on a folder of
photos for one style image, and Gatys et al.'s per-image optimisation (`ocularis style gatys`), both measured on a
feature network the user names: VGG weights from a file, an ocularis classifier, or random filters."""

from ocularis.contract import TaskSpec
from ocularis.tasks.style.config import StyleConfig, StyleOptions

SPEC = TaskSpec("style", "Neural style transfer: fast style networks and Gatys' optimisation.", StyleConfig,
                StyleOptions, "ocularis.tasks.style.task:Styliser", verb="stylise",
                commands="ocularis.tasks.style.commands", models=("johnson", "johnson_small"), datasets=())

__all__ = ["SPEC", "StyleConfig", "StyleOptions"]
