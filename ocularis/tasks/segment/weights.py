"""--class-weights: per-class loss weights from the pixels of every training image.

`balanced` weighs each class inversely to its share of all labelled pixels (mean 1). `median_freq` is SegNet's
median frequency balancing (Badrinarayanan et al., after Eigen and Fergus): freq_c = pixels of class c / pixels of
the images in which c is present, weight_c = median over classes of freq / freq_c, so the median class weighs 1 and
a class rarer where it appears weighs more. Both count every training image's class map, decoded once from its
annotation alone (no image pixels, no crop, no augmentation; an instance set's packed class map without its objects),
at --resize's scale; IGNORE pixels are no class's and count nowhere. A class no training image holds gets the largest
weight of those that appear (cross-entropy weighs a pixel by its true class, so it changes nothing there).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ocularis.data.boxes import image_size
from ocularis.data.masks import SegmentationSplit

KINDS = ("none", "balanced", "median_freq")


def class_weights(kind: str, split: SegmentationSplit, num_classes: int, resize: int | None = None
                  ) -> torch.Tensor | None:
    """The (num_classes,) float32 loss weights --class-weights `kind` gives over `split`; None for 'none'."""
    if kind == "none":
        return None
    if kind not in KINDS:
        raise ValueError(f"class weights {kind!r}: one of {', '.join(KINDS)}")
    pixels, present_in = class_pixels(split, num_classes, resize)
    seen = pixels > 0
    weights = np.zeros(num_classes)
    if kind == "balanced":
        weights[seen] = pixels.sum() / pixels[seen]
    else:
        frequency = pixels[seen] / present_in[seen]
        weights[seen] = np.median(frequency) / frequency
    weights[~seen] = weights[seen].max() if seen.any() else 1.0
    if kind == "balanced":
        weights /= weights.mean()
    return torch.tensor(weights, dtype=torch.float32)


def class_pixels(split: SegmentationSplit, num_classes: int, resize: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(pixels of each class, labelled pixels of the images each class is present in) over every image of `split`,
    as float64 (scaled to --resize's pixels where it is given)."""

    def count(pair) -> np.ndarray:
        source, target = pair
        size = image_size(source)
        semantic = target.class_map(size)
        counts = np.bincount(semantic.ravel(), minlength=256)[:num_classes].astype(np.float64)
        if resize:
            counts *= (resize / max(size)) ** 2
        return counts

    pixels, present_in = np.zeros(num_classes), np.zeros(num_classes)
    with ThreadPoolExecutor(max_workers=4) as pool:  # PNG and zlib decodes release the GIL
        for counts in pool.map(count, zip(split.sources, split.targets, strict=True)):
            pixels += counts
            present_in[counts > 0] += counts.sum()
    return pixels, present_in
