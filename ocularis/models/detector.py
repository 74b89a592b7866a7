"""The base every detector network shares, so the detect task calls its hooks instead of probing for them.

The contract (ocularis.tasks.detect.module has the full text): forward(images) -> (B, N, 4 + 1 + C) rows;
training_losses(images, targets) -> {name: loss}.
"""

from contextlib import AbstractContextManager, nullcontext

from torch import nn


class DetectorNetwork(nn.Module):
    """Each subclass defines forward and training_losses; the hooks below have defaults."""

    export_refusal: str | None = None  # why the network cannot be exported (code outside the graph), or None

    def explained_layer(self, row: int | None = None, size: tuple[int, int] | None = None) -> nn.Module | None:
        """The layer class activation maps read: one that every output depends on, or for one output row (of an
        input of `size` (H, W)) the one its score is read from; default: none declared."""
        return None

    def after_training(self, loader) -> None:
        """A stage fitted without gradients once the network is trained (R-CNN's SVMs); default: none."""

    def fitting(self) -> AbstractContextManager:
        """A context the whole fit runs within (R-CNN searches each image's proposals once there); default: none."""
        return nullcontext()
