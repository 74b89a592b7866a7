"""Image folders into a search index and queries against it, with any task's model as the embedder.

Indexing streams: files are embedded and added a chunk at a time, each add committed by the index (vectors, table,
FAISS file, in crash-safe order), so memory holds one chunk and a killed run loses at most the chunk in flight. Run
again, it skips every file already indexed with the same content (path and SHA-1) and adds the rest; a file whose
content changed is updated in place, never duplicated.
"""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ocularis.core.images import is_image_file, list_images
from ocularis.data.inputs import batches, expand_inputs
from ocularis.engine.embedding import embed_files, embed_pictures, file_sha1, joined, model_fingerprint
from ocularis.errors import DataError, SearchIndexError
from ocularis.search import rerank
from ocularis.search.index import TABLE_FILE, ImageIndex
from ocularis.search.metrics import retrieval_metrics
from ocularis.search.results import Matches

CHUNK = 256  # files committed to the index at a time: what a killed run can lose


@dataclass
class IndexReport:
    """What an indexing run did."""

    folder: Path
    added: int = 0
    updated: int = 0
    unchanged: int = 0  # already indexed with the same content: skipped
    bad: list[tuple[str, str]] = field(default_factory=list)  # unreadable files, skipped
    total: int = 0  # live images in the index afterwards

    def __str__(self) -> str:
        return (f"{self.folder}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
                f"{len(self.bad)} unreadable skipped; {self.total} images indexed")


def labelled_files(sources: Sequence[str | Path]) -> list[tuple[str, str | None]]:
    """(absolute path, label) of every image under `sources`: a folder's images are labelled by the sub-folder of it
    they lie in (its class folder), loose files and images directly in the folder by nothing. Paths are absolute, so
    one file is one entry however the folder was spelled."""
    found: list[tuple[str, str | None]] = []
    for source in sources:
        root = Path(os.path.abspath(source))
        if root.is_dir():
            for path in list_images(root):
                parts = path.relative_to(root).parts
                found.append((str(path), parts[0] if len(parts) > 1 else None))
        elif is_image_file(root):
            found.append((str(root), None))
        else:
            raise DataError(f"{root} is neither an image file nor a folder; pass images or folders of them")
    return found


def open_index(folder: str | Path, repair: bool = True) -> ImageIndex:
    """An index folder opened for changes; one left half-written by a killed run is repaired (or, with
    repair=False, refused with the command that repairs it)."""
    try:
        return ImageIndex.open(folder)
    except SearchIndexError:
        if not repair:
            raise
        return ImageIndex.repair(folder)


def index_images(task, sources: Sequence[str | Path], folder: str | Path, *, kind: str = "flat",
                 params: dict[str, int] | None = None, layer: str | None = None, model_path: str = "",
                 batch: int = 64, progress: Callable[[int, int], None] | None = None) -> IndexReport:
    """Add the images under `sources` to the index in `folder` (made with `kind` and `params` when new), embedded by
    `task` (a model of any task; `layer`: which of its layers, default its own embedding or feature layer)."""
    folder = Path(folder)
    fingerprint = model_fingerprint(task)
    existing = (folder / TABLE_FILE).exists()
    index = open_index(folder) if existing else None
    if index is not None:
        index.check_fingerprint(fingerprint, model_path or task.meta["model"])
        layer = index.layer or None  # what it holds was read from this layer
    report = IndexReport(folder)
    try:
        pending = []
        for path, label in labelled_files(sources):
            if index is not None and index.contains(path) and index.contains(path, file_sha1(path)):
                report.unchanged += 1
                continue
            pending.append((path, label))
        labels, paths = dict(pending), [path for path, _ in pending]
        for start in range(0, len(paths), CHUNK):
            chunk = joined(embed_files(task, paths[start:start + CHUNK], batch, layer))
            report.bad += chunk.bad
            if chunk.paths:
                if index is None:
                    index = ImageIndex.create(folder, chunk.vectors.shape[1], kind, fingerprint=fingerprint,
                                              model=model_path, layer=layer or "", **(params or {}))
                counts = index.add(chunk.vectors, chunk.paths, chunk.sha1s, [labels[p] for p in chunk.paths])
                report.added += counts["added"]
                report.updated += counts["updated"]
            if progress:
                progress(min(start + CHUNK, len(paths)), len(paths))
        if index is not None and index.undertrained():  # IVF centroids learnt from the first chunk alone
            index.compact()
        report.total = len(index) if index is not None else 0
    finally:
        if index is not None:
            index.close()
    return report


def search_images(task, index: ImageIndex, queries, *, k: int = 10, expand: int = 0, geometric: bool = False,
                  thumbnails: bool = False, checked: bool = False) -> list[Matches]:
    """The k indexed images nearest each query (paths, folders, PIL images or arrays), embedded by `task` (which
    must be the index's model: refused otherwise, unless `checked` already); `expand` averages each query with its
    top hits and searches again; `geometric` re-orders the hits by keypoint inliers under one homography (query
    files only)."""
    if not checked:
        index.check_fingerprint(model_fingerprint(task), str(task.source or task.meta["model"]))
    results: list[Matches] = []
    for names, pictures in batches(expand_inputs(queries), task.pixels.channels, 32):
        vectors = embed_pictures(task, pictures, index.layer or None)
        for name, picture, hits in zip(names, pictures, index.search(vectors, k, expand), strict=True):
            inliers = None
            if geometric:
                if not Path(name).is_file():
                    raise DataError(f"--rerank geometric compares image files; {name} is not one")
                inliers = rerank.geometric_verification(name, [hit.path for hit in hits])
                order = sorted(range(len(hits)), key=lambda i: (-inliers[i], -hits[i].score))
                hits, inliers = [hits[i] for i in order], [inliers[i] for i in order]
            results.append(Matches(name, hits, inliers, np.asarray(picture), thumbnails))
    return results


def evaluate_index(index: ImageIndex, k: int = 5, expand: int = 0) -> dict[str, float]:
    """Retrieval metrics with every labelled indexed image as a query against the others (itself left out):
    precision@k, beside it chance@k (the precision a random ranking expects: the share of the other images that
    share the query's label), recall@k and mAP@k, and how many queries."""
    paths, labels = index.paths(), index.labels()
    chosen = [i for i, label in enumerate(labels) if label is not None]
    if not chosen:
        raise DataError(f"index {index.folder} has no labels: index a folder of class folders to evaluate it")
    counts = index.label_counts()
    hit_labels = []
    for start in range(0, len(chosen), 256):
        rows = chosen[start:start + 256]
        found = index.search(index.vectors_of([paths[i] for i in rows]), k + 1, expand)
        hit_labels += [[hit.label for hit in hits if hit.path != paths[i]][:k] for i, hits in zip(rows, found,
                                                                                                   strict=True)]
    query_labels = [labels[i] for i in chosen]
    relevant = [counts[label] - 1 for label in query_labels]
    metrics = retrieval_metrics(hit_labels, query_labels, relevant, k)
    chance = sum(relevant) / len(relevant) / max(len(paths) - 1, 1)
    precision = f"precision@{k}"
    return {precision: metrics.pop(precision), f"chance@{k}": chance, **metrics, "queries": len(chosen)}
