"""A torch Dataset over a Split: decodes each image, applies the transform, encodes the target."""

from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from ocularis.core.images import read_image, to_pil
from ocularis.data.labelled import Source, Split
from ocularis.data.sampling import sample_seed


def load_pil(source: Source, channels: int):
    """Any Source as a PIL image with `channels` channels."""
    mode = "L" if channels == 1 else "RGB"
    return read_image(source, mode) if isinstance(source, str) else to_pil(source).convert(mode)


class ImageDataset(Dataset):
    def __init__(self, split: Split, transform: Callable, *, channels: int, num_classes: int, multi_label: bool,
                 seed: int = 0):
        self.split = split
        self.seed = seed
        self.transform = transform
        self.channels = channels
        self.num_classes = num_classes
        self.multi_label = multi_label

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """`key` is an index, or (epoch, index) from EpochShuffle: then the augmentation is seeded by it."""
        epoch, index = key if isinstance(key, tuple) else (None, key)
        image = load_pil(self.split.sources[index], self.channels)
        if epoch is None:
            image = self.transform(image)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed(self.seed, epoch, index))
                image = self.transform(image)
        targets = self.split.targets[index]
        if self.multi_label:
            target = torch.zeros(self.num_classes)
            target[list(targets)] = 1.0
        else:
            target = torch.tensor(targets[0])
        return image, target
