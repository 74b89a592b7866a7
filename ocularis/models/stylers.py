"""Neural style transfer's networks (seeds 000 chapter 8, 003, 004), each record keeping its defaults beside its
builder: the feed-forward style networks of Johnson, Alahi and Fei-Fei (2016), and the feature networks whose
activations the style and content losses compare (Gatys, Ecker and Bethge 2016).

A style network is convolutions down to a quarter of the resolution, residual blocks there, and up again, with
instance normalisation (Ulyanov et al. 2016: it removes each image's own contrast, which style networks train far
better with than batch norm) and nearest-neighbour upsampling followed by a convolution instead of transposed
convolutions (Odena et al. 2016: no checkerboard artefacts). It is fully convolutional: any image size.

A feature network is what "perceptual" losses are measured on: VGG-16/19 from a weights file when the user has one,
any ocularis classifier (ocularis.tasks.style.features reads its layers), or, with neither, a VGG-shaped stack of
random filters; random-weight deep networks carry enough of an image's statistics for texture synthesis and style
transfer (He, Wang and Hopcroft, NeurIPS 2016; Ustyuzhaninov et al. 2016 with a single random layer)."""

import torch
from torch import nn

from ocularis.models.record import ModelRecord


def _conv(inputs: int, outputs: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """A reflection-padded convolution (no dark border learnt from zero padding), instance norm, ReLU."""
    return [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(inputs, outputs, kernel, stride),
            nn.InstanceNorm2d(outputs, affine=True), nn.ReLU()]


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*_conv(channels, channels, 3)[:-1], nn.ReLU(),
                                  *_conv(channels, channels, 3)[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class StyleNetwork(nn.Module):
    """RGB in 0..1 -> RGB in 0..1 (any size; sides that are not multiples of 4 are padded and cut back). Its output
    is added to the photo's logits, and its last convolution starts near zero: the untrained network returns the
    photo, and training only has to learn the strokes, not first how to redraw the photo (on a CPU's few thousand
    steps, a network that starts from noise still loses the photo's content where this one keeps it)."""

    def __init__(self, width: int = 32, blocks: int = 5, edge: int = 9):
        super().__init__()
        up = [nn.Upsample(scale_factor=2, mode="nearest"), *_conv(4 * width, 2 * width, 3),
              nn.Upsample(scale_factor=2, mode="nearest"), *_conv(2 * width, width, 3)]
        self.body = nn.Sequential(*_conv(3, width, edge), *_conv(width, 2 * width, 3, 2),
                                  *_conv(2 * width, 4 * width, 3, 2), *[Residual(4 * width) for _ in range(blocks)],
                                  *up, nn.ReflectionPad2d(edge // 2), nn.Conv2d(width, 3, edge))
        nn.init.normal_(self.body[-1].weight, std=1e-3)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        padded = nn.functional.pad(images, (0, -width % 4, 0, -height % 4), mode="replicate")
        return torch.sigmoid(self.body(padded)[..., :height, :width] + torch.logit(images, eps=1e-3))


def johnson(width: int = 32, blocks: int = 5, edge: int = 9) -> StyleNetwork:
    """Johnson et al.'s style network: 9x9 edges, 32-64-128 channels, five residual blocks (1.7 M weights)."""
    return StyleNetwork(width, blocks, edge)


def johnson_small(width: int = 8, blocks: int = 3, edge: int = 5) -> StyleNetwork:
    """A quarter of its channels, three residual blocks, 5x5 edges: real-time on a laptop CPU."""
    return StyleNetwork(width, blocks, edge)


RECORDS = {"johnson": ModelRecord(johnson, imgsz=256, lr=1e-3),
           "johnson_small": ModelRecord(johnson_small, imgsz=256, lr=2e-3)}


def random_features(seed: int = 0, width: int = 32) -> nn.Sequential:
    """A VGG-shaped stack (two 3x3 convolutions and ReLUs per stage, max pooling between five stages, widths
    doubling to 8x `width`) of random filters, He-initialised from `seed`: the same network whenever it is asked
    for with the same seed, so a run that names it can be repeated."""
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    channels = 3
    for stage in range(5):
        wide = width * 2 ** min(stage, 3)
        for _ in range(2):
            conv = nn.Conv2d(channels, wide, 3, padding=1)
            with torch.no_grad():
                conv.weight.normal_(0, (2 / (9 * channels)) ** 0.5, generator=generator)
                conv.bias.zero_()
            layers += [conv, nn.ReLU()]
            channels = wide
        if stage < 4:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers).eval()


# the layers the style and content losses read in each feature network, by index into its Sequential: VGG's as
# Gatys et al. (style relu1_1 .. relu5_1, content relu4_2) and Johnson et al. (style relu1_2 .. relu4_3, content
# relu2_2) chose them; the random stack's ReLU after the first convolution of each stage, content at the end of
# the second (as Johnson et al.: a deeper one, at an eighth of a 128-pixel crop, keeps too little of the photo)
RANDOM_LAYERS = {"style": (1, 6, 11, 16, 21), "content": (8,)}
VGG_LAYERS = {"vgg19": {"style": (1, 6, 11, 20, 29), "content": (22,)},
              "vgg16": {"style": (3, 8, 15, 22), "content": (8,)}}
