"""What a denoising autoencoder learns to undo: its inputs corrupted while training, the clean images its targets.

Pixels are in 0..1 and a corrupted image is clipped back into that range, as a noisy image file would be (the seed
clips its noisy digits too): Gaussian noise of standard deviation `level`; salt and pepper, a share `level` of the
pixels set to black or white; masking, a share `level` of the pixels set to black.
"""

import torch

from ocularis.tasks.autoencode.config import NOISES


def corrupt(images: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """`images` (B, C, H, W) in 0..1 with `kind` noise at `level`; `generator` makes it repeatable (validation)."""
    if kind == "none" or level <= 0:
        return images
    if kind == "gaussian":
        noise = torch.randn(images.shape, generator=generator, device="cpu").to(images.device)
        return (images + level * noise).clamp(0, 1)
    # one draw per pixel, shared by its channels: a pixel is hit or not, as a dead sensor element would be
    hit = torch.rand((images.shape[0], 1, *images.shape[2:]), generator=generator, device="cpu").to(images.device)
    if kind == "masking":
        return images * (hit >= level)
    if kind == "salt_pepper":
        salt = (hit < level / 2).to(images.dtype)
        pepper = (hit >= level / 2) & (hit < level)
        return torch.where(pepper | salt.bool(), salt, images)
    raise ValueError(f"unknown noise {kind!r}; one of {', '.join(NOISES)}")


def seeded(seed: int) -> torch.Generator:
    """A CPU generator for noise that must be the same every time (validation, tests, the denoise demo)."""
    return torch.Generator().manual_seed(seed)
