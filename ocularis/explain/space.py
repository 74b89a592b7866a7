"""The feature space of a trained network, knowing no task: what a layer holds for each image, the layer's space laid
flat in two dimensions, how well that separates classes, which images it puts next to each other, and an export for
TensorBoard's embedding projector to explore it by hand.
"""

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.offsetbox import AnnotationBbox, OffsetImage  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from sklearn.metrics import silhouette_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from torch import nn  # noqa: E402

from ocularis.errors import ConfigError  # noqa: E402

METHODS = ("pca", "tsne")


def layer_features(network: nn.Module | Callable[[torch.Tensor], torch.Tensor], layer: nn.Module | None,
                   batches: Iterable[torch.Tensor]) -> np.ndarray:
    """(N, D) float32 features of every image in `batches`: what `network` outputs, flattened (layer None), or what
    `layer` inside it outputs, 4-D maps averaged over H and W so that each image gives one vector whatever the map size.

    `network` may be any callable (a bound method such as `net.features` too); its module runs in eval mode without
    gradients and gets its train/eval mode back afterwards. A batch may be an (images, labels) pair from a DataLoader.
    """
    owner = network if isinstance(network, nn.Module) else getattr(network, "__self__", None)
    was_training = owner.training if isinstance(owner, nn.Module) else None
    captured: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: tuple, output: torch.Tensor | tuple) -> None:
        # Reduced at once into new memory: a later in-place layer (ReLU(inplace=True)) would overwrite the output.
        captured.append(_vectors(output[0] if isinstance(output, (tuple, list)) else output, pool=True))

    hook = layer.register_forward_hook(keep) if layer is not None else None
    rows = []
    try:
        if was_training is not None:
            owner.eval()
        with torch.no_grad():
            for batch in batches:
                images = batch[0] if isinstance(batch, (tuple, list)) else batch
                captured.clear()
                output = network(images)
                if layer is not None and not captured:
                    raise ConfigError(f"the layer {type(layer).__name__} did not run in the network's forward; "
                                      "pass a layer that is part of the network")
                rows.append((captured[-1] if layer is not None else _vectors(output, pool=False)).numpy())
    finally:
        if hook is not None:
            hook.remove()
        if was_training is not None:
            owner.train(was_training)
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


def embed_2d(features: np.ndarray, method: str = "tsne", seed: int = 0, progress: bool = False) -> np.ndarray:
    """(N, 2) points to look at: PCA keeps the directions of most variance (linear, faithful to distances);
    t-SNE keeps who is near whom (neighbourhoods, not distances), after standardising and a PCA to 50 dims that drops
    noise and time. With `progress`, t-SNE reports its error every 50 of its iterations."""
    if method not in METHODS:
        raise ConfigError(f"unknown embedding method {method!r}; choose one of {', '.join(METHODS)}")
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features).astype(np.float32)
    features = StandardScaler().fit_transform(features)
    if features.shape[1] > 50:
        features = PCA(n_components=min(50, len(features)), random_state=seed).fit_transform(features)
    perplexity = min(30.0, (len(features) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, verbose=2 if progress else 0)
    return tsne.fit_transform(features).astype(np.float32)


def separation(points: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """How well a space separates classes: the silhouette (-1..1, tight and apart clusters score high) and the
    accuracy of a 5-nearest-neighbour vote by 5-fold stratified cross-validation (do neighbours share the class?)."""
    points, labels = np.asarray(points), np.asarray(labels)
    measured = {"silhouette": float(silhouette_score(points, labels))}
    splits = min(5, int(np.unique(labels, return_counts=True)[1].min()))
    if splits >= 2:  # each class needs a member in every fold (few faces per person: fewer folds, or none)
        folds = StratifiedKFold(n_splits=splits, shuffle=True, random_state=0)
        knn = cross_val_score(KNeighborsClassifier(n_neighbors=min(5, len(points) - len(points) // splits - 1)),
                              points, labels, cv=folds)
        measured["knn_accuracy"] = float(knn.mean())
    return measured


def plot_embedding(points: np.ndarray, labels: np.ndarray, class_names: list[str], path: Path, title: str,
                   thumbnails: list[np.ndarray] | None = None, max_thumbnails: int = 150) -> Path:
    """A scatter of 2-D points coloured by class, so clusters and the classes they mix show at a glance; with
    thumbnails, up to `max_thumbnails` images (chosen evenly, framed in their class's colour) drawn at their points
    show what each region holds."""
    points, labels = np.asarray(points), np.asarray(labels)
    figure, axis = plt.subplots(figsize=(9, 8))
    colours = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for index, name in enumerate(class_names):
        chosen = labels == index
        if chosen.any():
            axis.scatter(points[chosen, 0], points[chosen, 1], s=12, color=colours(index % colours.N), label=name)
    if thumbnails is not None and len(thumbnails) and max_thumbnails > 0:
        for index in np.unique(np.linspace(0, len(thumbnails) - 1, min(max_thumbnails, len(thumbnails))).round()):
            image = np.asarray(thumbnails[int(index)])
            thumbnail = OffsetImage(image, zoom=18 / max(image.shape[:2]), cmap="gray" if image.ndim == 2 else None)
            frame = {"edgecolor": colours(int(labels[int(index)]) % colours.N), "linewidth": 2}  # its class
            axis.add_artist(AnnotationBbox(thumbnail, tuple(points[int(index)]), bboxprops=frame, pad=0.1, zorder=3))
    axis.set_title(title)
    axis.legend(loc="best", fontsize=8, markerscale=1.5, ncol=1 if len(class_names) <= 12 else 2)
    axis.set_xticks([])
    axis.set_yticks([])
    figure.tight_layout()
    return _save(figure, path)


def nearest(database: np.ndarray, queries: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices (Q, k) and cosine similarities (Q, k) of each query's k most similar database rows, best first: which
    images a network considers alike (similar direction of the feature vector, whatever its length)."""
    def unit(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)

    similarities = unit(queries) @ unit(database).T
    k = min(k, similarities.shape[1])
    if k <= 0:
        return np.zeros((len(similarities), 0), np.int64), np.zeros((len(similarities), 0), np.float32)
    top = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
    top_similarities = np.take_along_axis(similarities, top, axis=1)
    order = np.argsort(-top_similarities, axis=1, kind="stable")
    best = np.take_along_axis(top_similarities, order, axis=1).astype(np.float32)
    return np.take_along_axis(top, order, axis=1), best


def plot_neighbours(query: np.ndarray, neighbours: list[np.ndarray], similarities: list[float], titles: list[str],
                    path: Path) -> Path:
    """The query image then its nearest neighbours in one row, each titled with its label and similarity: a check by
    eye that the network's notion of alike is the one a person has."""
    images = [np.asarray(query), *(np.asarray(image) for image in neighbours)]
    names = ["query", *(f"{title}\n{similarity:.3f}" for title, similarity in zip(titles, similarities, strict=True))]
    figure, axes = plt.subplots(1, len(images), figsize=(1.8 * len(images), 2.2), squeeze=False)
    for axis, image, name in zip(axes[0], images, names, strict=True):
        axis.imshow(image, cmap="gray" if image.ndim == 2 else None)
        axis.set_title(name, fontsize=9)
        axis.axis("off")
    figure.tight_layout()
    return _save(figure, path)


def write_projector(folder: Path, features: np.ndarray, labels: list[str],
                    thumbnails: list[np.ndarray] | None = None) -> Path:
    """An export for TensorBoard's embedding projector (`tensorboard --logdir folder`, tab Projector), where a person
    can turn PCA, t-SNE or UMAP of the features around in 3-D and see the image and label of each point."""
    from torch.utils.tensorboard import SummaryWriter  # imports tensorboard; only this function needs it

    folder = Path(folder)
    features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    if len(labels) != len(features):
        raise ConfigError(f"{len(labels)} labels for {len(features)} feature rows; give one label per row")
    sprite = None
    if thumbnails is not None:
        height, width = np.asarray(thumbnails[0]).shape[:2]
        scale = min(1.0, 32 / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = [np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB").resize(size))
                   for image in thumbnails]
        sprite = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float() / 255
    writer = SummaryWriter(str(folder))
    try:
        writer.add_embedding(torch.from_numpy(features), metadata=[str(label) for label in labels], label_img=sprite)
    finally:
        writer.close()
    return folder


def _vectors(output: torch.Tensor, pool: bool) -> torch.Tensor:
    """(B, D) float32 on the CPU in memory of its own: 4-D maps averaged over H and W if `pool`, else flattened."""
    vectors = output.mean(dim=(2, 3)) if pool and output.dim() == 4 else output.reshape(len(output), -1)
    return vectors.detach().float().cpu().clone()


def _save(figure: plt.Figure, path: Path) -> Path:
    """Write the figure as PNG atomically (a temporary file in the same folder, then a rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, format="png", dpi=110)
        os.replace(temporary, path)
    finally:
        plt.close(figure)
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
    return path


__all__ = ["embed_2d", "layer_features", "nearest", "plot_embedding", "plot_neighbours", "separation",
           "write_projector"]
