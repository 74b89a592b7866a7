"""What a landmark training step is: smooth L1 on the labelled points (in units of the image's side) plus each
attribute's cross-entropy on the images where it is known, weighed by --point-weight and --attribute-weight."""

import numpy as np
import torch
import torch.nn.functional as F

from ocularis.data.points import eye_pair
from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import optimizers_for
from ocularis.models.network import Network
from ocularis.tasks.landmarks.config import LandmarksConfig
from ocularis.tasks.landmarks.data import unpack
from ocularis.tasks.landmarks.metrics import image_errors
from ocularis.tasks.landmarks.model import split_outputs

POINT_BETA = 0.02  # smooth L1: squared below 2% of the side, absolute above (robust to a wrong label)


class LandmarkModule(TaskModule):
    def __init__(self, network: Network, config: LandmarksConfig, *, point_names: list[str],
                 attributes: dict[str, list[str]]):
        super().__init__()
        self.network, self.config = network, config
        self.point_names, self.attributes = point_names, attributes
        self.monitor = "val/nme" if point_names else "val/attribute_accuracy"
        self.monitor_mode = "min" if point_names else "max"
        self.train_means, self.val_means = EpochMeans(), EpochMeans()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        points, logits = split_outputs(outputs, len(self.point_names), self.attributes)
        truth, values, _ = unpack(targets, len(self.point_names), len(self.attributes))
        labelled = ~truth.isnan()
        zero = outputs.sum() * 0  # a batch without a label of some kind still gives a graph
        found = {"points": F.smooth_l1_loss(points[labelled], truth[labelled], beta=POINT_BETA)
                 if labelled.any() else zero}
        for a, name in enumerate(self.attributes):
            known = values[:, a] >= 0
            found[name] = F.cross_entropy(logits[a][known], values[known, a]) if known.any() else zero
        attribute_loss = sum(found[name] for name in self.attributes) if self.attributes else zero
        found["loss"] = self.config.point_weight * found["points"] + self.config.attribute_weight * attribute_loss
        return found

    def on_train_epoch_start(self) -> None:
        self.network.train()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        images, targets = batch
        losses = self.losses(self.network(images), targets)
        self.train_means.add({f"train/{k}": v.detach() for k, v in losses.items()}, len(images))
        return losses["loss"]

    def on_train_epoch_end(self) -> None:
        self.log_means(self.train_means)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        images, targets = batch
        outputs = self.network(images)
        means = {"val/loss": self.losses(outputs, targets)["loss"]}
        points, logits = split_outputs(outputs, len(self.point_names), self.attributes)
        truth, values, sizes = unpack(targets, len(self.point_names), len(self.attributes))
        if self.point_names:
            nme, _ = image_errors(points.float().cpu().numpy(), truth.cpu().numpy(), sizes.cpu().numpy(),
                                  eye_pair(self.point_names))
            means["val/nme"] = torch.tensor(float(np.nanmean(nme)) if (~np.isnan(nme)).any() else 0.0)
        accuracies = [(logits[a].argmax(1) == values[:, a])[values[:, a] >= 0].float().mean()
                      for a in range(len(self.attributes)) if (values[:, a] >= 0).any()]
        if accuracies:
            means["val/attribute_accuracy"] = torch.stack(accuracies).mean()
        self.val_means.add(means, len(images))

    def on_validation_epoch_end(self) -> None:
        self.log_means(self.val_means, prog_bar=self.monitor)

    def configure_optimizers(self):
        return optimizers_for(self.network.parameters(), self.config, self.trainer)
