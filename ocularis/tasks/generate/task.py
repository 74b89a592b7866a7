"""GANs as a task: trained with two optimisers (tasks/generate/module.py), saved as the generator and discriminator
together, sampled from seeds (sample i from seed + i; a conditional GAN draws the class asked, or the classes in
turn), scored against the held-out real images by FID, KID and precision/recall (ocularis.uses.fidelity) on the
features of the classifier given as --features, and on raw pixels without one (the report says which)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ocularis.core.image_result import Images
from ocularis.core.meta import Pixels
from ocularis.core.plots import save_mosaic
from ocularis.engine.task import Prepared, Task
from ocularis.errors import ConfigError
from ocularis.models.gans import RECORDS, GanPair, GanRecord
from ocularis.registry import MODELS
from ocularis.tasks.generate import SPEC
from ocularis.tasks.generate.config import GanConfig, GanOptions
from ocularis.tasks.generate.data import TASK, GanData, read_images, unit_range
from ocularis.tasks.generate.metrics import GanMetrics, code_purity, gan_metrics, pictures
from ocularis.tasks.generate.module import GanModule, codes

for _name, _record in RECORDS.items():
    MODELS.add(_name, _record, task=TASK)
PURITY_SAMPLES = 50  # an InfoGAN's samples of each category that the --features classifier labels
CODE_SEEDS = 1_000_003  # the continuous codes of seed s are drawn from seed s + this (apart from its noise)


@dataclass(frozen=True)
class GanMeta(Pixels):
    """What a saved GAN holds beyond task, model and config and its pixels."""

    classes: list[str]
    latent: int
    conditional: bool
    categories: int  # an InfoGAN's categorical code's values (0: none)
    continuous: int  # its continuous codes


class Generator(Task):
    """Train, score and sample a GAN. The constructor only stores options."""

    spec, result_type = SPEC, Images
    examples_name, samples_every_epoch = "samples.png", True
    meta_type = GanMeta

    @staticmethod
    def build(meta: dict[str, Any]) -> GanPair:
        record: GanRecord = MODELS.get(meta["model"], task=TASK)
        width = meta["config"]["width"]
        return record.build(meta["channels"], meta["imgsz"], meta["latent"],
                            len(meta["classes"]) if meta["conditional"] else 0, **({"width": width} if width else {}),
                            categories=meta["categories"], continuous=meta["continuous"])

    @property
    def drawn_classes(self) -> list[str]:
        """The classes a conditional GAN is asked to draw (none for an unconditional one)."""
        return self.meta["classes"] if self.meta["conditional"] else []

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: GanConfig) -> Prepared:
        record: GanRecord = MODELS.get(config.model, task=TASK)  # an unknown name is refused before any data
        labelled = read_images(config.data, config)
        if labelled.multi_label:
            raise ConfigError(f"{config.data} gives some images several labels; a GAN reads one class an image")
        if config.conditional and len(labelled.classes) < 2:
            raise ConfigError(f"--conditional draws the class asked for, and {config.data} has one class: give "
                              "class folders (or a path,label CSV), or leave --conditional out")
        imgsz = config.imgsz or record.imgsz
        mean, std = unit_range(labelled.channels)
        self.meta = self._new_meta(config, classes=labelled.classes, channels=labelled.channels, imgsz=imgsz,
                                   mean=list(mean), std=list(std), latent=config.latent or record.latent,
                                   conditional=config.conditional, categories=config.categories,
                                   continuous=config.continuous)
        self.network = self.build(self.meta)
        return Prepared(labelled, GanData(labelled, config, imgsz=imgsz), {"classes": labelled.classes})

    def training_module(self, config: GanConfig) -> GanModule:
        return GanModule(self.network, config, config.lr or MODELS.get(config.model, task=TASK).lr)

    def plot_examples(self, dataset: Dataset, path: Path, count: int = 8) -> Path:
        """A grid of samples, the same seeds every epoch: a row per class for a conditional GAN (up to ten), else
        a row per category of an InfoGAN, else four rows."""
        classes, categories = len(self.drawn_classes), self.meta["categories"]
        if classes:
            rows = [self.sample(range(count), class_=c) for c in range(min(classes, 10))]
        elif categories:
            rows = [self.sample(range(count), code=c) for c in range(min(categories, 10))]
        else:
            rows = [self.sample(range(r * count, (r + 1) * count)) for r in range(4)]
        return save_mosaic([pictures(row) for row in rows], path)

    # ---- evaluation -------------------------------------------------------------------------------------------
    def read_data(self, data: str, config: GanConfig):
        return read_images(data, config, training=False, channels=self.meta["channels"])

    def split_dataset(self, labelled, split: str, config: GanConfig, data: str) -> Dataset:
        return GanData(labelled, config, imgsz=self.meta["imgsz"]).dataset(split)

    def score(self, dataset: Dataset) -> GanMetrics:
        """As many samples as the split has images (a conditional GAN asked for each image's class), against them."""
        real, labels = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
        labels = torch.stack(labels)
        fakes = self.sample(range(len(labels)), labels if self.meta["conditional"] else None)
        features = self.meta["config"].get("features")
        found = gan_metrics(torch.stack(real), fakes, labels, self.meta["classes"], self.meta["conditional"],
                            features)
        if self.meta["categories"] and features:
            found.code_purity = code_purity(
                [self.sample(range(PURITY_SAMPLES), code=c) for c in range(self.meta["categories"])], features)
        return found

    def sample(self, seeds: range | list[int], labels: torch.Tensor | None = None,
               class_: int | None = None, code: int | None = None) -> torch.Tensor:
        """Generated images in [-1, 1], one per seed: a conditional GAN's of `labels`, else of `class_`, else of
        the classes in turn; an InfoGAN's of category `code`, else of its categories in turn."""
        rows = self._codes(seeds, labels if labels is not None else self._labels(seeds, class_), code)
        with torch.no_grad():
            return torch.cat([self.infer(part) for part in rows.split(256)])

    def interpolate(self, start: int, end: int, steps: int = 8, class_: int | None = None) -> list[Images]:
        """A walk of `steps` samples from seed `start`'s noise to seed `end`'s, along the great circle between them
        (spherical interpolation: Gaussian noise keeps its length on it, where a straight line would shrink it); a
        conditional GAN draws `class_` all along (default: the class seed `start` draws)."""
        if steps < 2:
            raise ConfigError(f"--steps {steps}: a walk needs at least 2 samples, its two ends")
        self.preprocess([start], GanOptions(class_=class_))  # the class checked as sample's is
        first, last = self._noise([start, end])
        angle = torch.arccos(torch.clamp(F.cosine_similarity(first, last, dim=0), -1 + 1e-6, 1 - 1e-6))
        weights = torch.linspace(0, 1, steps)[:, None]
        noise = (torch.sin((1 - weights) * angle) * first + torch.sin(weights * angle) * last) / torch.sin(angle)
        with torch.no_grad():
            images = self.infer(self._codes([start] * steps, self._labels([start] * steps, class_), noise=noise))
        return [Images(f"walk{i}", picture) for i, picture in enumerate(pictures(images))]

    def _labels(self, seeds: range | list[int], class_: int | None) -> torch.Tensor | None:
        """What a conditional GAN draws for each seed (None for an unconditional one)."""
        classes = len(self.drawn_classes)
        return torch.tensor([class_ if class_ is not None else s % classes for s in seeds]) if classes else None

    def _noise(self, seeds: range | list[int]) -> torch.Tensor:
        """(N, latent) the noise of each seed, drawn alone: the same whatever else is drawn with it."""
        return torch.stack([torch.randn(self.meta["latent"], generator=torch.Generator().manual_seed(int(s)))
                            for s in seeds])

    def _codes(self, seeds: range | list[int], labels: torch.Tensor | None, code: int | None = None,
               noise: torch.Tensor | None = None) -> torch.Tensor:
        """The generator's input for `seeds`: their noise (or `noise`), the classes `labels`, and an InfoGAN's
        category (`code`, else the categories in turn) and continuous codes, drawn from each seed too."""
        categories, continuous = self.meta["categories"], self.meta["continuous"]
        category = torch.tensor([code if code is not None else s % categories for s in seeds]) if categories else None
        drawn = torch.stack([torch.rand(continuous, generator=torch.Generator().manual_seed(int(s) + CODE_SEEDS)) * 2
                             - 1 for s in seeds]) if continuous else None
        return codes(self._noise(seeds) if noise is None else noise, labels, len(self.drawn_classes), category,
                     categories, drawn)

    # ---- the steps of predict() ---------------------------------------------------------------------------------
    def preprocess(self, seeds: list[int], options: GanOptions | None = None) -> torch.Tensor:
        asked = (options or self.default_options()).class_
        classes = self.drawn_classes
        if asked is not None and not classes:
            raise ConfigError("--class picks what a conditional GAN draws; this one is unconditional (trained "
                              "without --conditional)")
        if asked is not None and asked >= len(classes):
            raise ConfigError(f"--class {asked}: this GAN draws classes 0 to {len(classes) - 1} "
                              f"({', '.join(classes)})")
        code = (options or self.default_options()).code
        categories = self.meta["categories"]
        if code is not None and code >= categories:
            raise ConfigError(f"--code {code}: " + (f"this InfoGAN draws categories 0 to {categories - 1}" if categories
                              else "--code picks an InfoGAN's category; this GAN has none (trained without "
                                   "--categories)"))
        return self._codes(seeds, self._labels(seeds, asked), code)

    def postprocess(self, outputs: torch.Tensor, names: list[str], seeds: list[int],
                    options: GanOptions) -> list[Images]:
        labels, categories = self._labels(seeds, options.class_), self.meta["categories"]
        drawn = [{**({} if labels is None else {"class": float(labels[i])}),
                  **({"code": float(options.code if options.code is not None else seed % categories)}
                     if categories else {})} for i, seed in enumerate(seeds)]
        return [Images(name, picture, scores=scores)
                for name, picture, scores in zip(names, pictures(outputs), drawn, strict=True)]

    def predict_verb(self) -> str:
        return "generate"

    def ignored_options(self) -> frozenset[str]:
        """The class of an unconditional GAN, the category of a GAN without InfoGAN codes."""
        return frozenset({*(() if self.meta["conditional"] else ("class_",)),
                          *(() if self.meta["categories"] else ("code",))})

    def sample_inputs(self, data=None, split="test", count=None, dataset=None) -> torch.Tensor:
        return self.preprocess(list(range(count or 4)), self.default_options())

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """The share of samples drawn the same within 1/100 of the range in every pixel."""
        return float(((reference - outputs).abs().flatten(1).amax(1) < 0.02).float().mean())


