"""Prediction inputs of any kind (paths, folders, PIL images, arrays) -> named, decoded images in batches."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ocularis.core.images import is_image_file, list_images
from ocularis.data.dataset import load_pil
from ocularis.errors import DataError


def expand_inputs(inputs: Any) -> list[tuple[str, Any]]:
    """(name, source) for each image: paths (folders expand to their images), PIL images or uint8 arrays."""
    items = inputs if isinstance(inputs, list | tuple) else [inputs]
    expanded: list[tuple[str, Any]] = []
    for index, item in enumerate(items):
        if isinstance(item, str | Path):
            path = Path(item)
            if path.is_dir():
                expanded += [(str(p), str(p)) for p in list_images(path)]
            elif is_image_file(path) or path.is_file():
                expanded.append((str(path), str(path)))
            else:
                raise DataError(f"input {path} does not exist; pass image files or folders")
        elif isinstance(item, Image.Image):
            expanded.append((f"image{index}", np.asarray(item.convert("RGB"))))
        elif isinstance(item, np.ndarray):
            expanded.append((f"array{index}", item))
        else:
            raise DataError(f"input {index} is a {type(item).__name__}; pass paths, PIL images or uint8 arrays")
    if not expanded:
        raise DataError(f"no images found in {inputs}")
    return expanded


def batches(items: list[tuple[str, Any]], channels: int,
            size: int) -> Iterator[tuple[list[str], list[Image.Image]]]:
    """Names and decoded images, `size` at a time, so a large folder never sits in memory at once."""
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        yield [name for name, _ in chunk], [load_pil(source, channels) for _, source in chunk]
