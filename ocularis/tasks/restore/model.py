"""Restoration networks, registered by name with their defaults beside them.

Super-resolution works on the luma channel only, as both papers do (the eye is sharpest there; chroma is upscaled
bicubically): SRCNN (Dong et al. 2014/2016) refines a bicubic upscale with three convolutions; ESPCN (Shi et al.
2016) works at the low resolution and rearranges r^2 output channels into an r-times larger image (sub-pixel
convolution), so its cost does not grow with the output size. Inpainting is a masked convolutional autoencoder: the
photo with its holes blanked and the hole mask go in, the whole photo comes out, and only the holes are kept from it.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ocularis.errors import ConfigError
from ocularis.registry import MODELS

TASK = "restore"


@dataclass(frozen=True)
class NetworkKind:
    """What a registered restoration network does and the training defaults that suit it."""

    build: type
    job: str  # "upscale" or "inpaint"
    crop: int  # side of a training crop in output (high-resolution) pixels, before rounding to the scale
    upsamples: bool = True  # False: it takes the bicubic upscale (SRCNN), True: the small image itself


class ESPCN(nn.Module):
    """Two tanh convolutions at the input's resolution, then one with scale^2 channels shuffled into pixels. With
    `residual`, the network learns the difference from a bicubic upscale (converges in minutes instead of hours)."""

    def __init__(self, scale: int, features: tuple[int, int] = (64, 32), residual: bool = True):
        super().__init__()
        self.scale, self.residual = scale, residual
        self.body = nn.Sequential(nn.Conv2d(1, features[0], 5, padding=2, padding_mode="replicate"), nn.Tanh(),
                                  nn.Conv2d(features[0], features[1], 3, padding=1, padding_mode="replicate"),
                                  nn.Tanh(),
                                  nn.Conv2d(features[1], scale * scale, 3, padding=1, padding_mode="replicate"))
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, luma: torch.Tensor) -> torch.Tensor:
        out = self.shuffle(self.body(luma))
        if self.residual:
            out = out + F.interpolate(luma, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


class SRCNN(nn.Module):
    """Patch extraction (9x9), non-linear mapping (1x1), reconstruction (5x5) on the bicubic upscale; `residual`
    adds the upscale back, so the network learns only what bicubic misses."""

    def __init__(self, scale: int, features: tuple[int, int] = (64, 32), residual: bool = True):
        super().__init__()
        self.scale, self.residual = scale, residual
        self.body = nn.Sequential(nn.Conv2d(1, features[0], 9, padding=4, padding_mode="replicate"), nn.ReLU(),
                                  nn.Conv2d(features[0], features[1], 1), nn.ReLU(),
                                  nn.Conv2d(features[1], 1, 5, padding=2, padding_mode="replicate"))

    def forward(self, upscaled: torch.Tensor) -> torch.Tensor:
        out = self.body(upscaled)
        return out + upscaled if self.residual else out


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation), nn.ELU())


class MaskedAutoencoder(nn.Module):
    """Encoder (three stride-2 stages) -> dilated convolutions that carry context across a hole -> decoder back to
    full size, with skips from the encoder (U-Net style; the blanked pixels carry no signal, the mask says which).
    Input: RGB with holes zeroed, and the mask (1 = hole); output: RGB in 0..1. Sides must divide by 8 (preprocess
    pads). One convolution at full resolution: the known pixels are pasted back, so sharpness there buys nothing."""

    multiple = 8

    def __init__(self, features: int = 32):
        super().__init__()
        f = features
        self.down = nn.ModuleList([_block(4, f // 2), _block(f // 2, f, 2), _block(f, 2 * f, 2),
                                   _block(2 * f, 4 * f, 2)])
        self.context = nn.Sequential(*[_block(4 * f, 4 * f, dilation=d) for d in (2, 4, 8, 1)])
        self.up = nn.ModuleList([_block(8 * f, 2 * f), _block(4 * f, f), _block(2 * f, f // 2)])
        self.out = nn.Conv2d(f, 3, 3, padding=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        skips, x = [], inputs
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        x = self.context(x)
        for stage in self.up:
            x = stage(torch.cat([x, skips.pop()], dim=1))
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return torch.sigmoid(self.out(torch.cat([x, skips.pop()], dim=1)))


MODELS.add("espcn", NetworkKind(ESPCN, "upscale", crop=96), task=TASK)
MODELS.add("srcnn", NetworkKind(SRCNN, "upscale", crop=96, upsamples=False), task=TASK)
MODELS.add("inpaint", NetworkKind(MaskedAutoencoder, "inpaint", crop=128), task=TASK)


def network_kind(name: str) -> NetworkKind:
    return MODELS.get(name, task=TASK)


def build_network(name: str, scale: int) -> nn.Module:
    """The untrained network `name` (scale is ignored by inpainting)."""
    found = network_kind(name)
    if found.job == "upscale":
        if scale not in (2, 3, 4):
            raise ConfigError(f"--scale {scale}: super-resolution is trained at 2, 3 or 4")
        return found.build(scale)
    return found.build()
