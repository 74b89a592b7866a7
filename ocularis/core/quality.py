"""Image quality against a reference, the way restoration papers measure it: PSNR and SSIM on the luma channel
(ITU-R BT.601, as MATLAB's rgb2ycbcr: Y in 16..235, rounded to whole levels), the border shaved by the scale factor.
A grey image's luma is its own grey level. These reproduce the published bicubic baselines of Set5 and Set14 to the
hundredth of a dB (tests/test_quality.py), so the numbers beside them mean the same thing."""

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

BT601 = np.array([65.481, 128.553, 24.966])  # R, G, B weights of Y for values in 0..1


def luma(image: np.ndarray, rounded: bool = True) -> np.ndarray:
    """(H, W) float64 luma in 0..255 of a uint8 grey (H, W) / (H, W, 1) or colour (H, W, 3|4) image."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image.astype(np.float64)
    found = 16.0 + (image[..., :3].astype(np.float64) / 255.0) @ BT601
    return np.round(found) if rounded else found


def with_luma(image: np.ndarray, new_luma: np.ndarray) -> np.ndarray:
    """`image` (uint8 RGB) with its luma replaced by `new_luma` (0..255) and its chroma kept. In BT.601's inverse
    every channel gains 255/219 per level of luma, so this is one addition per pixel."""
    rgb = image[..., :3].astype(np.float32)
    change = np.asarray(new_luma, np.float32) - 16.0 - rgb @ (BT601 / 255.0).astype(np.float32)
    change *= 255.0 / 219.0
    rgb += change[..., None]  # float32 in place: a third of float64's time on a 1440x960 photo, the same levels
    return np.clip(np.rint(rgb, out=rgb), 0, 255, out=rgb).astype(np.uint8)


def _shaved(reference: np.ndarray, test: np.ndarray, shave: int) -> tuple[np.ndarray, np.ndarray]:
    if reference.shape[:2] != test.shape[:2]:
        raise ValueError(f"images differ in size: {reference.shape[:2]} and {test.shape[:2]}")
    a, b = luma(reference), luma(test)
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return a, b


def y_psnr(reference: np.ndarray, test: np.ndarray, shave: int = 0) -> float:
    """PSNR in dB of `test` against `reference` on their luma, `shave` pixels cut from every border (inf if equal)."""
    a, b = _shaved(reference, test, shave)
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def y_ssim(reference: np.ndarray, test: np.ndarray, shave: int = 0) -> float:
    """SSIM of `test` against `reference` on their luma (Wang et al. 2004: Gaussian window, sigma 1.5)."""
    a, b = _shaved(reference, test, shave)
    return float(structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0) -> float:
    """Plain PSNR in dB over every value of two same-shaped arrays (autoencoders' reconstructions, in 0..1)."""
    reference, test = np.asarray(reference, np.float64), np.asarray(test, np.float64)
    error = float(np.mean((reference - test) ** 2))
    return float("inf") if error == 0 else float(10 * np.log10(data_range ** 2 / error))


AGREE_PSNR = 40.0  # two networks agree on an image when their outputs are this close (dB)


def psnr_agreement(reference: torch.Tensor, outputs: torch.Tensor) -> float:
    """Share of rows (images with values in 0..1) whose two versions lie within AGREE_PSNR of each other: how an
    exported image-to-image network is checked against PyTorch."""
    error = (reference.float() - outputs.float()).square().flatten(1).mean(dim=1)
    return (10 * torch.log10(1 / error.clamp(min=1e-12)) >= AGREE_PSNR).float().mean().item()
