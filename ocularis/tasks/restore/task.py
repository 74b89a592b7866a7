"""Restoration: super-resolution (SRCNN, ESPCN) and inpainting, trained on the user's own photos by random crops and
scored on whole photos beside the classical answer (bicubic interpolation, OpenCV's Telea inpainting)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from ocularis.core.image_result import Images
from ocularis.core.plots import DPI, plot_image_grid
from ocularis.core.quality import psnr_agreement
from ocularis.deploy.export import Graph
from ocularis.engine.task import Prepared, Task
from ocularis.tasks.restore import SPEC
from ocularis.tasks.restore.config import RestoreConfig, RestoreOptions
from ocularis.tasks.restore.data import PhotoPairs, RestoreData, read_photos
from ocularis.tasks.restore.jobs import JOBS, Inpainting, Upscaling
from ocularis.tasks.restore.metrics import RestoreMetrics, mean_values
from ocularis.tasks.restore.model import build_network, network_kind
from ocularis.tasks.restore.module import RestoreModule

__all__ = ["Restorer"]



@dataclass(frozen=True)
class RestoreMeta:
    """What a saved restoration model holds beyond task, model and config."""

    job: str  # upscale or inpaint
    scale: int
    channels: int
    crop: int


class Restorer(Task):
    """Train, score and run a restoration network. The constructor only stores options."""

    spec, result_type = SPEC, Images
    samples_every_epoch = True
    meta_type = RestoreMeta

    @staticmethod
    def build(meta: dict[str, Any]) -> nn.Module:
        return build_network(meta["model"], meta["scale"])

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: RestoreConfig) -> Prepared:
        kind = network_kind(config.model)
        scale = config.scale if kind.job == "upscale" else 1
        crop = (config.crop or kind.crop) // scale * scale  # whole low-resolution pixels
        photos = read_photos(config.data, config, crop=crop)
        self.network = build_network(config.model, config.scale)
        self.meta = self._new_meta(config, job=kind.job, scale=scale, channels=3, crop=crop)
        bad = "".join(f"{path}\t{reason}\n" for path, reason in photos.bad_files)
        return Prepared(photos, RestoreData(photos, config, kind, crop, config.patches or kind.patches),
                        {"bad_files": [p for p, _ in photos.bad_files]}, {"bad_files.txt": bad} if bad else {})

    def training_module(self, config: RestoreConfig) -> RestoreModule:
        return RestoreModule(self.network, config, self.meta["job"])

    def plot_examples(self, dataset: PhotoPairs, path: Path, count: int = 4) -> Path | None:
        """The baseline | the network | the truth on the centre of the first few photos, pixel for pixel, each
        restoration titled with its PSNR."""
        pictures, titles = [], []
        for index in range(min(count, len(dataset))):
            low, reference, _ = dataset[index]
            panels, named = self.job.example(low, reference, index)
            pictures += panels
            titles += [f"{Path(dataset.photos.sources[index]).name}\n{named[0]}", *named[1:]]
        if not pictures:
            return None
        return plot_image_grid(pictures, titles, path, columns=3, panel=pictures[0].shape[1] / DPI)

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    @property
    def job(self) -> Upscaling | Inpainting:
        """What this network does, step by step: upscale or inpaint."""
        return JOBS[self.meta["job"]](self)

    def read_data(self, data: str, config: RestoreConfig):
        return read_photos(data, config, training=False)

    def split_dataset(self, photos, split: str, config: RestoreConfig, data: str) -> PhotoPairs:
        return PhotoPairs(getattr(photos, split), network_kind(self.meta["model"]), self.meta["scale"])

    def score(self, dataset: PhotoPairs) -> RestoreMetrics:
        job = self.job
        rows = [{"image": dataset.photos.sources[index], **job.scores(*dataset[index])}
                for index in range(len(dataset))]
        return RestoreMetrics(self.meta["model"], job.baseline, mean_values(rows), rows)

    def predict_verb(self) -> str:
        return self.meta["job"]

    # ---- the steps of predict() ---------------------------------------------------------------------------------
    def preprocess(self, pictures: list[Image.Image], options: RestoreOptions | None = None) -> torch.Tensor:
        """Upscaling: each picture's luma (SRCNN: of its bicubic upscale), padded at the bottom and right to the
        batch's largest size (postprocess cuts the padding off). Inpainting: RGB with the mask's holes blanked,
        and the mask."""
        return self.job.inputs(pictures, options)

    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: RestoreOptions) -> list[Images]:
        """Each picture's restored version in colour (upscaling: the network's luma over bicubic chroma), the
        input beside it."""
        return self.job.outputs(outputs, names, pictures, options)

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        return psnr_agreement(reference, outputs)

    # ---- export: one fully convolutional graph, any input size ----------------------------------------------
    def graphs(self, samples: torch.Tensor) -> dict[str, Graph]:
        return {"network": Graph(self.network, (samples[:2],), any_size=True)}

    def sample_inputs(self, data: str | None = None, split: str = "test", count: int | None = None,
                      dataset: PhotoPairs | None = None) -> torch.Tensor:
        """Network inputs of up to `count` photos, centre crops of one size (whole photos differ in size)."""
        dataset = dataset if dataset is not None else self.dataset(data, split)
        job, rows = self.job, []
        for index in range(min(count or len(dataset), len(dataset))):
            picture, _, number = dataset[index]
            side = min(job.sample_side, *picture.size)
            x, y = (picture.width - side) // 2, (picture.height - side) // 2
            rows.append(job.sample(picture.crop((x, y, x + side, y + side)).convert("RGB"), number))
        side = min(row.shape[-1] for row in rows)
        return torch.cat([row[..., :side, :side] for row in rows])
