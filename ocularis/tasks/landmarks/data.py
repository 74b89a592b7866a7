"""Landmark data: labelled images split three ways, each image warped (shift, zoom, turn) together with its points
for training, and every item's target packed into one row: x, y of each point in units of the image's width and
height (NaN where missing), then each attribute's value index (-1 unknown), then the image's width and height."""

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset
from torchvision.transforms import v2

from ocularis.data.cache import ImageCache, check_decodable
from ocularis.data.dataset import seeded_cpu_rng
from ocularis.data.points import PointLabels, PointRows, check_points_inside, read_point_labels
from ocularis.data.sampling import sample_seed
from ocularis.data.segmentation import GREY_MODES
from ocularis.data.transforms import eval_transform
from ocularis.engine.datamodule import TaskData
from ocularis.errors import DataError, LabelError
from ocularis.tasks.landmarks.config import LandmarksConfig

# augmentation preset -> (largest shift as a share of the side, zoom range, largest turn in degrees, colour jitter)
WARPS = {"none": (0.0, 0.0, 0.0, 0.0), "light": (0.06, 0.08, 8.0, 0.0), "heavy": (0.1, 0.15, 15.0, 0.3)}


@dataclass
class PointSet:
    """Point names, attribute values, three splits, the images' channels, and where their pixels are read from."""

    point_names: list[str]
    attributes: dict[str, list[str]]
    train: PointRows
    val: PointRows
    test: PointRows
    channels: int = 3
    images: ImageCache = field(default_factory=ImageCache)
    bad_files: list[tuple[str, str]] = field(default_factory=list)


def read_points(data: str, config: LandmarksConfig, training: bool = True, channels: int | None = None,
                known: tuple[list[str], dict[str, list[str]]] | None = None) -> PointSet:
    """The labelled images of `data`, split by --val-fraction / --test-fraction (MTFL's testing.txt is the test
    split), every image checked once (`training`: the train and val splits must not be empty); `known` (a trained
    model's point names and attribute values) maps other data onto them."""
    if not data:
        raise DataError("--data is required: a CSV of path,NAME_x,NAME_y,...,ATTRIBUTE columns or MTFL's folder")
    labels = read_point_labels(data)
    if known is not None:
        _map_onto(labels, *known, data)
    rows, test, test_fraction = labels.rows, labels.test, config.test_fraction
    if test is None:
        rows, test = _split_off(rows, test_fraction, config.seed)
    held = 0.0 if labels.test is not None else test_fraction
    train, val = _split_off(rows, config.val_fraction / max(1e-9, 1 - held), config.seed)
    found = PointSet(labels.point_names, labels.attributes, train, val, test)
    found.channels = channels or _channels(train.sources + test.sources)
    found.images = ImageCache(config.cache, found.channels)
    (found.train, found.val, found.test), found.bad_files = check_decodable([train, val, test], found.images,
                                                                            config.skip_bad)
    for split in (found.train, found.val, found.test):
        check_points_inside(split, [found.images.size(s) for s in split.sources], found.point_names)
    if training and (not len(found.train) or not len(found.val)):
        raise DataError(f"--data {data}: the train or val split is empty; add images or lower --val-fraction")
    return found


def _split_off(rows: PointRows, fraction: float, seed: int) -> tuple[PointRows, PointRows]:
    if fraction <= 0 or len(rows) < 2:
        return rows, PointRows(points=rows.points[:0], attributes=rows.attributes[:0])
    rest, held = train_test_split(np.arange(len(rows)), test_size=fraction, random_state=seed)
    return rows.subset(sorted(rest)), rows.subset(sorted(held))


def _channels(sources: list[str]) -> int:
    """1 where every image is greyscale (its header says so), else 3."""
    modes = set()
    for source in sources:
        try:
            with Image.open(source) as image:
                modes.add(image.mode)
        except OSError:
            continue  # the decode check names it
    return 1 if modes and modes <= GREY_MODES else 3


def _map_onto(labels: PointLabels, point_names: list[str], attributes: dict[str, list[str]], data: str) -> None:
    """Other data's points and attribute values re-indexed as the model's; what the model does not know is refused."""
    missing = [name for name in labels.point_names if name not in point_names]
    if missing:
        raise LabelError(f"--data {data}: point {missing[0]!r} is not one the model finds ({', '.join(point_names)})")
    rows = [labels.rows] + ([labels.test] if labels.test is not None else [])
    for split in rows:
        points = np.full((len(split), len(point_names), 2), np.nan, np.float32)
        for k, name in enumerate(labels.point_names):
            points[:, point_names.index(name)] = split.points[:, k]
        codes = np.full((len(split), len(attributes)), -1, np.int64)
        for a, (name, values) in enumerate(labels.attributes.items()):
            if name not in attributes:
                raise LabelError(f"--data {data}: attribute {name!r} is not one the model names "
                                 f"({', '.join(attributes)})")
            unknown = [v for v in values if v not in attributes[name]]
            if unknown:
                raise LabelError(f"--data {data}: {name} value {unknown[0]!r} is not one the model knows "
                                 f"({', '.join(attributes[name])})")
            index = np.array([attributes[name].index(v) for v in values] + [-1])
            codes[:, list(attributes).index(name)] = index[split.attributes[:, a]]
        split.points, split.attributes = points, codes
    labels.point_names, labels.attributes = list(point_names), dict(attributes)


def unpack(targets: torch.Tensor, points: int, attributes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Target rows -> points (B, K, 2) in units of the image's size, attribute indices (B, A), sizes (B, 2)."""
    coordinates, values, sizes = targets.split([2 * points, attributes, 2], dim=1)
    return coordinates.reshape(len(targets), points, 2), values.long(), sizes


def mirror_name(name: str) -> str:
    """left <-> right in a point's or a value's name (left_eye -> right_eye, "left profile" -> "right profile")."""
    return name.replace("left", "\0").replace("right", "left").replace("\0", "right")


def mirror_order(names: list[str]) -> list[int] | None:
    """Where each name goes in a mirrored image; None where a left/right name has no partner."""
    mirrored = [mirror_name(n) for n in names]
    return [names.index(m) for m in mirrored] if all(m in names for m in mirrored) else None


class PointDataset(Dataset):
    """(image, target row) items of a split; `warp` (a WARPS preset) and `fliplr` augment training images."""

    def __init__(self, rows: PointRows, points: PointSet, *, imgsz: int, mean, std, warp: str = "none",
                 fliplr: float = 0.0, seed: int = 0):
        self.rows, self.set, self.seed, self.fliplr = rows, points, seed, fliplr
        self.shift, self.zoom, self.turn, jitter = WARPS[warp]
        self.finish = eval_transform(imgsz, mean, std)
        self.jitter = v2.ColorJitter(brightness=jitter, contrast=jitter) if jitter else None
        self.point_order = mirror_order(points.point_names)
        self.value_orders = [np.array((mirror_order(values) or list(range(len(values)))) + [-1])
                             for values in points.attributes.values()]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        image = self.set.images.load(self.rows.sources[index])
        points, attributes = self.rows.points[index].copy(), self.rows.attributes[index].copy()
        with seeded_cpu_rng(None if epoch is None else sample_seed(self.seed, epoch, index)):
            if epoch is not None:
                image, points, attributes = self._augment(image, points, attributes)
            pixels = self.finish(image)
        scale = np.array(image.size, np.float32)
        row = [(points / scale).ravel(), attributes.astype(np.float32), scale]
        return pixels, torch.from_numpy(np.concatenate(row))

    def _augment(self, image: Image.Image, points: np.ndarray, attributes: np.ndarray):
        width, height = image.size
        if self.shift or self.zoom or self.turn:
            u = torch.rand(4).numpy() * 2 - 1
            zoom, turn = 1 + self.zoom * u[0], math.radians(self.turn * u[1])
            forward = _affine(width, height, zoom, turn, self.shift * width * u[2], self.shift * height * u[3])
            inverse = np.linalg.inv(forward)
            image = image.transform(image.size, Image.AFFINE, tuple(inverse[:2].ravel()), Image.BILINEAR)
            points = points @ forward[:2, :2].T + forward[:2, 2]
        if self.jitter is not None:
            image = self.jitter(image)
        if self.point_order is not None and self.fliplr and float(torch.rand(1)) < self.fliplr:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
            points = points[self.point_order] * [-1, 1] + [width, 0]
            attributes = np.array([order[a] for order, a in zip(self.value_orders, attributes, strict=True)])
        return image, points, attributes


def _affine(width: int, height: int, zoom: float, turn: float, dx: float, dy: float) -> np.ndarray:
    """3 x 3 matrix: zoom and turn about the image's centre, then shift by (dx, dy) pixels."""
    cx, cy = width / 2, height / 2
    c, s = math.cos(turn) * zoom, math.sin(turn) * zoom
    return np.array([[c, -s, cx - c * cx + s * cy + dx], [s, c, cy - s * cx - c * cy + dy], [0, 0, 1]])


class LandmarkData(TaskData):
    def __init__(self, points: PointSet, config: LandmarksConfig, *, imgsz: int, mean, std):
        super().__init__(config)
        self.points, self.imgsz, self.mean, self.std = points, imgsz, mean, std
        mirrorable = mirror_order(points.point_names) is not None and any("left" in n for n in points.point_names)
        self.fliplr = config.fliplr if config.fliplr is not None else (0.5 if mirrorable else 0.0)

    def dataset(self, split: str, train: bool = False) -> PointDataset:
        return PointDataset(getattr(self.points, split), self.points, imgsz=self.imgsz, mean=self.mean, std=self.std,
                            warp=self.config.augment if train else "none", fliplr=self.fliplr if train else 0.0,
                            seed=self.config.seed)
