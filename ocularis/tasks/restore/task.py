"""Restoration: super-resolution (SRCNN, ESPCN) and inpainting, trained on the user's own photos by random crops and
scored on whole photos beside the classical answer (bicubic interpolation, OpenCV's Telea inpainting)."""

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ocularis.core.image_result import Images
from ocularis.core.images import read_image
from ocularis.core.plots import plot_image_grid
from ocularis.core.quality import psnr, with_luma, y_psnr, y_ssim
from ocularis.data.splits import pick_split
from ocularis.deploy.export import Graph
from ocularis.engine.task import Prepared, Task
from ocularis.errors import ConfigError, DataError
from ocularis.tasks.restore import SPEC
from ocularis.tasks.restore.config import RestoreConfig, RestoreOptions
from ocularis.tasks.restore.data import (
    PhotoPairs,
    RestoreData,
    inpaint_input,
    read_photos,
    scoring_holes,
    upscale_input,
)
from ocularis.tasks.restore.metrics import RestoreMetrics, mean_values
from ocularis.tasks.restore.model import MaskedAutoencoder, build_network, network_kind
from ocularis.tasks.restore.module import RestoreModule

__all__ = ["Restorer"]

AGREE_PSNR = 40.0  # export check: two networks agree on an image when their outputs are this close (dB)
SAMPLE_SIDE = 48  # side of the crops export and timing run the network on (inputs of any size work)
TELEA_RADIUS = 5  # pixels around a hole that OpenCV's Telea method reads


class Restorer(Task):
    """Train, score and run a restoration network. The constructor only stores options."""

    spec, result_type = SPEC, Images
    required_meta = ("job", "scale", "channels", "crop")

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
        return Prepared(photos, RestoreData(photos, config, kind, crop),
                        {"bad_files": [p for p, _ in photos.bad_files]}, {"bad_files.txt": bad} if bad else {})

    def training_module(self, config: RestoreConfig) -> RestoreModule:
        return RestoreModule(self.network, config, self.meta["job"])

    def plot_examples(self, dataset: PhotoPairs, path: Path, count: int = 4) -> Path | None:
        """Input beside output for the first few photos (the centre of large ones)."""
        pictures = []
        for index in range(min(count, len(dataset))):
            low, _, _ = dataset[index]
            side = 96 if self.meta["job"] == "upscale" else 192
            x, y = max(0, (low.width - side) // 2), max(0, (low.height - side) // 2)
            pictures.append(self._restore_one(low.crop((x, y, x + side, y + side)), index).plot())
        return plot_image_grid(pictures, [Path(s).name for s in dataset.photos.sources[:count]], path) \
            if pictures else None

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def dataset(self, data: str | None = None, split: str = "test") -> PhotoPairs:
        config, data = self._data_config(data)
        photos = read_photos(data, config, training=False)
        return PhotoPairs(getattr(photos, pick_split(photos, split)), network_kind(self.meta["model"]),
                          self.meta["scale"])

    def score(self, dataset: PhotoPairs) -> RestoreMetrics:
        rows = []
        for index in range(len(dataset)):
            picture, reference, number = dataset[index]
            name = dataset.photos.sources[index]
            if self.meta["job"] == "upscale":
                rows.append({"image": name, **self._upscale_scores(picture, reference)})
            else:
                rows.append({"image": name, **self._inpaint_scores(reference, number)})
        baseline = "bicubic" if self.meta["job"] == "upscale" else "telea"
        return RestoreMetrics(self.meta["model"], baseline, mean_values(rows), rows)

    def _upscale_scores(self, low: Image.Image, reference: Image.Image) -> dict[str, float]:
        shave = self.meta["scale"]
        output = Image.fromarray(self._restore_one(low.convert("RGB")).image).convert(reference.mode)
        bicubic = low.resize(reference.size, Image.BICUBIC)
        truth, mine, theirs = np.asarray(reference), np.asarray(output), np.asarray(bicubic)
        return {"psnr": y_psnr(truth, mine, shave), "ssim": y_ssim(truth, mine, shave),
                "bicubic_psnr": y_psnr(truth, theirs, shave), "bicubic_ssim": y_ssim(truth, theirs, shave)}

    def _inpaint_scores(self, reference: Image.Image, number: int) -> dict[str, float]:
        photo = np.asarray(reference.convert("RGB"))
        mask = scoring_holes(reference.size, self.meta["config"]["hole"], number)
        mine = self._fill(reference.convert("RGB"), mask)
        theirs = telea(photo, mask)
        inside = mask.astype(bool)
        return {"psnr": psnr(photo[inside], mine[inside], 255), "telea_psnr": psnr(photo[inside], theirs[inside], 255),
                "whole_psnr": psnr(photo, mine, 255), "telea_whole_psnr": psnr(photo, theirs, 255)}

    def _restore_one(self, picture: Image.Image, index: int = 0) -> Images:
        """One picture upscaled, or filled where the scoring holes of photo `index` are."""
        if self.meta["job"] == "upscale":
            return self.postprocess(self.infer(self.preprocess([picture])), [""], [picture], self.default_options())[0]
        mask = scoring_holes(picture.size, self.meta["config"]["hole"], index)
        return Images("", self._fill(picture, mask), _blanked(np.asarray(picture), mask))

    def _fill(self, picture: Image.Image, mask: np.ndarray) -> np.ndarray:
        """The photo with its holes (mask 1) filled by the network: known pixels kept as they are."""
        return self._inpainted([picture], self.infer(self._inpaint_batch([picture], mask)), mask)[0]

    def predict_verb(self) -> str:
        return self.meta["job"]

    # ---- the steps of predict() ---------------------------------------------------------------------------------
    def preprocess(self, pictures: list[Image.Image], options: RestoreOptions | None = None) -> torch.Tensor:
        """Upscaling: each picture's luma (SRCNN: of its bicubic upscale), padded at the bottom and right to the
        batch's largest size (postprocess cuts the padding off). Inpainting: RGB with the mask's holes blanked,
        and the mask."""
        if self.meta["job"] == "inpaint":
            mask_path = options.mask if options is not None else None
            if not mask_path:
                raise ConfigError("inpainting needs the holes: pass --mask (an image, white = hole, the photo's "
                                  "size), or use `ocularis restore inpaint PHOTO --mask MASK`")
            return self._inpaint_batch(pictures, read_mask(mask_path, pictures))
        kind = network_kind(self.meta["model"])
        return _padded([upscale_input(p.convert("RGB"), kind, self.meta["scale"]) for p in pictures], 1)

    @staticmethod
    def _inpaint_batch(pictures: list[Image.Image], mask: np.ndarray) -> torch.Tensor:
        return _padded([inpaint_input(p, mask) for p in pictures], MaskedAutoencoder.multiple)

    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: RestoreOptions) -> list[Images]:
        """Each picture's restored version in colour (upscaling: the network's luma over bicubic chroma), the
        input beside it."""
        if self.meta["job"] == "inpaint":
            mask = read_mask(options.mask, pictures)
            return [Images(name, filled, _blanked(np.asarray(p.convert("RGB")), mask))
                    for name, p, filled in zip(names, pictures, self._inpainted(pictures, outputs, mask),
                                               strict=True)]
        scale, results = self.meta["scale"], []
        for row, (name, picture) in enumerate(zip(names, pictures, strict=True)):
            width, height = picture.width * scale, picture.height * scale
            new_luma = outputs[row, 0, :height, :width].clamp(0, 1).numpy() * 255.0
            bicubic = np.asarray(picture.convert("RGB").resize((width, height), Image.BICUBIC))
            results.append(Images(name, with_luma(bicubic, new_luma), np.asarray(picture.convert("RGB"))))
        return results

    @staticmethod
    def _inpainted(pictures: list[Image.Image], outputs: torch.Tensor, mask: np.ndarray) -> list[np.ndarray]:
        """Each photo with the network's pixels in its holes and its own everywhere else."""
        found = []
        for row, picture in enumerate(pictures):
            rgb = np.asarray(picture.convert("RGB"))
            fill = outputs[row, :3, :picture.height, :picture.width].permute(1, 2, 0).clamp(0, 1).numpy() * 255
            found.append(np.where(mask[..., None] > 0, np.round(fill).astype(np.uint8), rgb))
        return found

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """Share of images whose two outputs are within 40 dB PSNR of each other (values in 0..1)."""
        error = (reference.float() - outputs.float()).square().flatten(1).mean(dim=1)
        return (10 * torch.log10(1 / error.clamp(min=1e-12)) >= AGREE_PSNR).float().mean().item()

    # ---- export: one fully convolutional graph, any input size ----------------------------------------------
    def graphs(self, samples: torch.Tensor) -> dict[str, Graph]:
        return {"network": Graph(self.network, (samples[:2],), any_size=True)}

    def sample_inputs(self, data: str | None = None, split: str = "test", count: int | None = None,
                      dataset: PhotoPairs | None = None) -> torch.Tensor:
        """Network inputs of up to `count` photos, centre crops of one size (whole photos differ in size)."""
        dataset = dataset if dataset is not None else self.dataset(data, split)
        rows = []
        for index in range(min(count or len(dataset), len(dataset))):
            picture, _, number = dataset[index]
            side = min(SAMPLE_SIDE * (1 if self.meta["job"] == "upscale" else 2), *picture.size)
            x, y = (picture.width - side) // 2, (picture.height - side) // 2
            crop = picture.crop((x, y, x + side, y + side)).convert("RGB")
            if self.meta["job"] == "inpaint":
                rows.append(self._inpaint_batch([crop], scoring_holes(crop.size, self.meta["config"]["hole"],
                                                                      number)))
            else:
                rows.append(self.preprocess([crop]))
        side = min(row.shape[-1] for row in rows)
        return torch.cat([row[..., :side, :side] for row in rows])


def _padded(rows: list[torch.Tensor], multiple: int) -> torch.Tensor:
    """Rows of different sizes as one batch: each padded at the bottom and right by repeating its edge, to the
    largest height and width rounded up to `multiple`."""
    height = -(-max(r.shape[1] for r in rows) // multiple) * multiple
    width = -(-max(r.shape[2] for r in rows) // multiple) * multiple
    return torch.stack([F.pad(r[None], (0, width - r.shape[2], 0, height - r.shape[1]), mode="replicate")[0]
                        for r in rows])


def _blanked(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo as the network saw it: holes white, so they show."""
    return np.where(mask[..., None] > 0, 255, rgb).astype(np.uint8)


def read_mask(path: str, pictures: list[Image.Image]) -> np.ndarray:
    """(H, W) float32 mask of the holes (any non-zero pixel of the image at `path`), checked against the photos."""
    mask = (np.asarray(read_image(path, "L")) > 0).astype(np.float32)
    for picture in pictures:
        if picture.size != (mask.shape[1], mask.shape[0]):
            raise DataError(f"--mask {path} is {mask.shape[1]}x{mask.shape[0]} but the photo is "
                            f"{picture.width}x{picture.height}: draw the holes on an image of the photo's size")
    if not mask.any():
        raise DataError(f"--mask {path} has no hole: paint the pixels to fill white (or any non-zero value)")
    return mask


def telea(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's inpainting by the fast marching method (Telea 2004): the classical answer to the same holes."""
    filled = cv2.inpaint(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), (mask > 0).astype(np.uint8) * 255, TELEA_RADIUS,
                         cv2.INPAINT_TELEA)
    return cv2.cvtColor(filled, cv2.COLOR_BGR2RGB)
