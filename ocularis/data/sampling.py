"""Shuffling and augmentation that depend only on (seed, epoch, image): a resumed run replays a killed one."""

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochShuffle(Sampler):
    """Yields (epoch, index) keys in an order drawn from (seed, epoch); the dataset seeds each image's
    augmentation from its key. Lightning calls set_epoch before every epoch, resumed or not."""

    def __init__(self, size: int, seed: int, shuffle: bool = True):
        self.size, self.seed, self.shuffle, self.epoch = size, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator) if self.shuffle else torch.arange(self.size)
        return iter([(self.epoch, int(i)) for i in order])

    def __len__(self) -> int:
        return self.size


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch) * 10_000_019 + index
