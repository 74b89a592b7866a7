"""What evaluating on other data needs from every task's dataset (train/val/test splits and class names): the split
asked for, and the model's class index for each of the data's classes."""

import os
from collections.abc import Sequence
from typing import Any

from ocularis.errors import DataError

SPLITS = ("train", "val", "test")


def pick_split(dataset: Any, split: str) -> str:
    """`split`, or "train" where the data has nothing in it (data read whole, with no held-out splits)."""
    if split not in SPLITS:
        raise DataError(f"--split {split!r} is not one of {', '.join(SPLITS)}")
    return split if len(getattr(dataset, split)) else "train"


def same_data(first: str, second: str) -> bool:
    """Whether two --data values name the same data: one file or folder however spelt (relative, absolute, through
    a link), or one built-in name."""
    if os.path.exists(first) and os.path.exists(second):
        return os.path.samefile(first, second)
    return first == second


def class_mapping(found: list[str], known: list[str], data: str) -> list[int]:
    """The model's index of each class of the data; a class the model does not know is refused by name."""
    unknown = [name for name in found if name not in known]
    if unknown:
        raise DataError(f"--data {data}: class {unknown[0]!r} is not one the model knows ({', '.join(known)})")
    return [known.index(name) for name in found]


def classes_in_turn(labels: Sequence[int], limit: int | None = None) -> list[int]:
    """Indices of `labels` taking one of each class in turn (classes in order of first appearance), at most
    `limit`: a sample that shows every class even where the items come sorted by class."""
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    queues = list(by_class.values())
    order = [queue[i] for i in range(max(map(len, queues), default=0)) for queue in queues if i < len(queue)]
    return order[:limit]
