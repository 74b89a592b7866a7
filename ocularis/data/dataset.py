"""A torch Dataset over a Split: takes each image's pixels (decoded, or from the ImageCache that read_labelled
filled), applies the transform, encodes the target."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch.utils.data import Dataset

from ocularis.core.images import read_image, to_pil
from ocularis.data.cache import ImageCache
from ocularis.data.labelled import Source, Split
from ocularis.data.sampling import sample_seed


def load_pil(source: Source, channels: int):
    """Any Source as a PIL image with `channels` channels."""
    mode = "L" if channels == 1 else "RGB"
    return read_image(source, mode) if isinstance(source, str) else to_pil(source).convert(mode)


@contextmanager
def seeded_cpu_rng(seed: int | None) -> Iterator[None]:
    """Inside, torch's CPU generator (the one transforms draw from) is seeded with `seed`; after, it is as it was.
    None: left alone. The same stream as torch.manual_seed under fork_rng, at 1/50 of the cost: those also seed
    (and save) every accelerator's generator, about 0.2 ms per image, a tenth of a cached image's whole load."""
    if seed is None:
        yield
        return
    generator = torch.default_generator
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        yield
    finally:
        generator.set_state(state)


class ImageDataset(Dataset):
    def __init__(self, split: Split, transform: Callable, *, channels: int, num_classes: int, multi_label: bool,
                 seed: int = 0, images: ImageCache | None = None):
        self.split = split
        self.images = images or ImageCache(channels=channels)
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
        image = self.images.load(self.split.sources[index])
        with seeded_cpu_rng(None if epoch is None else sample_seed(self.seed, epoch, index)):
            image = self.transform(image)
        targets = self.split.targets[index]
        if self.multi_label:
            target = torch.zeros(self.num_classes)
            target[list(targets)] = 1.0
        else:
            target = torch.tensor(targets[0])
        return image, target
