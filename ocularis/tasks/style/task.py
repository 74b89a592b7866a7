"""Fast neural style transfer as a task: a style network (ocularis.models.stylers) trained on a folder of photos to
paint them after one style image, scored on the held-out photos by how much closer their style came to the style
image's (the photo itself is the baseline) and how much of their content it kept; it stylises any photo at any
size in one pass, and exports to ONNX for any size. Gatys' per-image optimisation is `ocularis style gatys`
(ocularis.tasks.style.gatys)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ocularis.core.image_result import Images
from ocularis.core.images import read_picture, resized
from ocularis.core.meta import Pixels
from ocularis.core.plots import DPI, plot_image_grid
from ocularis.core.quality import psnr_agreement
from ocularis.data.class_sets import read_classes
from ocularis.deploy.export import Graph
from ocularis.engine.datamodule import LabelledData
from ocularis.engine.task import Prepared, Task
from ocularis.errors import ConfigError
from ocularis.models.stylers import RECORDS
from ocularis.registry import MODELS
from ocularis.tasks.style import SPEC
from ocularis.tasks.style.config import StyleConfig, StyleOptions
from ocularis.tasks.style.features import feature_network
from ocularis.tasks.style.gatys import LANCZOS, as_array, as_tensor
from ocularis.tasks.style.metrics import StyleMetrics
from ocularis.tasks.style.module import StyleLosses, StyleModule

__all__ = ["Styliser"]

TASK = "style"
for _name, _record in RECORDS.items():
    MODELS.add(_name, _record, task=TASK)


@dataclass(frozen=True)
class StyleMeta(Pixels):
    """What a saved style network holds beyond task, model and config and its pixels (any size: imgsz None)."""

    side: int  # the side of the training crops
    features: str  # the feature network its losses were measured on, in words


class Styliser(Task):
    """Train, score and run a fast style network. The constructor only stores options."""

    spec, result_type = SPEC, Images
    samples_every_epoch = True
    meta_type = StyleMeta

    @staticmethod
    def build(meta: dict[str, Any]) -> nn.Module:
        return MODELS.get(meta["model"], task=TASK).build()

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: StyleConfig) -> Prepared:
        record = MODELS.get(config.model, task=TASK)  # an unknown name is refused before any data
        side = config.imgsz or record.imgsz
        losses = self._losses(config.style, config.features, side)
        photos = read_classes(config.data, config, TASK, channels=3, unlabelled=True)
        config.lr = config.lr or record.lr
        self.network = record.build()
        self.meta = self._new_meta(config, channels=3, imgsz=None, mean=[0.0] * 3, std=[1.0] * 3, side=side,
                                   features=losses.perception.name)
        self._training_losses = losses
        return Prepared(photos, _unit_photos(photos, config, side), {"features": losses.perception.name})

    def training_module(self, config: StyleConfig) -> StyleModule:
        return StyleModule(self.network, self._training_losses, config)

    @staticmethod
    def _losses(style: str, features: str, side: int) -> StyleLosses:
        if not style:
            raise ConfigError("--style: the style image the network learns to paint in; give a picture file")
        if not Path(style).is_file():
            raise ConfigError(f"--style {style}: no such file; the style image this model was trained on must be "
                              "there to score it")
        return StyleLosses(feature_network(features), as_tensor(resized(read_picture(style), side, LANCZOS)))

    def plot_examples(self, dataset: Dataset, path: Path, count: int = 4) -> Path | None:
        """The style image, then each photo beside its stylised version, at the training side."""
        if not len(dataset):
            return None
        style = self.meta["config"]["style"]
        pictures, titles = [np.asarray(resized(read_picture(style), self.meta["side"], LANCZOS))], [Path(style).name]
        for index in range(min(count, len(dataset))):
            photo = dataset[index][0][None]
            pictures += [as_array(photo[0]), as_array(self.infer(photo)[0])]
            titles += [f"photo {index + 1}", "stylised"]
        return plot_image_grid(pictures, titles, path, columns=5,
                               panel=max(1.6, self.meta["side"] / DPI))

    # ---- evaluation -------------------------------------------------------------------------------------------
    def read_data(self, data: str, config: StyleConfig):
        return read_classes(data, config, TASK, training=False, channels=3, unlabelled=True)

    def split_dataset(self, photos, split: str, config: StyleConfig, data: str) -> Dataset:
        return _unit_photos(photos, config, self.meta["side"]).dataset(split)

    def score(self, dataset: Dataset) -> StyleMetrics:
        """The style loss of the stylised photos beside the photos' own (how far the network carried them toward
        the style image), and the content loss it paid for that, means over the photos."""
        config = self.meta["config"]
        losses = self._losses(config["style"], config["features"], self.meta["side"])
        sums = {"style_loss": 0.0, "photo_style_loss": 0.0, "content_loss": 0.0}
        with torch.no_grad():
            for photos, _ in DataLoader(dataset, batch_size=8):
                stylised, unchanged = losses(photos, self.infer(photos)), losses(photos, photos)
                sums["style_loss"] += float(stylised["style"].sum())
                sums["photo_style_loss"] += float(unchanged["style"].sum())
                sums["content_loss"] += float(stylised["content"].sum())
        means = {name: total / max(len(dataset), 1) for name, total in sums.items()}
        return StyleMetrics(means, losses.perception.name, len(dataset))

    # ---- the steps of predict() ---------------------------------------------------------------------------------
    def preprocess(self, pictures: list[Image.Image], options: StyleOptions | None = None) -> torch.Tensor:
        """Each photo in 0..1 (resized to --size on its longer side, if given), padded at the bottom and right to
        the batch's largest (postprocess cuts the padding off)."""
        size = (options or self.default_options()).size
        rows = [as_tensor(resized(p.convert("RGB"), size, LANCZOS)) for p in pictures]
        height, width = max(r.shape[-2] for r in rows), max(r.shape[-1] for r in rows)
        return torch.cat([F.pad(r, (0, width - r.shape[-1], 0, height - r.shape[-2]), mode="replicate")
                          for r in rows])

    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: StyleOptions) -> list[Images]:
        results = []
        for output, name, picture in zip(outputs, names, pictures, strict=True):
            before = resized(picture.convert("RGB"), options.size, LANCZOS)
            results.append(Images(name, as_array(output[:, :before.height, :before.width]), np.asarray(before)))
        return results

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        return psnr_agreement(reference, outputs)

    def predict_verb(self) -> str:
        return self.spec.verb

    # ---- export: one fully convolutional graph, any input size ----------------------------------------------
    def graphs(self, samples: torch.Tensor) -> dict[str, Graph]:
        return {"network": Graph(self.network, (samples[:2],), any_size=True)}

    def sample_inputs(self, data: str | None = None, split: str = "test", count: int | None = None,
                      dataset: Dataset | None = None) -> torch.Tensor:
        dataset = dataset if dataset is not None else self.dataset(data, split)
        return torch.stack([dataset[i][0] for i in range(min(count or len(dataset), len(dataset)))])


def _unit_photos(photos, config: StyleConfig, side: int) -> LabelledData:
    """Loaders of the photos at `side` pixels, RGB in 0..1 (what the style network takes and gives)."""
    return LabelledData(photos, config, imgsz=side, mean=(0.0,) * 3, std=(1.0,) * 3)
