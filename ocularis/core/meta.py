"""Typed declarations of a saved model's metadata: each task declares its own as a dataclass (`Task.meta_type`),
checked once when the model loads, so a checkpoint missing a key or holding the wrong type is refused by name instead
of failing deep inside; `Pixels` is what the engine reads of every image model."""

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocularis.errors import CheckpointError


@dataclass(frozen=True)
class Pixels:
    """How a model sees an image: its channels, the side it is resized to (None: its own size) and the
    normalisation (x - mean) / std per channel."""

    channels: int
    imgsz: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]

    KEYS = ("channels", "imgsz", "mean", "std")

    @classmethod
    def of(cls, meta: dict[str, Any], source: str | Path | None = None) -> "Pixels":
        """The metadata's pixel keys, checked: each present, channels 1 or 3, one mean and std per channel."""
        where = f"{source} " if source else "the model "
        missing = [key for key in cls.KEYS if key not in meta]
        if missing:
            raise CheckpointError(f"{where}lacks the metadata {missing[0]!r}; pass a best.ckpt written by ocularis")
        channels, imgsz, mean, std = (meta[key] for key in cls.KEYS)
        if channels not in (1, 3) or (imgsz is not None and not (isinstance(imgsz, int) and imgsz > 0)):
            raise CheckpointError(f"{where}has channels={channels!r}, imgsz={imgsz!r}: expected 1 or 3 channels "
                                  "and a positive side (or none)")
        if len(mean) != channels or len(std) != channels or not all(s > 0 for s in std):
            raise CheckpointError(f"{where}has mean {mean!r} and std {std!r} for {channels} channel(s): expected "
                                  "one of each per channel, std above 0")
        return cls(channels, imgsz, tuple(float(m) for m in mean), tuple(float(s) for s in std))

    @property
    def mode(self) -> str:
        """The PIL mode images are converted to."""
        return "L" if self.channels == 1 else "RGB"


def check_meta(kind: type | None, meta: dict[str, Any], source: str | Path) -> None:
    """Refuse `meta` (of the model at `source`) unless it holds every field of the dataclass `kind` (None: none
    beyond task, model and config) with a value of the field's type; the pixel keys of a `Pixels` kind are checked
    further, as `Pixels.of` reads them."""
    hints = typing.get_type_hints(kind) if kind else {}
    declared = {field.name: hints[field.name] for field in dataclasses.fields(kind)} if kind else {}
    for name, hint in {"task": str, "model": str, "config": dict, **declared}.items():
        if name not in meta:
            raise CheckpointError(f"{source} lacks the metadata {name!r}; pass a best.ckpt written by ocularis")
        if not _fits(meta[name], hint):
            raise CheckpointError(f"{source} holds the metadata {name}={meta[name]!r:.60}, not the {_spelled(hint)} "
                                  "a model of its task saves; pass a best.ckpt written by ocularis")
    if kind and issubclass(kind, Pixels):
        Pixels.of(meta, source)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a saved value (plain Python, as torch.load(weights_only=True) gives it) is of the declared type; a list
    stands for a tuple and an int for a float, as saving and YAML make them."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, list | tuple) and all(_fits(item, args[0]) for item in value)
    return isinstance(value, origin or hint)


def _spelled(hint: Any) -> str:
    return str(hint).replace("typing.", "") if typing.get_args(hint) else getattr(hint, "__name__", str(hint))
