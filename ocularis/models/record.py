"""One record per registered model, declared beside its builder: how to build it and the defaults that suit it.

Every task registers its models the same way, `MODELS.add(name, ModelRecord(build, ...), task=TASK)`, and reads a
run's defaults from the record (`MODELS.get(name, task=TASK).imgsz`). A task whose models carry more defaults
subclasses the record (an autoencoder's code size, a restoration network's job and crop). A pair of networks trained
together (a GAN's generator and discriminator, a captioner's encoder and decoder) is one record whose `graphs` name
what export writes.
"""

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any


@dataclass(frozen=True)
class ModelRecord:
    """`build` makes the untrained network (its keyword arguments are the task's); the rest are the model's own
    defaults, each None where the task's own default holds."""

    build: Callable[..., Any]
    _: KW_ONLY
    imgsz: int | None = None  # the input side a run resizes to
    lr: float | None = None  # the peak learning rate
    mean: tuple[float, ...] | None = None  # the normalisation its body expects (ImageNet's for torchvision bodies)
    std: tuple[float, ...] | None = None
    weights: tuple[str, ...] = ()  # published weights it can load by name (through torchvision's cache)
    graphs: tuple[str, ...] = ("network",)  # the graphs an export writes

    @property
    def summary(self) -> str:
        """The builder's first line, for `ocularis info`."""
        return (self.build.__doc__ or "").strip().split("\n")[0]
