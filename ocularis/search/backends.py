"""Each index kind: its parameters, how it is built (trained where it must be), searched, written and read.

Every kind maps external ids (the rows of items.sqlite) itself, so compacting can drop tombstoned rows without
renumbering the table or vectors.f32. Scores are inner products of L2-normalised vectors, that is cosines.
"""

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ocularis.core.files import atomic_write_named
from ocularis.errors import ConfigError
from ocularis.search import KINDS

# Defaults reach recall@10 >= 0.9 against exact search on 5,000 clustered 64-d vectors (tests/test_search.py);
# refine: candidates per hit fetched by the coarse kinds and re-ranked exactly against vectors.f32.
DEFAULTS: dict[str, dict[str, int]] = {
    "flat": {},
    "ivf": {"nlist": 100, "nprobe": 16},
    "ivfpq": {"nlist": 100, "nprobe": 16, "m": 8, "nbits": 8, "refine": 10},
    "hnsw": {"M": 32, "ef_construction": 80, "ef_search": 128},
    "lsh": {"bits": 512, "refine": 10},
    "annoy": {"trees": 20, "search_k": -1, "refine": 10},
}
TRAINED = ("ivf", "ivfpq")  # kinds that learn centroids from the first vectors added
REBUILT = ("annoy",)  # kinds that cannot grow once built: every add rebuilds them from vectors.f32
MIN_POINTS_PER_CENTROID = 39  # what FAISS's k-means asks for each centroid (it warns below)


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
        if not isinstance(value, int) or isinstance(value, bool) or (value < 1 and name != "search_k"):
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
        raise ConfigError("index kind 'annoy' needs the annoy package: pip install annoy "
                          "(it builds from source and needs a C++ compiler)") from None
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


def build(kind: str, dim: int, params: dict[str, int], vectors: np.ndarray, ids: np.ndarray) -> tuple[Any, dict]:
    """A new index of `vectors` under `ids` (trained on them when the kind needs it) and the parameters it used."""
    used = fitted_params(kind, params, len(vectors))
    if kind == "annoy":
        return AnnoyBackend.built(dim, used, vectors, ids), used
    index = _empty(kind, dim, used)
    if kind in TRAINED:
        _train(index, kind, used, vectors)
    tune(index, kind, used)
    index.add_with_ids(vectors, ids.astype(np.int64))
    return index, used


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


def read_index(path: Path, kind: str, dim: int, mmap: bool) -> Any:
    """Read an index file; `mmap` maps a FAISS file instead of loading it (annoy files are always mapped)."""
    if kind == "annoy":
        return AnnoyBackend.load(path, dim)
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP) if mmap else faiss.read_index(str(path))


class AnnoyBackend:
    """Annoy's trees behind FAISS's interface (ntotal, search). Annoy cannot add to built trees, so it is rebuilt.

    Item numbers are the table ids; tombstoned ids are left out, and annoy skips such gaps when building.
    """

    def __init__(self, trees: Any, dim: int):
        self.trees, self.d = trees, dim
        self.search_k = -1  # annoy's default: trees x count nodes inspected

    @classmethod
    def built(cls, dim: int, used: dict[str, int], vectors: np.ndarray, ids: np.ndarray) -> "AnnoyBackend":
        trees = annoy_module().AnnoyIndex(dim, "dot")
        trees.set_seed(0)
        for item, vector in zip(ids.tolist(), vectors, strict=True):
            trees.add_item(item, vector.tolist())
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
