"""GAN training on the engine's manual optimisation: each step, the discriminator learns to tell a real batch from a
generated one, then the generator learns to fool it (the non-saturating loss of Goodfellow et al., or least squares
for LSGAN); Adam with beta1 = 0.5 for both, as DCGAN's authors found steadier."""

import torch
import torch.nn.functional as F

from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import clip_gradients
from ocularis.models.gans import GanPair
from ocularis.tasks.generate.config import GanConfig


def codes(noise: torch.Tensor, labels: torch.Tensor | None, classes: int) -> torch.Tensor:
    """The generator's input: the noise, then the labels' one-hot for a conditional GAN."""
    return torch.cat([noise, F.one_hot(labels, classes).to(noise.dtype)], dim=1) if classes else noise


class GanModule(TaskModule):
    automatic_optimization = False  # two optimisers, stepped here in turn

    def __init__(self, network: GanPair, config: GanConfig, lr: float):
        super().__init__()
        self.network, self.config, self.lr = network, config, lr
        self.means, self.val_means = EpochMeans(), EpochMeans()

    def adversarial(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.full_like(logits, 1.0 if real else 0.0)
        if self.config.loss == "lsgan":
            return F.mse_loss(logits, target)
        return F.binary_cross_entropy_with_logits(logits, target)

    def training_step(self, batch, index) -> torch.Tensor:
        images, labels = batch
        network, classes = self.network, self.network.classes
        onehot = F.one_hot(labels, classes).to(images.dtype) if classes else None
        noise = torch.randn(len(images), network.latent, device=images.device)
        fakes = network(codes(noise, labels, classes))
        d_optimiser, g_optimiser = self.optimizers()

        d_loss = (self.adversarial(network.judge(images, onehot), True)
                  + self.adversarial(network.judge(fakes.detach(), onehot), False)) / 2
        d_optimiser.zero_grad()
        self.manual_backward(d_loss)
        clip_gradients(self, d_optimiser, self.config)
        d_optimiser.step()

        g_loss = self.adversarial(network.judge(fakes, onehot), True)  # non-saturating: fakes called real
        g_optimiser.zero_grad()
        self.manual_backward(g_loss)
        clip_gradients(self, g_optimiser, self.config)
        g_optimiser.step()
        self.means.add({"train/loss": g_loss + d_loss, "train/d_loss": d_loss, "train/g_loss": g_loss}, len(images))
        return (d_loss + g_loss).detach()  # what the engine's FiniteLoss watches: a GAN that diverges stops

    def on_train_epoch_end(self) -> None:
        self.log_means(self.means)

    def validation_step(self, batch, index) -> None:
        """How sure the discriminator is that held-out real images are real, and that fresh samples are not: a
        pair drifting to 1 and 0 is a discriminator winning outright (the generator's gradients fade)."""
        images, labels = batch
        network, classes = self.network, self.network.classes
        onehot = F.one_hot(labels, classes).to(images.dtype) if classes else None
        fakes = network(codes(torch.randn(len(images), network.latent, device=images.device), labels, classes))
        self.val_means.add({"val/d_real": self.realness(network.judge(images, onehot)).mean(),
                            "val/d_fake": self.realness(network.judge(fakes, onehot)).mean()}, len(images))

    def realness(self, logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's answer read as 0 (fake) .. 1 (real): a probability under BCE, the score itself
        under least squares."""
        return logits if self.config.loss == "lsgan" else torch.sigmoid(logits)

    def on_validation_epoch_end(self) -> None:
        self.log_means(self.val_means, prog_bar="")

    def configure_optimizers(self):
        betas = (0.5, 0.999)
        make = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(self.config.optimizer)
        pair = self.network
        if make is None:
            return (torch.optim.SGD(pair.discriminator.parameters(), lr=self.lr, momentum=0.9),
                    torch.optim.SGD(pair.generator.parameters(), lr=self.lr, momentum=0.9))
        return (make(pair.discriminator.parameters(), lr=self.lr, betas=betas, weight_decay=self.config.weight_decay),
                make(pair.generator.parameters(), lr=self.lr, betas=betas, weight_decay=self.config.weight_decay))
