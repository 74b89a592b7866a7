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
        heavy = augment == "heavy"
        jitter = 0.4 if heavy else 0.2
        # hue jitter goes through HSV and costs as much as all the rest together: only the heavy preset has it
        steps += [v2.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(0.75, 1.25) if heavy else (0.9, 1.1)),
                  v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=0.02 if heavy else 0)]
        if fliplr > 0:
            steps.append(v2.RandomHorizontalFlip(fliplr))
    steps += [v2.SanitizeBoundingBoxes(min_size=2), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)


class BoxDataset(Dataset):
    """(image tensor, {"boxes": (n, 4) xyxy in input pixels, "labels": (n,)}) per image; with `mosaic`, that share
    of training images are four images tiled and cropped (YOLOv4's mosaic: more objects and contexts per image)."""

    def __init__(self, split: DetectionSplit, transform, channels: int = 3, seed: int = 0, mosaic: float = 0.0,
                 imgsz: int = 0):
        self.split, self.transform, self.channels, self.seed = split, transform, channels, seed
        self.mosaic, self.imgsz = mosaic, imgsz

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, int]):
        epoch, index = key if isinstance(key, tuple) else (None, key)
        with torch.random.fork_rng(devices=[], enabled=epoch is not None):
            if epoch is not None:
                torch.manual_seed(sample_seed(self.seed, epoch, index))
            if self.mosaic and torch.rand(()) < self.mosaic:
                image, sample = self._mosaic(index)
            else:
                image, sample = self._load(index)
            image, sample = self.transform(image, sample)
        return image, {"boxes": sample["boxes"].as_subclass(torch.Tensor), "labels": sample["labels"]}

    def _load(self, index: int):
        picture = load_pil(self.split.sources[index], self.channels)
        target = self.split.targets[index]
        boxes = tv_tensors.BoundingBoxes(np.asarray(target.boxes, dtype=np.float32).reshape(-1, 4), format="XYXY",
                                         canvas_size=(picture.height, picture.width))
        return picture, {"boxes": boxes, "labels": torch.as_tensor(np.asarray(target.labels, dtype=np.int64))}

    def _mosaic(self, index: int):
        """Four images at imgsz x imgsz on a 2 x 2 canvas, cut to an imgsz window at a random place, so objects keep
        their scale; boxes less than 40% visible in the window are dropped (a sliver says little about its class)."""
        size = self.imgsz
        tile = v2.Compose([v2.ToImage(), v2.Resize((size, size), antialias=True)])
        canvas = torch.zeros(self.channels, 2 * size, 2 * size, dtype=torch.uint8)
        boxes, labels = [], []
        for place, chosen in enumerate([index, *torch.randint(len(self), (3,)).tolist()]):
            image, sample = tile(*self._load(chosen))
            dy, dx = divmod(place, 2)
            canvas[:, dy * size:(dy + 1) * size, dx * size:(dx + 1) * size] = image
            boxes.append(sample["boxes"].as_subclass(torch.Tensor) + torch.tensor([dx, dy, dx, dy]) * size)
            labels.append(sample["labels"])
        x, y = torch.randint(size + 1, (2,)).tolist()
        boxes, labels = torch.cat(boxes), torch.cat(labels)
        inside = boxes - torch.tensor([x, y, x, y])
        clipped = inside.clamp(0, size)
        area = lambda b: (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)  # noqa: E731
        visible = area(clipped) >= 0.4 * area(inside).clamp(min=1e-6)
        image = tv_tensors.Image(canvas[:, y:y + size, x:x + size])
        return image, {"boxes": tv_tensors.BoundingBoxes(clipped[visible], format="XYXY", canvas_size=(size, size)),
                       "labels": labels[visible]}


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
        self.imgsz = imgsz

    def dataset(self, split: str, train: bool = False) -> BoxDataset:
        return BoxDataset(getattr(self.boxes, split), self.train_tf if train else self.eval_tf,
                          self.boxes.channels, self.config.seed, self.config.mosaic if train else 0.0, self.imgsz)

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
