"""A fast style network's training step (Johnson et al. 2016): the network stylises a batch of photos, and the
feature network measures the result against the style image (Gram matrices) and against the photos themselves
(content), plus total variation; the feature network never learns."""

import torch
from torch import nn

from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import optimizers_for
from ocularis.tasks.style.config import StyleConfig
from ocularis.tasks.style.features import FeatureNetwork, Weights, content_loss, gram, style_loss, total_variation


class StyleLosses:
    """Photos and their stylised versions -> the style, content and total-variation losses, (B,) each. The style
    image's Gram matrices are computed once per device. Not a module: the frozen feature network stays out of the
    training module's tree (Lightning would switch it to training mode and save it in every last.ckpt)."""

    def __init__(self, perception: FeatureNetwork, painting: torch.Tensor):
        self.perception, self.painting = perception, painting
        self._targets: list[torch.Tensor] = []

    def __call__(self, photos: torch.Tensor, stylised: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self._targets or self._targets[0].device != photos.device:
            self.perception.to(photos.device)
            with torch.no_grad():
                self._targets = [gram(f) for f in self.perception(self.painting.to(photos.device))[0]]
        with torch.no_grad():
            wanted = self.perception(photos)[1]
        style, content = self.perception(stylised)
        return {"style": style_loss(style, self._targets), "content": content_loss(content, wanted),
                "tv": total_variation(stylised)}


class StyleModule(TaskModule):
    monitor, monitor_mode = "val/loss", "min"

    def __init__(self, network: nn.Module, losses: StyleLosses, config: StyleConfig):
        super().__init__()
        self.network, self.losses, self.config = network, losses, config
        self.weights = Weights(config.content_weight, config.style_weight, config.tv_weight)
        self.train_means, self.val_means = EpochMeans(), EpochMeans()

    def measured(self, photos: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = self.losses(photos, self.network(photos))
        return {"loss": self.weights.total(parts["style"], parts["content"], parts["tv"]).mean(),
                **{name: value.mean() for name, value in parts.items()}}

    def training_step(self, batch, index) -> torch.Tensor:
        photos, _ = batch
        found = self.measured(photos)
        self.train_means.add({f"train/{k}": v.detach() for k, v in found.items()}, len(photos))
        return found["loss"]

    def on_train_epoch_end(self) -> None:
        self.log_means(self.train_means)

    def validation_step(self, batch, index) -> None:
        photos, _ = batch
        self.val_means.add({f"val/{k}": v for k, v in self.measured(photos).items()}, len(photos))

    def on_validation_epoch_end(self) -> None:
        self.log_means(self.val_means, prog_bar="val/style")

    def configure_optimizers(self):
        return optimizers_for(self.network.parameters(), self.config, self.trainer)
