"""segmentation_models_pytorch's architectures on any of its encoders: PSPNet, U-Net, FPN and DeepLabV3+.

smp is imported inside the builders: it pulls in timm, seconds of imports that `ocularis info` and the other tasks
should not pay. Every model is built untrained (encoder_weights=None) for the data's channels (smp makes the
encoder's first convolution take `in_channels`) and classes (`num_classes` counts the background), and returns
logits at the input's size.

PSPNet (Zhao et al. 2017, seed 000: "pyramid pooling to capture global context"): smp's keeps the encoder's first 3
stages (stride 8), pools their map to 1x1, 2x2, 3x3 and 6x6 bins, concatenates the upsampled bins with the map and
upsamples x8 to the input. DeepLabV3+ (dilated encoder to stride 16, atrous spatial pyramid pooling, a stride-4 skip),
FPN (pyramid of the stride 4-32 maps summed top-down) and smp's U-Net (concatenating skips, stride 32) complete it.
DeepLabV3+'s image-pooling branch batch-normalises a 1x1 map, so it cannot train on batches of one image.
"""

from ocularis.models.network import normalisation
from ocularis.models.record import ModelRecord
from ocularis.models.segmenter import SemanticNetwork

ARCHITECTURES = {"pspnet": "PSPNet", "smp_unet": "Unet", "smp_fpn": "FPN", "smp_deeplabv3plus": "DeepLabV3Plus"}
DEFAULT_ENCODER = "resnet18"


class SmpSegmenter(SemanticNetwork):
    """An smp model as a SemanticNetwork; its stride is its encoder's output stride (smp refuses other sizes)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.stride = model.encoder.output_stride  # an instance value: it depends on the architecture and encoder

    def forward(self, images):
        return self.model(images)


def build(architecture: str, *, num_classes: int, in_channels: int, encoder: str = DEFAULT_ENCODER) -> SmpSegmenter:
    """smp's `architecture` (a class name: PSPNet, Unet, FPN, DeepLabV3Plus ...) on `encoder`, untrained."""
    import segmentation_models_pytorch as smp

    model = getattr(smp, architecture)(encoder_name=encoder, encoder_weights=None, in_channels=in_channels,
                                       classes=num_classes)
    return SmpSegmenter(model)


def _builder(name: str, architecture: str):
    def builder(*, num_classes: int, in_channels: int, encoder: str = DEFAULT_ENCODER) -> SmpSegmenter:
        return build(architecture, num_classes=num_classes, in_channels=in_channels, encoder=encoder)

    builder.__doc__ = f"segmentation_models_pytorch's {architecture} on any smp encoder (--encoder, default resnet18)."
    builder.__name__ = name
    return builder


_BUILDERS = {name: _builder(name, architecture) for name, architecture in ARCHITECTURES.items()}

# smp's ResNet encoders expect ImageNet-normalised RGB (their published weights' preprocessing); untrained here, the
# same statistics keep a model ready for those weights. Grey images: the channels' average.
_MEAN, _STD = normalisation(3, imagenet=True)
RECORDS = {name: ModelRecord(build, imgsz=128, lr=1e-3, mean=tuple(_MEAN), std=tuple(_STD))
           for name, build in _BUILDERS.items()}
