"""Measures of an explanation's faithfulness: the deletion test (Petsiuk et al. 2018, RISE) and where two heat maps
agree."""

import numpy as np
import torch

from ocularis.explain.target import ExplainTarget


def deletion_curve(network, target: ExplainTarget, images: torch.Tensor, ranking: torch.Tensor,
                   baseline: torch.Tensor, steps: int = 10) -> np.ndarray:
    """(steps + 1,) the explained score, averaged over the images, as the pixels `ranking` (B, H, W) rates highest
    are replaced by `baseline` (C, 1, 1) first: 0, 1/steps ... all of them. A faithful map makes it fall fast."""
    order = ranking.flatten(1).argsort(dim=1, descending=True)
    pixels = order.shape[1]
    curve = []
    with torch.no_grad():
        for step in range(steps + 1):
            removed = torch.zeros_like(order, dtype=torch.bool)
            removed.scatter_(1, order[:, :round(pixels * step / steps)], True)
            mask = removed.view(-1, 1, *images.shape[-2:])
            curve.append(target.chosen(network(torch.where(mask, baseline, images))).mean().item())
    return np.array(curve)


def area_under(curve: np.ndarray) -> float:
    """The curve's mean height over [0, 1] by the trapezoid rule (lower: the score fell sooner)."""
    return float(((curve[1:] + curve[:-1]) / 2).mean())


def top_region(heat: np.ndarray, cells: int = 4) -> int:
    """The index (row-major) of the cell of a cells x cells grid holding most of the map's mass."""
    h, w = heat.shape
    rows, columns = np.array_split(np.arange(h), cells), np.array_split(np.arange(w), cells)
    mass = [heat[np.ix_(r, c)].sum() for r in rows for c in columns]
    return int(np.argmax(mass))
