"""The task contract's declaration: what an entry point may know of a task before importing it.

Nothing here imports torch, so `ocularis --help` and `ocularis <task> --help` answer at once. The behaviour half of the
contract (training, prediction, persistence, export, explanation hooks) is the base class `ocularis.engine.task.Task`;
ARCHITECTURE.md shows both halves and which members each task uses.
"""

import difflib
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from ocularis.config import ConfigError, GenerateOptions, PredictOptions, names_a_path
from ocularis.registry import unknown_name


@dataclass(frozen=True)
class Upload:
    """One file field of a predict request: the server's multipart field and the page's file chooser."""

    name: str
    accept: str  # the page's file filter: "image/*", "video/*"
    help: str


@dataclass(frozen=True)
class InputKind:
    """What a task predicts from, declared once for every entry point: the CLI's sources argument (`sources`; empty:
    the verb takes none), the server's file fields and OpenAPI request (`uploads`; none: a route of options only),
    the page's choosers (the same uploads) and the predict options every task of the kind has (`options`, a
    PredictOptions subclass its tasks' options extend: a generator's count and seed). `reader` ("module:Class", an
    ocularis.data.inputs.InputReader) decodes files, uploads and Python objects into items, imported on first use;
    a task's `preprocess` makes one batch tensor of items (an image pair: (B, 2, C, H, W); a clip: (B, T, C, H, W);
    nothing: (B, latent))."""

    name: str
    summary: str
    uploads: tuple[Upload, ...]
    sources: str  # the CLI argument's help; "" when the kind takes no sources
    reader: str
    options: type = PredictOptions
    verb: str = "predict"  # the CLI verb that answers (a generator's: generate), beside predict

    @property
    def value(self) -> str:  # the name, as the enum this replaced spelt it
        return self.name

    def read(self):
        """The kind's InputReader (importing its module)."""
        module, _, name = self.reader.partition(":")
        return getattr(import_module(module), name)(self)


class Inputs:
    """The built-in input kinds; a new one is an InputKind with its reader, registered in INPUT_KINDS."""

    IMAGE = InputKind("image", "one image; a video file is read frame by frame (a stream)",
                      (Upload("image", "image/*", "one or more image files"),), "images, folders or videos",
                      "ocularis.data.inputs:InputReader")
    IMAGE_PAIR = InputKind("image_pair", "two images compared",
                           (Upload("first", "image/*", "the first image of each pair"),
                            Upload("second", "image/*", "the second image of each pair, in the same order")),
                           "images two at a time (a, b, a, b ...), or two folders paired by file name",
                           "ocularis.data.inputs:PairReader")
    VIDEO = InputKind("video", "a short video clip, sampled to the model's frames",
                      (Upload("clip", "video/*", "one or more short video files"),), "video files or folders of them",
                      "ocularis.data.inputs:ClipReader")
    NONE = InputKind("none", "nothing: a generator samples from its latent space", (), "",
                     "ocularis.data.inputs:NoReader", GenerateOptions, verb="generate")


INPUT_KINDS = {kind.name: kind for kind in (Inputs.IMAGE, Inputs.IMAGE_PAIR, Inputs.VIDEO, Inputs.NONE)}


@dataclass(frozen=True)
class TaskSpec:
    """A task's name and summary, its inputs, its training options (a TrainConfig subclass), its predict options (a
    PredictOptions subclass) and where its class lives ("package.module:Class", imported on first use). `commands`
    names a module whose COMMANDS dict ({verb: Typer command}) adds the task's own verbs beside train, val, predict,
    export and benchmark (an index to build and search); that module imports no torch at its top."""

    name: str
    summary: str
    config: type
    options: type
    implementation: str
    inputs: Inputs = Inputs.IMAGE
    commands: str = ""
    # the model names the task registers, declared here too so that `train --model` is checked before torch loads
    # (tests/test_every_task.py holds them equal to the registry); empty: not declared, checked by the registry only
    models: tuple[str, ...] = ()
    # its built-in datasets' names, checked alike; () declares none; None: not declared, left to the task's reader
    datasets: tuple[str, ...] | None = None
    verb: str = ""  # the CLI verb that runs predict under the task's own name (default: its input kind's verb)

    def __post_init__(self) -> None:
        if not issubclass(self.options, self.inputs.options):
            raise TypeError(f"task {self.name!r}: {self.inputs.name} inputs need predict options that extend "
                            f"{self.inputs.options.__name__}")

    @property
    def predict_verb(self) -> str:
        """The CLI verb beside `predict` that runs it: the task's own, else its input kind's (`generate`)."""
        return self.verb or self.inputs.verb

    def own_commands(self) -> dict:
        """The task's own CLI verbs, {name: Typer command}."""
        return dict(import_module(self.commands).COMMANDS) if self.commands else {}

    def check_model(self, name: str) -> None:
        """Refuse a model name this task does not declare, as the registry would, without importing torch."""
        if self.models and name not in self.models:
            raise unknown_name("model", name, sorted(self.models), self.name)

    def check_data(self, data: str | None) -> None:
        """Refuse a --data that is neither a file or folder nor one of the task's built-in datasets, before torch
        loads (a value that reads as a path is checked with the options)."""
        if self.datasets is None or not data or names_a_path(data) or Path(data).exists() or data in self.datasets:
            return
        close = difflib.get_close_matches(data, self.datasets, n=1)
        known = f"{'did you mean ' + repr(close[0]) + '? ' if close else ''}built-in: {', '.join(self.datasets)}" \
            if self.datasets else f"the {self.name} task has no built-in dataset"
        raise ConfigError(f"--data {data}: no such file or folder, nor a built-in dataset; {known}")

    def task_class(self) -> type:
        """The task's class (importing it, and with it torch)."""
        module, _, name = self.implementation.partition(":")
        return getattr(import_module(module), name)


@dataclass(frozen=True)
class ToolSpec:
    """A group of CLI verbs that trains no model of its own but works with models of the tasks (the face pipeline:
    detect with cascades or a detector, align, then verify and recognise with an embedding model). `commands` names
    a module whose COMMANDS dict ({verb: Typer command}) holds its verbs; that module imports no torch at its top."""

    name: str
    summary: str
    commands: str

    def own_commands(self) -> dict:
        return dict(import_module(self.commands).COMMANDS)
