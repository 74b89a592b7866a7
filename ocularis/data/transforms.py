"""Preprocessing and augmentation presets (none | light | heavy), built on torchvision transforms v2."""

import torch
from torchvision.transforms import v2


def eval_transform(imgsz: int, mean: tuple[float, ...], std: tuple[float, ...]) -> v2.Compose:
    """Resize to imgsz x imgsz, scale to [0, 1], normalise: the one path used by training, evaluation and serving."""
    return v2.Compose([v2.ToImage(), v2.Resize((imgsz, imgsz), antialias=True), v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(mean, std)])


def train_transform(imgsz: int, mean: tuple[float, ...], std: tuple[float, ...], augment: str,
                    fliplr: float) -> v2.Compose:
    """`augment` preset: none, light (shift, zoom, flip) or heavy (crops, rotation, shear, zoom, colour jitter)."""
    steps: list = [v2.ToImage()]
    if augment == "none":
        steps.append(v2.Resize((imgsz, imgsz), antialias=True))
    elif augment == "light":
        steps += [v2.Resize((imgsz, imgsz), antialias=True),
                  v2.RandomAffine(degrees=0, translate=(0.08, 0.08), scale=(0.9, 1.1))]
    else:
        steps += [v2.RandomResizedCrop(imgsz, scale=(0.35, 1.0), ratio=(0.75, 1.33), antialias=True),
                  v2.RandomAffine(degrees=15, shear=8),
                  v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03)]
    if augment != "none" and fliplr > 0:
        steps.append(v2.RandomHorizontalFlip(fliplr))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)
