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


class ClassGroups(EpochShuffle):
    """EpochShuffle's keys ordered so that every run of `per_class` keys shares a class (P classes x M images a
    batch, as metric learning needs: a batch without two images of a class has no positive pair). Classes and their
    images are drawn from (seed, epoch); the last group of a class is filled up with repeats; every image
    appears at least once an epoch."""

    def __init__(self, labels: list[int], per_class: int, seed: int):
        super().__init__(len(labels), seed)
        self.per_class = per_class
        self.members: dict[int, list[int]] = {}
        for index, label in enumerate(labels):
            self.members.setdefault(label, []).append(index)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        groups = []
        for members in self.members.values():
            order = [members[i] for i in torch.randperm(len(members), generator=generator)]
            rounds = -(-len(order) // self.per_class)  # enough groups to hold every image
            repeated = (order * (rounds * self.per_class // len(order) + 1))[:rounds * self.per_class]
            groups += [repeated[i:i + self.per_class] for i in range(0, len(repeated), self.per_class)]
        shuffled = [groups[i] for i in torch.randperm(len(groups), generator=generator)]
        return iter([(self.epoch, index) for group in shuffled for index in group])

    def __len__(self) -> int:
        return sum(-(-len(m) // self.per_class) * self.per_class for m in self.members.values())
