"""ImageIndex: one folder of image embeddings that answers "which indexed images are nearest this vector?".

The folder holds three files, written in an order that lets a crash at any point be found and undone on opening:
vectors.f32 (raw float32 rows, appended and fsynced first; row i belongs to table id i), items.sqlite (paths, hashes,
labels, tombstones and the metadata, committed second) and vectors.faiss (the search structure, replaced atomically
last). The table is the record: a longer vectors.f32 is cut back to it, a FAISS file that disagrees with it is
reported, and repair() rebuilds that file from vectors.f32.

An on-disk IVF index (on_disk=1) keeps its inverted lists in a fourth file, lists-N.ivfdata, that FAISS grows in
place; vectors.faiss then holds the centroids and where each list lies. Adding marks the table "lists_dirty" before
touching the lists and clears it once vectors.faiss describes them again, so a crash in between is found on opening.
A rebuild writes a new lists-N+1 file and deletes the old one only after vectors.faiss points at the new one.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ocularis.errors import ConfigError, DataError, SearchIndexError
from ocularis.search import backends, rerank, vector_file
from ocularis.search.hits import SearchResults
from ocularis.search.table import ItemTable

FAISS_FILE, VECTORS_FILE, TABLE_FILE = "vectors.faiss", "vectors.f32", "items.sqlite"
LISTS_PATTERN = "lists-*.ivfdata"
FORMAT = 1
NORM_TOLERANCE = 1e-3
# Up to this many table rows a search names its hits from a list of every row read once (~150 bytes a row of RAM);
# beyond it, it looks its hits up in SQLite (~2 us a hit), so a huge index's memory does not grow with its paths
ROW_CACHE = 1_000_000


class ImageIndex:
    """An index folder opened for searching and adding. Make one with create(), reopen it with open()."""

    def __init__(self, folder: Path, table: ItemTable, faiss_index: Any, mmapped: bool):
        self.folder, self.table, self._index, self.mmapped = folder, table, faiss_index, mmapped
        meta = table.meta()
        self.dim, self.kind, self.model, self.layer = meta["dim"], meta["kind"], meta["model"], meta.get("layer", "")
        self.fingerprint: str = meta["fingerprint"]
        self.requested: dict[str, int] = meta["params"]  # as asked for; `params` is what training could afford
        self.params: dict[str, int] = meta["trained"] or self.requested
        self._live = table.live_mask()
        self._vectors: np.ndarray | None = None
        self._row_names: list[tuple[str, str | None]] | None = None
        if self._index is not None:
            backends.tune(self._index, self.kind, self.params)

    # --- making and opening folders ---

    @classmethod
    def create(cls, folder: str | Path, dim: int, kind: str = "flat", fingerprint: str = "", model: str = "",
               layer: str = "", **params: int) -> "ImageIndex":
        """A new, empty index folder for `dim`-dimensional vectors (see backends.DEFAULTS for each kind's params).

        fingerprint and model name the embedding model (and layer the layer read, where it is not the model's
        output), so that queries from another model can be refused and the same model can embed them.
        """
        folder = Path(folder)
        if (folder / TABLE_FILE).exists():
            raise SearchIndexError(f"{folder} already holds an index ({TABLE_FILE}); open it with ImageIndex.open "
                                   "or choose an empty folder")
        if not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"dim={dim!r} must be the embedding size, a positive whole number")
        resolved = backends.resolve_params(kind, dim, params)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VECTORS_FILE).touch()
        table = ItemTable(folder / TABLE_FILE)
        table.set_meta({"format": FORMAT, "dim": dim, "kind": kind, "params": resolved, "trained": None,
                        "fingerprint": fingerprint, "model": model, "layer": layer, "stored": 0})
        return cls(folder, table, None, mmapped=False)

    @classmethod
    def open(cls, folder: str | Path, mmap: bool = False) -> "ImageIndex":
        """Open an index folder, checking its three files agree. mmap maps the FAISS file instead of reading it
        (the index is then read-only, and changes no file: another process may be adding to it)."""
        folder = Path(folder)
        table = _open_table(folder)
        meta = table.meta()
        if not mmap:  # a reader leaves alone the rows a writer elsewhere has appended and not yet committed
            _cut_vectors_to_table(folder, table.row_count(), meta["dim"])
        faiss_path = folder / FAISS_FILE
        on_disk = bool(meta["params"].get("on_disk"))
        index = (backends.read_index(faiss_path, meta["kind"], meta["dim"], mmap, on_disk) if faiss_path.exists()
                 else None)
        held = 0 if index is None else index.ntotal
        if index is not None and index.d != meta["dim"]:
            table.close()
            raise SearchIndexError(f"{faiss_path} holds {index.d}-d vectors but {TABLE_FILE} says {meta['dim']}: "
                                   f"run ImageIndex.repair({str(folder)!r})")
        if held != meta["stored"]:
            table.close()
            raise SearchIndexError(f"{faiss_path} holds {held} vectors but {TABLE_FILE} records {meta['stored']}: "
                                   f"a write was interrupted; run ImageIndex.repair({str(folder)!r})")
        if meta.get("lists_dirty"):
            table.close()
            raise SearchIndexError(f"{folder}'s inverted lists are being added to, or were when a writer stopped: "
                                   f"open it once the writer is done, or run ImageIndex.repair({str(folder)!r})")
        return cls(folder, table, index, mmapped=mmap and index is not None)

    @classmethod
    def repair(cls, folder: str | Path) -> "ImageIndex":
        """Rebuild the FAISS file from vectors.f32 for the table's live rows (after a crash), and open the index."""
        folder = Path(folder)
        table = _open_table(folder)
        _cut_vectors_to_table(folder, table.row_count(), table.meta()["dim"])
        index = cls(folder, table, None, mmapped=False)
        index.compact()
        return index

    def close(self) -> None:
        self.table.close()

    def __enter__(self) -> "ImageIndex":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- changing the index ---

    def add(self, vectors: np.ndarray, paths: Sequence[str], sha1s: Sequence[str | None] | None = None,
            labels: Sequence[str | None] | None = None) -> dict[str, int]:
        """Index L2-normalised `vectors` under `paths`; a path already indexed is updated, never duplicated."""
        self._writable()
        vectors = self._checked(vectors, "added vectors")
        paths = [str(path) for path in paths]
        sha1s = list(sha1s) if sha1s is not None else [None] * len(paths)
        labels = list(labels) if labels is not None else [None] * len(paths)
        if not len(vectors) == len(paths) == len(sha1s) == len(labels):
            raise DataError(f"add got {len(vectors)} vectors, {len(paths)} paths, {len(sha1s)} sha1s and "
                            f"{len(labels)} labels; pass one of each per image")
        if len(set(paths)) < len(paths):
            twice = next(path for path in paths if paths.count(path) > 1)
            raise DataError(f"add got the path {twice} more than once; pass each image once")
        if not paths:
            return {"added": 0, "updated": 0}
        replaced = list(self.table.live_ids(paths).values())
        first = len(self._live)
        new_ids = np.arange(first, first + len(paths), dtype=np.int64)
        vector_file.append_rows(self.folder / VECTORS_FILE, vectors, first)
        try:
            self._live = np.concatenate([self._live, np.ones(len(paths), dtype=bool)])
            self._live[replaced] = False
            trained = None
            if self._index is None or self.kind in backends.REBUILT:
                self._index, trained = self._built(np.flatnonzero(self._live))
            else:
                if self.params.get("on_disk"):
                    self.table.set_meta({"lists_dirty": True})
                backends.add(self._index, self.params, vectors, new_ids)
            meta = {"stored": self._index.ntotal, **({"trained": trained} if trained else {})}
            self.table.add(first, paths, sha1s, labels, replaced, meta)
        except BaseException:
            self._undo_append(first)
            raise
        self.params = trained or self.params
        self._save_faiss()
        self._compact_if_sparse()
        return {"added": len(paths) - len(replaced), "updated": len(replaced)}

    def remove(self, paths: Sequence[str]) -> int:
        """Tombstone the live rows of `paths` (searches skip them at once); returns how many were indexed."""
        self._writable()
        ids = list(self.table.live_ids(str(path) for path in paths).values())
        self.table.remove(ids)
        self._live[ids] = False
        self._compact_if_sparse()
        return len(ids)

    def compact(self) -> None:
        """Rebuild the FAISS file from live rows only, retraining the kinds that learn centroids."""
        self._writable()
        live = np.flatnonzero(self._live)
        if len(live):
            self._index, self.params = self._built(live)
        else:
            self._index, self.params = None, self.requested
        self.table.set_meta({"stored": 0 if self._index is None else self._index.ntotal, "trained": self.params})
        self._save_faiss()

    def undertrained(self) -> bool:
        """Whether the centroids were learnt from fewer vectors than the index now holds allow for (IVF kinds train
        on their first add; an index filled a chunk at a time should be compacted once it is full)."""
        return (self.kind in backends.TRAINED
                and self.params != backends.fitted_params(self.kind, self.requested, len(self)))

    def _compact_if_sparse(self) -> None:
        """Searches fetch extra candidates to step over tombstones; once they are most of the file, drop them."""
        if self.kind in backends.REBUILT:  # rebuilt from live rows on every add already
            return
        if self._index is not None and self._index.ntotal - len(self) > self._index.ntotal / 2:
            self.compact()

    # --- searching ---

    def search(self, vectors: np.ndarray, k: int = 10, expand: int = 0) -> SearchResults:
        """The k live images nearest each L2-normalised query, best first.

        expand=n: average query expansion, searching again with each query averaged with its top n hits' vectors.
        """
        if k < 1 or expand < 0:
            raise ConfigError(f"search needs k >= 1 and expand >= 0, got k={k}, expand={expand}")
        queries = self._checked(vectors, "query vectors")
        scores, ids = self._nearest(queries, k if not expand else max(k, expand))
        if expand:
            vectors_file = self.vectors()
            neighbours = [vectors_file[row[:expand][row[:expand] >= 0]] for row in ids]
            scores, ids = self._nearest(rerank.average_query_expansion(queries, neighbours), k)
        scores, ids = scores[:, :k], ids[:, :k]
        return SearchResults(scores, ids, self._names(ids))

    def _names(self, ids: np.ndarray) -> Sequence[tuple[str, str | None]] | dict[int, tuple[str, str | None]]:
        """(path, label) by id, for the hits `ids`: every row's, read once while the table is small enough to hold
        (a search then names its hits without a query), else just the hits', looked up."""
        if len(self._live) > ROW_CACHE:
            return self.table.rows(ids[ids >= 0].tolist())
        if self._row_names is None or len(self._row_names) != len(self._live):
            self._row_names = self.table.all_rows()
        return self._row_names

    def _nearest(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top k live (scores, ids) per query, -1 padded. Queries whose candidates were mostly tombstones (or that an
        approximate kind under-filled) ask again for twice as many, until the whole file was asked for."""
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        if self._index is None or not len(self):
            return scores, ids
        pending, fetch, total = np.arange(len(queries)), k, self._index.ntotal
        while len(pending):
            want = min(fetch * self.params.get("refine", 1), total)
            top_scores, top_ids = self._live_candidates(queries[pending], want, k)
            done = ((top_ids >= 0).sum(axis=1) >= min(k, len(self))) | (want >= total)
            width = top_ids.shape[1]
            scores[pending[done], :width], ids[pending[done], :width] = top_scores[done], top_ids[done]
            pending, fetch = pending[~done], fetch * 2
        return scores, ids

    def _live_candidates(self, queries: np.ndarray, want: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The backend's `want` candidates, re-scored exactly where it only orders them coarsely (ivfpq, lsh, annoy),
        tombstones dropped, best k kept."""
        found_scores, found_ids = backends.search(self._index, self.kind, self.params, queries, want)
        if "refine" not in self.params and self._live.all():  # FAISS's own order, nothing to drop: as it is
            return found_scores[:, :k], found_ids[:, :k]
        if "refine" in self.params:
            found_scores = self._exact_scores(queries, found_ids)
        alive = (found_ids >= 0) & self._live[np.maximum(found_ids, 0)]
        found_scores = np.where(alive, found_scores, -np.inf)
        order = np.argsort(-found_scores, axis=1, kind="stable")[:, :k]
        top_scores = np.take_along_axis(found_scores, order, axis=1)
        return top_scores, np.where(np.isfinite(top_scores), np.take_along_axis(found_ids, order, axis=1), -1)

    def _exact_scores(self, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Inner products with the stored raw vectors (read in place from the memory map, by FAISS's threads)."""
        return backends.exact_scores(self.vectors(), queries, ids)

    # --- what is indexed ---

    def __len__(self) -> int:
        """Live rows."""
        return int(self._live.sum())

    def __repr__(self) -> str:
        return f"ImageIndex({str(self.folder)!r}, kind={self.kind!r}, dim={self.dim}, images={len(self)})"

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.table.live_items()]

    def labels(self) -> list[str | None]:
        """The label of each of paths(), in the same order."""
        return [label for _, _, label in self.table.live_items()]

    def label_counts(self) -> dict[str | None, int]:
        """Live images per label: the relevant counts retrieval_metrics needs."""
        return self.table.label_counts()

    def contains(self, path: str, sha1: str | None = None) -> bool:
        """Whether `path` is indexed (with this sha1 when given): a resumed indexing run can skip it."""
        return self.table.contains(str(path), sha1)

    def vectors_of(self, paths: Sequence[str]) -> np.ndarray:
        """The stored vectors of indexed `paths` (to query with images already in the index)."""
        found = self.table.live_ids(str(path) for path in paths)
        missing = [str(path) for path in paths if str(path) not in found]
        if missing:
            raise DataError(f"{missing[0]} is not in the index {self.folder}; add it first")
        return np.array(self.vectors()[[found[str(path)] for path in paths]])

    def check_fingerprint(self, fingerprint: str, what: str) -> None:
        """Refuse queries embedded by another model than the one that built the index (when both are known)."""
        if self.fingerprint and fingerprint and fingerprint != self.fingerprint:
            built = self.model or self.fingerprint
            raise SearchIndexError(f"index {self.folder} was built with model {built}; the query model {what} gives "
                                   "other vectors: rebuild the index or pass its model")

    def vectors(self) -> np.ndarray:
        """vectors.f32 mapped read-only for scattered reads, one row per table row (tombstoned ones included)."""
        rows = len(self._live)
        if self._vectors is None or len(self._vectors) != rows:
            self._vectors = vector_file.map_for_lookups(self.folder / VECTORS_FILE, rows, self.dim)
        return self._vectors

    # --- helpers ---

    def _checked(self, vectors: np.ndarray, what: str) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None]
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise SearchIndexError(f"{what} have shape {vectors.shape} but index {self.folder} holds {self.dim}-d "
                                   f"vectors (model {self.model or 'unnamed'}); embed with the model it was built with")
        if not np.isfinite(vectors).all():
            row = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
            raise DataError(f"{what}: row {row} holds NaN or infinity; drop it or fix the embedding")
        norms = np.linalg.norm(vectors, axis=1)
        if len(norms) and np.abs(norms - 1).max() > NORM_TOLERANCE:
            row = int(np.argmax(np.abs(norms - 1)))
            raise DataError(f"{what}: row {row} has norm {norms[row]:.4f}, not 1; divide each vector by its L2 norm")
        return vectors

    def _writable(self) -> None:
        if self.mmapped:
            raise ConfigError(f"index {self.folder} was opened with mmap=True and is read-only; "
                              "open it without mmap to change it")

    def _undo_append(self, first: int) -> None:
        """Put the object back as the files are: vectors cut back, table re-read, FAISS file reloaded."""
        _cut_vectors_to_table(self.folder, first, self.dim)
        self._live, self._vectors = self.table.live_mask(), None
        path = self.folder / FAISS_FILE
        self._index = (backends.read_index(path, self.kind, self.dim, False, bool(self.requested.get("on_disk")))
                       if path.exists() else None)
        self.params = self.table.meta()["trained"] or self.requested
        if self._index is not None:
            backends.tune(self._index, self.kind, self.params)

    def _built(self, ids: np.ndarray) -> tuple[Any, dict[str, int]]:
        """A new backend index of the rows `ids` (on-disk lists go to a new file: the old one stays whole until
        vectors.faiss no longer points at it)."""
        numbers = [int(path.stem.split("-")[1]) for path in self.folder.glob(LISTS_PATTERN)]
        lists_path = self.folder / f"lists-{max(numbers, default=0) + 1}.ivfdata"
        in_order = vector_file.map_in_order(self.folder / VECTORS_FILE, len(self._live), self.dim)
        return backends.build(self.kind, self.dim, self.requested, in_order, ids, lists_path)

    def _save_faiss(self) -> None:
        """Replace vectors.faiss; then on-disk lists no longer described by it are deleted and the lists are clean."""
        path = self.folder / FAISS_FILE
        if self._index is None:
            path.unlink(missing_ok=True)
        else:
            backends.write_index(self._index, path)
        current = backends.lists_file(self._index)
        for lists in self.folder.glob(LISTS_PATTERN):
            if current is None or lists.name != Path(current).name:
                lists.unlink()
        if self.table.meta().get("lists_dirty"):
            self.table.set_meta({"lists_dirty": False})


def _open_table(folder: Path) -> ItemTable:
    if not (folder / TABLE_FILE).is_file():
        raise SearchIndexError(f"{folder} holds no index ({TABLE_FILE} is missing); make one with ImageIndex.create")
    table = ItemTable(folder / TABLE_FILE)
    meta = table.meta()
    if meta.get("format") != FORMAT or not (folder / VECTORS_FILE).is_file():
        table.close()
        raise SearchIndexError(f"{folder} is not an ocularis index folder of format {FORMAT} ({TABLE_FILE} meta or "
                               f"{VECTORS_FILE} missing); rebuild it with ImageIndex.create")
    return table


def _cut_vectors_to_table(folder: Path, rows: int, dim: int) -> None:
    vector_file.cut_to_rows(folder / VECTORS_FILE, rows, dim, TABLE_FILE)
