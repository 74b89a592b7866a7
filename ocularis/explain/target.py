"""What an explanation attributes: the task's answer for each input, as one scalar read from the network's raw
outputs. Tasks make these in their `explain_target` hook (the contract); the methods here only read them."""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ocularis.errors import ConfigError
from ocularis.explain import EVERY_BOX


@dataclass
class ExplainTarget:
    """`scores(outputs)` gives every candidate's scalar (B, K) — class logits, a detector's objectness x class
    probability per row and class, a segmenter's class mass — and `index` (B,) the one explained per input."""

    scores: Callable[..., torch.Tensor]
    index: torch.Tensor
    names: list[str]  # each input's target in words ("bee 0.93", "circle 0.88")
    labels: list[str]  # each input's explained class
    boxes: list[list[float] | None]  # a detector's explained box per input (x1 y1 x2 y2, input pixels), else None
    class_weights: torch.Tensor | None = None  # (B, K) the head's weights of each target class, where the explained
    # layer is pooled straight into a linear head (what CAM needs); None otherwise
    layers: list | None = None  # per input, the layer its target is read from (a detector's box: its level's map),
    # over the model's explain_layer
    inputs: list[int] | None = None  # the input each target explains, where an input has several (a detector's
    # every box); None: one target per input, in order

    def subset(self, rows: list[int]) -> "ExplainTarget":
        """The targets of some of the inputs (after `inputs` has been applied)."""
        pick = torch.tensor(rows, dtype=torch.long)
        return ExplainTarget(self.scores, self.index[pick], [self.names[i] for i in rows],
                             [self.labels[i] for i in rows], [self.boxes[i] for i in rows],
                             None if self.class_weights is None else self.class_weights[pick],
                             None if self.layers is None else [self.layers[i] for i in rows])

    def chosen(self, outputs) -> torch.Tensor:
        """Each input's explained scalar (B,)."""
        return self.scores(outputs).gather(1, self.index[:, None]).squeeze(1)


def class_index(classes: list[str], name: str) -> int:
    """The index of class `name` (or of a number written as text), refused with the known names."""
    if name in classes:
        return classes.index(name)
    if name.isdigit() and int(name) < len(classes):
        return int(name)
    raise ConfigError(f"target {name!r} is not one of this model's classes: {', '.join(classes)}")


def class_target(logits: torch.Tensor, classes: list[str], target: str | None, scores: Callable,
                 shown: torch.Tensor, unit: str = "") -> ExplainTarget:
    """Explain a class per input: `target`'s, else each input's best; `shown` (B, C) is what names print."""
    index = (torch.full((len(logits),), class_index(classes, target)) if target else logits.argmax(dim=1))
    labels = [classes[i] for i in index.tolist()]
    names = [f"{classes[i]} {shown[b, i]:.2f}{unit}" for b, i in enumerate(index.tolist())]
    return ExplainTarget(scores, index, names, labels, [None] * len(index))


def detection_scores(rows: torch.Tensor) -> torch.Tensor:
    """Detector rows (B, N, 4 + 1 + C) -> (B, N * C): objectness x class probability of every row and class."""
    return (rows[..., 4:5] * rows[..., 5:]).flatten(1)


def box_target(rows: torch.Tensor, classes: list[str], target: str | None, scores: Callable,
               layer_of: Callable | None = None, detected: Callable | None = None) -> ExplainTarget:
    """Explain boxes (the detector contract's rows): each input's best-scoring one, of class `target` if given, or
    with target "all" every one `detected(rows[b])` keeps (flat row x class indices; an input where it keeps none
    explains its best). `classes` names the rows' C classes; `layer_of(row)` is the layer a row's score is read from."""
    count = len(classes)
    flat = detection_scores(rows)
    inputs = None
    if target == EVERY_BOX and detected is not None:
        picks = [detected(output) for output in rows]
        picks = [found if len(found) else flat[b].argmax()[None] for b, found in enumerate(picks)]
        inputs = [b for b, found in enumerate(picks) for _ in found]
        index = torch.cat(picks)
    else:
        if target:
            wanted = class_index(classes, target)
            flat = torch.where(torch.arange(flat.shape[1]) % count == wanted, flat, torch.full_like(flat, -1.0))
        index = flat.argmax(dim=1)
    owners = inputs or list(range(len(index)))
    found = (index // count).tolist()
    boxes = [rows[b, r, :4].tolist() for b, r in zip(owners, found, strict=True)]
    labels = [classes[i % count] for i in index.tolist()]
    names = [f"{classes[i % count]} {flat[b, i]:.2f}" for b, i in zip(owners, index.tolist(), strict=True)]
    layers = [layer_of(row) for row in found] if layer_of else None
    return ExplainTarget(scores, index, names, labels, boxes, layers=layers, inputs=inputs)
