"""Detection data: a dataset name or label file becomes a AnnotatedSet, then box-aware loaders for Lightning."""

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ocularis.data.cache import ImageCache, open_images
from ocularis.data.dataset import seeded_cpu_rng
from ocularis.data.detection import SPLITS, AnnotatedSet, AnnotatedSplit, read_detection
from ocularis.data.sampling import sample_seed
from ocularis.engine.datamodule import TaskData
from ocularis.tasks.detect.config import DetectConfig


def read_boxes(data: str, config: DetectConfig, training: bool = True, channels: int | None = None) -> AnnotatedSet:
    """The AnnotatedSet behind --data, every image decodable (or, with skip_bad, the bad ones of all splits dropped
    and listed) and its size recorded. Each file is decoded once here, and with --cache ram|disk that decode is kept
    for training."""
    dataset = read_detection(data, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                             seed=config.seed)
    dataset.channels = channels or dataset.channels  # a trained model reads any data in its own channels
    open_images(dataset, config.cache, config.skip_bad, data, training)
    for name in SPLITS:
        split = getattr(dataset, name)
        dataset.warnings += _size_mismatches(split, dataset.images, name)
        split.sizes = [dataset.images.size(source) for source in split.sources]  # the decoded sizes: the truth
    return dataset


def _size_mismatches(split: AnnotatedSplit, images: ImageCache, name: str) -> list[str]:
    """A warning where annotations give an image a size its file does not have (boxes may then be misplaced)."""
    if len(split.sizes) != len(split):
        return []
    wrong = [(source, size, images.size(source)) for source, size in zip(split.sources, split.sizes, strict=True)
             if size is not None and tuple(size) != images.size(source)]
    if not wrong:
        return []
    source, said, actual = wrong[0]
    return [f"{len(wrong)} {name} image(s) are not the size their annotations say, e.g. {source}: annotated "
            f"{said[0]:g} x {said[1]:g}, the file is {actual[0]} x {actual[1]} px; fix the annotated width and height"]


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

    def __init__(self, split: AnnotatedSplit, transform, channels: int = 3, seed: int = 0, mosaic: float = 0.0,
                 imgsz: int = 0, images: ImageCache | None = None):
        self.split, self.transform, self.channels, self.seed = split, transform, channels, seed
        self.mosaic, self.imgsz = mosaic, imgsz
        self.images = images or ImageCache(channels=channels)  # read_boxes' cache: pixels it has already decoded

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, int]):
        epoch, index = key if isinstance(key, tuple) else (None, key)
        with seeded_cpu_rng(None if epoch is None else sample_seed(self.seed, epoch, index)):
            if self.mosaic and torch.rand(()) < self.mosaic:
                image, sample = self._mosaic(index)
            else:
                image, sample = self._load(index)
            image, sample = self.transform(image, sample)
        return image, {"boxes": sample["boxes"].as_subclass(torch.Tensor), "labels": sample["labels"]}

    def _load(self, index: int):
        picture = self.images.load(self.split.sources[index])
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


class DetectData(TaskData):
    collate = staticmethod(collate)

    def __init__(self, dataset: AnnotatedSet, config: DetectConfig, *, imgsz: int, mean, std):
        super().__init__(config)
        self.boxes = dataset
        fliplr = config.fliplr if config.fliplr is not None else 0.5
        self.train_tf = detect_transform(imgsz, mean, std, config.augment, fliplr)
        self.eval_tf = detect_transform(imgsz, mean, std)
        self.imgsz = imgsz

    def dataset(self, split: str, train: bool = False) -> BoxDataset:
        return BoxDataset(getattr(self.boxes, split), self.train_tf if train else self.eval_tf,
                          self.boxes.channels, self.config.seed, self.config.mosaic if train else 0.0, self.imgsz,
                          self.boxes.images)
