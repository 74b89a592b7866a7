"""Typed views of a saved model's metadata: what the engine reads of every image model, checked once when the model
loads, so a checkpoint missing a key or holding the wrong type is refused by name instead of failing deep inside."""

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
