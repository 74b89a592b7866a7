"""The two jobs a restoration network does, each step of the contract that differs between them: upscaling (the
luma through the network, colour from bicubic, scored against bicubic) and inpainting (the photo with holes blanked
and the mask through the network, known pixels kept, scored against OpenCV's Telea). Restorer holds one of them."""

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ocularis.core.image_result import Images
from ocularis.core.images import read_picture
from ocularis.core.quality import psnr, with_luma, y_psnr, y_ssim
from ocularis.errors import ConfigError, DataError
from ocularis.models.restorers import MaskedAutoencoder
from ocularis.tasks.restore.config import RestoreOptions
from ocularis.tasks.restore.data import inpaint_input, scoring_holes, upscale_input
from ocularis.tasks.restore.model import network_kind

if TYPE_CHECKING:
    from ocularis.tasks.restore.task import Restorer

TELEA_RADIUS = 5  # pixels around a hole that OpenCV's Telea method reads


class Upscaling:
    """Super-resolution by `scale`: the network sees each picture's luma (SRCNN: of its bicubic upscale)."""

    baseline = "bicubic"
    example_side = 96  # the side of the centre crops the run's example picture restores
    sample_side = 48  # and of those export and timing run the network on (inputs of any size work)

    def __init__(self, task: "Restorer"):
        self.task, self.scale = task, task.meta["scale"]

    def inputs(self, pictures: list[Image.Image], options: RestoreOptions | None = None) -> torch.Tensor:
        """Each picture's luma, padded at the bottom and right to the batch's largest size (outputs() cuts it)."""
        kind = network_kind(self.task.meta["model"])
        return padded([upscale_input(p.convert("RGB"), kind, self.scale) for p in pictures], 1)

    def outputs(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                options: RestoreOptions | None) -> list[Images]:
        """Each picture upscaled in colour: the network's luma over bicubic chroma, the input beside it."""
        results = []
        for row, (name, picture) in enumerate(zip(names, pictures, strict=True)):
            width, height = picture.width * self.scale, picture.height * self.scale
            new_luma = outputs[row, 0, :height, :width].clamp(0, 1).numpy() * 255.0
            bicubic = np.asarray(picture.convert("RGB").resize((width, height), Image.BICUBIC))
            results.append(Images(name, with_luma(bicubic, new_luma), np.asarray(picture.convert("RGB"))))
        return results

    def restore_one(self, picture: Image.Image, number: int = 0) -> Images:
        return self.outputs(self.task.infer(self.inputs([picture])), [""], [picture], None)[0]

    def scores(self, low: Image.Image, reference: Image.Image, number: int) -> dict[str, float]:
        """Y-PSNR and SSIM of the network's upscale and of bicubic's, the border of `scale` pixels shaved."""
        output = Image.fromarray(self.restore_one(low.convert("RGB")).image).convert(reference.mode)
        bicubic = low.resize(reference.size, Image.BICUBIC)
        truth, mine, theirs = np.asarray(reference), np.asarray(output), np.asarray(bicubic)
        shave = self.scale
        return {"psnr": y_psnr(truth, mine, shave), "ssim": y_ssim(truth, mine, shave),
                "bicubic_psnr": y_psnr(truth, theirs, shave), "bicubic_ssim": y_ssim(truth, theirs, shave)}

    def sample(self, crop: Image.Image, number: int) -> torch.Tensor:
        return self.inputs([crop])

    def example(self, low: Image.Image, reference: Image.Image, number: int) -> tuple[list[np.ndarray], list[str]]:
        """Bicubic | network | truth on the centre `example_side` pixels of the input, at full resolution, with the
        Y-PSNR of each upscale."""
        s, side = self.scale, self.example_side
        x, y = max(0, (low.width - side) // 2), max(0, (low.height - side) // 2)
        crop = low.convert("RGB").crop((x, y, x + side, y + side))
        truth = np.asarray(reference.convert("RGB").crop((x * s, y * s, (x + side) * s, (y + side) * s)))
        mine = self.restore_one(crop).image
        bicubic = np.asarray(crop.resize((truth.shape[1], truth.shape[0]), Image.BICUBIC))
        return [bicubic, mine, truth], [f"bicubic {y_psnr(truth, bicubic, s):.2f} dB",
                                        f"{self.task.meta['model']} {y_psnr(truth, mine, s):.2f} dB", "truth"]


class Inpainting:
    """Filling holes: the network sees the photo with its holes blanked and the mask (white = hole)."""

    baseline = "telea"
    example_side, sample_side = 192, 96

    def __init__(self, task: "Restorer"):
        self.task, self.hole = task, task.meta["config"]["hole"]

    def inputs(self, pictures: list[Image.Image], options: RestoreOptions | None = None) -> torch.Tensor:
        mask = options.mask if options is not None else None
        if mask is None or (isinstance(mask, str) and not mask):
            raise ConfigError("inpainting needs the holes: pass --mask (an image, white = hole, the photo's "
                              "size; on the server, upload it as the form field 'mask'), or use `ocularis restore "
                              "inpaint PHOTO --mask MASK`")
        return self.holed(pictures, read_mask(mask, pictures))

    @staticmethod
    def holed(pictures: list[Image.Image], mask: np.ndarray) -> torch.Tensor:
        return padded([inpaint_input(p, mask) for p in pictures], MaskedAutoencoder.multiple)

    def outputs(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                options: RestoreOptions) -> list[Images]:
        mask = read_mask(options.mask, pictures)
        return [Images(name, filled, blanked(np.asarray(p.convert("RGB")), mask))
                for name, p, filled in zip(names, pictures, filled_in(pictures, outputs, mask), strict=True)]

    def restore_one(self, picture: Image.Image, number: int = 0) -> Images:
        """The picture filled where the scoring holes of photo `number` are."""
        mask = scoring_holes(picture.size, self.hole, number)
        return Images("", self.fill(picture, mask), blanked(np.asarray(picture), mask))

    def fill(self, picture: Image.Image, mask: np.ndarray) -> np.ndarray:
        """The photo with its holes (mask 1) filled by the network: known pixels kept as they are."""
        return filled_in([picture], self.task.infer(self.holed([picture], mask)), mask)[0]

    def scores(self, low: Image.Image, reference: Image.Image, number: int) -> dict[str, float]:
        """PSNR inside the scoring holes and over the whole photo, the network's fill and Telea's."""
        photo = np.asarray(reference.convert("RGB"))
        mask = scoring_holes(reference.size, self.hole, number)
        mine, theirs = self.fill(reference.convert("RGB"), mask), telea(photo, mask)
        inside = mask.astype(bool)
        return {"psnr": psnr(photo[inside], mine[inside], 255), "telea_psnr": psnr(photo[inside], theirs[inside], 255),
                "whole_psnr": psnr(photo, mine, 255), "telea_whole_psnr": psnr(photo, theirs, 255)}

    def sample(self, crop: Image.Image, number: int) -> torch.Tensor:
        return self.holed([crop], scoring_holes(crop.size, self.hole, number))

    def example(self, low: Image.Image, reference: Image.Image, number: int) -> tuple[list[np.ndarray], list[str]]:
        """Telea | network | truth on the centre `example_side` pixels of the photo, with photo `number`'s scoring
        holes, and the PSNR inside them of each fill."""
        side = self.example_side
        x, y = max(0, (reference.width - side) // 2), max(0, (reference.height - side) // 2)
        crop = reference.convert("RGB").crop((x, y, x + side, y + side))
        truth, mask = np.asarray(crop), scoring_holes(crop.size, self.hole, number)
        mine, theirs, inside = self.fill(crop, mask), telea(truth, mask), mask.astype(bool)
        return [theirs, mine, truth], [f"Telea {psnr(truth[inside], theirs[inside], 255):.2f} dB (holes)",
                                       f"{self.task.meta['model']} {psnr(truth[inside], mine[inside], 255):.2f} dB",
                                       "truth"]


JOBS = {"upscale": Upscaling, "inpaint": Inpainting}


def padded(rows: list[torch.Tensor], multiple: int) -> torch.Tensor:
    """Rows of different sizes as one batch: each padded at the bottom and right by repeating its edge, to the
    largest height and width rounded up to `multiple`."""
    height = -(-max(r.shape[1] for r in rows) // multiple) * multiple
    width = -(-max(r.shape[2] for r in rows) // multiple) * multiple
    return torch.stack([F.pad(r[None], (0, width - r.shape[2], 0, height - r.shape[1]), mode="replicate")[0]
                        for r in rows])


def filled_in(pictures: list[Image.Image], outputs: torch.Tensor, mask: np.ndarray) -> list[np.ndarray]:
    """Each photo with the network's pixels in its holes and its own everywhere else."""
    found = []
    for row, picture in enumerate(pictures):
        rgb = np.asarray(picture.convert("RGB"))
        fill = outputs[row, :3, :picture.height, :picture.width].permute(1, 2, 0).clamp(0, 1).numpy() * 255
        found.append(np.where(mask[..., None] > 0, np.round(fill).astype(np.uint8), rgb))
    return found


def blanked(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo as the network saw it: holes white, so they show."""
    return np.where(mask[..., None] > 0, 255, rgb).astype(np.uint8)


def read_mask(source, pictures: list[Image.Image]) -> np.ndarray:
    """(H, W) float32 mask of the holes (any non-zero pixel of the mask image: a path, PIL image or array),
    checked against the photos."""
    mask = (np.asarray(read_picture(source, "L")) > 0).astype(np.float32)
    name = f"--mask {source}" if isinstance(source, str | Path) else "the mask"
    for picture in pictures:
        if picture.size != (mask.shape[1], mask.shape[0]):
            raise DataError(f"{name} is {mask.shape[1]}x{mask.shape[0]} but the photo is "
                            f"{picture.width}x{picture.height}: draw the holes on an image of the photo's size")
    if not mask.any():
        raise DataError(f"{name} has no hole: paint the pixels to fill white (or any non-zero value)")
    return mask


def telea(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's inpainting by the fast marching method (Telea 2004): the classical answer to the same holes."""
    filled = cv2.inpaint(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), (mask > 0).astype(np.uint8) * 255, TELEA_RADIUS,
                         cv2.INPAINT_TELEA)
    return cv2.cvtColor(filled, cv2.COLOR_BGR2RGB)
