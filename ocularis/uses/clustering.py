"""Grouping images by their embeddings (an album by person, a folder by object): scikit-learn's agglomerative
clustering (average linkage on cosine distance) or DBSCAN, written out as one folder of links per cluster."""

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.cluster import DBSCAN, AgglomerativeClustering
from sklearn.metrics import normalized_mutual_info_score

from ocularis.core.runs import write_json
from ocularis.engine.embedding import embed_files
from ocularis.errors import ConfigError, DataError
from ocularis.uses.indexing import labelled_files

METHODS = ("agglomerative", "dbscan")


@dataclass
class ClusterReport:
    folder: Path
    clusters: dict[str, list[str]]  # cluster name ("0", "1" ... or "noise") -> image paths
    scores: dict[str, float] = field(default_factory=dict)  # purity, NMI where the images had labels
    bad: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        sizes = sorted((len(paths) for name, paths in self.clusters.items() if name != "noise"), reverse=True)
        noise = len(self.clusters.get("noise", []))
        scored = "  ".join(f"{k}={v:.4f}" for k, v in self.scores.items())
        return (f"{len(sizes)} clusters (sizes {', '.join(map(str, sizes[:12]))}{' ...' if len(sizes) > 12 else ''})"
                f"{f', {noise} unclustered' if noise else ''}; {scored + '; ' if scored else ''}written to "
                f"{self.folder}")


def cluster_vectors(vectors: np.ndarray, method: str = "agglomerative", clusters: int | None = None,
                    distance: float = 0.5) -> np.ndarray:
    """A cluster index per vector (-1: DBSCAN's noise): `clusters` groups, or cut where cosine distance exceeds
    `distance` (DBSCAN: its neighbourhood radius)."""
    if method not in METHODS:
        raise ConfigError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    if len(vectors) < 2:
        raise DataError(f"clustering needs two or more images, got {len(vectors)}")
    if method == "dbscan":
        return DBSCAN(eps=distance, min_samples=2, metric="cosine").fit_predict(vectors)
    if clusters is not None and not 1 <= clusters <= len(vectors):
        raise ConfigError(f"--clusters {clusters} must be between 1 and the number of images ({len(vectors)})")
    return AgglomerativeClustering(n_clusters=clusters, distance_threshold=None if clusters else distance,
                                   metric="cosine", linkage="average").fit_predict(vectors)


def cluster_scores(labels: Sequence[str], found: np.ndarray) -> dict[str, float]:
    """Purity (the share of images in their cluster's majority label) and NMI against known labels."""
    labels = np.asarray(labels)
    majority = sum(np.unique(labels[found == c], return_counts=True)[1].max() for c in np.unique(found))
    return {"purity": float(majority / len(labels)), "nmi": float(normalized_mutual_info_score(labels, found))}


def cluster_images(task, sources: Sequence[str | Path], folder: str | Path, *, method: str = "agglomerative",
                   clusters: int | None = None, distance: float | None = None) -> ClusterReport:
    """Embed the images under `sources` with `task`, cluster them, and write `folder`/<cluster>/ (links to the
    images, copies where links are not allowed) and clusters.json; scored when the images lie in class folders."""
    files = labelled_files(sources)
    paths, vectors, bad = [], [], []
    for chunk in embed_files(task, [path for path, _ in files]):
        bad += chunk.bad
        if chunk.paths:
            paths += chunk.paths
            vectors.append(chunk.vectors)
    if distance is None:
        threshold = task.verification_threshold()
        distance = 1.0 - threshold if threshold is not None else 0.5
    found = cluster_vectors(np.concatenate(vectors) if vectors else np.zeros((0, 1)), method, clusters, distance)
    groups: dict[str, list[str]] = {}
    for path, cluster in zip(paths, found.tolist(), strict=True):
        groups.setdefault("noise" if cluster < 0 else str(cluster), []).append(path)
    folder = Path(folder)
    for name, members in groups.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for number, path in enumerate(members):
            _link(Path(path), folder / name / f"{number:05d}_{Path(path).name}")
    labels = dict(files)
    known = [labels[p] for p in paths]
    scores = cluster_scores(known, found) if all(label is not None for label in known) else {}
    write_json(folder / "clusters.json", {"method": method, "distance": distance, "clusters": groups,
                                          "scores": scores, "unreadable": [p for p, _ in bad]})
    return ClusterReport(folder, groups, scores, bad)


def _link(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.symlink(source.resolve(), target)
    except OSError:  # file systems without symbolic links
        shutil.copy2(source, target)
