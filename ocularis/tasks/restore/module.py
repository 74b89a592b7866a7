"""What a restoration training step is. Upscaling: mean squared error on the luma (what PSNR measures), val/psnr on
the val crops with the border shaved by the scale. Inpainting: L1 on the holes plus a tenth of it on the rest (the
known pixels are pasted back at prediction; a little weight there keeps the colours anchored), val/psnr on the holes."""

import torch
import torch.nn.functional as F
from torch import nn

from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import optimizers_for
from ocularis.tasks.restore.config import RestoreConfig

KNOWN_WEIGHT = 0.1


def hole_errors(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inpainting: (L1 on the holes, L1 elsewhere, squared error on the holes), each a mean per pixel value."""
    truth, mask = targets[:, :3], targets[:, 3:]
    holes = mask.sum().clamp(min=1) * 3
    known = (1 - mask).sum().clamp(min=1) * 3
    difference = outputs - truth
    return ((difference.abs() * mask).sum() / holes, (difference.abs() * (1 - mask)).sum() / known,
            (difference.square() * mask).sum() / holes)


def to_psnr(mse: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))


class RestoreModule(TaskModule):
    monitor, monitor_mode = "val/psnr", "max"

    def __init__(self, network: nn.Module, config: RestoreConfig, job: str):
        super().__init__()
        self.network, self.config, self.job = network, config, job
        self.train_means, self.val_means = EpochMeans(), EpochMeans()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.network(inputs)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.job == "inpaint":
            holes, known, squared = hole_errors(outputs, targets)
            return {"loss": holes + KNOWN_WEIGHT * known, "psnr": to_psnr(squared)}
        shave = self.config.scale
        squared = F.mse_loss(outputs[..., shave:-shave, shave:-shave], targets[..., shave:-shave, shave:-shave])
        return {"loss": F.mse_loss(outputs, targets), "psnr": to_psnr(squared)}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        inputs, targets = batch
        losses = self.losses(self.network(inputs), targets)
        self.train_means.add({"train/loss": losses["loss"]}, len(inputs))
        return losses["loss"]

    def on_train_epoch_end(self) -> None:
        self.log_means(self.train_means)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        inputs, targets = batch
        losses = self.losses(self.network(inputs), targets)
        self.val_means.add({"val/loss": losses["loss"], "val/psnr": losses["psnr"]}, len(inputs))

    def on_validation_epoch_end(self) -> None:
        self.log_means(self.val_means, prog_bar="val/psnr")

    def configure_optimizers(self):
        return optimizers_for(self.network.parameters(), self.config, self.trainer)
