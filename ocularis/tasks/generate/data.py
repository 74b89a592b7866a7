"""GAN data: images with their classes (a conditional GAN draws them; an unconditional one ignores them), from a
dataset name, a folder of class folders or loose images, or a path,label CSV; pixels in [-1, 1], the tanh's range."""

from ocularis.data.builtin import digits, shapes
from ocularis.data.class_sets import read_classes
from ocularis.data.labelled import LabelledImages
from ocularis.engine.datamodule import LabelledData
from ocularis.registry import DATASETS
from ocularis.tasks.generate.config import GanConfig

TASK = "generate"
DATASETS.add("digits", digits, task=TASK)
DATASETS.add("shapes", shapes, task=TASK)


def read_images(data: str, config: GanConfig, training: bool = True, channels: int | None = None) -> LabelledImages:
    """The images and classes of `data` (see ocularis.data.class_sets.read_classes); loose images are one class."""
    return read_classes(data, config, TASK, training, channels, unlabelled=True)


def unit_range(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalisation that maps pixels 0..1 to -1..1: (mean, std)."""
    return (0.5,) * channels, (0.5,) * channels


class GanData(LabelledData):
    """Loaders of (image, class) at the model's size, in -1..1; training flips where the data allows it."""

    def __init__(self, labelled: LabelledImages, config: GanConfig, *, imgsz: int):
        mean, std = unit_range(labelled.channels)
        super().__init__(labelled, config, imgsz=imgsz, mean=mean, std=std)
