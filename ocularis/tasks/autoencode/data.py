"""Autoencoder data: images with or without classes (any classifying source, or a folder of loose images), split
three ways; each item is (pixels in 0..1, class index). The class is never trained on: it keeps a run to the chosen
(normal) classes, labels outliers and colours latent plots. A model trained on --patch crops sees random patches of
its training photos (a fixed set per image for validation and testing)."""

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from ocularis.data.builtin import digits, shapes
from ocularis.data.cache import ImageCache
from ocularis.data.class_sets import read_classes
from ocularis.data.dataset import seeded_cpu_rng
from ocularis.data.labelled import LabelledImages, Split
from ocularis.data.sampling import sample_seed
from ocularis.data.transforms import eval_transform, train_transform
from ocularis.engine.datamodule import TaskData
from ocularis.errors import DataError
from ocularis.registry import DATASETS
from ocularis.tasks.autoencode.config import AutoencodeConfig

TASK = "autoencode"
DATASETS.add("digits", digits, task=TASK)
DATASETS.add("shapes", shapes, task=TASK)
EVAL_EPOCH = -1  # the "epoch" whose seeds fix the patches of validation and test images


def read_images(data: str, config: AutoencodeConfig, training: bool = True,
                channels: int | None = None) -> LabelledImages:
    """The images of `data` (labels optional), in the model's `channels` when given; `training` keeps only
    --classes and requires non-empty train and val splits."""
    labelled = read_classes(data, config, TASK, training=False, channels=channels, unlabelled=True)
    if training and config.classes:
        keep_classes(labelled, [name.strip() for name in config.classes.split(",") if name.strip()], data)
    if training and (not len(labelled.train) or not len(labelled.val)):
        raise DataError(f"--data {data}: the train or val split is empty; add images or lower --val-fraction")
    return labelled


def keep_classes(labelled: LabelledImages, names: list[str], data: str) -> None:
    """Every split cut down to the images of `names` (re-indexed in that order); a name not in the data is refused."""
    unknown = [name for name in names if name not in labelled.classes]
    if unknown:
        raise DataError(f"--classes: {unknown[0]!r} is not a class of {data} ({', '.join(labelled.classes)})")
    new_index = {labelled.classes.index(name): number for number, name in enumerate(names)}
    for split in ("train", "val", "test"):
        old = getattr(labelled, split)
        chosen = [i for i, t in enumerate(old.targets) if t[0] in new_index]
        kept = Split([old.sources[i] for i in chosen], [(new_index[old.targets[i][0]],) for i in chosen])
        setattr(labelled, split, kept)
    labelled.classes = list(names)


LARGEST_NATURAL = 64  # photos are not resized to their own size by default: a whole-photo code would be huge


def natural_size(labelled: LabelledImages, multiple: int, images: int = 64) -> int:
    """The side a run resizes to when --imgsz is not given: the median longer side of (up to `images`) training
    images, at most 64 (larger photos want --patch), rounded to the network's multiple (digits: 8)."""
    sides = [max(labelled.images.size(s)) for s in labelled.train.sources[:images]]
    side = min(int(np.median(sides)) if sides else 32, LARGEST_NATURAL)
    return max(multiple, int(round(side / multiple)) * multiple)


class ImageSet(Dataset):
    """(pixels (C, S, S) in 0..1, class index) items of a split; with `patch`, `per_image` square crops of each
    image (random by (seed, epoch, image) in training, fixed otherwise) instead of the whole image resized."""

    def __init__(self, split: Split, images: ImageCache, *, imgsz: int, channels: int, patch: int = 0,
                 per_image: int = 1, augment: str = "none", train: bool = False, seed: int = 0,
                 classes: list[str] | None = None):
        self.split, self.images, self.seed, self.train = split, images, seed, train
        self.classes = classes or []  # the data's class names (what an item's class index means)
        self.patch, self.per_image = patch, per_image if patch else 1
        zeros, ones = (0.0,) * channels, (1.0,) * channels  # no normalisation: the decoder's sigmoid is 0..1
        if patch:
            steps = [v2.ToImage(), v2.RandomCrop(patch, pad_if_needed=True, padding_mode="reflect")]
            if train and augment != "none":
                steps.append(v2.RandomHorizontalFlip())
            self.transform = v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])
        elif train and augment != "none":
            self.transform = train_transform(imgsz, zeros, ones, augment, 0.0)
        else:
            self.transform = eval_transform(imgsz, zeros, ones)

    def __len__(self) -> int:
        return len(self.split) * self.per_image

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        image = self.images.load(self.split.sources[index // self.per_image])
        if epoch is None and self.patch:
            epoch = EVAL_EPOCH
        with seeded_cpu_rng(None if epoch is None else sample_seed(self.seed, epoch, index)):
            pixels = self.transform(image)
        return pixels, torch.tensor(self.split.targets[index // self.per_image][0])

    def label_names(self) -> list[str]:
        """Each item's class name."""
        return [self.classes[self.split.targets[i // self.per_image][0]] for i in range(len(self))]

    def source(self, item: int) -> str:
        """A name for item `item`: its file (and patch number), or its place in the split."""
        source = self.split.sources[item // self.per_image]
        name = Path(source).name if isinstance(source, str) else f"image{item // self.per_image}"
        return f"{name}#{item % self.per_image}" if self.patch else name


class ImageData(TaskData):
    def __init__(self, labelled: LabelledImages, config: AutoencodeConfig, *, imgsz: int):
        super().__init__(config)
        self.labelled, self.imgsz = labelled, imgsz

    def dataset(self, split: str, train: bool = False) -> ImageSet:
        config = self.config
        return ImageSet(getattr(self.labelled, split), self.labelled.images, imgsz=self.imgsz,
                        channels=self.labelled.channels, patch=config.patch, per_image=config.patches_per_image,
                        augment=config.augment, train=train, seed=config.seed, classes=self.labelled.classes)
