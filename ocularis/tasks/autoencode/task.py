"""Autoencoders: dense, sparse, deep, convolutional, denoising, LSTM (rows as a sequence) and variational, trained
to reproduce their inputs without labels; used to reconstruct, denoise, encode (the code is a search feature),
spot outliers by their reconstruction error, and (VAEs) sample and draw their latent manifold."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ocularis.core.image_result import Images
from ocularis.core.meta import Pixels
from ocularis.core.plots import save_mosaic
from ocularis.core.tiling import Stitcher, TileLayout
from ocularis.deploy.export import Graph
from ocularis.engine.task import Prepared, Task
from ocularis.models.autoencoders import EncoderDecoder, ExportedChain
from ocularis.tasks.autoencode import SPEC, latent, uses
from ocularis.tasks.autoencode.config import AutoencodeConfig, AutoencodeOptions
from ocularis.tasks.autoencode.data import ImageData, ImageSet, natural_size, read_images
from ocularis.tasks.autoencode.metrics import ReconstructionMetrics, false_alarm_threshold, reconstruction_metrics
from ocularis.tasks.autoencode.model import architecture, build_network
from ocularis.tasks.autoencode.module import AutoencodeModule, Objective, image_psnr
from ocularis.tasks.autoencode.noise import corrupt, seeded
from ocularis.tasks.autoencode.predict import OutlierReport, to_uint8

__all__ = ["AutoEncoder"]

AGREE = 1e-2  # export check: two networks give an input the same code / reconstruction within 1% of its scale
SCORE_SEED = 0  # the noise a denoiser is scored on is the same every time


@dataclass(frozen=True)
class AutoencodeMeta(Pixels):
    """What a saved autoencoder holds beyond task, model and config and its pixels."""

    classes: list[str]
    objective: dict  # the loss and its settings
    threshold: float | None  # the outlier threshold, after training
    patch: int  # 0: whole images


class AutoEncoder(Task):
    """Train, evaluate and use an autoencoder. The constructor only stores options."""

    spec, result_type = SPEC, Images
    examples_name, samples_every_epoch = "reconstructions.png", True
    meta_type = AutoencodeMeta

    @staticmethod
    def build(meta: dict[str, Any]) -> EncoderDecoder:
        config = meta["config"]
        return build_network(meta["model"], channels=meta["channels"], size=meta["imgsz"],
                             code_size=config["code_size"], width=config["width"])

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: AutoencodeConfig) -> Prepared:
        chosen = architecture(config.model)  # an unknown name is refused before any data is read
        objective = Objective(
            noise=chosen.noise if config.noise == "auto" else config.noise,
            noise_level=chosen.noise_level if config.noise_level is None else config.noise_level,
            sparsity=chosen.sparsity if config.sparsity == "auto" else config.sparsity,
            sparsity_weight=config.sparsity_weight, sparsity_target=config.sparsity_target,
            variational=chosen.variational, beta=config.beta)
        if objective.noise != "none" and objective.noise_level <= 0:
            objective.noise_level = {"gaussian": 0.5}.get(objective.noise, 0.25)  # --noise without a level
        labelled = read_images(config.data, config)
        imgsz = config.patch or config.imgsz or natural_size(labelled, chosen.multiple)
        self.network = build_network(config.model, channels=labelled.channels, size=imgsz,
                                     code_size=config.code_size, width=config.width)
        channels = labelled.channels
        self.meta = self._new_meta(config, classes=labelled.classes, channels=channels, imgsz=imgsz,
                                   mean=[0.0] * channels, std=[1.0] * channels, objective=vars(objective),
                                   threshold=None, patch=config.patch, code_size=self.network.code_size)
        bad = "".join(f"{path}\t{reason}\n" for path, reason in labelled.bad_files)
        return Prepared(labelled, ImageData(labelled, config, imgsz=imgsz),
                        {"bad_files": [p for p, _ in labelled.bad_files], "classes": labelled.classes},
                        {"bad_files.txt": bad} if bad else {})

    def training_module(self, config: AutoencodeConfig) -> AutoencodeModule:
        return AutoencodeModule(self.network, config, self.objective)

    def after_training(self, prepared: Prepared, best: Path) -> None:
        """The outlier threshold: the error a share --false-alarm of the clean validation images exceed."""
        errors = self.reconstruction_errors(prepared.datamodule.dataset("val"))
        self.meta["threshold"] = false_alarm_threshold(errors, self.meta["config"]["false_alarm"])
        self.save(best)

    def report(self, run_dir: Path, test: Dataset, history: list[dict], metrics: ReconstructionMetrics) -> None:
        """Curves, the errors' histogram, reconstructions; a VAE's latent manifold and its codes by class."""
        super().report(run_dir, test, history, metrics)
        if self.variational:
            latent.manifold(self, run_dir / "manifold.png")
            latent.latent_scatter(self, test, run_dir / "latent.png")

    def plot_examples(self, dataset: ImageSet, path: Path, count: int = 16) -> Path:
        """Test images in the top row, their reconstructions below (a denoiser's: clean, noisy, denoised rows)."""
        clean = torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))])
        noisy = self.corrupted(clean, seeded(SCORE_SEED))
        rows = [clean, noisy, self.infer(noisy)] if self.denoises else [clean, self.infer(noisy)]
        return save_mosaic([[to_uint8(picture) for picture in batch] for batch in rows], path)

    # ---- evaluation -------------------------------------------------------------------------------------------
    def read_data(self, data: str, config: AutoencodeConfig):
        return read_images(data, config, training=False, channels=self.meta["channels"])

    def split_dataset(self, labelled, split: str, config: AutoencodeConfig, data: str) -> ImageSet:
        """Every class of the split, in the model's size and channels."""
        return ImageSet(getattr(labelled, split), labelled.images, imgsz=self.meta["imgsz"],
                        channels=self.meta["channels"], patch=self.meta["patch"],
                        per_image=config.patches_per_image, seed=config.seed, classes=labelled.classes)

    def score(self, dataset: ImageSet) -> ReconstructionMetrics:
        """Errors and PSNR of the reconstructions; a denoiser's of its outputs from noisy inputs, and the inputs'."""
        errors, psnrs, noisy_psnrs = [], [], []
        generator = seeded(SCORE_SEED)
        for images, _ in DataLoader(dataset, batch_size=128):
            noisy = self.corrupted(images, generator)
            output = self.infer(noisy)
            errors.append((output - images).pow(2).flatten(1).mean(dim=1))
            psnrs.append(image_psnr(images, output))
            noisy_psnrs.append(image_psnr(images, noisy))
        objective = self.objective
        return reconstruction_metrics(torch.cat(errors).numpy(), torch.cat(psnrs).numpy(),
                                      torch.cat(noisy_psnrs).numpy() if self.denoises else None,
                                      objective.noise, objective.noise_level, self.meta["threshold"])

    def clean_split(self, split: str = "val") -> ImageSet:
        """`split` of the training data as the run saw it (cut to its --classes): what the threshold is chosen on."""
        config, data = self._data_config(None)
        labelled = read_images(data, config, channels=self.meta["channels"])
        return ImageData(labelled, config, imgsz=self.meta["imgsz"]).dataset(split)

    def reconstruction_errors(self, dataset: Dataset, batch: int = 128) -> np.ndarray:
        """(N,) each clean item's mean squared reconstruction error: its outlier score."""
        found = [(self.infer(images) - images).pow(2).flatten(1).mean(dim=1)
                 for images, _ in DataLoader(dataset, batch_size=batch)]
        return torch.cat(found).numpy() if found else np.zeros(0, np.float32)

    # ---- prediction -------------------------------------------------------------------------------------------
    def preprocess(self, pictures: list[Image.Image], options: AutoencodeOptions | None = None) -> torch.Tensor:
        """Each picture resized to the model's side, or (a model trained on patches) cut into overlapping tiles."""
        if not self.meta["patch"]:
            return super().preprocess(pictures, options)
        return torch.cat([self._layout(p).cut(self._pixels(p)) for p in pictures])

    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: AutoencodeOptions) -> list[Images]:
        """Each reconstruction with its input beside it; scores: its error (MSE), PSNR, and whether the error is
        above the model's outlier threshold."""
        found, first = [], 0
        for name, picture in zip(names, pictures, strict=True):
            if self.meta["patch"]:
                layout = self._layout(picture)
                stitcher = Stitcher(layout, self.meta["channels"])
                count = len(layout.corners)
                stitcher.add(outputs[first:first + count], 0)
                first, output = first + count, stitcher.result()
            else:
                first, output = first + 1, outputs[first]
            error = float((output - self.reference_pixels(picture)).pow(2).mean())
            found.append(Images(name, to_uint8(output), np.asarray(picture), self._scores(error),
                                self._verdicts(error)))
        return found

    def reference_pixels(self, picture: Image.Image) -> torch.Tensor:
        """(C, H, W) in 0..1: what a picture's reconstruction is compared with (at the model's side, or a patch
        model's at the picture's own)."""
        return self._pixels(picture) if self.meta["patch"] else super().preprocess([picture])[0]

    def explain_inputs(self, pictures: list[Image.Image]) -> torch.Tensor:
        """One encoder input per picture (a patch model's: the whole picture resized to a patch)."""
        if not self.meta["patch"]:
            return self.preprocess(pictures)
        side = self.meta["patch"]
        return torch.stack([self._pixels(p.resize((side, side), Image.BICUBIC)) for p in pictures])

    # ---- uses (ocularis.tasks.autoencode.uses, .latent) --------------------------------------------------------
    def denoise(self, inputs: Any, add_noise: str = "none", level: float = 0.0, seed: int = 0) -> list[Images]:
        """Each image cleaned; with `add_noise`, corrupted first and scored against the clean one (see uses)."""
        return uses.denoise(self, inputs, add_noise, level, seed)

    def codes(self, inputs: Any) -> tuple[list[str], np.ndarray]:
        """Names and (N, D) codes of images."""
        return uses.encode(self, inputs)

    def outliers(self, inputs: Any = None, data: str | None = None, split: str = "test",
                 false_alarm: float | None = None) -> OutlierReport:
        """Images ranked by reconstruction error against the outlier threshold (see uses.outliers)."""
        return uses.outliers(self, inputs, data, split, false_alarm)

    def sample(self, count: int = 64, seed: int = 0) -> list[Images]:
        """A VAE's new images, decoded from codes drawn from its prior."""
        return latent.sample(self, count, seed)

    def manifold(self, path: str | Path, side: int = 15) -> Path:
        """A VAE's latent manifold: a grid of images decoded across its first two latent dimensions."""
        return latent.manifold(self, Path(path), side)

    def latent_scatter(self, path: str | Path, data: str | None = None, split: str = "test") -> Path:
        """A VAE's codes of `data`'s `split`, coloured by class."""
        return latent.latent_scatter(self, self.dataset(data, split), Path(path))

    def predict_verb(self) -> str:
        """The server's name for the answer: a denoiser denoises, any other autoencoder reconstructs."""
        return "denoise" if self.denoises else "reconstruct"

    @staticmethod
    def _scores(error: float) -> dict[str, float]:
        return {"error": error, "psnr": float(10 * np.log10(1 / max(error, 1e-10)))}

    def _verdicts(self, error: float) -> dict[str, bool]:
        """Outlier or not, where the model has a threshold (chosen after training)."""
        return {"outlier": error > self.meta["threshold"]} if self.meta["threshold"] is not None else {}

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """Share of inputs whose codes (or reconstructions) two networks give within 1% of the row's scale."""
        reference = reference[0] if isinstance(reference, tuple) else reference
        outputs = outputs[0] if isinstance(outputs, tuple) else outputs
        scale = reference.flatten(1).abs().amax(dim=1).clamp(min=1.0)
        close = (reference - outputs).flatten(1).abs().amax(dim=1) <= AGREE * scale
        return close.float().mean().item()

    # ---- the model's parts ------------------------------------------------------------------------------------
    @property
    def objective(self) -> Objective:
        return Objective(**self.meta["objective"])

    @property
    def variational(self) -> bool:
        return bool(self.meta["objective"]["variational"])

    @property
    def denoises(self) -> bool:
        return self.objective.denoises

    def corrupted(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`images` with the noise the model was trained to remove (none for a plain autoencoder)."""
        objective = self.objective
        return corrupt(images, objective.noise, objective.noise_level, generator)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, D) codes of preprocessed images (a VAE's: their means)."""
        self._require_network()
        with torch.no_grad():
            return self.network.encode(images.float()).float()

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) images in 0..1 from codes."""
        self._require_network()
        with torch.no_grad():
            return self.network.decoder(codes.float()).float()

    def explain_features(self) -> nn.Module | None:
        """The encoder: its output, the bottleneck's code, is an image's feature vector (search, t-SNE)."""
        return self.network.encoder if isinstance(self.network, nn.Module) else None

    def graphs(self, samples: torch.Tensor) -> dict[str, Graph]:
        """The encoder on images and the decoder on their codes (a VAE's encoder: the code's mean and
        log-variance)."""
        codes = self.network.encode(samples)
        names = ("mean", "log_variance") if self.variational else ("code",)
        return {"encoder": Graph(self.network.encoder, (samples[:2],), output_names=names),
                "decoder": Graph(self.network.decoder, (codes.detach(),), input_names=("code",),
                                 output_names=("images",))}

    def runtime_network(self, graphs: dict[str, Any]) -> ExportedChain:
        return ExportedChain(graphs["encoder"], graphs["decoder"])

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _pixels(self, picture: Image.Image) -> torch.Tensor:
        mode = "L" if self.meta["channels"] == 1 else "RGB"
        return torch.from_numpy(np.array(picture.convert(mode), np.float32) / 255.0).reshape(
            picture.height, picture.width, -1).permute(2, 0, 1)

    def _layout(self, picture: Image.Image) -> TileLayout:
        patch = self.meta["patch"]
        return TileLayout(picture.width, picture.height, patch, patch // 4)
