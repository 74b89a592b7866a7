"""What a metric-learning step is: embed a batch of P classes x M images and score it with one of seed 003/004's
losses (pytorch-metric-learning supplies them and the semi-hard miner); validation identifies the val images against
the training gallery (recall@1, the monitor)."""

import torch
from pytorch_metric_learning import losses, miners
from torch import nn

from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import optimizers_for
from ocularis.models.network import EmbeddingNetwork
from ocularis.tasks.embed.config import EmbedConfig

# Margins as their papers use them: contrastive and triplet in Euclidean distance between unit vectors (0 to 2),
# ArcFace as an angle in degrees (Deng et al. 2019: 0.5 rad).
DEFAULT_MARGINS = {"contrastive": 1.0, "triplet": 0.2, "arcface": 28.6}
ARCFACE_SCALE = 16.0  # the paper's 64 suits 85,000 identities; with tens of classes it trains far slower


def metric_loss(config: EmbedConfig, num_classes: int) -> tuple[nn.Module, nn.Module | None]:
    """The loss for `config.loss` and the miner that picks its pairs or triplets (None: the loss takes all)."""
    margin = config.margin if config.margin is not None else DEFAULT_MARGINS[config.loss]
    if config.loss == "contrastive":  # Hadsell, Chopra, LeCun 2006: positives to 0, negatives beyond the margin
        return losses.ContrastiveLoss(pos_margin=0.0, neg_margin=margin), None
    if config.loss == "triplet":  # Schroff et al. 2015: negatives farther than the positive but within the margin
        return losses.TripletMarginLoss(margin=margin), miners.TripletMarginMiner(margin, type_of_triplets="semihard")
    return losses.ArcFaceLoss(num_classes, config.dim, margin=margin, scale=ARCFACE_SCALE), None


class EmbedModule(TaskModule):
    def __init__(self, network: EmbeddingNetwork, config: EmbedConfig, *, num_classes: int, validates: bool):
        super().__init__()
        self.network, self.config = network, config
        self.criterion, self.miner = metric_loss(config, num_classes)
        self.monitor = "val/recall@1" if validates else None
        self.train_means = EpochMeans()
        self.found: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        images, labels = batch
        embeddings = self.network(images)
        pairs = self.miner(embeddings, labels) if self.miner is not None else None
        loss = self.criterion(embeddings, labels, pairs)
        self.train_means.add({"train/loss": loss}, len(images))
        return loss

    def on_train_epoch_end(self) -> None:
        self.log_means(self.train_means)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int,
                        dataloader_idx: int = 0) -> None:
        images, labels = batch
        self.found.setdefault(dataloader_idx, []).append((self.network(images), labels))

    def on_validation_epoch_end(self) -> None:
        """recall@1: the share of val images whose nearest training image (by cosine) is of their class."""
        if len(self.found) < 2:  # Lightning's sanity check may run only the first loader
            self.found.clear()
            return
        (queries, labels), (gallery, gallery_labels) = ((torch.cat([v for v, _ in self.found[i]]),
                                                         torch.cat([t for _, t in self.found[i]])) for i in (0, 1))
        nearest = (queries @ gallery.T).argmax(dim=1)
        self.log(self.monitor, (gallery_labels[nearest] == labels).float().mean(), prog_bar=True,
                 add_dataloader_idx=False)
        self.found.clear()

    def configure_optimizers(self):
        # ArcFace learns a weight vector for each class: it trains with the network
        return optimizers_for([*self.network.parameters(), *self.criterion.parameters()], self.config, self.trainer)
