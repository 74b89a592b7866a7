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

CONTINUOUS_WEIGHT = 0.1  # InfoGAN's continuous codes count a tenth of its category (Chen et al. 2016 use 0.1 too)


def codes(noise: torch.Tensor, labels: torch.Tensor | None, classes: int, category: torch.Tensor | None = None,
          categories: int = 0, continuous: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's input: the noise, the labels' one-hot for a conditional GAN, then an InfoGAN's category as a
    one-hot and its continuous codes."""
    parts = [noise]
    if classes:
        parts.append(F.one_hot(labels, classes).to(noise.dtype))
    if categories:
        parts.append(F.one_hot(category, categories).to(noise.dtype))
    if continuous is not None:
        parts.append(continuous)
    return torch.cat(parts, dim=1)


def random_codes(network: GanPair, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None,
                                                                   torch.Tensor | None]:
    """Random codes for a batch of samples (of `labels`, which a conditional GAN draws), and the InfoGAN category
    and continuous codes in them (None where the GAN has none)."""
    count, device = len(labels), labels.device
    category = torch.randint(network.categories, (count,), device=device) if network.categories else None
    continuous = torch.rand(count, network.continuous, device=device) * 2 - 1 if network.continuous else None
    noise = torch.randn(count, network.latent, device=device)
    return codes(noise, labels, network.classes, category, network.categories, continuous), category, continuous


def information(guess: torch.Tensor, category: torch.Tensor | None, continuous: torch.Tensor | None,
                categories: int) -> torch.Tensor:
    """InfoGAN's mutual-information term (as a loss): how badly the guess head recovers the codes a sample was
    drawn from: cross-entropy on the category, squared error on the continuous codes (a Gaussian of fixed
    variance)."""
    loss = F.cross_entropy(guess[:, :categories], category) if categories else guess.new_zeros(())
    if continuous is not None:
        loss = loss + CONTINUOUS_WEIGHT * F.mse_loss(guess[:, categories:], continuous)
    return loss


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
        drawn, category, continuous = random_codes(network, labels)
        fakes = network(drawn)
        d_optimiser, g_optimiser = self.optimizers()

        judged, guessed = network.judge_and_guess(fakes.detach(), onehot)
        d_loss = (self.adversarial(network.judge(images, onehot), True) + self.adversarial(judged, False)) / 2
        d_optimiser.zero_grad()
        # InfoGAN: the discriminator and its guess head learn to read the codes back too (as the original code
        # does, the information term counts in both networks' losses), so its features come to tell them apart
        self.manual_backward(d_loss if guessed is None else
                             d_loss + self.config.info_weight * information(guessed, category, continuous,
                                                                            network.categories))
        clip_gradients(self, d_optimiser, self.config)
        d_optimiser.step()

        logits, guess = network.judge_and_guess(fakes, onehot)
        g_loss = self.adversarial(logits, True)  # non-saturating: fakes called real
        info = information(guess, category, continuous, network.categories) if guess is not None else None
        g_optimiser.zero_grad()
        self.manual_backward(g_loss if info is None else g_loss + self.config.info_weight * info)
        clip_gradients(self, g_optimiser, self.config)
        g_optimiser.step()
        self.means.add({"train/loss": g_loss + d_loss, "train/d_loss": d_loss, "train/g_loss": g_loss,
                        **({} if info is None else {"train/info": info})}, len(images))
        return (d_loss + g_loss).detach()  # what the engine's FiniteLoss watches: a GAN that diverges stops

    def on_train_epoch_end(self) -> None:
        self.log_means(self.means)

    def validation_step(self, batch, index) -> None:
        """How sure the discriminator is that held-out real images are real, and that fresh samples are not: a
        pair drifting to 1 and 0 is a discriminator winning outright (the generator's gradients fade)."""
        images, labels = batch
        network, classes = self.network, self.network.classes
        onehot = F.one_hot(labels, classes).to(images.dtype) if classes else None
        fakes = network(random_codes(network, labels)[0])
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
        # an InfoGAN's guess head is part of the discriminator
        judging = [*pair.discriminator.parameters(), *(pair.guess.parameters() if pair.guess is not None else ())]
        if make is None:
            return (torch.optim.SGD(judging, lr=self.lr, momentum=0.9),
                    torch.optim.SGD(pair.generator.parameters(), lr=self.lr, momentum=0.9))
        return (make(judging, lr=self.lr, betas=betas, weight_decay=self.config.weight_decay),
                make(pair.generator.parameters(), lr=self.lr, betas=betas, weight_decay=self.config.weight_decay))
