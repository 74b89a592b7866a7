"""Landmarks and attributes: one network regresses named points and classifies named attributes of an image (the
seeds' multi-task face model: eyes, nose, mouth corners; gender, smile, glasses), trained on the user's labels."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from ocularis.core.meta import Pixels
from ocularis.core.plots import plot_image_grid
from ocularis.engine.task import Prepared, Task
from ocularis.errors import ConfigError
from ocularis.explain.target import ExplainTarget
from ocularis.models.network import Network
from ocularis.tasks.landmarks import SPEC
from ocularis.tasks.landmarks.config import LandmarksConfig, LandmarksOptions
from ocularis.tasks.landmarks.data import LandmarkData, PointDataset, read_points, unpack
from ocularis.tasks.landmarks.metrics import LandmarkMetrics, landmark_metrics
from ocularis.tasks.landmarks.model import build_network, split_outputs
from ocularis.tasks.landmarks.module import LandmarkModule
from ocularis.tasks.landmarks.predict import Landmarks

__all__ = ["LandmarkModel"]

AGREE_POINT = 0.01  # export check: two networks agree on a point within 1% of the image's side


@dataclass(frozen=True)
class LandmarkMeta(Pixels):
    """What a saved landmark model holds beyond task, model and config and its pixels."""

    point_names: list[str]
    attributes: dict[str, list[str]]  # attribute: its values


class LandmarkModel(Task):
    """Train, evaluate and predict points and attributes. The constructor only stores options."""

    spec, result_type = SPEC, Landmarks
    explainable = True
    meta_type = LandmarkMeta

    @staticmethod
    def build(meta: dict[str, Any]) -> Network:
        return build_network(meta["model"], points=len(meta["point_names"]), attributes=meta["attributes"],
                             in_channels=meta["channels"])

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: LandmarksConfig) -> Prepared:
        points = read_points(config.data, config)
        network = build_network(config.model, points=len(points.point_names), attributes=points.attributes,
                                in_channels=points.channels, weights=config.weights)
        start_at_mean_points(network, points.train.points, [points.images.size(s) for s in points.train.sources])
        imgsz = config.imgsz or network.default_size
        self.network = network
        self.meta = self._new_meta(config, point_names=points.point_names, attributes=points.attributes,
                                   channels=points.channels, imgsz=imgsz, mean=list(network.mean),
                                   std=list(network.std))
        datamodule = LandmarkData(points, config, imgsz=imgsz, mean=network.mean, std=network.std)
        bad = "".join(f"{path}\t{reason}\n" for path, reason in points.bad_files)
        return Prepared(points, datamodule, {"bad_files": [p for p, _ in points.bad_files]},
                        {"bad_files.txt": bad} if bad else {})

    def training_module(self, config: LandmarksConfig) -> LandmarkModule:
        return LandmarkModule(self.network, config, point_names=self.meta["point_names"],
                              attributes=self.meta["attributes"])

    def plot_examples(self, dataset: PointDataset, path: Path, count: int = 16) -> Path:
        """A grid of test images with their predicted points and attributes."""
        sources = dataset.rows.sources[:count]
        results = self.predict([dataset.set.images.load(s) for s in sources])
        return plot_image_grid([r.plot() for r in results], [Path(s).name for s in sources], path)

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def read_data(self, data: str, config: LandmarksConfig):
        return read_points(data, config, training=False, channels=self.meta["channels"],
                           known=(self.meta["point_names"], self.meta["attributes"]))

    def split_dataset(self, points, split: str, config: LandmarksConfig, data: str) -> PointDataset:
        return PointDataset(getattr(points, split), points, imgsz=self.meta["imgsz"], mean=self.meta["mean"],
                            std=self.meta["std"])

    def score(self, dataset: PointDataset) -> LandmarkMetrics:
        names, attributes = self.meta["point_names"], self.meta["attributes"]
        found, truths, values, sizes, chosen = [], [], [], [], []
        for images, targets in DataLoader(dataset, batch_size=64):
            points, logits = split_outputs(self.infer(images), len(names), attributes)
            truth, value, size = unpack(targets, len(names), len(attributes))
            found.append(points)
            truths.append(truth)
            values.append(value)
            sizes.append(size)
            chosen.append([lg.argmax(1) for lg in logits])
        predicted = [torch.cat([c[a] for c in chosen]).numpy() for a in range(len(attributes))]
        return landmark_metrics(torch.cat(found).numpy(), torch.cat(truths).numpy(), torch.cat(sizes).numpy(),
                                predicted, torch.cat(values).numpy(), names, list(attributes))

    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: LandmarksOptions) -> list[Landmarks]:
        """Points in each picture's own pixels; every attribute's most probable value with its probability."""
        point_names, attributes = self.meta["point_names"], self.meta["attributes"]
        points, logits = split_outputs(outputs.float(), len(point_names), attributes)
        probabilities = [lg.softmax(dim=1) for lg in logits]
        results = []
        for i, (name, picture) in enumerate(zip(names, pictures, strict=True)):
            xy = points[i].numpy() * np.array(picture.size, np.float32)
            chosen = {attribute: (values[int(p[i].argmax())], float(p[i].max()))
                      for (attribute, values), p in zip(attributes.items(), probabilities, strict=True)}
            results.append(Landmarks(name, {n: (float(x), float(y)) for n, (x, y) in zip(point_names, xy, strict=True)},
                                     chosen, np.asarray(picture)))
        return results

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """Share of images whose every point lies within 1% of the side and every attribute is the same."""
        names, attributes = self.meta["point_names"], self.meta["attributes"]
        points_a, logits_a = split_outputs(reference.float(), len(names), attributes)
        points_b, logits_b = split_outputs(outputs.float(), len(names), attributes)
        same = ((points_a - points_b).abs() <= AGREE_POINT).flatten(1).all(dim=1)
        for a, b in zip(logits_a, logits_b, strict=True):
            same &= a.argmax(dim=1) == b.argmax(dim=1)
        return same.float().mean().item()

    def explain_layer(self) -> nn.Module | None:
        """The body's last convolutional stage, as for classifiers: every point and attribute is read from it."""
        return self.network.last_conv_stage() if isinstance(self.network, Network) else None

    def explain_features(self) -> nn.Module | None:
        """The body: its pooled output is what every point and attribute is read from."""
        return self.network.body if isinstance(self.network, Network) else None

    def gives_cam_weights(self) -> bool:
        return isinstance(self.network, Network) and self.network.pools_into_linear_head()

    def explain_target(self, outputs: torch.Tensor, target: str | None = None) -> ExplainTarget:
        """One output per image: an attribute's logit ("glasses": each image's own value, "glasses=yes": that one)
        or a point's coordinate ("left_eye.x", "left_eye.y"); default: the first attribute's own value (the first
        point's x in a model with no attributes)."""
        found = output_target(outputs, self.meta["point_names"], self.meta["attributes"], target)
        if isinstance(self.network, Network):
            found.class_weights = self.network.cam_weights(found.index)
        return found


def output_target(outputs: torch.Tensor, point_names: list[str], attributes: dict[str, list[str]],
                  target: str | None) -> ExplainTarget:
    """The head's column explained per image (see LandmarkModel.explain_target), named with its value: a
    coordinate in units of the image's side, an attribute value's probability."""
    columns = [f"{name}.{axis}" for name in point_names for axis in "xy"]
    shown, groups = outputs.detach().clone(), {}
    for attribute, values in attributes.items():
        group = torch.arange(len(columns), len(columns) + len(values))
        shown[:, group] = outputs[:, group].softmax(dim=1)
        groups[attribute] = group
        columns += [f"{attribute}={value}" for value in values]
    target = target or next(iter(attributes), columns[0])
    if target in groups:
        index = groups[target][outputs[:, groups[target]].argmax(dim=1)]
    elif target in columns:
        index = torch.full((len(outputs),), columns.index(target))
    else:
        raise ConfigError(f"target {target!r} is not an output of this model; explain one of "
                          f"{', '.join([*groups, *columns])}")
    names = [f"{columns[i]} {shown[b, i]:.2f}" for b, i in enumerate(index.tolist())]
    return ExplainTarget(_outputs, index, names, [columns[i] for i in index.tolist()], [None] * len(index))


def _outputs(outputs: torch.Tensor) -> torch.Tensor:
    """What a landmark model explains: its head's columns themselves (coordinates and attribute logits)."""
    return outputs


def start_at_mean_points(network: Network, points: np.ndarray, sizes: list[tuple[int, int]]) -> None:
    """The point outputs' biases set to the training points' mean position, so training learns each image's
    offsets from the mean shape instead of first walking every point in from the corner."""
    if not points.shape[1] or not isinstance(network.head, nn.Linear):
        return
    mean = np.nan_to_num(np.nanmean(points / np.array(sizes, np.float32)[:, None, :], axis=0), nan=0.5)
    with torch.no_grad():
        network.head.bias[: mean.size] = torch.from_numpy(mean.ravel())
