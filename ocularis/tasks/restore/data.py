"""Restoration data: a folder of photos split three ways by file; training takes random crops of each photo (flipped
and turned), val one centre crop each, and scoring whole photos. Super-resolution inputs are the crops' bicubic
downscale (the given low-resolution file for Set5-style NAME_HR / NAME_LR pairs); inpainting inputs are the crops
with square holes cut."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, Dataset

from ocularis.core.images import list_images, read_image
from ocularis.core.quality import luma
from ocularis.data.cache import ImageCache, check_decodable
from ocularis.engine.datamodule import TaskData
from ocularis.errors import DataError
from ocularis.models.restorers import NetworkKind
from ocularis.tasks.restore.config import RestoreConfig

HR, LR = "_HR", "_LR"  # the Set5 / Set14 naming of a high-resolution photo and its given low-resolution input


@dataclass
class Photos:
    """Photo files and, for each, its given low-resolution input (None: made by bicubic downscaling)."""

    sources: list[str] = field(default_factory=list)
    inputs: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices) -> "Photos":
        return Photos([self.sources[i] for i in indices], [self.inputs[i] for i in indices])


@dataclass
class PhotoSet:
    train: Photos
    val: Photos
    test: Photos
    images: ImageCache
    bad_files: list[tuple[str, str]] = field(default_factory=list)


def read_photos(data: str, config: RestoreConfig, training: bool = True, crop: int = 0) -> PhotoSet:
    """The photos below the folder `data`, split by --val-fraction / --test-fraction, each checked once; for
    `training`, every train photo must hold a `crop`-sided crop and the train and val splits must not be empty."""
    folder = Path(data)
    if not data or not folder.is_dir():
        raise DataError(f"--data {data or '(none)'}: restoration trains and scores on a folder of photos; "
                        "pass one (any layout, any image format)")
    photos = _pairs(list_images(folder))
    if not photos.sources:
        raise DataError(f"--data {data}: no image files below this folder")
    rest, test = _split_off(photos, config.test_fraction, config.seed)
    train, val = _split_off(rest, config.val_fraction / max(1e-9, 1 - config.test_fraction), config.seed)
    images = ImageCache(config.cache, 3)
    (train, val, test), bad = check_decodable([train, val, test], images, config.skip_bad)
    if training:
        if not len(train) or not len(val):
            raise DataError(f"--data {data}: the train or val split is empty ({len(photos)} photos); add photos "
                            "or lower --val-fraction")
        small = [s for s in train.sources + val.sources if min(images.size(s)) < crop]
        if small:
            width, height = images.size(small[0])
            raise DataError(f"photo {small[0]} is {width}x{height}, smaller than the {crop}-pixel training crop; "
                            f"lower --crop or remove the {len(small)} photo(s) that small")
    return PhotoSet(train, val, test, images, bad)


def _pairs(files: list[Path]) -> Photos:
    """Every photo, where NAME_LR beside NAME_HR is the HR photo's given input rather than a photo of its own."""
    names = {p.with_suffix("").as_posix(): p for p in files}
    photos = Photos()
    for path in files:
        stem = path.with_suffix("").as_posix()
        if stem.endswith(LR) and stem[: -len(LR)] + HR in names:
            continue
        low = names.get(stem[: -len(HR)] + LR) if stem.endswith(HR) else None
        photos.sources.append(str(path))
        photos.inputs.append(str(low) if low else None)
    return photos


def _split_off(photos: Photos, fraction: float, seed: int) -> tuple[Photos, Photos]:
    if fraction <= 0 or len(photos) < 2:
        return photos, Photos()
    rest, held = train_test_split(np.arange(len(photos)), test_size=fraction, random_state=seed)
    return photos.subset(sorted(rest)), photos.subset(sorted(held))


def luma_tensor(picture: Image.Image) -> torch.Tensor:
    """(1, H, W) luma in 0..1 (levels 16..235 of 255, as the scores measure it)."""
    return torch.from_numpy(luma(np.asarray(picture), rounded=False) / 255.0).float()[None]


def upscale_input(low: Image.Image, kind: NetworkKind, scale: int) -> torch.Tensor:
    """What a super-resolution network takes for a low-resolution picture: its luma, or its bicubic upscale's."""
    if not kind.upsamples:
        low = low.resize((low.width * scale, low.height * scale), Image.BICUBIC)
    return luma_tensor(low)


def random_holes(size: tuple[int, int], hole: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 mask, 1 in `count` square holes of side `hole` placed anywhere inside an image of `size`."""
    width, height = size
    mask = np.zeros((height, width), np.float32)
    side = min(hole, width, height)
    for _ in range(count):
        x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        mask[y:y + side, x:x + side] = 1.0
    return mask


def inpaint_input(picture: Image.Image, mask: np.ndarray) -> torch.Tensor:
    """(4, H, W): the RGB photo in 0..1 with the holes blanked, then the mask (1 = hole)."""
    rgb = torch.from_numpy(np.asarray(picture.convert("RGB"), np.float32) / 255.0).permute(2, 0, 1)
    hole = torch.from_numpy(mask)[None]
    return torch.cat([rgb * (1 - hole), hole])


def scoring_holes(size: tuple[int, int], hole: int, index: int) -> np.ndarray:
    """The holes a photo is scored with: three, placed by the photo's index, the same for every model and run."""
    return random_holes(size, hole, 3, np.random.default_rng(index))


class CropDataset(Dataset):
    """(input, target) crops: random ones, `patches` per photo an epoch (train), or one centre crop per photo (val).
    Upscaling: the crop's bicubic downscale -> its luma; inpainting: the crop with holes -> RGB and the mask."""

    def __init__(self, photos: Photos, images: ImageCache, config: RestoreConfig, kind: NetworkKind, crop: int,
                 patches: int, train: bool):
        self.photos, self.images, self.config, self.kind = photos, images, config, kind
        self.crop, self.train = crop, train
        self.patches = patches if train else 1

    def __len__(self) -> int:
        return len(self.photos) * self.patches

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = np.random.default_rng([self.config.seed, epoch + 1 if self.train else 0, index])  # val: fixed holes
        picture = self.images.load(self.photos.sources[index // self.patches])
        side = self.crop
        if self.train:
            x, y = (int(rng.integers(0, limit - side + 1)) for limit in picture.size)
        else:
            x, y = ((limit - side) // 2 for limit in picture.size)
        picture = picture.crop((x, y, x + side, y + side))
        if self.train and self.config.augment != "none":  # photos look alike mirrored and turned: 8x the crops
            if rng.random() < 0.5:
                picture = picture.transpose(Image.FLIP_LEFT_RIGHT)
            picture = picture.rotate(90 * int(rng.integers(0, 4)))
        if self.kind.job == "inpaint":
            mask = random_holes(picture.size, self.config.hole, int(rng.integers(1, self.config.holes + 1)), rng)
            original = torch.from_numpy(np.asarray(picture, np.float32) / 255.0).permute(2, 0, 1)
            return inpaint_input(picture, mask), torch.cat([original, torch.from_numpy(mask)[None]])
        scale = self.config.scale
        low = picture.resize((side // scale, side // scale), Image.BICUBIC)
        return upscale_input(low, self.kind, scale), luma_tensor(picture)


class PhotoPairs(Dataset):
    """Whole photos to score: (input picture, reference picture in its own mode, index). Upscaling crops the
    reference to a multiple of the scale (as the benchmarks do) and makes its input by bicubic downscaling unless
    one is given."""

    def __init__(self, photos: Photos, kind: NetworkKind, scale: int):
        self.photos, self.kind, self.scale = photos, kind, scale

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> tuple[Image.Image, Image.Image, int]:
        path, given = self.photos.sources[index], self.photos.inputs[index]
        reference = read_image(path, native_mode(path))
        if self.kind.job == "inpaint":
            return reference.convert("RGB"), reference, index
        s = self.scale
        reference = reference.crop((0, 0, reference.width // s * s, reference.height // s * s))
        if given is None:
            low = reference.resize((reference.width // s, reference.height // s), Image.BICUBIC)
        else:
            low = read_image(given, native_mode(given))
            if (low.width * s, low.height * s) != reference.size:
                raise DataError(f"{given} is {low.width}x{low.height}: at --scale {s} its photo {path} "
                                f"({reference.width}x{reference.height}) needs {reference.width // s}x"
                                f"{reference.height // s}; score with the scale the pair was made for")
        return low, reference, index


def native_mode(path: str) -> str:
    """"L" for a grey file, else "RGB": a grey photo is scored on its own grey levels, as the benchmarks do."""
    with Image.open(path) as image:
        return "L" if image.mode in ("L", "I;16", "1") else "RGB"


class RestoreData(TaskData):
    """Training and validation see crops; every split asked for by name is whole photos to score."""

    def __init__(self, photos: PhotoSet, config: RestoreConfig, kind: NetworkKind, crop: int, patches: int):
        super().__init__(config)
        self.photos, self.kind, self.crop, self.patches = photos, kind, crop, patches

    def dataset(self, split: str, train: bool = False) -> Dataset:
        if train:
            return self.crops(split, train=True)
        return PhotoPairs(getattr(self.photos, split), self.kind, self.config.scale)

    def crops(self, split: str, train: bool) -> CropDataset:
        return CropDataset(getattr(self.photos, split), self.photos.images, self.config, self.kind, self.crop,
                           self.patches, train)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.crops("val", train=False), shuffle=False)
