"""The task contract's declaration: what an entry point may know of a task before importing it.

Nothing here imports torch, so `ocularis --help` and `ocularis <task> --help` answer at once. The behaviour half of the
contract (training, prediction, persistence, export, explanation hooks) is the base class `ocularis.engine.task.Task`;
ARCHITECTURE.md shows both halves and which members each task uses.
"""

from dataclasses import dataclass
from enum import Enum
from importlib import import_module


class Inputs(str, Enum):
    """What a task predicts from; entry points decode files, uploads and Python objects into it."""

    IMAGE = "image"  # one image; a video file is read frame by frame
    IMAGE_PAIR = "image_pair"  # two images compared (verification)
    VIDEO = "video"  # a clip: (B, T, C, H, W) tensors from short video files
    NONE = "none"  # nothing: a generator samples from its latent space (its options say how many, which class)


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

    def own_commands(self) -> dict:
        """The task's own CLI verbs, {name: Typer command}."""
        return dict(import_module(self.commands).COMMANDS) if self.commands else {}

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
