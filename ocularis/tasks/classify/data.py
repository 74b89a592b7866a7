"""Classification data: a dataset name, folder or CSV becomes LabelledImages, then loaders for Lightning."""


from ocularis.data.builtin import digits, shapes
from ocularis.data.class_sets import read_classes
from ocularis.data.dataset import ImageDataset
from ocularis.data.labelled import LabelledImages
from ocularis.data.transforms import eval_transform, train_transform
from ocularis.engine.datamodule import TaskData
from ocularis.registry import DATASETS
from ocularis.tasks.classify.config import ClassifyConfig

TASK = "classify"
DATASETS.add("digits", digits, task=TASK)
DATASETS.add("shapes", shapes, task=TASK)


def read_labelled(data: str, config: ClassifyConfig, training: bool = True,
                  channels: int | None = None) -> LabelledImages:
    """A registered classification dataset, a folder of class folders, or a path,label CSV (see read_classes)."""
    return read_classes(data, config, TASK, training, channels)


class ClassifyData(TaskData):
    """Train/val loaders over LabelledImages with the model's size and normalisation."""

    def __init__(self, labelled: LabelledImages, config: ClassifyConfig, *, imgsz: int, mean, std):
        super().__init__(config)
        self.labelled = labelled
        fliplr = config.fliplr if config.fliplr is not None else (0.5 if labelled.hflip_ok else 0.0)
        self.train_tf = train_transform(imgsz, mean, std, config.augment, fliplr)
        self.eval_tf = eval_transform(imgsz, mean, std)

    def dataset(self, split: str, train: bool = False) -> ImageDataset:
        labelled = self.labelled
        return ImageDataset(getattr(labelled, split), self.train_tf if train else self.eval_tf,
                            channels=labelled.channels, num_classes=len(labelled.classes),
                            multi_label=labelled.multi_label, seed=self.config.seed, images=labelled.images)
