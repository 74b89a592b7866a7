"""Hand-written semantic segmentation networks: FCN-32s/16s/8s, SegNet and U-Net, at widths that train on a CPU.

Each follows ocularis.models.segmenter: forward(images (B, C_in, H, W)) -> logits (B, num_classes, H, W) at the
input's resolution, class 0 background, for H and W multiples of `stride`. `num_classes` counts the background.

The seeds teach all three as encoder-decoder networks (seed 004: the encoder is the convolutional part of a CNN, the
decoder restores the input's resolution). They differ in how the decoder gets back the detail the encoder pooled
away: FCN adds class scores from earlier pools through learned upsampling (transposed convolutions, seed 001: "a
larger output by inserting zeros between the input's elements and convolving"), SegNet unpools at the positions the
encoder's max-pools kept, U-Net concatenates whole encoder feature maps. Batch normalisation follows every
convolution here; the three papers predate it or (SegNet) use it, and it lets these small networks train from scratch
at one learning rate.
"""

import torch
from torch import nn

from ocularis.models.network import normalisation
from ocularis.models.record import ModelRecord
from ocularis.models.segmenter import SemanticNetwork

VGG16_CONVS = (2, 2, 3, 3, 3)  # 3x3 convolutions per stage of VGG16, the encoder of FCN and SegNet


def vgg_widths(width: int) -> tuple[int, ...]:
    """VGG16's stage widths 64-128-256-512-512 scaled so the first is `width` (16: 16-32-64-128-128)."""
    return (width, 2 * width, 4 * width, 8 * width, 8 * width)


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """A same-size 3x3 convolution (its bias left to the batch norm), batch norm and ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def conv_stack(in_channels: int, widths: list[int]) -> nn.Sequential:
    """conv_bn_relu blocks, one per entry of `widths`, the first taking `in_channels`."""
    ins = [in_channels, *widths[:-1]]
    return nn.Sequential(*(conv_bn_relu(i, o) for i, o in zip(ins, widths, strict=True)))


def bilinear_kernel(channels: int, kernel: int) -> torch.Tensor:
    """(channels, channels, kernel, kernel) weights of a transposed convolution that upsamples each channel
    bilinearly on its own (FCN's `upsample_filt` on the diagonal, zero between classes)."""
    factor = (kernel + 1) // 2
    centre = factor - 1 if kernel % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(kernel, dtype=torch.float32) - centre).abs() / factor
    weight = torch.zeros(channels, channels, kernel, kernel)
    weight[range(channels), range(channels)] = taps[:, None] * taps[None, :]
    return weight


def bilinear_upsampler(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A learned x`factor` upsampling of class scores, initialised to bilinear interpolation as FCN's are.

    Kernel 2f, stride f and padding f/2 make the output exactly f times the input and put each input pixel's peak at
    its centre in the output (F.interpolate's bilinear, align_corners=False, away from the border), so no crop is
    needed; FCN's Caffe nets pad the input by 100 and crop instead."""
    up = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, 2 * factor))
    return up


def _zero_scorer(in_channels: int, num_classes: int) -> nn.Conv2d:
    """A 1x1 class-score convolution initialised to zero: FCN zero-initialises its score layers (random
    initialisation gave it neither better results nor faster convergence), and a new skip then starts as a no-op."""
    scorer = nn.Conv2d(in_channels, num_classes, 1)
    nn.init.zeros_(scorer.weight)
    nn.init.zeros_(scorer.bias)
    return scorer


class FCN(SemanticNetwork):
    """Fully convolutional network (Long, Shelhamer, Darrell 2015) on a slim VGG16 encoder.

    Five stages of 2-2-3-3-3 convolutions, each max-pooled (stride 32); VGG's fc6/fc7 become convolutions (seed 004:
    an FC layer over a 7x7x512 volume is a 7x7 conv) of 16 x width channels (VGG's 4096, 64 x 64, would hold most of
    the weights at 1/32 resolution), here 3x3 since at 128 px the pool5 map is only 4x4; then a 1x1 score layer.
    `skips` 0, 1, 2 give FCN-32s, -16s, -8s: the 1/32 scores are upsampled x2 (learned, initialised bilinear) and
    summed with 1x1 scores of pool4, then again with pool3's, and the sum is upsampled to the input (x32, x16, x8).
    All upsamplings learn here; the paper fixed the last one to bilinear and learned the x2 ones."""

    stride = 32

    def __init__(self, num_classes: int, in_channels: int = 3, *, skips: int = 2, width: int = 16):
        super().__init__()
        if skips not in (0, 1, 2):
            raise ValueError(f"FCN skips must be 0 (32s), 1 (16s) or 2 (8s), not {skips}")
        widths, ins = vgg_widths(width), (in_channels, *vgg_widths(width)[:-1])
        self.stages = nn.ModuleList(nn.Sequential(conv_stack(i, [w] * n), nn.MaxPool2d(2))
                                    for i, w, n in zip(ins, widths, VGG16_CONVS, strict=True))
        fc = 16 * width
        self.fc = nn.Sequential(conv_bn_relu(widths[-1], fc), nn.Conv2d(fc, fc, 1, bias=False), nn.BatchNorm2d(fc),
                                nn.ReLU(inplace=True))
        self.score = _zero_scorer(fc, num_classes)
        self.skip_scores = nn.ModuleList(_zero_scorer(widths[3 - k], num_classes) for k in range(skips))  # pool4, 3
        self.skip_ups = nn.ModuleList(bilinear_upsampler(num_classes, 2) for _ in range(skips))
        self.final_up = bilinear_upsampler(num_classes, 32 // 2**skips)

    def explained_layer(self) -> nn.Module:
        """fc6/fc7 (stride 32): the deepest map, which every score reads."""
        return self.fc

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pools, x = [], images
        for stage in self.stages:
            x = stage(x)
            pools.append(x)  # pool1 .. pool5 at strides 2 .. 32
        score = self.score(self.fc(x))
        for level, (scorer, up) in enumerate(zip(self.skip_scores, self.skip_ups, strict=True)):
            score = up(score) + scorer(pools[3 - level])
        return self.final_up(score)


class SegNet(SemanticNetwork):
    """SegNet (Badrinarayanan, Kendall, Cipolla 2017): VGG16's 13 convolutions as the encoder (here slim), and a
    mirrored decoder that upsamples with the encoder's max-pooling indices.

    Each encoder stage ends in a 2x2 max pool that remembers where each maximum came from; the matching decoder stage
    puts each value back at that position (zeros elsewhere, MaxUnpool2d) and convolves the sparse map into a dense
    one. Storing the indices, not the feature maps (as FCN and U-Net must), is what the paper sells: it keeps the
    boundary detail of the pooling at the memory cost of one index per pooled value, and the upsampling learns
    nothing. The last decoder's features go to a 1x1 classifier (the paper's trainable soft-max classifier)."""

    stride = 32

    def __init__(self, num_classes: int, in_channels: int = 3, *, width: int = 16):
        super().__init__()
        widths = vgg_widths(width)
        ins = (in_channels, *widths[:-1])
        self.encoders = nn.ModuleList(conv_stack(i, [w] * n) for i, w, n in zip(ins, widths, VGG16_CONVS, strict=True))
        outs = (widths[0], *widths[:-1])  # each decoder's last conv narrows to the width of the stage above it
        self.decoders = nn.ModuleList(conv_stack(w, [w] * (n - 1) + [o])
                                      for w, n, o in reversed(list(zip(widths, VGG16_CONVS, outs, strict=True))))
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    def explained_layer(self) -> nn.Module:
        """The last encoder (stride 32), which every decoder reads."""
        return self.encoders[-1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        indices, x = [], images
        for encoder in self.encoders:
            x, where = self.pool(encoder(x))
            indices.append(where)
        for decoder, where in zip(self.decoders, reversed(indices), strict=True):
            x = decoder(self.unpool(x, where))
        return self.classifier(x)


class UNet(SemanticNetwork):
    """U-Net (Ronneberger, Fischer, Brox 2015): a contracting path of two 3x3 conv+ReLU per level and a 2x2 max pool,
    doubling the channels at each of `depth` downsamplings; an expansive path of 2x2 transposed-conv upsampling that
    halves the channels, concatenation with the contracting path's map of that level, and two 3x3 convs; a 1x1
    classifier. The paper's network is width 64, depth 4 (1024 channels at the bottom, 23 convolutions).

    Unlike the paper, the convolutions are padded (padding 1), so the output has the input's size and the skips need
    no crop (stride 2**depth). The paper's valid convolutions shrink a 572-pixel tile to a 388-pixel map (seed 002)
    and it segments large images by overlap-tile, predicting each tile's centre from a larger mirrored context;
    ocularis's tiled prediction does that overlap-tile part for any network."""

    def __init__(self, num_classes: int, in_channels: int = 3, *, width: int = 16, depth: int = 4):
        super().__init__()
        widths = [width * 2**level for level in range(depth + 1)]
        self.stride = 2**depth  # an instance value here: it follows `depth`
        ins = [in_channels, *widths[:-1]]
        self.contracting = nn.ModuleList(conv_stack(i, [w, w]) for i, w in zip(ins, widths, strict=True))
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2)
                                 for k in reversed(range(depth)))
        self.expansive = nn.ModuleList(conv_stack(2 * widths[k], [widths[k]] * 2) for k in reversed(range(depth)))
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def explained_layer(self) -> nn.Module:
        """The last expansive block but one (stride 2): the bottom's meaning joined with the skips, at nearly the
        input's resolution. (On the shapes the first expansive block's Grad-CAM missed the explained class.)"""
        return self.expansive[-2]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        skips, x = [], images
        for level, block in enumerate(self.contracting):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        for up, block, skip in zip(self.ups, self.expansive, reversed(skips[:-1]), strict=True):
            x = block(torch.cat([skip, up(x)], dim=1))
        return self.classifier(x)


def _fcn(skips: int):
    def build(*, num_classes: int, in_channels: int, width: int = 16) -> FCN:
        return FCN(num_classes, in_channels, skips=skips, width=width)

    build.__doc__ = f"FCN-{32 // 2**skips}s on a slim VGG16 encoder (width 16; VGG's 64), learned bilinear upsampling."
    return build


def segnet(*, num_classes: int, in_channels: int, width: int = 16) -> SegNet:
    """SegNet: slim VGG16 encoder, decoder unpooling with the encoder's max-pooling indices."""
    return SegNet(num_classes, in_channels, width=width)


def _unet(default_width: int):
    def build(*, num_classes: int, in_channels: int, width: int = default_width, depth: int = 4) -> UNet:
        return UNet(num_classes, in_channels, width=width, depth=depth)

    build.__doc__ = (f"U-Net, padded convolutions (output = input size), width {default_width} (the paper's: 64), "
                     "depth 4.")
    return build


_BUILDERS = {"fcn32s": _fcn(0), "fcn16s": _fcn(1), "fcn8s": _fcn(2), "segnet": segnet, "unet": _unet(16),
            "unet32": _unet(32), "unet64": _unet(64)}

_MEAN, _STD = normalisation(3, imagenet=False)  # trained from scratch: pixels to [-1, 1]; grey: the same per channel
RECORDS = {name: ModelRecord(build, imgsz=128, lr=3e-3, mean=tuple(_MEAN), std=tuple(_STD))
           for name, build in _BUILDERS.items()}
