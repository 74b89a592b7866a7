"""How good an embedding is, for each thing it is used for: identification (rank-1 / rank-5 against a gallery),
verification (ROC, AUC, equal error rate, the threshold at a chosen false-accept rate), and clustering (purity, NMI).
scikit-learn computes the ROC and NMI; ranks and the EER are read off them here."""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import normalized_mutual_info_score, roc_auc_score, roc_curve

from ocularis.core.plots import plot_roc
from ocularis.core.results import Metrics
from ocularis.errors import DataError
from ocularis.uses.verifying import recognition_note, threshold_note

MAX_PAIRS_IMAGES = 4000  # verification scores every pair: 8 million pairs at most


@dataclass
class EmbedMetrics(Metrics):
    """`values`: identification, the ROC's AUC and EER, and at the model's own threshold (`threshold`, the one saved
    with it) the shares of this data's same-identity pairs it accepts (`tar`) and of different-identity pairs (`far`);
    `calibration`: how that threshold was chosen (the false-accept rate asked for, on which pairs)."""

    values: dict[str, float]
    calibration: dict = field(default_factory=dict)
    roc: dict[str, list[float]] = field(default_factory=dict)  # fpr, tpr of every threshold (thinned for plots)

    @property
    def headline(self) -> tuple[str, float]:
        """Identification rank-1 accuracy: the share of images whose nearest known image is of their class."""
        return "rank1", self.values["rank1"]

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        line = "  ".join(f"{k}={v:.4f}" for k, v in self.values.items())
        recognition = self.calibration.get("recognition", {}).get("threshold", self.values["threshold"])
        return (f"{line}\nthreshold {self.values['threshold']:.4f} (verify): {threshold_note(self.calibration)}\n"
                f"threshold {recognition:.4f} (predict, recognize): {recognition_note(self.calibration)}")

    def plot(self, folder: str | Path) -> list[Path]:
        """roc.png: the verification ROC with its equal-error point and where the model's threshold falls on it."""
        values = self.values
        # a log axis has no 0: a threshold that accepts no different-identity pair is drawn at its left edge
        return [plot_roc(self.roc["fpr"], self.roc["tpr"], Path(folder) / "roc.png", auc=values["auc"],
                         eer=values["eer"], far=max(values["far"], 1e-4), tar=values["tar"])]


def embedding_metrics(vectors: np.ndarray, labels: np.ndarray, threshold: float, gallery: np.ndarray | None = None,
                      gallery_labels: np.ndarray | None = None, calibration: dict | None = None) -> EmbedMetrics:
    """Every measure of unit `vectors` with class `labels`: identified against the gallery (None: each against the
    others), verified pairwise among themselves at the model's `threshold` (chosen as `calibration` says),
    clustered into as many groups as classes."""
    if len(vectors) < 2:
        raise DataError(f"embedding metrics need two or more images, got {len(vectors)}")
    values = identification(vectors, labels, gallery, gallery_labels)
    found = verification(vectors, labels, threshold=threshold)
    values.update(found["values"])
    values.update(clustering(vectors, labels))
    return EmbedMetrics(values, calibration or {}, {"fpr": found["fpr"], "tpr": found["tpr"]})


def identification(vectors: np.ndarray, labels: np.ndarray, gallery: np.ndarray | None,
                   gallery_labels: np.ndarray | None) -> dict[str, float]:
    """rank1 / rank5: share of queries with an image of their class among the gallery's 1 / 5 nearest (by cosine);
    centroid: share nearest their own class's mean vector (the gallery as one vector a class)."""
    leave_one_out = gallery is None
    gallery, gallery_labels = (vectors, labels) if leave_one_out else (gallery, gallery_labels)
    similarity = vectors @ gallery.T
    if leave_one_out:
        np.fill_diagonal(similarity, -np.inf)
    order = np.argsort(-similarity, axis=1)[:, :5]
    hits = gallery_labels[order] == labels[:, None]
    classes = np.unique(gallery_labels)
    centroids = np.stack([gallery[gallery_labels == c].mean(axis=0) for c in classes])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True).clip(1e-12)
    nearest = classes[np.argmax(vectors @ centroids.T, axis=1)]
    return {"rank1": float(hits[:, 0].mean()), "rank5": float(hits.any(axis=1).mean()),
            "centroid_accuracy": float((nearest == labels).mean())}


def pair_scores(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, same class) of every pair of distinct images (a seeded sample of images where there are many)."""
    if len(vectors) > MAX_PAIRS_IMAGES:
        pick = np.sort(np.random.default_rng(0).choice(len(vectors), MAX_PAIRS_IMAGES, replace=False))
        vectors, labels = vectors[pick], labels[pick]
    first, second = np.triu_indices(len(vectors), k=1)
    return np.einsum("nd,nd->n", vectors[first], vectors[second]), labels[first] == labels[second]


def verification(vectors: np.ndarray, labels: np.ndarray, far: float | None = None,
                 threshold: float | None = None) -> dict:
    """AUC, equal error rate, and a cosine threshold with the shares of same-identity pairs (tar) and
    different-identity pairs (far) it accepts: the `threshold` given, else the lowest whose false-accept rate is at
    most `far`; the counts of pairs, and the ROC's points for the plot."""
    scores, same = pair_scores(vectors, labels)
    if same.all() or not same.any():
        raise DataError("verification needs pairs of the same class and of different classes; give two or more "
                        "images of at least one class, and two or more classes")
    fpr, tpr, thresholds = roc_curve(same, scores)
    crossing = int(np.argmin(np.abs(fpr - (1 - tpr))))
    if threshold is None:
        allowed = np.flatnonzero(fpr <= far)[-1]  # fpr rises along the curve; its first point is (0, 0)
        threshold = float(min(thresholds[allowed], 1.0))  # sklearn's first threshold is +inf: accept nothing
    accepted = scores >= threshold
    thin = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 500)).astype(int))
    return {"values": {"auc": float(roc_auc_score(same, scores)), "eer": float((fpr[crossing] + 1 - tpr[crossing]) / 2),
                       "threshold": float(threshold), "tar": float(accepted[same].mean()),
                       "far": float(accepted[~same].mean())},
            "pairs": {"same": int(same.sum()), "different": int((~same).sum())},
            "fpr": fpr[thin].tolist(), "tpr": tpr[thin].tolist()}


def recognition_threshold(vectors: np.ndarray, labels: np.ndarray, centroids: np.ndarray, far: float) -> dict:
    """The lowest cosine to a class mean at which at most `far` of these images would be named as another class:
    each image's best similarity to the other classes' means, its own left out as if it were a stranger. Naming is
    the best of many comparisons, each to a mean (closer to everyone than any one photo is): a pair's threshold lets
    far more strangers be named."""
    similarity = vectors @ centroids.T
    similarity[np.arange(len(labels)), labels] = -np.inf
    best = np.sort(similarity.max(axis=1))[::-1]
    allowed = int(far * len(best))  # this many of the best may pass
    threshold = float(np.nextafter(best[allowed], np.float32(2))) if allowed < len(best) else -1.0
    return {"threshold": threshold, "accepted": float((best >= threshold).mean()), "images": len(best)}


def clustering(vectors: np.ndarray, labels: np.ndarray, groups: int | None = None) -> dict[str, float]:
    """Average-linkage agglomerative clustering by cosine into `groups` (default: one a class): purity (share of
    images in their cluster's majority class) and normalised mutual information with the classes."""
    groups = groups or len(np.unique(labels))
    if groups < 2 or groups >= len(vectors):
        return {}
    found = AgglomerativeClustering(n_clusters=groups, metric="cosine", linkage="average").fit_predict(vectors)
    majority = sum(np.bincount(labels[found == c]).max() for c in np.unique(found))
    return {"purity": float(majority / len(labels)), "nmi": float(normalized_mutual_info_score(labels, found))}
