"""COCO's average precision over any overlap: the numbers pycocotools' COCOeval prints, for boxes (detection) and
masks (segmentation) alike. A caller gives, per image and class, the detections' scores in score order and their
overlaps (IoU) with the ground truth; what is matched, ignored and averaged is COCO's rule, written once here.

Hand-written (vectorised over the IoU thresholds) because pycocotools is only the reference the tests compare with:
COCOeval cannot hand back per-class PR curves or take masks at any resolution without a JSON round trip.
"""

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # COCO's .50:.05:.95
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
# Ranges of GT area (boxes: w*h; masks: pixel count, as COCO's json area)
AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
MAX_DETECTIONS = 100  # per image AND class, as COCOeval's maxDets[-1] with useCats
CONFIDENCE_GRID = np.linspace(0, 1, 1000)  # where precision and recall are read to find the best F1 (Ultralytics')

Entry = tuple[np.ndarray, np.ndarray, np.ndarray, int]  # scores (D,), matched (T, D), ignored (T, D), GT counted


def image_entries(scores: np.ndarray, iou: np.ndarray, dt_area: np.ndarray, gt_area: np.ndarray) -> list[Entry]:
    """One image and class, detections in score order (at most MAX_DETECTIONS): an entry per area range."""
    entries = []
    for low, high in AREA_RANGES.values():
        gt_ignore = (gt_area < low) | (gt_area > high)
        matched, ignored = coco_match(iou, gt_ignore, (dt_area < low) | (dt_area > high))
        entries.append((scores, matched, ignored, int((~gt_ignore).sum())))
    return entries


def summarise(entries: list[list[list[Entry]]]) -> tuple[np.ndarray, list[list[np.ndarray | None]], dict]:
    """entries[class][area] (lists over images) -> (AP (C, A, T) with NaN where COCO writes -1, precision curves
    (T, 101) or None per class and area, the headline values: mAP50_95, mAP50, mAP75, mAP_small/medium/large)."""
    curves = [[coco_precision(per_area) for per_area in per_class] for per_class in entries]
    undefined = np.full(len(IOU_THRESHOLDS), np.nan)
    ap = np.array([[undefined if cur is None else cur.mean(1) for cur in row] for row in curves]).reshape(
        len(entries), len(AREA_RANGES), len(IOU_THRESHOLDS))
    values = {"mAP50": mean_defined(ap[:, 0, 0]), "mAP50_95": mean_defined(ap[:, 0].mean(1)),
              "mAP75": mean_defined(ap[:, 0, 5])}
    for a, area in enumerate(list(AREA_RANGES)[1:], start=1):
        values[f"mAP_{area}"] = mean_defined(ap[:, a].mean(1))
    return ap, curves, values


def coco_match(iou: np.ndarray, gt_ignore: np.ndarray, dt_outside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.evaluateImg for one image, class and area range -> (matched, ignored), each (T, D).

    In score order a detection takes the untaken GT of highest IoU >= threshold, the last of equals as COCO's loop
    does, preferring GT inside the area range; matched to a GT outside it, or unmatched and itself outside it, it is
    ignored.
    """
    (detections, truths), thresholds = iou.shape, len(IOU_THRESHOLDS)
    matched, ignored = np.zeros((thresholds, detections), bool), np.zeros((thresholds, detections), bool)
    taken = np.zeros((thresholds, truths), bool)
    limits = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[:, None]
    reachable = np.flatnonzero((iou >= limits[0]).any(1)) if truths else []
    for d in reachable:
        fits = (iou[d] >= limits) & ~taken
        regular = fits & ~gt_ignore
        fits = np.where(regular.any(1, keepdims=True), regular, fits)
        rows = np.flatnonzero(fits.any(1))
        best = truths - 1 - np.argmax(np.where(fits, iou[d], -1.0)[rows, ::-1], axis=1)
        taken[rows, best], matched[rows, d], ignored[rows, d] = True, True, gt_ignore[best]
    return matched, ignored | (~matched & dt_outside)


def coco_precision(entries: list[Entry]) -> np.ndarray | None:
    """COCOeval.accumulate for one class and area: precision (T, 101) at the recall points; None without GT."""
    gt_count = sum(e[3] for e in entries)
    if gt_count == 0:
        return None
    order = np.argsort(-np.concatenate([e[0] for e in entries]), kind="mergesort")
    matched = np.concatenate([e[1] for e in entries], axis=1)[:, order]
    counted = ~np.concatenate([e[2] for e in entries], axis=1)[:, order]
    tp, fp = np.cumsum(matched & counted, 1, dtype=float), np.cumsum(~matched & counted, 1, dtype=float)
    recall = tp / gt_count
    precision = tp / (tp + fp + np.spacing(1))
    precision = np.flip(np.maximum.accumulate(np.flip(precision, 1), 1), 1)  # best precision at this recall or more
    sampled = np.zeros((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
    for t in range(len(IOU_THRESHOLDS)):
        index = np.searchsorted(recall[t], RECALL_POINTS, side="left")
        reached = index < len(order)
        sampled[t, reached] = precision[t, index[reached]]
    return sampled


def mean_defined(values: np.ndarray) -> float | None:
    """Mean over the defined (non-NaN) entries; None when none is defined (COCO's -1)."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else None


def at_best_f1(entries_per_class: list) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Per-class precision and recall at IoU .5 of the detections scoring >= the confidence where the classes' mean
    F1 peaks (Ultralytics' report, read as steps rather than interpolated between scores, and without its F1
    smoothing) -> (precision (C,), recall (C,), index into CONFIDENCE_GRID); NaN without GT, 0 without detections."""
    precision = np.full((len(entries_per_class), len(CONFIDENCE_GRID)), np.nan)
    recall = precision.copy()
    for c, entries in enumerate(entries_per_class):
        gt_count = sum(e[3] for e in entries)
        if gt_count == 0:
            continue
        recall[c] = precision[c] = 0.0  # unless there are detections to read the curves from
        if not sum(len(e[0]) for e in entries):
            continue
        scores = np.concatenate([e[0] for e in entries])
        order = np.argsort(-scores, kind="mergesort")
        hits = np.concatenate([e[1][0] & ~e[2][0] for e in entries])[order]
        kept = np.searchsorted(-scores[order], -CONFIDENCE_GRID, side="right")  # detections scoring >= each conf
        true_positives = np.concatenate([[0], np.cumsum(hits)])[kept]
        recall[c] = true_positives / gt_count
        precision[c] = np.where(kept > 0, true_positives / np.maximum(kept, 1), 1.0)  # none kept: none wrong
    if np.isnan(recall).all():
        return precision[:, 0], recall[:, 0], None
    f1 = np.nanmean(2 * precision * recall / (precision + recall + 1e-16), axis=0)
    best = int(np.argmax(f1))
    return precision[:, best], recall[:, best], best


def f1_score(precision: float | None, recall: float | None) -> float | None:
    return None if precision is None or recall is None else 2 * precision * recall / max(precision + recall, 1e-16)
