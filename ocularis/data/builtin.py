"""Built-in datasets that need no download: scikit-learn's handwritten digits and the drawn shapes."""

import numpy as np

from ocularis.data.labelled import LabelledImages, Split, split_three
from ocularis.data.shapes import SHAPES, draw_scene


def digits(*, val_fraction: float, test_fraction: float, seed: int) -> LabelledImages:
    """The 1,797 real 8x8 handwritten digits (UCI, via scikit-learn), as grayscale uint8 images."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = (bunch.images * (255.0 / 16.0)).round().astype(np.uint8)
    everything = Split(list(pixels), [(int(t),) for t in bunch.target])
    train, val, test = split_three(everything, val_fraction, test_fraction, seed)
    return LabelledImages([str(d) for d in range(10)], train, val, test, channels=1, hflip_ok=False)


def shapes(*, val_fraction: float, test_fraction: float, seed: int, count: int = 1000,
           size: int = 64) -> LabelledImages:
    """`count` images of one drawn shape each, labelled by shape; a fixed generator seed keeps it the same set."""
    rng = np.random.default_rng(12345)
    images, targets = [], []
    while len(images) < count:
        image, objects = draw_scene(rng, size, 1)
        if objects:
            images.append(image)
            targets.append((objects[0].label,))
    everything = Split(images, targets)
    train, val, test = split_three(everything, val_fraction, test_fraction, seed)
    return LabelledImages(list(SHAPES), train, val, test)
