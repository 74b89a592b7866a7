"""Generative adversarial networks, declared: a vanilla GAN and DCGAN, each optionally conditional on a class
(seeds 003 and 004), trained with two optimisers on the engine's manual optimisation; `ocularis generate sample`
draws from them, and a run is scored by FID, KID and precision/recall on a classifier's features
(`ocularis generate score` scores any folder of generated images the same way)."""

from ocularis.contract import Inputs, TaskSpec
from ocularis.tasks.generate.config import GanConfig, GanOptions

SPEC = TaskSpec("generate", "Generative adversarial networks: vanilla GAN and DCGAN, conditional or not.", GanConfig,
                GanOptions, "ocularis.tasks.generate.task:Generator", inputs=Inputs.NONE, verb="sample",
                commands="ocularis.tasks.generate.commands",
                models=("gan", "dcgan"), datasets=("digits", "shapes"))

__all__ = ["SPEC", "GanConfig", "GanOptions"]
