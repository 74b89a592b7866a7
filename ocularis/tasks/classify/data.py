"""Classification data: a dataset name, folder or CSV becomes LabelledImages, then loaders for Lightning."""

from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from ocularis.data.builtin import digits, shapes
from ocularis.data.csv_labels import read_csv
from ocularis.data.dataset import ImageDataset
from ocularis.data.folder import read_folder
from ocularis.data.labelled import LabelledImages, check_decodable
from ocularis.data.sampling import EpochShuffle
from ocularis.data.transforms import eval_transform, train_transform
from ocularis.errors import DataError
from ocularis.registry import DATASETS
from ocularis.tasks.classify.config import ClassifyConfig

TASK = "classify"
DATASETS.add("digits", digits, task=TASK)
DATASETS.add("shapes", shapes, task=TASK)


def read_labelled(data: str, config: ClassifyConfig) -> LabelledImages:
    """A registered dataset name, a folder of class folders, or a path,label CSV; unreadable images raise or,
    with skip_bad, are dropped and listed in `bad_files`."""
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
    for name in ("train", "val", "test"):
        split, bad = check_decodable(getattr(labelled, name), config.skip_bad)
        setattr(labelled, name, split)
        labelled.bad_files += [b for b in bad if b not in labelled.bad_files]
    if not len(labelled.train) or not len(labelled.val):
        raise DataError(f"--data {data}: the train or val split is empty; add images or lower --val-fraction")
    if len(labelled.classes) < 2:
        raise DataError(f"--data {data}: found one class ({labelled.classes[0]}); classification needs two or more")
    return labelled


class ClassifyData(L.LightningDataModule):
    """Train/val loaders over LabelledImages with the model's size and normalisation."""

    def __init__(self, labelled: LabelledImages, config: ClassifyConfig, *, imgsz: int, mean, std):
        super().__init__()
        self.labelled, self.config = labelled, config
        fliplr = config.fliplr if config.fliplr is not None else (0.5 if labelled.hflip_ok else 0.0)
        self.train_tf = train_transform(imgsz, mean, std, config.augment, fliplr)
        self.eval_tf = eval_transform(imgsz, mean, std)

    def dataset(self, split: str, train: bool = False) -> ImageDataset:
        labelled = self.labelled
        return ImageDataset(getattr(labelled, split), self.train_tf if train else self.eval_tf,
                            channels=labelled.channels, num_classes=len(labelled.classes),
                            multi_label=labelled.multi_label, seed=self.config.seed)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("train", train=True), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("val"), shuffle=False)

    def _loader(self, dataset: ImageDataset, shuffle: bool) -> DataLoader:
        workers = self.config.workers
        sampler = EpochShuffle(len(dataset), self.config.seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.config.batch, sampler=sampler, num_workers=workers,
                          persistent_workers=workers > 0, drop_last=shuffle and len(dataset) > self.config.batch)
