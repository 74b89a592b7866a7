"""Denoising photos: a denoising convolutional autoencoder against OpenCV's non-local means, in one process.

The autoencoder is trained from scratch on random 32 px patches of the BSDS500 training photos (200 JPEGs) with
Gaussian noise of sigma 25/255, then cleans the Set14 photos patch by patch (overlapping tiles, blended). Every
method sees the same noisy photos: clean + N(0, 25/255), clipped and rounded to 8 bits as a noisy file would be.
PSNR is over every RGB value (0..255), beside the Y-channel PSNR restoration papers quote.

    python benchmarks/denoise.py [--epochs 8] [--h 12]
"""

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import ocularis
from ocularis.core.quality import psnr, y_psnr

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
TRAIN = ASSETS / "bsds500_train"
SET14 = ASSETS / "super_resolution" / "Set14" / "image_SRF_2"
SIGMA = 25 / 255


def noisy_copy(image: np.ndarray, seed: int) -> np.ndarray:
    """uint8 `image` + Gaussian noise of SIGMA (in 0..1 units), clipped and rounded to uint8."""
    noise = np.random.default_rng(seed).normal(0.0, SIGMA * 255, image.shape)
    return np.clip(np.round(image.astype(np.float64) + noise), 0, 255).astype(np.uint8)


def train(args: argparse.Namespace, project: Path):
    model = ocularis.task_class("autoencode")(model="denoising", noise="gaussian", noise_level=SIGMA,
                                              patch=args.patch, patches_per_image=args.patches, width=args.width,
                                              batch=32, lr=2e-3, cache="ram", test_fraction=0.0, val_fraction=0.1,
                                              progress=False, project=str(project), name="bsds")
    started = time.perf_counter()
    run = model.fit(str(TRAIN), epochs=args.epochs)
    return model, time.perf_counter() - started, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--patches", type=int, default=12, help="patches drawn from each photo per epoch")
    parser.add_argument("--width", type=int, default=32, help="channels of the first convolution")
    parser.add_argument("--h", type=float, default=12.0, help="non-local means filter strength (luma and colour)")
    args = parser.parse_args()
    if not TRAIN.is_dir() or not SET14.is_dir():
        raise SystemExit(f"needs {TRAIN} and {SET14} (../shared/assets)")
    with tempfile.TemporaryDirectory() as scratch:
        model, seconds, run = train(args, Path(scratch))
        print(f"trained {args.epochs} epochs of {200 * args.patches} patches in {seconds:.0f} s "
              f"(val PSNR {run.metrics.values['psnr']:.2f} dB from {run.metrics.values['psnr_noisy']:.2f} dB)")
        rows, times = [], {"autoencoder": 0.0, "non-local means": 0.0}
        for number, path in enumerate(sorted(SET14.glob("*_HR.png"))):
            clean = np.asarray(Image.open(path).convert("RGB"))
            noisy = noisy_copy(clean, number)
            started = time.perf_counter()
            ours = model.predict([Image.fromarray(noisy)])[0].image
            times["autoencoder"] += time.perf_counter() - started
            started = time.perf_counter()
            nlm = cv2.cvtColor(cv2.fastNlMeansDenoisingColored(cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR), None, args.h,
                                                               args.h, 7, 21), cv2.COLOR_BGR2RGB)
            times["non-local means"] += time.perf_counter() - started
            rows.append([path.name.split("_SRF")[0]] + [(psnr(clean / 255, x / 255), y_psnr(clean, x))
                                                        for x in (noisy, ours, nlm)])
    print(f"\nSet14, Gaussian noise sigma 25/255: PSNR in dB, RGB (Y)\n{'image':10}{'noisy':>16}{'autoencoder':>16}"
          f"{'NLM h=' + format(args.h, 'g'):>16}")
    for name, *values in rows:
        print(f"{name:10}" + "".join(f"{rgb:9.2f} ({y:5.2f})" for rgb, y in values))
    means = [(np.mean([r[i][0] for r in rows]), np.mean([r[i][1] for r in rows])) for i in (1, 2, 3)]
    print(f"{'mean':10}" + "".join(f"{rgb:9.2f} ({y:5.2f})" for rgb, y in means))
    print("\nseconds for the 14 photos: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))


if __name__ == "__main__":
    main()
