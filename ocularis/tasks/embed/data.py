"""Metric-learning data: images with a class (an identity) each, read like classification data, held out per class
when asked (five photos of each person to learn from, five to test on), a few whole identities kept out of training
to calibrate the verification threshold on, and batches of P classes x M images."""

import dataclasses
from dataclasses import dataclass, field

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
                    channels: int | None = None) -> "Identities":
    """A dataset, class folders or CSV (as classification reads them); with --test-per-class, that many images of
    every class are the test split and --val-per-class more the val split (none: no validation). For training, the
    calibration identities are then set apart (hold_out_identities)."""
    if not config.test_per_class:
        labelled = _faces_only(read_classes(data, config, TASK, training, channels), config)
    else:
        whole = dataclasses.replace(config, val_fraction=0.0, test_fraction=0.0)
        labelled = read_classes(data, whole, TASK, training=False, channels=channels)
        everything = Split(labelled.train.sources + labelled.val.sources + labelled.test.sources,
                           labelled.train.targets + labelled.val.targets + labelled.test.targets)
        rest, labelled.test = split_per_class(everything, config.test_per_class, config.seed, "testing")
        labelled.train, labelled.val = split_per_class(rest, config.val_per_class, config.seed, "validation")
        labelled.test_is_val = False
        if training and len(labelled.classes) < 2:
            raise DataError(f"--data {data}: found one class ({labelled.classes[0]}); metric learning needs two or "
                            "more")
        labelled = _faces_only(labelled, config)
    identities = Identities(**{f.name: getattr(labelled, f.name) for f in dataclasses.fields(labelled)})
    # evaluation scores the test split against every other image (the enrolled gallery): no identities to set apart
    return hold_out_identities(identities, config.calibration_classes, config.seed) if training else identities


@dataclass
class Identities(LabelledImages):
    """Labelled images plus the calibration split: the train and val images of identities the network never trains
    on, where the verification threshold is chosen (their test images stay in the test split)."""

    calibration: Split = field(default_factory=Split)

    def calibration_classes(self) -> list[str]:
        return [self.classes[label] for label in sorted({t[0] for t in self.calibration.targets})]


MIN_HELD_OUT = 2  # different-identity pairs need two identities
MIN_TRAINED = 3  # fewer classes left to train on would leave too little to learn from: draw none


def hold_out_identities(labelled: Identities, share: float, seed: int) -> Identities:
    """Move the calibration identities' images out of train and val. They are the val split's identities that have
    no training image, topped up to `share` of the classes (at least MIN_HELD_OUT) by a seeded draw among the
    training classes with two or more images to move, while MIN_TRAINED or more classes are left to train on.
    A threshold chosen on identities the network learnt is too lenient with strangers: training pushes exactly those
    people apart."""
    val_is_test = labelled.val is labelled.test  # no test split: val stands in for it and keeps every identity
    trained = {t[0] for t in labelled.train.targets}
    unseen = set() if val_is_test else {t[0] for t in labelled.val.targets} - trained
    wanted = max(MIN_HELD_OUT, round(share * len(labelled.classes))) if share > 0 else 0
    movable = labelled.train.targets + ([] if val_is_test else labelled.val.targets)
    counts = np.bincount([t[0] for t in movable], minlength=len(labelled.classes))
    eligible = sorted(label for label in trained if counts[label] >= 2)
    drawn = wanted - len(unseen)
    if drawn > 0 and len(trained) - drawn >= MIN_TRAINED and len(eligible) >= drawn:
        unseen |= set(np.random.default_rng(seed).choice(eligible, drawn, replace=False).tolist())
    if not unseen:
        return labelled
    labelled.train, held = _parted(labelled.train, unseen)
    labelled.val, held_val = _parted(labelled.val, unseen)  # a val that stands in for test stays whole as the test
    labelled.calibration = held if val_is_test else Split(held.sources + held_val.sources,
                                                          held.targets + held_val.targets)
    return labelled


def _parted(split: Split, labels: set[int]) -> tuple[Split, Split]:
    """(the images of other classes, the images of `labels`)."""
    inside = [i for i, t in enumerate(split.targets) if t[0] in labels]
    chosen = set(inside)
    return split.subset([i for i in range(len(split)) if i not in chosen]), split.subset(inside)


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

    def __init__(self, labelled: Identities, config: EmbedConfig, *, imgsz: int, mean, std):
        super().__init__(config)
        if config.batch % config.per_class:
            raise ConfigError(f"--batch {config.batch} must be a multiple of --per-class {config.per_class} (a batch "
                              "is P classes x per-class images)")
        self.labelled = labelled
        fliplr = config.fliplr if config.fliplr is not None else (0.5 if labelled.hflip_ok else 0.0)
        self.train_tf = train_transform(imgsz, mean, std, config.augment, fliplr)
        self.eval_tf = eval_transform(imgsz, mean, std)

    def dataset(self, split: str, train: bool = False) -> IdentityDataset:
        """A split's images ("enrolled": the training and calibration images, whose class means the model saves);
        val and test images come with the enrolled gallery they are identified against."""
        labelled = self.labelled
        images = getattr(labelled, split) if split != "enrolled" else \
            Split(labelled.train.sources + labelled.calibration.sources,
                  labelled.train.targets + labelled.calibration.targets)
        found = IdentityDataset(images, self.train_tf if train else self.eval_tf,
                                channels=labelled.channels, num_classes=len(labelled.classes), multi_label=False,
                                seed=self.config.seed, images=labelled.images)
        if split in ("val", "test") and len(labelled.train):
            found.gallery = self.dataset("enrolled")
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
