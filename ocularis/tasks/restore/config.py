"""Options of restoration: the shared training options plus the scale, the training crops and the holes."""

from dataclasses import dataclass

from ocularis.config import PredictOptions, TrainConfig, option


@dataclass
class RestoreConfig(TrainConfig):
    data: str = option("", "a folder of photos (any layout); Set5-style pairs NAME_HR.png / NAME_LR.png are scored "
                       "on the given low-resolution image, other photos on their bicubic downscale", path=True)
    model: str = option("espcn", "espcn or srcnn (super-resolution), inpaint (fills holes)")
    scale: int = option(3, "super-resolution factor", low=2, high=4)
    crop: int | None = option(None, "side of the random training crops in output pixels (default: the model's)",
                              low=16)
    patches: int | None = option(None, "random crops taken from each training photo per epoch (default: the "
                                 "model's)", low=1)
    hole: int = option(32, "inpainting: side of the square holes cut while training and scoring", low=4)
    holes: int = option(3, "inpainting: at most this many holes per training crop (at least one)", low=1)
    batch: int = option(16, "crops per batch (per device)")


@dataclass
class RestoreOptions(PredictOptions):
    mask: str | None = option(None, "inpainting: an image of the holes to fill (white or non-zero = hole), the "
                              "photo's size", picture=True)
