"""Decoded pixels of a dataset's image files: one look at every file before training, then each epoch from memory,
from .npy files, or from a fresh decode (--cache ram | disk | none, as Ultralytics' --cache).

The look (`ImageCache.scan`) is also the check for broken files and where each image's true size is learned, so no
file is decoded twice before training. A RAM cache is filled there, in the main process, never in DataLoader workers:
what a worker adds to its copy of the cache dies with it, while what the main process holds before the workers start
is theirs for every epoch (shared copy-on-write where workers are forked, pickled to them where they are spawned).
"""

import hashlib
import os
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from ocularis.core.checkpoint import atomic_write
from ocularis.core.images import read_image, to_pil
from ocularis.errors import ConfigError, CorruptImageError, DataError

CACHE_MODES = ("none", "ram", "disk")
CACHE_DIR_ENV = "OCULARIS_CACHE"
THREADS = max(4, min(8, os.cpu_count() or 1))  # PIL decodes and file reads and writes release the GIL

Source = str | np.ndarray  # an image file path, or HxW(xC) uint8 pixels
Size = tuple[int, int]  # (width, height)

# Arrays any live RAM cache holds, by file: a second read of the same data in this process (evaluate() after fit()
# reads the splits again) takes them instead of decoding everything into a second copy. Weak, so they go when the
# last cache holding them goes.
_IN_MEMORY: "weakref.WeakValueDictionary[tuple, np.ndarray]" = weakref.WeakValueDictionary()


def cache_folder() -> Path:
    """Where --cache disk writes: $OCULARIS_CACHE/images, else $XDG_CACHE_HOME (~/.cache)/ocularis/images."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]) / "images"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ocularis" / "images"


class ImageCache:
    """Pixels of image files in `channels` channels (1: "L", 3: "RGB"), kept by `mode` after `scan` has seen them."""

    def __init__(self, mode: str = "none", channels: int = 3, folder: Path | None = None):
        if mode not in CACHE_MODES:
            raise ConfigError(f"--cache {mode}: unknown; choose one of {', '.join(CACHE_MODES)}")
        self.mode, self.channels, self.folder = mode, channels, folder
        self.pixel_mode = "L" if channels == 1 else "RGB"
        self._arrays: dict[str, np.ndarray] = {}  # ram: pixels by path
        self._files: dict[str, Path] = {}  # disk: .npy file by path
        self._sizes: dict[str, Size] = {}  # every scanned readable file

    def scan(self, sources: Sequence[Source]) -> list[tuple[str, str]]:
        """Look at each file of `sources` once (in threads): decode it, or find it in the cache; learn its size; keep
        its pixels (ram) or write them (disk). Returns the files that cannot be decoded, with why, in order."""
        paths = list(dict.fromkeys(str(s) for s in sources if not isinstance(s, np.ndarray)))
        paths = [p for p in paths if p not in self._sizes]
        if self.mode == "disk" and self.folder is None:
            self.folder = cache_folder()
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            problems = list(pool.map(self._look, paths))
        return [(path, problem) for path, problem in zip(paths, problems, strict=True) if problem]

    def size(self, source: Source) -> Size:
        """(width, height) of a scanned file or of pixels."""
        if isinstance(source, np.ndarray):
            return int(source.shape[1]), int(source.shape[0])
        return self._sizes[str(source)]

    def load(self, source: Source) -> Image.Image:
        """The image as a PIL image in this cache's mode: the pixels the scan kept where it kept them, else decoded."""
        if isinstance(source, np.ndarray):
            return to_pil(source).convert(self.pixel_mode)
        path = str(source)
        if path in self._arrays:
            return to_pil(self._arrays[path])
        if path in self._files:
            try:
                return to_pil(np.load(self._files[path]))
            except (OSError, ValueError):  # deleted or damaged under a running job: the image file still has it
                pass
        return read_image(path, self.pixel_mode)

    def _look(self, path: str) -> str | None:
        """Why `path` cannot be decoded, or None once its size (and, by mode, its pixels) are recorded."""
        key = _file_key(path, self.pixel_mode)
        if key is None:
            return "file not found"
        if self.mode == "ram" and (array := _IN_MEMORY.get(key)) is not None:
            return self._record(path, array)
        npy = self._npy(key) if self.mode == "disk" else None
        if npy is not None and npy.is_file():
            try:  # written only after a full decode of this very file (same path, size and mtime): no decode again
                return self._record(path, np.load(npy, mmap_mode="r"), npy=npy)
            except (OSError, ValueError):
                pass  # a damaged cache file: decode again and rewrite it
        try:
            array = np.asarray(read_image(path, self.pixel_mode))
        except DataError as error:  # CorruptImageError, or the file vanished since it was listed
            return error.bad[0][1] if isinstance(error, CorruptImageError) else str(error)
        if npy is not None:
            try:
                atomic_write(npy, lambda file: np.save(file, array))
            except OSError as error:
                raise ConfigError(f"--cache disk: cannot write {npy} ({error.strerror or error}); free space there, "
                                  f"set {CACHE_DIR_ENV} to a writable folder, or use --cache ram or none") from None
            return self._record(path, array, npy=npy)
        if self.mode == "ram":
            _IN_MEMORY[key] = array
        return self._record(path, array)

    def _record(self, path: str, array: np.ndarray, npy: Path | None = None) -> None:
        """Note the size of `path` and where its pixels are kept (ram: `array` itself); None: no problem to report."""
        self._sizes[path] = int(array.shape[1]), int(array.shape[0])
        if npy is not None:
            self._files[path] = npy
        elif self.mode == "ram":
            self._arrays[path] = array

    def _npy(self, key: tuple) -> Path:
        # Keyed by the file's absolute path, size, mtime and pixel mode rather than written beside the image (as
        # Ultralytics does): image folders are often read-only or shared, and an edited image gets a new key, so a
        # stale cache file is never read. Delete the folder to reclaim the space.
        return self.folder / f"{hashlib.sha256(repr(key).encode()).hexdigest()[:32]}.npy"


def _file_key(path: str, pixel_mode: str) -> tuple | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return os.path.abspath(path), stat.st_size, stat.st_mtime_ns, pixel_mode


S = TypeVar("S")  # a Split or a AnnotatedSplit: anything with .sources and .subset(indices)
SCREENFUL = 20  # more unreadable files than this are listed in a file that the message names
UNREADABLE_LISTING = "unreadable_images.txt"  # in the working folder, beside runs/: the run folder does not exist yet


def unreadable_error(bad: list[tuple[str, str]]) -> CorruptImageError:
    """The error naming every unreadable file: in its message, or past a screenful in UNREADABLE_LISTING."""
    if len(bad) <= SCREENFUL:
        return CorruptImageError(bad)
    listing = Path(UNREADABLE_LISTING).resolve()
    atomic_write(listing, "".join(f"{path}\t{reason}\n" for path, reason in bad).encode())
    return CorruptImageError(bad, str(listing))


def check_decodable(splits: Sequence[S], images: ImageCache, skip_bad: bool) -> tuple[list[S], list[tuple[str, str]]]:
    """Scan the files of every split in one pass; raise one CorruptImageError listing the unreadable files of all
    splits, or (skip_bad) return the splits without them and the list."""
    bad = images.scan([source for split in splits for source in split.sources])
    if bad and not skip_bad:
        raise unreadable_error(bad)
    unreadable = {path for path, _ in bad}
    kept = [split.subset([i for i, s in enumerate(split.sources) if isinstance(s, np.ndarray) or str(s) not in
                          unreadable]) if unreadable else split for split in splits]
    return kept, bad


def open_images(dataset, mode: str, skip_bad: bool, data: str, training: bool = True) -> None:
    """Give `dataset` (train, val and test splits, channels, warnings) its ImageCache in `mode` and look at every
    image once: unreadable ones raise, or (skip_bad) are dropped and counted in its warnings. For `training`, an
    empty train or val split is refused (data read for evaluation may be one split)."""
    dataset.images = ImageCache(mode, dataset.channels)
    names = ("train", "val", "test")
    splits, bad = check_decodable([getattr(dataset, name) for name in names], dataset.images, skip_bad)
    if bad:
        dataset.warnings.append(f"{len(bad)} unreadable image(s) left out: {', '.join(p for p, _ in bad)}")
    for name, split in zip(names, splits, strict=True):
        setattr(dataset, name, split)
    if training and (not len(dataset.train) or not len(dataset.val)):
        raise DataError(f"--data {data}: the train or val split is empty; add images or lower --val-fraction")
