"""GAN data: images with their classes (a conditional GAN draws them; an unconditional one ignores them), from a
dataset name, a folder of class folders or loose images, or a path,label CSV; pixels in [-1, 1], the tanh's range."""

from ocularis.data.builtin import digits, shapes
from ocularis.data.class_sets import read_classes
from ocularis.data.dataset import ImageDataset
from ocularis.data.labelled import LabelledImages
from ocularis.data.transforms import eval_transform, train_transform
from ocularis.engine.datamodule import TaskData
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


class GanData(TaskData):
    """Loaders of (image, class) at the model's size; training flips where the data allows it and --augment asks."""

    def __init__(self, labelled: LabelledImages, config: GanConfig, *, imgsz: int):
        super().__init__(config)
        self.labelled = labelled
        mean, std = unit_range(labelled.channels)
        fliplr = config.fliplr if config.fliplr is not None else (0.5 if labelled.hflip_ok else 0.0)
        self.train_tf = train_transform(imgsz, mean, std, config.augment, fliplr)
        self.eval_tf = eval_transform(imgsz, mean, std)

    def dataset(self, split: str, train: bool = False) -> ImageDataset:
        labelled = self.labelled
        return ImageDataset(getattr(labelled, split), self.train_tf if train else self.eval_tf,
                            channels=labelled.channels, num_classes=len(labelled.classes), multi_label=False,
                            seed=self.config.seed, images=labelled.images)
