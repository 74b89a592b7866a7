"""`Task.explain_data`: explanations of a model over a dataset — its feature space (t-SNE, PCA, TensorBoard's
projector, nearest neighbours), its robustness to FGSM and PGD, its filters and the images that maximise each class.
Each writes PNGs and report.json into a folder; the numbers come back in an ExplainReport."""

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ocularis.core.runs import write_json
from ocularis.data.inputs import batches, expand_inputs
from ocularis.engine.explaining import explained_network, named_layer, pixels_of
from ocularis.errors import ConfigError
from ocularis.explain import DATA_METHODS
from ocularis.explain.adversarial import plot_robustness, robustness
from ocularis.explain.dream import filter_score, maximise
from ocularis.explain.inside import filter_grid, picture_grid
from ocularis.explain.space import (
    embed_2d,
    layer_features,
    nearest,
    plot_embedding,
    plot_neighbours,
    separation,
    write_projector,
)

if TYPE_CHECKING:
    from ocularis.engine.task import Task

EPSILONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)  # pixel units: the robustness report's budgets
MAX_CLASSES = 16  # classes `maximise` draws


@dataclass
class ExplainReport:
    method: str
    numbers: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        shown = "  ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in self.numbers.items())
        return f"{self.method}  {shown}\n" + "\n".join(f"wrote {path}" for path in self.files)


def explain_dataset(task: "Task", method: str, folder: Path, data: str | None, split: str, layer: str | None,
                    inputs: Any, limit: int, progress: bool = False) -> ExplainReport:
    if method not in DATA_METHODS:
        raise ConfigError(f"unknown explanation {method!r}; dataset methods are {', '.join(DATA_METHODS)}")
    network = explained_network(task)
    chosen = named_layer(network, layer) if layer else None
    folder.mkdir(parents=True, exist_ok=True)
    if method == "filters":
        report = _filters(network, chosen, folder)
    elif method == "maximise":
        report = _maximise(task, network, chosen, folder)
    else:
        images, labels, names = _rows(task, network, data, split, limit)
        if method == "robustness":
            report = _robustness(task, network, images, labels, folder, progress)
        elif method == "top_patches":
            report = _top_patches(task, network, chosen or task.explain_layer(), images, folder)
        else:
            features = layer_features(network, chosen or task.explain_features(), images.split(64))
            report = _space(task, method, network, chosen, features, images, labels, names, inputs, folder,
                            progress)
    write_json(folder / "report.json", {"method": method, **report.numbers, "files": [p.name for p in report.files]})
    return report


def _rows(task: "Task", network: nn.Module, data, split, limit) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Up to `limit` preprocessed images of the split, and a label for each: its class where the dataset gives one
    (a task whose items are (image, class)), else the model's own answer."""
    dataset = task.dataset(data, split)
    count = min(limit, len(dataset))
    items = [dataset[i] for i in range(count)]
    try:
        images = torch.stack([image for image, _ in items])
    except RuntimeError:
        raise ConfigError(f"{split} images of {data or 'the training data'} differ in size; dataset explanations "
                          "need one input size (classification and detection resize, segmentation does not)") from None
    if task.explains_logits:
        return images, np.array([int(label) for _, label in items]), list(task.meta["classes"])
    with torch.no_grad():
        answers = task.explain_target(network(images)).labels
    names = sorted(set(answers))
    return images, np.array([names.index(a) for a in answers]), names


def _space(task, method, network, layer, features, images, labels, names, inputs, folder,
           progress: bool) -> ExplainReport:
    thumbnails = [pixels_of(task.pixels.mean, task.pixels.std)(row) for row in images]
    if method == "projector":
        write_projector(folder / "projector", features, [names[i] for i in labels], thumbnails)
        return ExplainReport(method, {"images": len(images), "dimensions": int(features.shape[1])},
                             [folder / "projector"])
    if method == "neighbours":
        if inputs is None:
            raise ConfigError("neighbours finds the dataset's images nearest to query images: give some")
        files = []
        for query_names, pictures in batches(expand_inputs(inputs), task.pixels.channels, 16):
            queries = task.explain_inputs(pictures)
            found, similarity = nearest(features, layer_features(network, layer or task.explain_features(),
                                                                 [queries]), k=5)
            for name, query, rows, sims in zip(query_names, queries, found, similarity, strict=True):
                path = folder / f"{Path(name).stem}_neighbours.png"
                plot_neighbours(pixels_of(task.pixels.mean, task.pixels.std)(query), [thumbnails[r] for r in rows],
                                list(sims), [names[labels[r]] for r in rows], path)
                files.append(path)
        return ExplainReport(method, {"database": len(images)}, files)
    points = embed_2d(features, method, progress=progress)
    numbers = {"images": len(images), **separation(points, labels)} if len(set(labels)) > 1 else {"images": len(images)}
    path = plot_embedding(points, labels, names, folder / f"{method}.png",
                          f"{method} of {task.meta['model']}'s features", thumbnails)
    return ExplainReport(method, numbers, [path])


def _robustness(task, network, images, labels, folder, progress: bool) -> ExplainReport:
    if not task.explains_logits:
        raise ConfigError(f"robustness attacks a classifier's class logits; a {task.spec.name} model has none")
    pairs = list(zip(images.split(64), torch.from_numpy(labels).split(64), strict=True))
    shown = _counter("robustness") if progress else None
    report = robustness(network, pairs, EPSILONS, task.pixels.mean, task.pixels.std, progress=shown)
    path = plot_robustness(report, folder / "robustness.png")
    return ExplainReport("robustness", report, [path])


def _filters(network: nn.Module, layer: nn.Module | None, folder: Path) -> ExplainReport:
    convolution = layer or next((m for m in network.modules() if isinstance(m, nn.Conv2d)), None)
    if not isinstance(convolution, nn.Conv2d):
        raise ConfigError("filters shows a convolution's weights: pass --layer NAME of a Conv2d")
    from PIL import Image

    path = folder / "filters.png"
    grid = filter_grid(convolution.weight)
    scale = max(1, 384 // max(grid.shape[:2]))
    Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST).save(path)
    return ExplainReport("filters", {"filters": int(convolution.out_channels),
                                     "size": int(convolution.kernel_size[0])}, [path])


def _maximise(task, network, layer, folder) -> ExplainReport:
    """For each class (or, given a layer, each of its first channels), the image the network scores highest as that
    class (or that activates the channel most), by regularised gradient ascent."""
    side, channels = task.pixels.imgsz, task.pixels.channels
    to_pixels = pixels_of(task.pixels.mean, task.pixels.std)
    pictures, scores = [], {}
    if layer is not None:
        with torch.no_grad():
            kept = []
            handle = layer.register_forward_hook(lambda _m, _i, output: kept.append(output.shape[1]))
            network(torch.zeros(1, channels, side, side))
            handle.remove()
        goals = {f"channel{c}": filter_score(network, layer, c) for c in range(min(kept[-1], MAX_CLASSES))}
    else:
        goals = {name: _class_score(task, network, name) for name in task.meta["classes"][:MAX_CLASSES]}
    for name, score in goals.items():
        image = maximise(network, score, (channels, side, side), task.pixels.mean, task.pixels.std, steps=100)
        with torch.no_grad():
            scores[name] = float(score(image))
        pictures.append(to_pixels(image[0]))
    tiles = np.stack([p if p.ndim == 3 else np.repeat(p[..., None], 3, 2) for p in pictures]).transpose(0, 3, 1, 2)
    from PIL import Image

    path = folder / "maximise.png"  # classes (or channels) in order, in rows
    Image.fromarray(picture_grid(tiles / 255.0)).save(path)
    return ExplainReport("maximise", {f"score_{k}": v for k, v in scores.items()}, [path])


def _class_score(task, network, name: str):
    def score(images):
        outputs = network(images)
        return task.explain_target(outputs, name).chosen(outputs).sum()

    return score


def _counter(name: str):
    """A progress callback writing `name: done/total` over itself on stderr."""
    def show(done: int, total: int) -> None:
        print(f"\r{name}: {done}/{total} gradient steps", end="\n" if done == total else "", file=sys.stderr,
              flush=True)

    return show


def _top_patches(task, network, layer, images, folder, channels: int = 8, shown: int = 6) -> ExplainReport:
    """For each of the layer's first `channels` channels, the `shown` patches of the dataset that excite it most
    (Zeiler & Fergus): where its map peaks, cut from the image at twice the map's cell size."""
    if layer is None:
        raise ConfigError("top_patches needs a layer: pass --layer NAME (this model declares no default)")
    kept: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, output: kept.append(output.detach().clone()))
    try:
        with torch.no_grad():
            for chunk in images.split(64):
                network(chunk)
    finally:
        handle.remove()
    maps = torch.cat(kept)[:, :channels]  # (N, K, h, w)
    n, k, h, w = maps.shape
    side_y, side_x = images.shape[-2] / h, images.shape[-1] / w
    to_pixels = pixels_of(task.pixels.mean, task.pixels.std)
    size = max(8, round(2 * max(side_y, side_x)))
    tiles, peaks = [], {}
    for channel in range(k):
        values, where = maps[:, channel].flatten().topk(min(shown, n * h * w))
        peaks[f"channel{channel}"] = float(values[0])
        for flat in where.tolist():
            image, y, x = flat // (h * w), flat % (h * w) // w, flat % w
            picture = to_pixels(images[image])
            cy, cx = round((y + 0.5) * side_y), round((x + 0.5) * side_x)
            padded = np.pad(picture, [(size, size), (size, size)] + [(0, 0)] * (picture.ndim - 2))
            patch = padded[cy + size - size // 2:cy + size + size // 2, cx + size - size // 2:cx + size + size // 2]
            tiles.append(patch if patch.ndim == 3 else np.repeat(patch[..., None], 3, 2))
    from PIL import Image

    path = folder / "top_patches.png"  # a row of patches per channel, strongest first
    grid = picture_grid(np.stack(tiles).transpose(0, 3, 1, 2) / 255.0, columns=shown)
    scale = max(1, 384 // max(grid.shape[:2]))
    Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST).save(path)
    return ExplainReport("top_patches", peaks, [path])

