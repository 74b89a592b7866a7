"""Classification data: a dataset name, folder or CSV becomes LabelledImages, then loaders for Lightning."""

from pathlib import Path

from ocularis.data.builtin import digits, shapes
from ocularis.data.cache import ImageCache, check_decodable
from ocularis.data.csv_labels import read_csv
from ocularis.data.dataset import ImageDataset
from ocularis.data.folder import read_folder
from ocularis.data.labelled import LabelledImages
from ocularis.data.transforms import eval_transform, train_transform
from ocularis.engine.datamodule import TaskData
from ocularis.errors import DataError
from ocularis.registry import DATASETS
from ocularis.tasks.classify.config import ClassifyConfig

TASK = "classify"
DATASETS.add("digits", digits, task=TASK)
DATASETS.add("shapes", shapes, task=TASK)


def read_labelled(data: str, config: ClassifyConfig, training: bool = True,
                  channels: int | None = None) -> LabelledImages:
    """A registered dataset name, a folder of class folders, or a path,label CSV; unreadable images (of all splits,
    in one error) raise or, with skip_bad, are dropped and listed in `bad_files`. Each file is decoded once here, and
    with --cache ram|disk that decode is kept for training. Evaluation (not `training`) may read one split of one
    class, in the model's `channels`."""
    split_options = {"val_fraction": config.val_fraction, "test_fraction": config.test_fraction, "seed": config.seed}
    path = Path(data)
    if (TASK, data) in DATASETS and not path.exists():
        labelled = DATASETS.get(data, task=TASK)(**split_options)
    elif path.suffix.lower() == ".csv":
        labelled = read_csv(path, **split_options)
    elif path.is_dir():
        labelled = read_folder(path, **split_options)
    else:
        raise DataError(f"--data {data}: no such folder, CSV file or built-in dataset "
                        f"({', '.join(DATASETS.names(task=TASK))})")
    labelled.channels = channels or labelled.channels  # a trained model reads any data in its own channels
    labelled.images = ImageCache(config.cache, labelled.channels)
    same = labelled.test is labelled.val  # no test split: val stands in for it, one object as the reader made it
    (labelled.train, labelled.val, labelled.test), bad = check_decodable(
        [labelled.train, labelled.val, labelled.test], labelled.images, config.skip_bad)
    labelled.test = labelled.val if same else labelled.test
    labelled.bad_files += [b for b in bad if b not in labelled.bad_files]
    if training and (not len(labelled.train) or not len(labelled.val)):  # evaluation may read one split
        raise DataError(f"--data {data}: the train or val split is empty; add images or lower --val-fraction")
    if training and len(labelled.classes) < 2:
        raise DataError(f"--data {data}: found one class ({labelled.classes[0]}); classification needs two or more")
    return labelled


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
