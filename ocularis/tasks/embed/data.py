"""Metric-learning data: images with a class (an identity) each, read like classification data, held out per class
when asked (five photos of each person to learn from, five to test on), and batches of P classes x M images."""

import dataclasses

import numpy as np
from torch.utils.data import DataLoader

from ocularis.data.builtin import digits, shapes
from ocularis.data.class_sets import read_classes
from ocularis.data.dataset import ImageDataset
from ocularis.data.labelled import LabelledImages, Split, split_per_class
from ocularis.data.sampling import ClassGroups
from ocularis.data.transforms import eval_transform, train_transform
from ocularis.engine.datamodule import TaskData
from ocularis.errors import ConfigError, DataError
from ocularis.models.faces import HaarFaceDetector, aligned_best_face
from ocularis.registry import DATASETS
from ocularis.tasks.embed.config import EmbedConfig

TASK = "embed"
DATASETS.add("digits", digits, task=TASK)
DATASETS.add("shapes", shapes, task=TASK)


def read_identities(data: str, config: EmbedConfig, training: bool = True,
                    channels: int | None = None) -> LabelledImages:
    """A dataset, class folders or CSV (as classification reads them); with --test-per-class, that many images of
    every class are the test split and --val-per-class more the val split (none: no validation)."""
    if not config.test_per_class:
        return _faces_only(read_classes(data, config, TASK, training, channels), config)
    whole = dataclasses.replace(config, val_fraction=0.0, test_fraction=0.0)
    labelled = read_classes(data, whole, TASK, training=False, channels=channels)
    everything = Split(labelled.train.sources + labelled.val.sources + labelled.test.sources,
                       labelled.train.targets + labelled.val.targets + labelled.test.targets)
    rest, labelled.test = split_per_class(everything, config.test_per_class, config.seed, "testing")
    labelled.train, labelled.val = split_per_class(rest, config.val_per_class, config.seed, "validation")
    labelled.test_is_val = False
    if training and len(labelled.classes) < 2:
        raise DataError(f"--data {data}: found one class ({labelled.classes[0]}); metric learning needs two or more")
    return _faces_only(labelled, config)


def _faces_only(labelled: LabelledImages, config: EmbedConfig) -> LabelledImages:
    """With --faces, every image replaced by its aligned face, once, before training (a Haar search per image and
    epoch would cost more than the training step); images where none is found are listed in bad_files."""
    if not config.faces:
        return labelled
    detector = HaarFaceDetector()
    same = labelled.test is labelled.val
    for split_name in ("train", "val", "test"):
        if split_name == "test" and same:
            labelled.test = labelled.val
            continue
        split, kept = getattr(labelled, split_name), Split()
        for source, targets in zip(split.sources, split.targets, strict=True):
            face = aligned_best_face(labelled.images.load(source), detector)
            if face is None:
                labelled.bad_files.append((str(source) if isinstance(source, str) else "(array)", "no face found"))
                continue
            kept.sources.append(np.asarray(face))
            kept.targets.append(targets)
        setattr(labelled, split_name, kept)
    return labelled


class IdentityDataset(ImageDataset):
    """A split's images with their classes, and the gallery its queries are identified against (the training
    images, without augmentation; None: each image is identified against the others of its own split)."""

    gallery: ImageDataset | None = None

    def labels(self) -> list[int]:
        return [targets[0] for targets in self.split.targets]


class EmbedData(TaskData):
    """Training batches of `per_class` images of each of batch / per_class classes; evaluation as classification's."""

    def __init__(self, labelled: LabelledImages, config: EmbedConfig, *, imgsz: int, mean, std):
        super().__init__(config)
        if config.batch % config.per_class:
            raise ConfigError(f"--batch {config.batch} must be a multiple of --per-class {config.per_class} (a batch "
                              "is P classes x per-class images)")
        self.labelled = labelled
        fliplr = config.fliplr if config.fliplr is not None else (0.5 if labelled.hflip_ok else 0.0)
        self.train_tf = train_transform(imgsz, mean, std, config.augment, fliplr)
        self.eval_tf = eval_transform(imgsz, mean, std)

    def dataset(self, split: str, train: bool = False) -> IdentityDataset:
        labelled = self.labelled
        found = IdentityDataset(getattr(labelled, split), self.train_tf if train else self.eval_tf,
                                channels=labelled.channels, num_classes=len(labelled.classes), multi_label=False,
                                seed=self.config.seed, images=labelled.images)
        if split != "train" and len(labelled.train):
            found.gallery = self.dataset("train")
        return found

    def train_dataloader(self) -> DataLoader:
        dataset = self.dataset("train", train=True)
        sampler = ClassGroups(dataset.labels(), self.config.per_class, self.config.seed)
        workers = self.config.workers
        return DataLoader(dataset, batch_size=self.config.batch, sampler=sampler, num_workers=workers,
                          persistent_workers=workers > 0, drop_last=len(sampler) > self.config.batch)

    def val_dataloader(self) -> list[DataLoader]:
        """The val images and the gallery they are identified against (recall@1, the monitor)."""
        val = self.dataset("val")
        return [self.loader(val, shuffle=False), self.loader(val.gallery, shuffle=False)] if len(val) else []
