"""One registry mechanism for models, datasets and tasks: a plain dict that refuses duplicates."""

import difflib
from collections.abc import Callable, Iterator
from typing import Any

from ocularis.errors import UnknownNameError


class Registry:
    """Maps names to builders, optionally grouped by task; adding a taken name raises."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[tuple[str, str], Any] = {}

    def add(self, name: str, obj: Callable | type, *, task: str = "") -> None:
        key = (task, name)
        if key in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered for task {task!r}")
        self._entries[key] = obj

    def remove(self, name: str, *, task: str = "") -> None:
        """Forget `name` (a test's own task or model, once the test is done)."""
        del self._entries[(task, name)]

    def get(self, name: str, *, task: str = "") -> Any:
        if (task, name) not in self._entries:
            raise unknown_name(self.kind, name, self.names(task=task), task)
        return self._entries[(task, name)]

    def names(self, *, task: str | None = None) -> list[str]:
        """Registered names, for one task or (task=None) for all."""
        return sorted(n for t, n in self._entries if task is None or t == task)

    def tasks(self) -> list[str]:
        return sorted({t for t, _ in self._entries})

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(sorted(self._entries))


MODELS = Registry("model")
DATASETS = Registry("dataset")
TASKS = Registry("task")  # name -> ocularis.contract.TaskSpec
TOOLS = Registry("tool")  # name -> ocularis.contract.ToolSpec


def unknown_name(kind: str, name: str, known: list[str], task: str = "") -> UnknownNameError:
    """The one-line error for a name not among `known`, with the closest one to try."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    where = f" for task {task!r}" if task else ""
    return UnknownNameError(f"unknown {kind} {name!r}{where}; {hint}known: {', '.join(known)}")
