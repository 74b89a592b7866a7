"""Pictures a person would rather look at than read: curves, matrices, image grids. Written as PNG files."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

DPI = 110  # pixels per inch of every figure written: a panel of w pixels is w / DPI inches


def plot_curves(history: list[dict], path: Path, columns: int = 3) -> Path:
    """One panel per metric family (loss, accuracy ...), train and val on the same axes, against the epoch counted
    from 1 (as the progress lines count it); panels in rows of `columns`."""
    keys = sorted({k for row in history for k in row if "/" in k})
    families = sorted({k.split("/", 1)[1] for k in keys}, key=lambda family: (family != "loss", family))  # loss first
    shape = (-(-max(len(families), 1) // columns), min(max(len(families), 1), columns))
    figure, axes = plt.subplots(*shape, figsize=(4.5 * shape[1], 3.3 * shape[0]), squeeze=False)
    for axis in axes.flat[len(families):]:
        axis.axis("off")
    for axis, family in zip(axes.flat, families, strict=False):
        for key in (k for k in keys if k.split("/", 1)[1] == family):
            points = [(row["epoch"] + 1, row[key]) for row in history if row.get(key) is not None]
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", markersize=3, label=key.split("/")[0])
        axis.set_title(family)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def plot_confusion(matrix: np.ndarray, names: list[str], path: Path, title: str = "confusion matrix") -> Path:
    """Rows are true classes, columns predicted; each row normalised, counts written in the cells."""
    matrix = np.asarray(matrix)
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(2 + 0.45 * len(names), 16)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(names)), names, rotation=90 if len(names) > 6 else 0)
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    if len(names) <= 30:
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if normalised[row, column] > 0.5 else "black"
                axis.text(column, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    return _save(figure, path)


def plot_image_grid(images: list[np.ndarray], titles: list[str], path: Path, wrong: list[bool] | None = None,
                    columns: int = 8, heading: str | None = None, panel: float = 1.6,
                    legend: dict[str, tuple[int, int, int]] | None = None) -> Path:
    """A grid of HxWxC uint8 images with a title each, `panel` inches wide; titles of `wrong` ones in red;
    `heading` above them all (say there what the titles mean); `legend` (name -> RGB colour) below them all, outside
    the pictures. Give pictures with drawn labels larger panels."""
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * panel, rows * (panel + 0.2)), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            image = images[index]
            axis.imshow(image.squeeze(), cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None)
            is_wrong = bool(wrong and wrong[index])
            axis.set_title(titles[index], fontsize=4.5 * panel, color="red" if is_wrong else "black")
    if heading:
        figure.suptitle(heading, fontsize=9)
    if legend:
        handles = [Patch(color=np.array(colour) / 255, label=name) for name, colour in legend.items()]
        figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=4.5 * panel,
                      frameon=False)
        figure.tight_layout(rect=(0, 0.12 / rows, 1, 1))  # room for the legend below the last row
    else:
        figure.tight_layout()
    return _save(figure, path)


def save_mosaic(rows: list[list[np.ndarray]], path: Path, gap: int = 2) -> Path:
    """Rows of same-sized HxW or HxWxC uint8 images side by side on white, `gap` pixels apart, no titles: a grid
    that takes milliseconds (a matplotlib one of 48 panels takes a second), for pictures drawn every epoch. Images
    under 64 pixels are enlarged (nearest neighbour) so that an 8x8 digit can be seen."""
    from PIL import Image

    side = max(rows[0][0].shape[:2])
    scale = max(1, 64 // side)
    tiles = [[np.kron(np.atleast_3d(t), np.ones((scale, scale, 1), np.uint8)) for t in row] for row in rows]
    tiles = [[np.repeat(t, 3, axis=2) if t.shape[2] == 1 else t for t in row] for row in tiles]
    height, width = tiles[0][0].shape[:2]
    columns = max(len(row) for row in tiles)
    canvas = np.full((len(tiles) * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            canvas[r * (height + gap):r * (height + gap) + height, c * (width + gap):c * (width + gap) + width] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path


def plot_bars(values: dict[str, float], path: Path, title: str) -> Path:
    figure, axis = plt.subplots(figsize=(max(4, 0.4 * len(values)), 3.5))
    axis.bar(list(values), list(values.values()))
    axis.set_title(title)
    axis.set_ylim(0, 1)
    axis.tick_params(axis="x", rotation=90 if len(values) > 6 else 0)
    figure.tight_layout()
    return _save(figure, path)


def plot_roc(fpr: list[float], tpr: list[float], path: Path, *, auc: float, eer: float, far: float,
             tar: float) -> Path:
    """A verification ROC on a log false-accept axis, with its equal-error point and the true-accept rate at `far`."""
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot(fpr, tpr, label=f"AUC {auc:.4f}")
    axes.plot([eer], [1 - eer], "o", label=f"EER {eer:.2%}")
    axes.axvline(far, color="grey", linestyle=":", label=f"FAR {far:g}: TAR {tar:.3f}")
    axes.set(xscale="log", xlim=(1e-4, 1), ylim=(0, 1.01), xlabel="false accept rate", ylabel="true accept rate",
             title="verification ROC")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return _save(figure, path)


def plot_cumulative(values: np.ndarray, path: Path, *, xlabel: str, title: str, limit: float | None = None) -> Path:
    """The share of values at or below each x (a cumulative error distribution: higher and further left is better)."""
    ordered = np.sort(np.asarray(values, dtype=float))
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot(ordered, np.arange(1, len(ordered) + 1) / max(1, len(ordered)))
    axes.set(xlim=(0, limit or (float(ordered[-1]) if len(ordered) else 1.0)), ylim=(0, 1.01), xlabel=xlabel,
             ylabel="share of images", title=title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def plot_histograms(groups: dict[str, np.ndarray], path: Path, *, xlabel: str, title: str,
                    threshold: float | None = None) -> Path:
    """Overlaid histograms of each group's values on shared bins (normal vs outlier scores), a threshold marked."""
    values = [np.asarray(v, dtype=float) for v in groups.values() if len(v)]
    everything = np.concatenate(values) if values else np.zeros(1)
    bins = np.linspace(float(everything.min()), float(everything.max()) + 1e-12, 40)
    figure, axes = plt.subplots(figsize=(6, 4))
    for name, group in groups.items():
        if len(group):
            axes.hist(np.asarray(group, dtype=float), bins=bins, alpha=0.6, label=f"{name} ({len(group)})")
    if threshold is not None:
        axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}")
    axes.set(xlabel=xlabel, ylabel="images", title=title)
    axes.legend()
    figure.tight_layout()
    return _save(figure, path)


def plot_scatter(points: np.ndarray, labels: list[str], path: Path, *, title: str) -> Path:
    """2-D points coloured by their label (a latent space by class), one legend entry per label."""
    figure, axes = plt.subplots(figsize=(6, 5))
    for number, name in enumerate(sorted(set(labels), key=str)):
        chosen = np.array([label == name for label in labels])
        axes.scatter(points[chosen, 0], points[chosen, 1], s=6, color=plt.cm.tab10(number % 10), label=name)
    axes.set(title=title, xlabel="z[0]", ylabel="z[1]")
    axes.legend(markerscale=2, fontsize=7, loc="best")
    figure.tight_layout()
    return _save(figure, path)
