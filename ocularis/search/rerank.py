"""Second looks at a first answer: average query expansion, and geometric verification of the top hits.

Embeddings say two photos look alike; keypoints matched under one homography say they show the same object from
another viewpoint, which re-orders near-duplicates, crops and rotations above look-alikes. OpenCV is imported on
first use, so searching without verification never loads it.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ocularis.search.hits import Hit

MAX_SIDE = 640  # larger photos are shrunk first: more pixels add keypoints and time, not inliers


def average_query_expansion(queries: np.ndarray, neighbours: Sequence[np.ndarray]) -> np.ndarray:
    """Each query averaged with its neighbours' vectors (an (n, dim) array each, possibly empty), renormalised.

    The average moves the query toward the region its first hits agree on, which pulls in same-object images the
    original query ranked just below k.
    """
    expanded = np.array(queries, dtype=np.float32, copy=True)
    for row, found in enumerate(neighbours):
        if len(found):
            expanded[row] = (queries[row] + found.sum(axis=0)) / (len(found) + 1)
    norms = np.linalg.norm(expanded, axis=1, keepdims=True)
    return expanded / np.maximum(norms, 1e-12)


def geometric_verification(query_path: str | Path, candidate_paths: Sequence[str | Path], ratio: float = 0.75,
                           ransac_threshold: float = 5.0, max_side: int = MAX_SIDE, detector: str = "auto",
                           ) -> list[int]:
    """RANSAC homography inliers between the query photo and each candidate; 0 where an image is unreadable.

    detector: "sift" (used by "auto" when cv2.SIFT_create exists), or "orb". Matches pass Lowe's ratio test
    (best distance < `ratio` x second best) before RANSAC with `ransac_threshold` pixels.
    """
    import cv2

    extractor, norm = _detector(cv2, detector)
    query = _features(cv2, extractor, query_path, max_side)
    if query is None:
        return [0] * len(candidate_paths)
    matcher = cv2.BFMatcher(norm)
    return [_inliers(cv2, matcher, query, _features(cv2, extractor, path, max_side), ratio, ransac_threshold)
            for path in candidate_paths]


def rerank_by_inliers(hits: Sequence["Hit"], inliers: Sequence[int]) -> list["Hit"]:
    """Hits ordered by inliers, most first; ties keep the embedding's order (higher score first)."""
    order = sorted(range(len(hits)), key=lambda i: (-inliers[i], -hits[i].score))
    return [hits[i] for i in order]


def verify_hits(query_path: str | Path, hits: Sequence["Hit"], **options: Any) -> list["Hit"]:
    """`hits` re-ordered by geometric verification against the query photo (options: see geometric_verification)."""
    return rerank_by_inliers(hits, geometric_verification(query_path, [hit.path for hit in hits], **options))


def _detector(cv2: Any, name: str) -> tuple[Any, int]:
    if name == "sift" or (name == "auto" and hasattr(cv2, "SIFT_create")):
        return cv2.SIFT_create(), cv2.NORM_L2
    if name in ("orb", "auto"):
        return cv2.ORB_create(nfeatures=2000), cv2.NORM_HAMMING
    from ocularis.errors import ConfigError

    raise ConfigError(f"detector {name!r} is unknown; choose auto, sift or orb")


def _features(cv2: Any, extractor: Any, path: str | Path, max_side: int) -> tuple[np.ndarray, Any] | None:
    """(keypoint coordinates, descriptors) of the grey image, or None when it cannot be read or has too few."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    scale = max_side / max(image.shape)
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    keypoints, descriptors = extractor.detectAndCompute(image, None)
    if descriptors is None or len(keypoints) < 2:
        return None
    return np.float32([point.pt for point in keypoints]), descriptors


def _inliers(cv2: Any, matcher: Any, query: tuple, candidate: tuple | None, ratio: float, threshold: float) -> int:
    if candidate is None:
        return 0
    pairs = matcher.knnMatch(query[1], candidate[1], k=2)
    good = [pair[0] for pair in pairs if len(pair) == 2 and pair[0].distance < ratio * pair[1].distance]
    if len(good) < 4:  # a homography needs four correspondences
        return 0
    source = query[0][[match.queryIdx for match in good]]
    target = candidate[0][[match.trainIdx for match in good]]
    _, mask = cv2.findHomography(source, target, cv2.RANSAC, threshold)
    return 0 if mask is None else int(mask.sum())
