"""The datamodule every task hands the fit skeleton: its splits as Datasets, and the same seeded loaders over them."""

from abc import abstractmethod
from collections.abc import Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset

from ocularis.config import TrainConfig
from ocularis.data.sampling import EpochShuffle


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
