"""Segmentation data: a dataset name or folder/file becomes a SegmentationSet, then mask-aware loaders.

Networks see images at their own pixels (or resized once by --resize): training takes random imgsz crops, evaluation
and prediction whole images (padded to the network's stride here; tiled by the task's predict), so an object is the
same size in training and use.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ocularis.core.images import resized
from ocularis.data.cache import ImageCache, open_images
from ocularis.data.dataset import seeded_cpu_rng
from ocularis.data.masks import IGNORE, MaskLabels, SegmentationSet, SegmentationSplit
from ocularis.data.sampling import sample_seed
from ocularis.data.segmentation import read_segmentation
from ocularis.engine.datamodule import TaskData
from ocularis.tasks.segment.config import SegmentConfig

MIN_OBJECT_PIXELS = 4  # an object cut to a sliver by a crop says nothing about its shape: dropped


def read_masks(data: str, config: SegmentConfig, training: bool = True, channels: int | None = None) -> SegmentationSet:
    """The SegmentationSet behind --data, every image decodable (or, with skip_bad, the bad ones dropped and
    counted); each file is decoded once here, and with --cache ram|disk that decode is kept for training (instance
    annotations are kept packed whatever --cache says). Evaluation (not `training`) may read a single split."""
    dataset = read_segmentation(data, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                                seed=config.seed, ignore_index=config.ignore_index)
    dataset.channels = channels or dataset.channels  # a trained model reads any data in its own channels
    open_images(dataset, config.cache, config.skip_bad, data, training)
    return dataset


def resize_labels(labels: MaskLabels, size: tuple[int, int]) -> MaskLabels:
    """Masks to (width, height) by nearest neighbour, so class indices stay class indices."""
    if labels.semantic.shape[::-1] == tuple(size):
        return labels
    semantic = np.asarray(Image.fromarray(labels.semantic).resize(size, Image.NEAREST))
    masks = np.stack([np.asarray(Image.fromarray(m).resize(size, Image.NEAREST)) for m in labels.masks]) if len(
        labels.masks) else np.zeros((0, size[1], size[0]), bool)
    return MaskLabels(semantic, masks.astype(bool), labels.labels)


def segment_transform(config: SegmentConfig, mean, std, train: bool) -> v2.Compose:
    """Training (of a crop MaskDataset cut): flips, colour jitter (heavy: affine and vertical flips too) and, for
    `config.elastic` of the crops, U-Net's elastic deformation; masks move with the pixels. Evaluation: none."""
    steps: list = [v2.ToImage()]
    if train:
        fliplr = 0.5 if config.fliplr is None else config.fliplr
        if config.augment == "heavy":
            steps += [v2.RandomAffine(degrees=15, scale=(0.8, 1.2)), v2.RandomVerticalFlip(fliplr)]
        if config.scale > 0:  # uncovered pixels: 0 in the image, in no object, IGNORE in the class map
            steps.append(v2.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(1 - config.scale, 1 + config.scale)))
        if config.augment != "none":
            steps += [v2.RandomHorizontalFlip(fliplr), v2.ColorJitter(brightness=0.2, contrast=0.2)]
        if config.elastic > 0:
            # alpha / sigma in pixels: U-Net's "random displacement vectors on a coarse grid", smoothed
            steps.append(v2.RandomApply([v2.ElasticTransform(alpha=50.0, sigma=6.0)], p=config.elastic))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)


class MaskDataset(Dataset):
    """(image (C, H, W), {"semantic" (H, W) int64, "masks" (n, H, W) uint8, "boxes" (n, 4) xyxy, "labels" (n,)})
    per image; training crops are imgsz square, images smaller than that padded (with IGNORE in the class map)."""

    def __init__(self, split: SegmentationSplit, transform, *, images: ImageCache, imgsz: int, resize: int | None,
                 train: bool, seed: int = 0, mosaic: float = 0.0):
        self.split, self.transform, self.images = split, transform, images
        self.imgsz, self.resize, self.train, self.seed, self.mosaic = imgsz, resize, train, seed, mosaic

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, int]):
        epoch, index = key if isinstance(key, tuple) else (None, key)
        with seeded_cpu_rng(None if epoch is None else sample_seed(self.seed, epoch, index)):
            if not self.train:
                picture, found = self.load(index)
                image, semantic, masks, labels = np.asarray(picture), found.semantic, found.masks, found.labels
            elif self.mosaic and torch.rand(()) < self.mosaic:
                image, semantic, masks, labels = self.mosaic_square(index)
            else:
                image, semantic, masks, labels = self.square(index)
            # torch.tensor copies: cached pixels are read-only
            pixels = torch.tensor(image).permute(2, 0, 1) if image.ndim == 3 else torch.tensor(image)[None]
            masks = torch.tensor(masks, dtype=torch.uint8)
            if self.train:  # a last plane of ones: where an affine move uncovers pixels it reads 0 (see below)
                masks = torch.cat([masks, torch.ones((1, *semantic.shape), dtype=torch.uint8)])
            image, semantic, masks = self.transform(tv_tensors.Image(pixels), tv_tensors.Mask(torch.tensor(semantic)),
                                                    tv_tensors.Mask(masks))
            if self.train:  # uncovered pixels are no class (the affine fills the class map with 0, a real class)
                semantic, masks = semantic.masked_fill(masks[-1] == 0, IGNORE), masks[:-1]
        # a training crop's slivers of objects say nothing of their shape; evaluation counts every object, as score()
        return image, _target(semantic, masks, torch.as_tensor(labels), MIN_OBJECT_PIXELS if self.train else 0)

    def crop(self, index: int) -> tuple[Image.Image, MaskLabels]:
        """A random imgsz square of image `index` (all of it along a side shorter than that) and its annotation
        there: only the objects the square meets are unpacked (data.masks.PackedTarget)."""
        original = self.images.load(self.split.sources[index])
        picture = resized(original, self.resize)
        x0, y0 = (int(torch.randint(0, max(1, side - self.imgsz + 1), ())) for side in picture.size)
        box = (x0, y0, min(picture.width, x0 + self.imgsz), min(picture.height, y0 + self.imgsz))
        target = self.split.targets[index]
        labels = (target.window(picture.size, box) if picture.size == original.size else
                  resize_labels(target.decode(original.size), picture.size).crop(box))
        return picture.crop(box), labels

    def square(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A random crop of image `index` padded to imgsz x imgsz: pixels, class map, object masks, their labels."""
        picture, labels = self.crop(index)
        return (*_pad_to(np.asarray(picture), labels.semantic, labels.masks, self.imgsz), labels.labels)

    def mosaic_square(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """YOLOv4's mosaic with masks: the squares of image `index` and three random others tiled 2 x 2, and an
        imgsz window of that cut at a random place, so objects keep their scale and meet other contexts. Only the
        window is filled: each square's part of it and its objects' masks there."""
        size = self.imgsz
        x, y = torch.randint(size + 1, (2,)).tolist()
        image = semantic = None
        masks, labels = [], []
        for place, chosen in enumerate([index, *torch.randint(len(self), (3,)).tolist()]):
            pixels, classes, objects, kinds = self.square(chosen)
            if image is None:
                image = np.zeros((size, size, *pixels.shape[2:]), pixels.dtype)
                semantic = np.full((size, size), IGNORE, classes.dtype)
            dy, dx = (size * step for step in divmod(place, 2))
            top, left = max(y, dy), max(x, dx)  # the square's part of the window, in canvas pixels
            bottom, right = min(y + size, dy + size), min(x + size, dx + size)
            if bottom <= top or right <= left:
                continue
            into = np.s_[top - y:bottom - y, left - x:right - x]
            taken = np.s_[top - dy:bottom - dy, left - dx:right - dx]
            image[into], semantic[into] = pixels[taken], classes[taken]
            placed = np.zeros((len(objects), size, size), bool)
            placed[(slice(None), *into)] = objects[(slice(None), *taken)]
            masks.append(placed)
            labels.append(kinds)
        return image, semantic, np.concatenate(masks), np.concatenate(labels)

    def load(self, index: int) -> tuple[Image.Image, MaskLabels]:
        """Image `index` and its decoded annotation, both at the (resized) image's size."""
        picture = self.images.load(self.split.sources[index])
        labels = self.split.targets[index].decode(picture.size)
        picture = resized(picture, self.resize)
        return picture, resize_labels(labels, picture.size)


def _pad_to(image: np.ndarray, semantic: np.ndarray, masks: np.ndarray, size: int):
    """Pad right and below to at least size x size: pixels 0, the class map IGNORE, object masks empty."""
    height, width = semantic.shape
    extra_h, extra_w = max(0, size - height), max(0, size - width)
    if not (extra_h or extra_w):
        return image, semantic, masks
    spread = ((0, extra_h), (0, extra_w)) + ((0, 0),) * (image.ndim - 2)
    return (np.pad(image, spread), np.pad(semantic, ((0, extra_h), (0, extra_w)), constant_values=IGNORE),
            np.pad(masks, ((0, 0), (0, extra_h), (0, extra_w))))


def _target(semantic: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor, min_pixels: int
            ) -> dict[str, torch.Tensor]:
    """Boxes from the (transformed) masks; objects with fewer than `min_pixels` pixels dropped."""
    masks = masks.as_subclass(torch.Tensor)
    pixels = np.count_nonzero(masks.numpy().reshape(len(masks), -1), axis=1) if len(masks) else np.zeros(0)
    keep = torch.from_numpy(pixels >= min_pixels)
    masks = masks[keep]
    return {"semantic": semantic.as_subclass(torch.Tensor).long(), "masks": masks, "boxes": _boxes(masks),
            "labels": labels[keep].long()}


def _boxes(masks: torch.Tensor) -> torch.Tensor:
    """(n, 4) x0, y0, x1, y1 around each non-empty mask's pixels (x1, y1 exclusive), from its occupied rows and
    columns: one pass over the masks (torchvision's masks_to_boxes visits each mask's pixel coordinates)."""
    rows, columns = masks.any(dim=2).int(), masks.any(dim=1).int()
    first_row, first_column = rows.argmax(dim=1), columns.argmax(dim=1)
    end_row, end_column = rows.shape[1] - rows.flip(1).argmax(dim=1), columns.shape[1] - columns.flip(1).argmax(dim=1)
    return torch.stack([first_column, first_row, end_column, end_row], dim=1).float()


def padded_collate(stride: int):
    """Collate images of different sizes: each padded right and below to the batch's largest, rounded up to the
    network's `stride` (pixels 0, class map IGNORE, masks empty); each target's "size" is its own (height, width)."""

    def collate(batch):
        images, targets = zip(*batch, strict=True)
        height = -(-max(i.shape[1] for i in images) // stride) * stride
        width = -(-max(i.shape[2] for i in images) // stride) * stride
        padded = torch.stack([F.pad(i, (0, width - i.shape[2], 0, height - i.shape[1])) for i in images])
        for target in targets:
            h, w = target["semantic"].shape
            target["size"] = torch.tensor([h, w])
            target["semantic"] = F.pad(target["semantic"], (0, width - w, 0, height - h), value=IGNORE)
            target["masks"] = F.pad(target["masks"], (0, width - w, 0, height - h))
        return padded, list(targets)

    return collate


class SegmentData(TaskData):
    def __init__(self, dataset: SegmentationSet, config: SegmentConfig, *, imgsz: int, mean, std, stride: int):
        super().__init__(config)
        self.masks, self.imgsz = dataset, imgsz
        self.train_tf = segment_transform(config, mean, std, train=True)
        self.eval_tf = segment_transform(config, mean, std, train=False)
        self.collate = padded_collate(stride)

    def val_dataloader(self) -> DataLoader:
        """One image a batch, padded only to the network's stride, as score() sees it: the number each epoch
        logs (and best.ckpt is chosen by) is the one `segment val --split val` prints (batches padded to their
        largest image once logged mask mAP@.5 0.082 where `val` gave 0.159)."""
        return self.loader(self.dataset("val"), shuffle=False, batch=1)

    def dataset(self, split: str, train: bool = False) -> MaskDataset:
        return MaskDataset(getattr(self.masks, split), self.train_tf if train else self.eval_tf,
                           images=self.masks.images, imgsz=self.imgsz, resize=self.config.resize, train=train,
                           seed=self.config.seed, mosaic=self.config.mosaic if train else 0.0)
