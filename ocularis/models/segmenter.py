"""The bases every segmentation network shares, so the segment task calls declared hooks instead of probing.

Semantic networks (`SemanticNetwork`): forward(images (B, C_in, H, W)) -> logits (B, num_classes, H, W) at the input's
resolution, class 0 background; H and W are multiples of `stride`. The task computes the loss from the logits.

Instance networks (`InstanceNetwork`): forward(images) -> (rows, coefficients, prototypes):
- rows (B, N, 4 + 1 + C): x1 y1 x2 y2 in input pixels, objectness, C object-class probabilities (class c here is
  class c + 1 of the task, whose class 0 is background) — the detector contract;
- coefficients (B, N, K) and prototypes (B, K, h, w): row n's mask logits are coefficients[n] @ prototypes, a map
  over the whole input at h x w (YOLACT's form). A two-stage network puts each kept detection's own mask logits in
  prototypes and the identity in coefficients, so both read the same way.
training_losses(images, targets) -> {name: loss}; targets per image: {"boxes" (n, 4) xyxy input pixels,
"labels" (n,) object classes 0..C-1, "masks" (n, H, W) uint8}.
"""

from typing import ClassVar

from torch import nn


class SemanticNetwork(nn.Module):
    instances: ClassVar[bool] = False
    stride: ClassVar[int] = 32  # input sides must be multiples of this
    export_refusal: ClassVar[str | None] = None

    def explained_layer(self) -> nn.Module | None:
        """The layer class activation maps read: one that every output depends on; default: none declared."""
        return None


class InstanceNetwork(nn.Module):
    instances: ClassVar[bool] = True
    stride: ClassVar[int] = 32
    export_refusal: ClassVar[str | None] = None

    def explained_layer(self, row: int | None = None, size: tuple[int, int] | None = None) -> nn.Module | None:
        """As DetectorNetwork's (ocularis.models.detector): the layer for the whole output, or for one row."""
        return None
