"""Generative adversarial networks (seeds 003 and 004): the vanilla GAN of dense layers (Goodfellow et al. 2014) and
DCGAN (Radford et al. 2016: strided convolutions, batch norm, ReLU in the generator and LeakyReLU in the
discriminator, tanh out), each optionally conditional on a class (Mirza and Osindero 2014: the class joins the noise
as a one-hot vector, and the discriminator's input as one constant channel per class). Each record keeps its
defaults beside its builder."""

from dataclasses import dataclass

import torch
from torch import nn

from ocularis.models.record import ModelRecord


@dataclass(frozen=True)
class GanRecord(ModelRecord):
    latent: int = 64  # the noise vector's length


class GanPair(nn.Module):
    """A generator and its discriminator, trained together and saved as one. Called, it is the generator: a batch
    of codes (B, latent + classes + categories + continuous: the noise, the class one-hot of a conditional GAN, then
    InfoGAN's categorical code as a one-hot and its continuous codes) -> images in [-1, 1]; what predict runs and
    export writes. An InfoGAN (Chen et al. 2016) also has `guess`, a head on the discriminator's last features that
    recovers the InfoGAN codes from an image: the mutual-information term."""

    def __init__(self, generator: nn.Module, discriminator: nn.Sequential, latent: int, classes: int,
                 categories: int = 0, continuous: int = 0, features: int = 0):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.latent, self.classes, self.categories, self.continuous = latent, classes, categories, continuous
        codes = categories + continuous
        self.guess = nn.Sequential(nn.Linear(features, 128), nn.LeakyReLU(0.2), nn.Linear(128, codes)) \
            if codes else None

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.generator(codes)

    def judge(self, images: torch.Tensor, onehot: torch.Tensor | None) -> torch.Tensor:
        """(B,) the discriminator's logits that `images` (of the classes `onehot`, for a conditional GAN) are real."""
        return self.judge_and_guess(images, onehot)[0]

    def judge_and_guess(self, images: torch.Tensor,
                        onehot: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The logits of `judge`, and an InfoGAN's guess of each image's codes (B, categories + continuous: the
        category's logits, then the continuous codes), from the same features; None without InfoGAN codes."""
        if self.classes:
            planes = onehot[:, :, None, None].expand(-1, -1, *images.shape[2:])
            images = torch.cat([images, planes], dim=1)
        features = self.discriminator[:-1](images)
        return self.discriminator[-1](features).flatten(), None if self.guess is None else self.guess(features)


def dense_gan(channels: int, size: int, latent: int, classes: int, width: int = 256, categories: int = 0,
              continuous: int = 0) -> GanPair:
    """Vanilla GAN: two dense layers each way (Goodfellow et al. 2014)."""
    pixels = channels * size * size
    generator = nn.Sequential(
        nn.Linear(latent + classes + categories + continuous, width), nn.LeakyReLU(0.2),
        nn.Linear(width, 2 * width), nn.LeakyReLU(0.2),
        nn.Linear(2 * width, pixels), nn.Tanh(), nn.Unflatten(1, (channels, size, size)))
    discriminator = nn.Sequential(
        nn.Flatten(), nn.Linear(pixels + classes * size * size, 2 * width), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Linear(2 * width, width), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(width, 1))
    return GanPair(generator, discriminator, latent, classes, categories, continuous, width)


def dcgan(channels: int, size: int, latent: int, classes: int, width: int = 32, categories: int = 0,
          continuous: int = 0) -> GanPair:
    """DCGAN: transposed convolutions up from 4 x 4, strided convolutions down (Radford et al. 2016)."""
    doublings = _doublings(size)
    widths = [width * 2 ** i for i in range(doublings)][::-1]  # the generator's widths, 4 x 4 first
    up: list[nn.Module] = [nn.Linear(latent + classes + categories + continuous, widths[0] * 16),
                           nn.Unflatten(1, (widths[0], 4, 4)),
                           nn.BatchNorm2d(widths[0]), nn.ReLU()]
    for wide, narrow in zip(widths, widths[1:], strict=False):
        up += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), nn.BatchNorm2d(narrow), nn.ReLU()]
    up += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
    down: list[nn.Module] = [nn.Conv2d(channels + classes, widths[-1], 4, 2, 1), nn.LeakyReLU(0.2)]
    for narrow, wide in zip(widths[::-1], widths[::-1][1:], strict=False):
        down += [nn.Conv2d(narrow, wide, 4, 2, 1, bias=False), nn.BatchNorm2d(wide), nn.LeakyReLU(0.2)]
    down += [nn.Flatten(), nn.Linear(widths[0] * 16, 1)]
    pair = GanPair(nn.Sequential(*up), nn.Sequential(*down), latent, classes, categories, continuous,
                   widths[0] * 16)
    for module in pair.modules():  # the paper's initialisation: N(0, 0.02), batch-norm scales N(1, 0.02)
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)
    return pair


def _doublings(size: int) -> int:
    """How many times 4 x 4 doubles to `size`, which must be 4 x a power of two, 8 or more."""
    doublings = (size // 4).bit_length() - 1
    if size < 8 or 4 * 2 ** doublings != size:
        raise ValueError(f"a DCGAN draws images of 8, 16, 32, 64 ... pixels, not {size}")
    return doublings


RECORDS = {"gan": GanRecord(dense_gan, imgsz=16, lr=2e-4, mean=(0.5,), std=(0.5,)),
           "dcgan": GanRecord(dcgan, imgsz=32, lr=2e-4, mean=(0.5,), std=(0.5,))}
