"""What an autoencoder training step is: reconstruct the clean image from the (maybe corrupted) input.

The loss is the mean squared error per pixel, plus the sparse model's activity penalty on the code (L1, or the KL
divergence of each unit's mean activation from --sparsity-target); a VAE's is the seed's: binary cross-entropy
summed over an image's pixels plus beta times the KL divergence of its code from the unit Gaussian, the code drawn
by the reparameterisation trick. Validation corrupts with fixed noise, so epochs compare; it logs the loss and the
PSNR of the output (denoisers: of the noisy input too).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import optimizers_for
from ocularis.models.autoencoders import EncoderDecoder
from ocularis.tasks.autoencode.config import AutoencodeConfig
from ocularis.tasks.autoencode.noise import corrupt, seeded


@dataclass
class Objective:
    """The run's settings once the model's defaults fill what the options left open (kept in the metadata)."""

    noise: str
    noise_level: float
    sparsity: str
    sparsity_weight: float
    sparsity_target: float
    variational: bool
    beta: float

    @property
    def denoises(self) -> bool:
        return self.noise != "none" and self.noise_level > 0


def image_psnr(reference: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR in dB of each image against its reference, pixels in 0..1 (capped at 100 dB for a perfect one)."""
    error = (reference - test).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(1.0 / error.clamp(min=1e-10))


def kl_to_unit_gaussian(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """(B,) KL divergence of N(mean, exp(log_variance)) from N(0, I), summed over the code."""
    return 0.5 * (mean.pow(2) + log_variance.exp() - 1 - log_variance).sum(dim=1)


def sparsity_penalty(code: torch.Tensor, objective: Objective) -> torch.Tensor:
    if objective.sparsity == "l1":
        return code.abs().sum(dim=1).mean()
    if objective.sparsity == "kl":
        target = objective.sparsity_target
        mean = code.mean(dim=0).clamp(1e-6, 1 - 1e-6)
        return (target * torch.log(target / mean) + (1 - target) * torch.log((1 - target) / (1 - mean))).sum()
    return code.new_zeros(())


def losses(network: EncoderDecoder, inputs: torch.Tensor, clean: torch.Tensor, objective: Objective,
           sample: bool) -> dict[str, torch.Tensor]:
    """The loss and its parts for one batch; `sample`: draw a VAE's code (training) instead of taking its mean."""
    if objective.variational:
        mean, log_variance = network.encoder(inputs)
        code = mean + torch.randn_like(mean) * (0.5 * log_variance).exp() if sample else mean
        output = network.decoder(code)
        reconstruction = F.binary_cross_entropy(output, clean, reduction="none").flatten(1).sum(dim=1).mean()
        kl = kl_to_unit_gaussian(mean, log_variance).mean()
        return {"loss": reconstruction + objective.beta * kl, "reconstruction": reconstruction, "kl": kl,
                "output": output}
    code = network.encoder(inputs)
    output = network.decoder(code)
    mse = F.mse_loss(output, clean)
    found = {"loss": mse, "mse": mse, "output": output}
    if objective.sparsity != "none":
        found["sparsity"] = sparsity_penalty(code, objective)
        found["loss"] = mse + objective.sparsity_weight * found["sparsity"]
    return found


class AutoencodeModule(TaskModule):
    monitor, monitor_mode = "val/loss", "min"

    def __init__(self, network: EncoderDecoder, config: AutoencodeConfig, objective: Objective):
        super().__init__()
        self.network, self.config, self.objective = network, config, objective
        self.train_means, self.val_means = EpochMeans(), EpochMeans()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def corrupted(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return corrupt(images, self.objective.noise, self.objective.noise_level, generator)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        images, _ = batch
        found = losses(self.network, self.corrupted(images), images, self.objective, sample=True)
        self.train_means.add({f"train/{k}": v for k, v in found.items() if k != "output"}, len(images))
        return found["loss"]

    def on_train_epoch_end(self) -> None:
        self.log_means(self.train_means)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        images, _ = batch
        noisy = self.corrupted(images, seeded(batch_index))
        found = losses(self.network, noisy, images, self.objective, sample=False)
        means = {f"val/{k}": v for k, v in found.items() if k != "output"}
        means["val/psnr"] = image_psnr(images, found["output"]).mean()
        if self.objective.denoises:
            means["val/psnr_noisy"] = image_psnr(images, noisy).mean()
        self.val_means.add(means, len(images))

    def on_validation_epoch_end(self) -> None:
        self.log_means(self.val_means, prog_bar=self.monitor)

    def configure_optimizers(self):
        return optimizers_for(self.network.parameters(), self.config, self.trainer)
