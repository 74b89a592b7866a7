"""Restoration networks, each with its record of defaults beside it; the restore task registers the records by name.

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
from ocularis.models.record import ModelRecord


@dataclass(frozen=True)
class NetworkKind(ModelRecord):
    """A restoration network's record: its class, what it does and the training defaults that suit it."""

    job: str  # "upscale" or "inpaint"
    crop: int  # side of a training crop in output (high-resolution) pixels, before rounding to the scale
    patches: int  # random crops taken from each training photo per epoch
    upsamples: bool = True  # False: it takes the bicubic upscale (SRCNN), True: the small image itself


def bicubic_kernels(scale: int) -> torch.Tensor:
    """(scale^2, 1, 5, 5) filters whose pixel shuffle is F.interpolate's bicubic upscale (a = -0.75, half-pixel
    centres): output pixel (r*i + a, r*j + b) reads the 5x5 input pixels around (i, j) with weights w_a (x) w_b,
    taken from F.interpolate itself on 1-D impulses. A convolution runs in every runtime at full speed, where ONNX
    Runtime's cubic Resize took two thirds of ESPCN's time."""
    impulses = torch.eye(5).reshape(5, 1, 1, 5)
    taps = F.interpolate(impulses, scale_factor=scale, mode="bicubic", align_corners=False)[:, 0, 0]
    phases = taps[:, 2 * scale:3 * scale].T  # (scale, 5): the centre input pixel's output phases
    return (phases[:, None, :, None] * phases[None, :, None, :]).reshape(scale * scale, 1, 5, 5)


def start_near_input(body: nn.Sequential) -> None:
    """He initialisation for the hidden ReLU layers, the last layer near zero: a residual network then starts as
    the bicubic upscale it refines and learns what bicubic misses, instead of first unlearning random noise."""
    *hidden, last = [m for m in body if isinstance(m, nn.Conv2d)]
    for conv in hidden:
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(conv.bias)
    nn.init.normal_(last.weight, std=1e-3)
    nn.init.zeros_(last.bias)


class ESPCN(nn.Module):
    """Two convolutions at the input's resolution, then one with scale^2 channels shuffled into pixels. With
    `residual`, the network learns the difference from a bicubic upscale (converges in minutes instead of hours),
    added before the shuffle as one more fixed convolution (`bicubic_kernels`). The input is padded once, by edge
    repetition, by the 4 pixels the three convolutions read beyond a pixel; they then pad nothing, so the exported
    graph has no padding between its layers.

    ReLU rather than the paper's tanh, and `start_near_input`: with tanh and PyTorch's default initialisation, x3
    on BSDS500 stalled at +1.0 dB over bicubic on Set5 however long it trained (31.4 dB from 1,000 to 10,000
    steps); this way it passes 32.3 dB within 10,000 steps."""

    reach = 4  # input pixels beyond each output pixel that the body reads (5x5, 3x3, 3x3)

    def __init__(self, scale: int, features: tuple[int, int] = (64, 32), residual: bool = True):
        super().__init__()
        self.scale, self.residual = scale, residual
        self.body = nn.Sequential(nn.Conv2d(1, features[0], 5), nn.ReLU(), nn.Conv2d(features[0], features[1], 3),
                                  nn.ReLU(), nn.Conv2d(features[1], scale * scale, 3))
        self.shuffle = nn.PixelShuffle(scale)
        self.register_buffer("bicubic", bicubic_kernels(scale), persistent=False)
        start_near_input(self.body)

    def forward(self, luma: torch.Tensor) -> torch.Tensor:
        padded = F.pad(luma, (self.reach,) * 4, mode="replicate")
        out = self.body(padded)
        if self.residual:
            edge = self.reach - 2  # the bicubic filters read 2 pixels around
            out = out + F.conv2d(padded[..., edge:padded.shape[-2] - edge, edge:padded.shape[-1] - edge],
                                 self.bicubic)
        return self.shuffle(out)


class SRCNN(nn.Module):
    """Patch extraction (9x9), non-linear mapping (1x1), reconstruction (5x5) on the bicubic upscale; `residual`
    adds the upscale back, so the network learns only what bicubic misses."""

    def __init__(self, scale: int, features: tuple[int, int] = (64, 32), residual: bool = True):
        super().__init__()
        self.scale, self.residual = scale, residual
        self.body = nn.Sequential(nn.Conv2d(1, features[0], 9, padding=4, padding_mode="replicate"), nn.ReLU(),
                                  nn.Conv2d(features[0], features[1], 1), nn.ReLU(),
                                  nn.Conv2d(features[1], 1, 5, padding=2, padding_mode="replicate"))
        start_near_input(self.body)

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


# Super-resolution learns from many small crops (both papers: 17x17 low-resolution pixels at x3); measured on
# BSDS500 at x3, 256 crops of 51 pixels a photo beat 32 of 96 by 1.2 dB in the same time.
RECORDS = {"espcn": NetworkKind(ESPCN, "upscale", crop=51, patches=256),
           "srcnn": NetworkKind(SRCNN, "upscale", crop=51, patches=256, upsamples=False),
           "inpaint": NetworkKind(MaskedAutoencoder, "inpaint", crop=128, patches=32)}


def build_restorer(found: NetworkKind, scale: int) -> nn.Module:
    """The untrained network of record `found` (scale is ignored by inpainting)."""
    if found.job == "upscale":
        if scale not in (2, 3, 4):
            raise ConfigError(f"--scale {scale}: super-resolution is trained at 2, 3 or 4")
        return found.build(scale)
    return found.build()
