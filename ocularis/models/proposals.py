"""Region proposals by selective search (Uijlings et al.): the image is over-segmented by Felzenszwalb's graph
segmentation, then neighbouring regions are merged greedily by colour, texture, size and fill similarity; every
region formed on the way is a proposal. OpenCV contrib's implementation, tuned for small images: its "fast" preset
(k = 150, 300 on HSV and Lab) finds ~30 regions on a 96 px shapes image and misses 2% of the objects at IoU 0.5;
finer segmentations (k = 50, 150, regions of 10+ pixels) on the RGB image alone find ~115 boxes of 4+ px and miss
0.5% (1.8% at IoU 0.7), in less than half the time (11-15 ms against 35 ms; upscaling the image 2x found no more at
IoU 0.5 for four times the cost)."""

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torchvision.ops import box_iou

GRAPH_K = (50, 150)  # Felzenszwalb's scale: lower k, smaller segments, more proposals
SIGMA = 0.8  # Gaussian smoothing before segmenting
MIN_REGION = 10  # pixels of the smallest segment at 96 x 96; scaled with the image's area
MIN_SIDE = 4.0  # pixels: thinner boxes hold no object the datasets keep
MAX_PROPOSALS = 300  # rarely reached on small images; every proposal costs classifier time
CACHE_SIZE = 8192  # images; ~5 KB each

_cache: OrderedDict[bytes, torch.Tensor] = OrderedDict()
_caching = False


@contextmanager
def reusing_proposals() -> Iterator[None]:
    """Within it, proposals are cached by the image's bytes, so images seen again (validation every epoch, the SVM
    stage) are searched once. Outside it every image is searched, so prediction and its timing pay the full cost."""
    global _caching
    before, _caching = _caching, True
    try:
        yield
    finally:
        _caching = before
        if not before:
            _cache.clear()


def selective_search(image: np.ndarray) -> torch.Tensor:
    """(n, 4) xyxy proposals in pixels for an H x W x 3 uint8 RGB image, tiny boxes and duplicates dropped."""
    import cv2

    cv2.setNumThreads(1)  # the search is serial; OpenCV's pool only adds overhead on small images, beside torch's
    segmentation = cv2.ximgproc.segmentation
    search = segmentation.createSelectiveSearchSegmentation()
    height, width = image.shape[:2]
    search.addImage(np.ascontiguousarray(image[..., ::-1]))  # OpenCV's colour strategies expect BGR
    min_region = max(2, round(MIN_REGION * height * width / 96 ** 2))
    for k in GRAPH_K:
        search.addGraphSegmentation(segmentation.createGraphSegmentation(SIGMA, k, min_region))
    # the two strategies of OpenCV's presets: all four similarities, and size + fill alone (favours compact boxes)
    search.addStrategy(segmentation.createSelectiveSearchSegmentationStrategyMultiple(
        segmentation.createSelectiveSearchSegmentationStrategyColor(),
        segmentation.createSelectiveSearchSegmentationStrategyFill(),
        segmentation.createSelectiveSearchSegmentationStrategySize(),
        segmentation.createSelectiveSearchSegmentationStrategyTexture()))
    search.addStrategy(segmentation.createSelectiveSearchSegmentationStrategyMultiple(
        segmentation.createSelectiveSearchSegmentationStrategyFill(),
        segmentation.createSelectiveSearchSegmentationStrategySize()))
    rects = np.asarray(search.process(), dtype=np.float32).reshape(-1, 4)  # x y w h
    rects = rects[(rects[:, 2:] >= MIN_SIDE).all(1)]
    # the strategies and segmentations find many regions more than once: boxes found most often come first (OpenCV's
    # own ranking is partly random, so this also makes the order, and the cut at MAX_PROPOSALS, reproducible)
    rects, counts = np.unique(rects, axis=0, return_counts=True)
    rects = torch.from_numpy(rects[np.argsort(-counts, kind="stable")[:MAX_PROPOSALS]])
    return torch.cat([rects[:, :2], rects[:, :2] + rects[:, 2:]], 1)


def propose(images: torch.Tensor) -> list[torch.Tensor]:
    """Selective-search proposals for each image of a (B, C, H, W) batch of pixels scaled to 0..1 (detection
    normalises with mean 0, std 1), on the CPU; cached within `reusing_proposals()`."""
    pixels = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    if pixels.shape[1] != 3:  # grey (or any other channel count): search the first channel as grey RGB
        pixels = pixels[:, :1].expand(-1, 3, -1, -1)
    arrays = [p.permute(1, 2, 0).contiguous().numpy() for p in pixels]
    if not _caching:
        return [selective_search(array) for array in arrays]
    keys = [hashlib.blake2b(a.tobytes(), digest_size=16).digest() for a in arrays]
    for array, key in zip(arrays, keys, strict=True):
        if key not in _cache:
            _cache[key] = selective_search(array)
            if len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return [_cache[key].clone() for key in keys]


def proposal_recall(proposals: list[torch.Tensor], truths: list[torch.Tensor], iou: float = 0.5) -> float:
    """Share of ground-truth boxes that some proposal of their image overlaps by at least `iou`."""
    found = [box_iou(truth.view(-1, 4).float(), boxes).max(1).values >= iou
             for boxes, truth in zip(proposals, truths, strict=True) if len(truth) and len(boxes)]
    total = sum(len(truth) for truth in truths)
    return float(sum(int(f.sum()) for f in found) / max(total, 1))
