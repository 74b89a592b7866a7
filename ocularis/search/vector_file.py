"""vectors.f32, the index folder's raw rows: float32, row i belonging to table id i, appended and fsynced before the
table commits them, cut back to the table after a crash, and mapped two ways (scattered reads for re-ranking, one
pass in order for a rebuild). Knows nothing of FAISS or the table."""

import mmap
import os
from pathlib import Path

import numpy as np

from ocularis.errors import SearchIndexError


def append_rows(path: Path, vectors: np.ndarray, first: int) -> None:
    """Write `vectors` as rows first, first + 1, ... (anything beyond them goes) and fsync: durable before the table
    commits them."""
    with open(path, "r+b") as file:
        file.seek(first * vectors.shape[1] * 4)
        file.write(vectors.tobytes())
        file.truncate()
        file.flush()
        os.fsync(file.fileno())


def cut_to_rows(path: Path, rows: int, dim: int, table_name: str) -> None:
    """Rows beyond `rows` were appended by an add that crashed before committing: drop them. Fewer rows than the
    table (`table_name`) holds cannot be mended."""
    size, wanted = path.stat().st_size, rows * dim * 4
    if size < wanted:
        raise SearchIndexError(f"{path} holds {size // (dim * 4)} vectors but {table_name} has {rows} rows: the "
                               "folder is damaged beyond repair; rebuild the index from the images")
    if size > wanted:
        with open(path, "r+b") as file:
            file.truncate(wanted)
            file.flush()
            os.fsync(file.fileno())


def map_for_lookups(path: Path, rows: int, dim: int) -> np.ndarray:
    """The first `rows` rows mapped read-only for reading scattered rows: the mapping is advised random, else the
    kernel reads ahead megabytes around every row a search re-ranks (8 MiB here: 2,000-fold more than the row, once
    the file outgrows the page cache)."""
    if not rows:
        return np.zeros((0, dim), dtype=np.float32)
    with open(path, "rb") as file:
        mapped = mmap.mmap(file.fileno(), rows * dim * 4, access=mmap.ACCESS_READ)
    if hasattr(mmap, "MADV_RANDOM"):  # not on Windows
        mapped.madvise(mmap.MADV_RANDOM)
    return np.frombuffer(mapped, dtype=np.float32).reshape(rows, dim)


def map_in_order(path: Path, rows: int, dim: int) -> np.ndarray:
    """The first `rows` rows mapped for one pass in order (a rebuild), read ahead as the kernel likes."""
    return np.memmap(path, dtype=np.float32, mode="r", shape=(rows, dim))
