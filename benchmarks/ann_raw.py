"""The baseline side of benchmarks/ann.py: each index kind built with raw FAISS (or annoy) at the settings
ocularis.search.ImageIndex uses, in memory, with the same exact re-ranking, so that the two can be timed in one run."""

from pathlib import Path

import faiss
import numpy as np

from ocularis.search import backends


class RawAnnoy:
    """annoy itself: the same trees, search_k and seed as ImageIndex, plus the same exact re-ranking in numpy."""

    def __init__(self, dim: int, trees: int):
        self.trees = backends.annoy_module().AnnoyIndex(dim, "dot")
        self.trees.set_seed(0)
        self.count, self.tree_count, self.vectors = 0, trees, None
        self.search_k, self.refine = -1, 10

    def add(self, vectors: np.ndarray) -> None:
        for offset, vector in enumerate(vectors):
            self.trees.add_item(self.count + offset, vector.tolist())
        self.count += len(vectors)

    def build(self, vectors: np.ndarray) -> None:
        self.trees.build(self.tree_count)
        self.vectors = vectors

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        want = min(k * self.refine, self.count)
        ids = np.full((len(queries), want), -1, dtype=np.int64)
        for row, query in enumerate(queries):
            found = self.trees.get_nns_by_vector(query.tolist(), want, self.search_k)
            ids[row, :len(found)] = found
        scores = np.einsum("qd,qcd->qc", queries, self.vectors[np.maximum(ids, 0)])
        scores[ids < 0] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


class Raw:
    """One FAISS index built the way backends.build builds ImageIndex's, minus the folder and the id map."""

    def __init__(self, kind: str, dim: int, used: dict[str, int]):
        self.kind, self.parts = kind, []  # parts: the wrapped indexes, kept referenced while the wrapper lives
        ip = faiss.METRIC_INNER_PRODUCT
        if kind == "flat":
            self.index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, used["M"], ip)
            self.index.hnsw.efConstruction = used["ef_construction"]
        elif kind == "ivf":
            self.parts = [faiss.IndexFlatIP(dim)]
            self.index = faiss.IndexIVFFlat(self.parts[0], dim, used["nlist"], ip)
        elif kind in ("ivfpq", "lsh"):
            if kind == "ivfpq":
                quantiser = faiss.IndexFlatIP(dim)
                base = faiss.IndexIVFPQ(quantiser, dim, used["nlist"], used["m"], used["nbits"], ip)
                self.parts = [quantiser, base]
            else:
                base = faiss.IndexLSH(dim, used["bits"], True, False)
                self.parts = [base]
            # IndexRefineFlat re-ranks k x k_factor base candidates with exact distances (its own flat copy of the
            # vectors, in the base's metric: inner product for ivfpq; L2 for lsh, the same order on unit vectors)
            self.index = faiss.IndexRefineFlat(base)
        elif kind == "annoy":
            self.index = RawAnnoy(dim, used["trees"])
        else:
            raise ValueError(kind)

    def train(self, vectors: np.ndarray) -> None:
        if self.kind in backends.TRAINED:
            self.index.train(vectors)

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(vectors)

    def set(self, setting: dict[str, int], k: int) -> None:
        """Apply ImageIndex's search-time parameters (`setting` holds them all, as ImageIndex.params does)."""
        if self.kind == "ivf":
            self.index.nprobe = setting["nprobe"]
        elif self.kind == "ivfpq":
            self.parts[1].nprobe = setting["nprobe"]
        elif self.kind == "hnsw":
            self.index.hnsw.efSearch = max(setting["ef_search"], k)  # as backends.search widens it
        elif self.kind == "annoy":
            self.index.search_k, self.index.refine = setting["search_k"], setting["refine"]
        if self.kind in ("ivfpq", "lsh"):
            self.index.k_factor = setting["refine"]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)

    def nbytes(self, scratch: Path) -> int:
        """Bytes of the structure as FAISS (or annoy) writes it: what it holds in RAM, give or take a header."""
        path = scratch / "raw.index"
        if self.kind == "annoy":  # annoy maps the file it saves; the mapping outlives the unlink below
            self.index.trees.save(str(path))
        else:
            faiss.write_index(self.index, str(path))
        size = path.stat().st_size
        path.unlink()
        return size
