"""Detection data: a dataset name or label file becomes a DetectionSet, then box-aware loaders for Lightning."""

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ocularis.data.dataset import load_pil
from ocularis.data.detection import DetectionSet, DetectionSplit, read_detection
from ocularis.data.labelled import Split, check_decodable
from ocularis.data.sampling import EpochShuffle, sample_seed
from ocularis.errors import DataError
from ocularis.tasks.detect.config import DetectConfig


def read_boxes(data: str, config: DetectConfig) -> DetectionSet:
    """The DetectionSet behind --data, every image decodable (or, with skip_bad, the bad ones dropped and listed)."""
    dataset = read_detection(data, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                             seed=config.seed)
    for name in ("train", "val", "test"):
        split: DetectionSplit = getattr(dataset, name)
        _, bad = check_decodable(Split(split.sources, [()] * len(split)), config.skip_bad)
        if bad:
            bad_paths = {path for path, _ in bad}
            setattr(dataset, name, split.subset([i for i, source in enumerate(split.sources)
                                                 if not (isinstance(source, str) and source in bad_paths)]))
            dataset.warnings.append(f"{len(bad)} unreadable image(s) left out of {name}: {bad[0][0]} ...")
    if not len(dataset.train) or not len(dataset.val):
        raise DataError(f"--data {data}: the train or val split is empty; add images or lower --val-fraction")
    return dataset


def detect_transform(imgsz: int, mean, std, augment: str = "none", fliplr: float = 0.5) -> v2.Compose:
    """Resize to imgsz x imgsz (boxes move with the pixels), optionally augment, scale and normalise."""
    steps: list = [v2.ToImage(), v2.Resize((imgsz, imgsz), antialias=True)]
    if augment != "none":
        jitter = 0.4 if augment == "heavy" else 0.2
        steps += [v2.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(0.75, 1.25) if augment == "heavy"
                                  else (0.9, 1.1)),
                  v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=0.02)]
        if fliplr > 0:
            steps.append(v2.RandomHorizontalFlip(fliplr))
    steps += [v2.SanitizeBoundingBoxes(min_size=2), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)


class BoxDataset(Dataset):
    """(image tensor, {"boxes": (n, 4) xyxy in input pixels, "labels": (n,)}) per image."""

    def __init__(self, split: DetectionSplit, transform, channels: int = 3, seed: int = 0):
        self.split, self.transform, self.channels, self.seed = split, transform, channels, seed

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, int]):
        epoch, index = key if isinstance(key, tuple) else (None, key)
        picture = load_pil(self.split.sources[index], self.channels)
        target = self.split.targets[index]
        boxes = tv_tensors.BoundingBoxes(np.asarray(target.boxes, dtype=np.float32).reshape(-1, 4), format="XYXY",
                                         canvas_size=(picture.height, picture.width))
        sample = {"boxes": boxes, "labels": torch.as_tensor(np.asarray(target.labels, dtype=np.int64))}
        if epoch is None:
            image, sample = self.transform(picture, sample)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed(self.seed, epoch, index))
                image, sample = self.transform(picture, sample)
        return image, {"boxes": sample["boxes"].as_subclass(torch.Tensor), "labels": sample["labels"]}


def collate(batch):
    images, targets = zip(*batch, strict=True)
    return torch.stack(images), list(targets)


class DetectData(L.LightningDataModule):
    def __init__(self, dataset: DetectionSet, config: DetectConfig, *, imgsz: int, mean, std):
        super().__init__()
        self.boxes, self.config = dataset, config
        fliplr = config.fliplr if config.fliplr is not None else 0.5
        self.train_tf = detect_transform(imgsz, mean, std, config.augment, fliplr)
        self.eval_tf = detect_transform(imgsz, mean, std)

    def dataset(self, split: str, train: bool = False) -> BoxDataset:
        return BoxDataset(getattr(self.boxes, split), self.train_tf if train else self.eval_tf,
                          self.boxes.channels, self.config.seed)

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("train", train=True), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("val"), shuffle=False)

    def loader(self, dataset: BoxDataset, shuffle: bool) -> DataLoader:
        workers = self.config.workers
        sampler = EpochShuffle(len(dataset), self.config.seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.config.batch, sampler=sampler, num_workers=workers,
                          collate_fn=collate, persistent_workers=workers > 0,
                          drop_last=shuffle and len(dataset) > self.config.batch)
