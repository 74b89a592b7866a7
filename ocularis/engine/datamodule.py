"""The datamodule every task hands the fit skeleton: its splits as Datasets, and the same seeded loaders over them."""

from abc import abstractmethod
from collections.abc import Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset

from ocularis.config import TrainConfig
from ocularis.data.dataset import ImageDataset
from ocularis.data.labelled import LabelledImages
from ocularis.data.sampling import EpochShuffle
from ocularis.data.transforms import eval_transform, train_transform


class TaskData(L.LightningDataModule):
    """`dataset(split)` gives a split with the evaluation preprocessing (train=True: with augmentation). Training
    shuffles by (seed, epoch) and indexes the Dataset with (epoch, index) keys (data.sampling.EpochShuffle), so it
    can seed each image's augmentation and a resumed run sees what a straight one would."""

    collate: Callable | None = None  # how samples join into a batch (None: torch's default)

    def __init__(self, config: TrainConfig):
        super().__init__()
        self.config = config

    @abstractmethod
    def dataset(self, split: str, train: bool = False) -> Dataset:
        """The split "train", "val" or "test" as a Dataset of (input, target)."""

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("train", train=True), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("val"), shuffle=False)

    def loader(self, dataset: Dataset, shuffle: bool, batch: int | None = None) -> DataLoader:
        workers, batch = self.config.workers, batch or self.config.batch
        sampler = EpochShuffle(len(dataset), self.config.seed) if shuffle else None
        return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=self.collate,
                          persistent_workers=workers > 0, drop_last=shuffle and len(dataset) > batch)


class LabelledData(TaskData):
    """Loaders of (image, class) over LabelledImages at the model's size and normalisation: training augments as
    --augment says and flips where the data allows it (or --fliplr). What the tasks that read class folders share
    (classification, GANs)."""

    def __init__(self, labelled: LabelledImages, config: TrainConfig, *, imgsz: int, mean, std):
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
