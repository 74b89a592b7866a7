"""A saved model of any task, as its task object: what ocularis.load and the verbs that take a model of any task
(indexing, verification, clustering, faces) share."""

from pathlib import Path

from ocularis.deploy.runtime import open_model
from ocularis.engine.task import Task
from ocularis.registry import TASKS


def load_model(path: str | Path, task: str | None = None) -> Task:
    """The task object (Classifier, ...) of a checkpoint or exported ONNX/TorchScript file, ready to predict; the
    file is read once. With `task`, a model of another task is refused by name."""
    opened = open_model(path, task)
    return TASKS.get(opened.meta["task"]).task_class().from_opened(path, opened)
