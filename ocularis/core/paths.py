"""Checks of the paths a user names, cheap enough to run before torch loads: a typo fails in a blink, not after
seconds of imports."""

from collections.abc import Iterable
from pathlib import Path

from ocularis.errors import CheckpointError, DataError


def existing_model(path: str | Path) -> Path:
    """`path` if it is a file, else the one-line error a missing checkpoint gets."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the best.ckpt of a run folder (or a file "
                              "`ocularis export` wrote)")
    return path


def existing_inputs(sources: Iterable[str]) -> None:
    """Refuse the first input that is neither a file nor a folder."""
    for source in sources:
        if not Path(source).exists():
            raise DataError(f"input {source} does not exist; pass files or folders of them")
