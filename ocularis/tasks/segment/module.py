"""What a segmentation training step is. Semantic networks: a per-pixel loss on their logits (cross-entropy, soft
Dice, both, or focal; optionally class-weighted), validated by mIoU. Instance networks: their own losses (the
contract in ocularis.models.segmenter), validated by mask mAP@.5."""

import torch
import torch.nn.functional as F
from torch import nn

from ocularis.data.masks import IGNORE
from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import optimizers_for
from ocularis.tasks.segment.config import SegmentConfig
from ocularis.tasks.segment.metrics import PixelCounter, instance_average_precision, semantic_values


def semantic_loss(logits: torch.Tensor, target: torch.Tensor, kind: str, weights: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """The per-pixel loss of (B, C, H, W) logits against (B, H, W) class indices; IGNORE pixels count nowhere."""
    if kind == "focal":  # Lin et al.: (1 - p_t)^2 down-weighs the pixels already right, mostly easy background
        log_p = F.log_softmax(logits.float(), dim=1)
        picked = log_p.gather(1, target.clamp(max=logits.shape[1] - 1)[:, None]).squeeze(1)
        scale = weights[target.clamp(max=logits.shape[1] - 1)] if weights is not None else 1.0
        loss = -scale * (1 - picked.exp()) ** 2 * picked
        valid = target != IGNORE
        return loss[valid].sum() / valid.sum().clamp(min=1)
    loss = logits.new_zeros(())
    if kind in ("ce", "ce+dice"):
        loss = loss + F.cross_entropy(logits.float(), target, weight=weights, ignore_index=IGNORE)
    if kind in ("dice", "ce+dice"):
        loss = loss + soft_dice_loss(logits, target)
    return loss


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - the mean over classes of soft Dice (2|P∩T| / (|P| + |T|), with probabilities for P), as V-Net; classes
    absent from the batch count only through false positives, thanks to the smoothing term."""
    valid = (target != IGNORE)[:, None].float()
    probs = logits.float().softmax(dim=1) * valid
    one_hot = F.one_hot(target.clamp(max=logits.shape[1] - 1), logits.shape[1]).permute(0, 3, 1, 2).float() * valid
    overlap = (probs * one_hot).sum((0, 2, 3))
    total = probs.sum((0, 2, 3)) + one_hot.sum((0, 2, 3))
    return 1 - ((2 * overlap + smooth) / (total + smooth)).mean()


class SegmentModule(TaskModule):
    def __init__(self, network: nn.Module, config: SegmentConfig, classes: list[str], weights: torch.Tensor | None,
                 decode_instances=None):
        super().__init__()
        self.network, self.config, self.classes = network, config, classes
        self.register_buffer("class_weights", weights, persistent=False)
        self.decode_instances = decode_instances  # instance models: raw outputs -> per-image (masks, scores, labels)
        self.train_means = EpochMeans()
        self._counter = PixelCounter(len(classes))
        self._found: list = []
        self._truths: list = []

    @property
    def monitor(self) -> str:
        return "val/mask_mAP50" if self.network.instances else "val/mIoU"

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        images, targets = batch
        if self.network.instances:
            parts = self.network.training_losses(images, [_objects(t) for t in targets])
        else:
            semantic = torch.stack([t["semantic"] for t in targets])
            parts = {"loss": semantic_loss(self.network(images), semantic, self.config.loss, self.class_weights)}
        loss = sum(parts.values())
        self.train_means.add({"train/loss": loss, **{f"train/{k}": v for k, v in parts.items() if k != "loss"}},
                             len(images))
        return loss

    def on_train_epoch_end(self) -> None:
        self.log_means(self.train_means)

    def validation_step(self, batch, batch_index: int) -> None:
        images, targets = batch
        outputs = self.network(images)
        if self.network.instances:
            for found, target in zip(self.decode_instances(outputs, images.shape[-2:]), targets, strict=True):
                height, width = target["size"].tolist()  # the image's own pixels, as score() counts them
                masks, scores, labels, boxes = found
                self._found.append((masks[:, :height, :width], scores, labels, boxes))
                self._truths.append((target["masks"][:, :height, :width].bool().cpu().numpy(),
                                     target["labels"].cpu().numpy()))
        else:
            self._counter.update(outputs.argmax(1).cpu(), torch.stack([t["semantic"] for t in targets]).cpu())

    def on_validation_epoch_end(self) -> None:
        if self.network.instances:
            values = instance_average_precision(self._found, self._truths, len(self.classes), self.config.max_det)
            self.log(self.monitor, values["mask_mAP50"] or 0.0, prog_bar=True, sync_dist=True)
            self._found, self._truths = [], []
        else:
            values, _ = semantic_values(self._counter.confusion(), self.classes)
            self.log(self.monitor, values["mIoU"] or 0.0, prog_bar=True, sync_dist=True)
            self._counter = PixelCounter(len(self.classes))

    def configure_optimizers(self):
        return optimizers_for(self.network.parameters(), self.config, self.trainer)


def _objects(target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A target as instance networks take it: object classes from 0 (the task's class 0 is background)."""
    return {"boxes": target["boxes"], "labels": target["labels"] - 1, "masks": target["masks"]}
