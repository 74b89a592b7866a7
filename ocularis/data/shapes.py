"""Procedurally drawn coloured shapes: any size and count, seeded. Each object keeps its class, box and mask,
so the same generator serves classification, detection and segmentation."""

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star", "hexagon")


@dataclass
class ShapeObject:
    label: int  # index into SHAPES
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
    mask: np.ndarray  # HxW bool


def draw_scene(rng: np.random.Generator, size: int, count: int,
               min_scale: float = 0.25, max_scale: float = 0.6) -> tuple[np.ndarray, list[ShapeObject]]:
    """An RGB uint8 image with `count` random shapes over a noisy two-tone background, and its objects."""
    image = _background(rng, size)
    objects = []
    canvas = Image.fromarray(image)
    for _ in range(count):
        label = int(rng.integers(len(SHAPES)))
        diameter = rng.uniform(min_scale, max_scale) * size
        centre = rng.uniform(diameter / 2, size - diameter / 2, size=2)
        mask_image = Image.new("L", (size, size), 0)
        _draw(ImageDraw.Draw(mask_image), SHAPES[label], centre, diameter / 2, rng.uniform(0, 2 * np.pi))
        mask = np.asarray(mask_image) > 0
        if not mask.any():
            continue
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        canvas.paste(Image.new("RGB", (size, size), colour), mask=mask_image)
        for other in objects:  # later shapes hide what lies beneath them
            other.mask &= ~mask
        objects.append(ShapeObject(label, (0.0, 0.0, 0.0, 0.0), mask))
    for obj in objects:
        ys, xs = np.nonzero(obj.mask)
        obj.box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)) if len(xs) else obj.box
    return np.asarray(canvas), [o for o in objects if o.mask.any()]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(0, 256, size=3)
    gradient = np.linspace(0, 1, size)[None, :, None] * rng.integers(-60, 60, size=3)
    noise = rng.normal(0, 12, size=(size, size, 3))
    return np.clip(base + gradient + noise, 0, 255).astype(np.uint8)


def _draw(draw: ImageDraw.ImageDraw, shape: str, centre: np.ndarray, radius: float, angle: float) -> None:
    x, y = centre
    if shape == "circle":
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
        return
    corners = {"square": 4, "triangle": 3, "hexagon": 6, "star": 10}[shape]
    radii = [radius if i % 2 == 0 else radius * 0.45 for i in range(corners)] if shape == "star" else [radius] * corners
    points = [(x + r * np.cos(angle + 2 * np.pi * i / corners), y + r * np.sin(angle + 2 * np.pi * i / corners))
              for i, r in enumerate(radii)]
    draw.polygon(points, fill=255)
