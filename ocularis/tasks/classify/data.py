"""Classification data: a dataset name, folder or CSV becomes LabelledImages, then loaders for Lightning."""


from ocularis.data.builtin import digits, shapes
from ocularis.data.class_sets import read_classes
from ocularis.data.labelled import LabelledImages
from ocularis.engine.datamodule import LabelledData
from ocularis.registry import DATASETS
from ocularis.tasks.classify.config import ClassifyConfig

TASK = "classify"
DATASETS.add("digits", digits, task=TASK)
DATASETS.add("shapes", shapes, task=TASK)


def read_labelled(data: str, config: ClassifyConfig, training: bool = True,
                  channels: int | None = None) -> LabelledImages:
    """A registered classification dataset, a folder of class folders, or a path,label CSV (see read_classes)."""
    return read_classes(data, config, TASK, training, channels)


class ClassifyData(LabelledData):
    """Train/val loaders over LabelledImages with the model's size and normalisation."""
