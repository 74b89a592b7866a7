"""Prediction inputs of every kind -> named, decoded items in batches.

An InputReader is the behaviour of one `ocularis.contract.InputKind`: `expand` names the sources a user gave (paths,
folders, PIL images, arrays; for a generator, nothing), `decode` reads one, `from_uploads` makes items of the files a
request carried (already decoded by the server, field by field). An item is what the task's `preprocess` batches:
a PIL image, a pair of them, a clip (a list of frames) or a seed.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ocularis.config import PredictOptions
from ocularis.contract import InputKind
from ocularis.core.images import is_image_file, list_images
from ocularis.core.video import is_video_file, read_clip
from ocularis.data.dataset import load_pil
from ocularis.errors import DataError


class InputReader:
    """One image per source (the default kind)."""

    def __init__(self, kind: InputKind):
        self.kind = kind

    def expand(self, inputs: Any, options: PredictOptions | None = None) -> list[tuple[str, Any]]:
        """(name, source) per item: paths (folders expand to their files), PIL images or uint8 arrays."""
        return expand_inputs(inputs)

    def decode(self, source: Any, channels: int | None) -> Any:
        return load_pil(source, channels or 3)

    def from_uploads(self, files: dict[str, list[tuple[str, Any]]], options: PredictOptions) -> list[tuple[str, Any]]:
        """(name, item) per item of a request's decoded files, {field: [(filename, decoded)]}."""
        return files[self.kind.uploads[0].name]

    def batches(self, items: list[tuple[str, Any]], channels: int | None,
                size: int) -> Iterator[tuple[list[str], list[Any]]]:
        """Names and decoded items, `size` at a time, so a large folder never sits in memory at once."""
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            yield [name for name, _ in chunk], [self.decode(source, channels) for _, source in chunk]


class PairReader(InputReader):
    """Two images per item: sources two at a time, two folders paired by file name, or (a, b) tuples."""

    def expand(self, inputs: Any, options: PredictOptions | None = None) -> list[tuple[str, Any]]:
        items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        if items and all(isinstance(item, tuple) and len(item) == 2 for item in items):
            return [(f"{_name(a, i, 0)}|{_name(b, i, 1)}", (a, b)) for i, (a, b) in enumerate(items)]
        if len(items) == 2 and all(isinstance(i, str | Path) and Path(i).is_dir() for i in items):
            return _paired_folders(Path(items[0]), Path(items[1]))
        singles = expand_inputs(items)
        if len(singles) % 2:
            raise DataError(f"{len(singles)} images make no pairs; give them two at a time (a b a b ...), two "
                            "folders whose files share names, or (a, b) tuples")
        return [(f"{a}|{b}", (first, second)) for (a, first), (b, second) in zip(singles[::2], singles[1::2],
                                                                                   strict=True)]

    def decode(self, source: Any, channels: int | None) -> tuple[Image.Image, Image.Image]:
        return load_pil(source[0], channels or 3), load_pil(source[1], channels or 3)

    def from_uploads(self, files: dict[str, list[tuple[str, Any]]], options: PredictOptions) -> list[tuple[str, Any]]:
        first, second = (files[upload.name] for upload in self.kind.uploads)
        if len(first) != len(second):
            raise DataError(f"{len(first)} first and {len(second)} second images; send one second image per first")
        return [(f"{a}|{b}", (x, y)) for (a, x), (b, y) in zip(first, second, strict=True)]


class ClipReader(InputReader):
    """A video file per item, decoded to its frames (at most MAX_FRAMES, evenly spread); the task samples its own."""

    def expand(self, inputs: Any, options: PredictOptions | None = None) -> list[tuple[str, Any]]:
        items = inputs if isinstance(inputs, list | tuple) else [inputs]
        found: list[tuple[str, Any]] = []
        for index, item in enumerate(items):
            if isinstance(item, str | Path):
                path = Path(item)
                videos = sorted(p for p in path.rglob("*") if is_video_file(p)) if path.is_dir() else [path]
                for video in videos:
                    if not video.is_file():
                        raise DataError(f"input {video} does not exist; pass video files or folders of them")
                    found.append((str(video), str(video)))
            elif isinstance(item, list | np.ndarray):  # frames already decoded
                found.append((f"clip{index}", item))
            else:
                raise DataError(f"input {index} is a {type(item).__name__}; pass video paths or lists of frames")
        if not found:
            raise DataError(f"no videos found in {inputs}")
        return found

    def decode(self, source: Any, channels: int | None) -> list[Image.Image]:
        frames = read_clip(source) if isinstance(source, str) else list(source)
        return [load_pil(frame, channels or 3) for frame in frames]


class NoReader(InputReader):
    """A generator's items: `count` seeds from the options' `seed` (GenerateOptions); there are no sources."""

    def expand(self, inputs: Any, options: PredictOptions | None = None) -> list[tuple[str, Any]]:
        if inputs not in (None, [], ()):
            raise DataError("this model generates from nothing: give no inputs, and --count / --seed instead")
        return [(f"seed{options.seed + i}", options.seed + i) for i in range(options.count)]

    def decode(self, source: Any, channels: int | None) -> int:
        return int(source)

    def from_uploads(self, files: dict[str, list[tuple[str, Any]]], options: PredictOptions) -> list[tuple[str, Any]]:
        return self.expand(None, options)


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
    """Names and decoded images, `size` at a time (images only: the explanation and embedding verbs)."""
    return InputReader(None).batches(items, channels, size)


def _name(source: Any, index: int, side: int) -> str:
    return str(source) if isinstance(source, str | Path) else f"pair{index}.{'ab'[side]}"


def _paired_folders(first: Path, second: Path) -> list[tuple[str, Any]]:
    """Files of two folders paired by name; a name in only one of them is named in the error."""
    a, b = ({p.name: p for p in list_images(folder)} for folder in (first, second))
    lonely = sorted(set(a) ^ set(b))
    if lonely:
        raise DataError(f"{lonely[0]} is in only one of {first} and {second}; pair folders need the same file names")
    return [(f"{a[n]}|{b[n]}", (str(a[n]), str(b[n]))) for n in sorted(a)]
