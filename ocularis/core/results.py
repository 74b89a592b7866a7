"""What every task's prediction result is: one small typed object per input, rendered the same way everywhere.

The CLI prints `row()`, writes `save_to()` with --save; the server returns `to_json()` documented by `schema`; the web
page draws it with the renderer named `renderer`, a script beside the Python module that declares it
(`renderer_file`: classify/predict.py's Labels -> classify/predict.js; this module's generic one lists the JSON's
fields). No entry point reaches into a model's raw tensors.
"""

import os
import sys
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from pydantic import BaseModel
from rich.table import Column, Table

from ocularis.core.runs import write_json

SOURCE_WIDTH = 32  # characters of a source the CLI's table shows: in 80 columns, the rest keep room for whole words


class Result(ABC):
    """One input's prediction."""

    schema: ClassVar[type[BaseModel]]  # the JSON of to_json(), for OpenAPI
    renderer: ClassVar[str] = "generic"  # the web page's renderer for it, in renderer_file()
    source_column: ClassVar[str] = "image"  # the CLI table's heading for `source`
    source: str  # the input's name (file path, upload name, image0 ...)

    @classmethod
    def renderer_file(cls) -> Path:
        """The script that adds `renderers[renderer]` to the page: the .js file beside the module of the class that
        names the renderer (a result that names none is drawn by this module's generic one)."""
        owner = next(klass for klass in cls.__mro__ if "renderer" in vars(klass))
        return Path(sys.modules[owner.__module__].__file__).with_suffix(".js")

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data, matching `schema`."""

    @abstractmethod
    def row(self) -> dict[str, str]:
        """The answer as one row of the CLI's table: column -> short text (the source has its own column; what
        does not fit a line, such as every box, is left to --save and JSON)."""

    @abstractmethod
    def plot(self, enlarge: bool = True) -> np.ndarray:
        """A picture of the result (RGB uint8), such as the input with its answer drawn on it; `enlarge` draws small
        images bigger so the drawing is legible (video frames keep their size)."""

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(self.plot()).save(path)
        return path

    def save_to(self, folder: Path, stem: str) -> None:
        """What `predict --save` writes for this result into `folder` (the picture; tasks may add files)."""
        self.save(folder / f"{stem}.png")

    def saved_json(self, stem: str) -> dict[str, Any]:
        """This result in --save's JSON, beside the files save_to wrote as `stem` (default: to_json(); a result
        whose JSON carries pictures names the files instead)."""
        return self.to_json()


def results_table(results: Sequence[Result], width: int = SOURCE_WIDTH) -> Table:
    """The CLI's table of results: one row each, the source first (as `shown_sources` tells them apart), then
    Result.row's columns, taken from the first."""
    shown, folder = shown_sources([result.source for result in results], width)
    # the source column keeps its width (the other columns wrap instead), so no row loses its name
    source = Column(results[0].source_column, no_wrap=True, min_width=max(len(name) for name in shown))
    table = Table(source, *results[0].row(), caption=f"under {folder}" if folder else None)
    for name, result in zip(shown, results, strict=True):
        table.add_row(name, *result.row().values())
    return table


def shown_sources(sources: Sequence[str], width: int = SOURCE_WIDTH) -> tuple[list[str], str | None]:
    """Sources as a table can tell them apart, and the folder left out of them (None if none): a path relative to
    the current folder where it lies under it; paths elsewhere that share a folder are shown from that folder's
    last part; what is still longer than `width` is cut from the left, so the file name stays."""
    here = Path.cwd()
    shown = [_relative_to(source, here) for source in sources]
    folder = None
    paths = [Path(s) for s in shown]
    if len(shown) > 1 and all(p.is_absolute() and "|" not in s for p, s in zip(paths, shown, strict=True)):
        shared = Path(os.path.commonpath(paths))
        if shared.parent != Path(shared.anchor):  # leaving out the root alone would shorten nothing
            folder = str(shared.parent)
            shown = [str(p.relative_to(shared.parent)) for p in paths]
    return [s if len(s) <= width else "…" + s[len(s) - width + 1:] for s in shown], folder


def _relative_to(source: str, folder: Path) -> str:
    """`source` relative to `folder` where it lies under it; each of a pair's paths ("a.png|b.png") alike."""
    parts = [Path(part) for part in source.split("|")]
    if all(part.is_absolute() and part.is_relative_to(folder) for part in parts):
        return "|".join(str(part.relative_to(folder)) for part in parts)
    return source


def save_results(results: Sequence[Result], folder: Path, json_name: str) -> None:
    """What --save writes: each result's pictures (named after its input, `saved_stems`) and all of them as JSON."""
    stems = saved_stems([result.source for result in results])
    for stem, result in zip(stems, results, strict=True):
        result.save_to(folder, stem)
    write_json(folder / json_name, [result.saved_json(stem) for stem, result in zip(stems, results, strict=True)])


def saved_stems(sources: Sequence[str]) -> list[str]:
    """The file stems --save names results by: each source's path below the folder all of them share, its folders
    joined by "_" and its suffix dropped (s5/1.pgm and s6/1.pgm -> s5_1 and s6_1; a pair's two paths joined by
    "-"); a stem met again gets _2, _3 ... Sources that are not files (a generator's seed5) keep their name."""
    parts = [[Path(part) for part in source.split("|")] for source in sources]
    folders = {str(path.parent) for pair in parts for path in pair}
    try:
        shared = Path(os.path.commonpath(folders)) if folders else Path()
    except ValueError:  # absolute and relative paths mixed: no folder is shared
        shared = Path()
    stems, seen = [], Counter()
    for pair in parts:
        names = [(path.relative_to(shared) if path.is_relative_to(shared) else Path(path.name)).with_suffix("")
                 for path in pair]
        stem = "-".join("_".join(name.parts) for name in names)
        seen[stem] += 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


class Metrics(ABC):
    """What evaluate() returns for every task: a headline number, JSON, a printable table and plots."""

    scored: Any = None  # what evaluate() read (ocularis.engine.task.Scored: data, split, count); None after fit()

    @property
    @abstractmethod
    def headline(self) -> tuple[str, float | None]:
        """(name, value) of the one number that ranks models (the benchmark's and int8 verification's metric)."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """Every value, JSON-ready (metrics.json's "test")."""

    def summary(self) -> str:
        """One line for the CLI: the headline."""
        name, value = self.headline
        return f"{name}: {'n/a' if value is None else f'{value:.4f}'}"

    def plot(self, folder: Path) -> list[Path]:
        """The plots a person would rather look at than read, written into `folder`."""
        return []
