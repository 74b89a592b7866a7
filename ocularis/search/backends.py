"""Each index kind: its parameters, how it is built (trained where it must be), searched, written and read.

Every kind maps external ids (the rows of items.sqlite) itself, so compacting can drop tombstoned rows without
renumbering the table or vectors.f32. Scores are inner products of L2-normalised vectors, that is cosines.
"""

import ctypes
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ocularis.core.files import atomic_write_named
from ocularis.errors import ConfigError
from ocularis.search import KINDS

# Defaults reach recall@10 >= 0.9 against exact search on 5,000 clustered 64-d vectors (tests/test_search.py);
# refine: candidates per hit fetched by the coarse kinds and re-ranked exactly against vectors.f32;
# on_disk=1: the IVF kinds keep their inverted lists in a file of their own, mapped, so the index may outgrow RAM.
DEFAULTS: dict[str, dict[str, int]] = {
    "flat": {},
    "ivf": {"nlist": 100, "nprobe": 16, "on_disk": 0},
    "ivfpq": {"nlist": 100, "nprobe": 16, "m": 8, "nbits": 8, "refine": 10, "on_disk": 0},
    "hnsw": {"M": 32, "ef_construction": 80, "ef_search": 128},
    "lsh": {"bits": 512, "refine": 10},
    "annoy": {"trees": 20, "search_k": -1, "refine": 10},
}
TRAINED = ("ivf", "ivfpq")  # kinds that learn centroids from the first vectors added
REBUILT = ("annoy",)  # kinds that cannot grow once built: every add rebuilds them from vectors.f32
MIN_POINTS_PER_CENTROID = 39  # what FAISS's k-means asks for each centroid (it warns below)
MAX_POINTS_PER_CENTROID = 256  # what FAISS's k-means samples down to: training on more vectors reads them for nothing
BUILD_CHUNK = 65536  # rows read out of vectors.f32 at a time while building: memory holds one chunk, not the folder


def resolve_params(kind: str, dim: int, params: dict[str, Any]) -> dict[str, int]:
    """The kind's defaults overridden by `params`, checked: unknown names and impossible values are refused."""
    if kind not in KINDS:
        raise ConfigError(f"index kind {kind!r} is unknown; choose one of {', '.join(KINDS)}")
    if kind == "annoy":
        annoy_module()
    allowed = DEFAULTS[kind]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) or "no parameters"
        raise ConfigError(f"index kind {kind!r} takes {takes}; got {', '.join(unknown)}")
    resolved = {**allowed, **params}
    for name, value in resolved.items():
        if name == "on_disk":
            if value not in (0, 1) or isinstance(value, bool):
                raise ConfigError(f"index parameter on_disk={value!r} must be 0 (lists in memory) or 1 (in a file)")
        elif not isinstance(value, int) or isinstance(value, bool) or (value < 1 and name != "search_k"):
            raise ConfigError(f"index parameter {name}={value!r} must be a positive whole number")
    if kind == "ivfpq":
        if dim % resolved["m"]:
            divisors = [m for m in range(1, dim + 1) if dim % m == 0]
            raise ConfigError(f"ivfpq parameter m={resolved['m']} must divide the vector dimension {dim}; "
                              f"pick one of {divisors}")
        if resolved["nbits"] > 16:
            raise ConfigError(f"ivfpq parameter nbits={resolved['nbits']} is too large; use 4 to 16 (8 is usual)")
    return resolved


def annoy_module():
    try:
        import annoy
    except ImportError:
        raise ConfigError("index kind 'annoy' needs Spotify's annoy: pip install annoy-mm (its wheels; "
                          "or pip install annoy, which builds from source with a C++ compiler)") from None
    return annoy


def fitted_params(kind: str, params: dict[str, int], count: int) -> dict[str, int]:
    """`params` shrunk so that `count` training vectors give every centroid the points k-means wants (at least 1)."""
    fitted = dict(params)
    if kind in TRAINED:
        fitted["nlist"] = max(1, min(params["nlist"], count // MIN_POINTS_PER_CENTROID))
        fitted["nprobe"] = min(params["nprobe"], fitted["nlist"])
    if kind == "ivfpq":
        most = max(1, int(math.log2(max(count // MIN_POINTS_PER_CENTROID, 1))))
        fitted["nbits"] = min(params["nbits"], most)
    return fitted


def build(kind: str, dim: int, params: dict[str, int], source: np.ndarray, ids: np.ndarray,
          lists_path: Path | None = None) -> tuple[Any, dict]:
    """A new index of the rows `ids` of `source` (vectors.f32, mapped) under those ids, trained on them where the kind
    needs it (on a sample when there are more than k-means uses), and the parameters it used. Rows are read a chunk
    at a time. An on-disk IVF kind writes its inverted lists to `lists_path`, which must not exist yet."""
    used = fitted_params(kind, params, len(ids))
    if kind == "annoy":
        return AnnoyBackend.built(dim, used, source, ids), used
    index = _empty(kind, dim, used)
    if kind in TRAINED:
        _train(index, kind, used, source[_training_rows(kind, used, ids)])
        if used.get("on_disk"):
            lists = faiss.OnDiskInvertedLists(used["nlist"], index.code_size, str(lists_path))
            index.replace_invlists(lists, True)
            lists.this.disown()  # the index owns and frees it now
    tune(index, kind, used)
    for start in range(0, len(ids), BUILD_CHUNK):
        chunk = ids[start:start + BUILD_CHUNK]
        add(index, used, source[chunk], chunk)
    return index, used


def add(index: Any, used: dict[str, int], vectors: np.ndarray, ids: np.ndarray) -> None:
    """Add `vectors` under `ids` to a FAISS index (one that can grow)."""
    with quiet_stdout() if used.get("on_disk") else nullcontext():
        index.add_with_ids(vectors, ids.astype(np.int64))


def lists_file(index: Any) -> str | None:
    """The file an on-disk IVF index keeps its inverted lists in (None for every other index)."""
    if not isinstance(index, faiss.IndexIVF):
        return None
    lists = faiss.downcast_InvertedLists(index.invlists)
    return lists.filename if isinstance(lists, faiss.OnDiskInvertedLists) else None


def _training_rows(kind: str, used: dict[str, int], ids: np.ndarray) -> np.ndarray:
    """The rows to train on: all of them, or an evenly drawn sample of the most that k-means would look at."""
    most = MAX_POINTS_PER_CENTROID * max(used["nlist"], 2 ** used["nbits"] if kind == "ivfpq" else 1)
    if len(ids) <= most:
        return ids
    return np.sort(np.random.default_rng(0).choice(ids, most, replace=False))


def _empty(kind: str, dim: int, used: dict[str, int]) -> Any:
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "flat":
        return faiss.IndexIDMap(faiss.IndexFlatIP(dim))
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dim, used["M"], ip)
        graph.hnsw.efConstruction = used.get("ef_construction", 40)  # folders indexed before it was a parameter
        return faiss.IndexIDMap(graph)
    if kind == "lsh":  # random rotation to `bits` signs; candidates are re-ranked exactly, Hamming order is coarse
        return faiss.IndexIDMap(faiss.IndexLSH(dim, used["bits"], True, False))
    quantiser = faiss.IndexFlatIP(dim)
    if kind == "ivf":
        index = faiss.IndexIVFFlat(quantiser, dim, used["nlist"], ip)
    else:
        index = faiss.IndexIVFPQ(quantiser, dim, used["nlist"], used["m"], used["nbits"], ip)
    return index  # FAISS's Python wrapper keeps the quantiser alive as long as the index


def _train(index: Any, kind: str, used: dict[str, int], vectors: np.ndarray) -> None:
    # fitted_params already gave each centroid enough points, so FAISS's own warning only fires at the floor of 1
    index.cp.min_points_per_centroid = 1
    if kind == "ivfpq":
        index.pq.cp.min_points_per_centroid = 1
        if len(vectors) < 2 ** used["nbits"]:  # k-means refuses fewer points than centroids: repeat the few there are
            vectors = np.resize(vectors, (2 ** used["nbits"], vectors.shape[1]))
    index.train(vectors)


def tune(index: Any, kind: str, used: dict[str, int]) -> None:
    """Set the search-time knobs that FAISS does not store in the file."""
    if kind in TRAINED:
        index.nprobe = used["nprobe"]
    if kind == "annoy":
        index.search_k = used["search_k"]


def search(index: Any, kind: str, used: dict[str, int], queries: np.ndarray, count: int):
    """The backend's own top `count` (scores, ids), -1 where it found fewer."""
    if kind == "hnsw":  # HNSW returns at most ef_search neighbours: widen it for large requests
        faiss.downcast_index(index.index).hnsw.efSearch = max(used["ef_search"], count)
    return index.search(queries, count)


def exact_scores(vectors: np.ndarray, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Inner products of each query with the rows `ids` (-1: none) of `vectors`, computed where the rows lie (a
    memory map) by FAISS's threads, with no gathered copy; -inf where there is no row."""
    safe = np.ascontiguousarray(np.maximum(ids, 0), dtype=np.int64)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    scores = np.empty(ids.shape, dtype=np.float32)
    if len(vectors) and ids.size:
        faiss.fvec_inner_products_by_idx(faiss.swig_ptr(scores), faiss.swig_ptr(queries), faiss.swig_ptr(vectors),
                                         faiss.swig_ptr(safe), vectors.shape[1], len(queries), ids.shape[1])
    return np.where(ids >= 0, scores, -np.inf).astype(np.float32)


def write_index(index: Any, path: Path) -> None:
    """Write the index file atomically (a crash leaves the previous file whole)."""
    if isinstance(index, AnnoyBackend):
        atomic_write_named(path, index.save)
    else:
        atomic_write_named(path, lambda temporary: faiss.write_index(index, temporary))


def read_index(path: Path, kind: str, dim: int, mmap: bool, on_disk: bool = False) -> Any:
    """Read an index file; `mmap` maps a FAISS file instead of loading it. Annoy files and on-disk inverted lists are
    mapped in any case (FAISS's mmap flag would skip opening such lists: searching them then crashes), and on-disk
    lists are looked for beside the file, wherever the folder has moved."""
    if kind == "annoy":
        return AnnoyBackend.load(path, dim)
    flags = faiss.IO_FLAG_ONDISK_SAME_DIR | (faiss.IO_FLAG_MMAP if mmap and not on_disk else 0)
    with quiet_stdout():
        return faiss.read_index(str(path), flags)


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence the C library's stdout: FAISS prints every resize of an on-disk lists file, and where it found one,
    which would break a table or JSON the command is writing. Python's own output is flushed first and kept."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)  # what FAISS printed is still in C's buffer: drop it into /dev/null
        os.dup2(saved, 1)
        os.close(saved)


class AnnoyBackend:
    """Annoy's trees behind FAISS's interface (ntotal, search). Annoy cannot add to built trees, so it is rebuilt.

    Item numbers are the table ids; tombstoned ids are left out, and annoy skips such gaps when building.
    """

    def __init__(self, trees: Any, dim: int):
        self.trees, self.d = trees, dim
        self.search_k = -1  # annoy's default: trees x count nodes inspected

    @classmethod
    def built(cls, dim: int, used: dict[str, int], source: np.ndarray, ids: np.ndarray) -> "AnnoyBackend":
        trees = annoy_module().AnnoyIndex(dim, "dot")
        trees.set_seed(0)
        for item in ids.tolist():
            trees.add_item(item, source[item].tolist())
        trees.build(used["trees"])
        return cls(trees, dim)

    @classmethod
    def load(cls, path: Path, dim: int) -> "AnnoyBackend":
        trees = annoy_module().AnnoyIndex(dim, "dot")
        trees.load(str(path))
        return cls(trees, dim)

    @property
    def ntotal(self) -> int:
        """Annoy counts up to the largest item number; the folder's meta records the same count."""
        return self.trees.get_n_items()

    def save(self, path: str) -> None:
        self.trees.save(path)

    def search(self, queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(queries), count), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), count), -1, dtype=np.int64)
        for row, query in enumerate(queries):
            found, distances = self.trees.get_nns_by_vector(query.tolist(), count, self.search_k, True)
            ids[row, :len(found)], scores[row, :len(found)] = found, distances
        return scores, ids
