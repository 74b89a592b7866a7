"""The task contract's behaviour half: the base class every task fills in, and the one shared fit skeleton.

Entry points (cli, serve, deploy) use only what is declared here and in the task's TaskSpec (ocularis.contract); a
capability a task lacks is a declared default (None, no-op), never probed for. ARCHITECTURE.md has the whole table.

A task fills in: `build` (its network from a checkpoint's metadata), `prepare` (data, network and metadata for a run),
`training_module`, `read_data` and `split_dataset` (what `dataset` reads: a split of some data in the model's
classes and preprocessing), `score`,
`postprocess` and `agreement`. It may override: `train` (a run not trained by gradients), `fitting`,
`after_training`, `report`, `plot_examples`, `default_options`, `preprocess`, `graphs`, `export_refusal` and the
explanation and embedding hooks `explain_inputs` / `explain_layer` / `explain_target` / `explain_features`, which
it inherits from ocularis.engine.inside.
"""

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from ocularis.config import GRADIENT_OPTIONS, PredictOptions, TrainConfig, build_config, changed_options, to_dict
from ocularis.contract import TaskSpec
from ocularis.core.devices import Load, best_device, use_threads
from ocularis.core.meta import Pixels
from ocularis.core.plots import plot_curves
from ocularis.core.results import Metrics, Result
from ocularis.core.runs import run_config, saved_config, write_json, write_yaml
from ocularis.core.video import VideoWriter, frame_rate, read_frames
from ocularis.data.splits import pick_split, same_data
from ocularis.data.transforms import eval_transform
from ocularis.deploy.export import Exported, Graph, export_task
from ocularis.deploy.timing import time_network
from ocularis.engine.datamodule import TaskData
from ocularis.engine.inside import LooksInside
from ocularis.engine.module import TaskModule
from ocularis.engine.persisted import Persisted
from ocularis.engine.run import prepare_run_dir, train_module
from ocularis.errors import ConfigError, DataError


@dataclass
class Prepared:
    """What `prepare` hands the fit skeleton: the data read, its datamodule, notes for metrics.json."""

    data: Any
    datamodule: TaskData
    notes: dict[str, Any] = field(default_factory=dict)  # what a user should know about the data (bad files ...)
    files: dict[str, str] = field(default_factory=dict)  # text files for the run folder: name -> content


@dataclass
class Scored:
    """What an evaluation read: which data, whether the model trained on it, the split and how many items."""

    data: str
    own: bool  # the model's training data (its held-out splits are the ones to score)
    split: str = "test"
    count: int = 0

    def __str__(self) -> str:
        where = f"the {self.split} split of {self.data}" if self.own else (
            f"{self.data}, data the model did not train on" + ("" if self.split == "train" else
                                                              f" (its {self.split} split)"))
        return f"scored {where}: {self.count} images"


@dataclass
class TrainingRun:
    """What fit() leaves behind: the run folder, its best checkpoint, the test metrics and the epoch history."""

    dir: Path
    best: Path
    metrics: Metrics
    history: list[dict]
    fps: float  # images per second at batch 1 on this machine
    load: Load  # under which the fps was measured
    split: str = "test"  # what `metrics` scored: "val" where the data has no test images (--test-fraction 0)


class Stream:
    """What a task keeps from one video frame to the next (a tracker's tracks, a running answer): `Task.stream()`
    makes one per video, so nothing carries over into the next. This one keeps nothing."""

    def update(self, results: list[Result]) -> list[Result]:
        """The results of the next frames, in order, given what came before (they may be replaced or amended)."""
        return results


class Task(Persisted, LooksInside, ABC):
    """Base of Classifier, Detector ...: the constructor stores options only; weights come from fit() or load()."""

    spec: ClassVar[TaskSpec]  # name, summary, inputs, train config and predict options (ocularis.contract)
    result_type: ClassVar[type[Result]]  # one per input: to_json + schema, row, plot, save_to, page renderer
    # the metadata a saved model holds beyond task, model and config: a dataclass whose fields `build` and the task
    # read (core.meta.check_meta holds a checkpoint to it on load; a Pixels subclass for a model of images)
    meta_type: ClassVar[type | None] = None
    # How a model of the task learns: "gradients" (the Lightning loop over `training_module`), "fit" (its own
    # `train`: OpenCV or scikit-learn state, saved as `parts`) or "none" (a fixed pipeline `build` makes; never
    # trained). And whether `network` is a torch module whose weights are saved; without one, `build` makes the
    # pipeline object that `infer` runs and the saved model is metadata and parts only.
    learns_by: ClassVar[str] = "gradients"
    has_network: ClassVar[bool] = True

    def __init__(self, model: str | None = None, weights: str | None = None, **options: Any):
        self.options = {**({"model": model} if model else {}), **({"weights": weights} if weights else {}),
                        **options}
        self.network: nn.Module | None = None  # what infer() runs: a torch module or an exported file's runtime
        self.meta: dict[str, Any] = {}
        self.source: Path | None = None  # the checkpoint or exported file the weights came from
        self._scored = Scored("", own=True)  # what the last dataset() read (set by _data_config, _pick_split)

    # ---- what a task fills in ---------------------------------------------------------------------------------
    @staticmethod
    @abstractmethod
    def build(meta: dict[str, Any]) -> nn.Module:
        """The task's untrained network for a checkpoint's metadata."""

    @abstractmethod
    def prepare(self, config: TrainConfig) -> Prepared:
        """Read the run's data, set self.network (built, maybe pretrained) and self.meta; the datamodule to train on."""

    @abstractmethod
    def training_module(self, config: TrainConfig) -> TaskModule:
        """What a training step is (an ocularis.engine.module.TaskModule: loss, monitor, optimisers)."""

    def dataset(self, data: str | None = None, split: str = "test") -> Dataset:
        """`split` of `data` (default: the training data) in the model's classes and preprocessing: read as the
        run read its training data (`_data_config`: other data counts whole), the split picked (`_pick_split`: the
        whole of data that has none), made the task's dataset."""
        config, data = self._data_config(data)
        read = self.read_data(data, config)
        return self.split_dataset(read, self._pick_split(read, split), config, data)

    @abstractmethod
    def read_data(self, data: str, config: TrainConfig) -> Any:
        """`data` read for evaluation (not training) in the model's channels: an object with train/val/test."""

    @abstractmethod
    def split_dataset(self, read: Any, split: str, config: TrainConfig, data: str) -> Dataset:
        """Split `split` of what read_data gave, in the model's classes and preprocessing."""

    @abstractmethod
    def score(self, dataset: Dataset) -> Metrics:
        """The task's metrics on a dataset from `dataset()` or the run's datamodule."""

    @abstractmethod
    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: PredictOptions) -> list[Result]:
        """The network's raw outputs for a batch -> one result per input."""

    @abstractmethod
    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """Share of inputs given the same answer by two networks' raw outputs (export verification)."""

    # ---- training: one skeleton for every task ----------------------------------------------------------------
    def fit(self, data: str | None = None, **options: Any) -> TrainingRun | None:
        """Train on `data` with `options` over the constructor's; the run (None on DDP worker ranks)."""
        return self.fit_config(run_config(self.spec.config, {**self.options, **({"data": data} if data else {}),
                                                             **options}))

    def fit_config(self, config: TrainConfig) -> TrainingRun | None:
        """Train with a typed config (what the CLI builds); the run, or None on DDP worker ranks."""
        if self.learns_by == "none":
            raise ConfigError(f"a {self.spec.name} model is not trained: load it with ocularis.load or build it "
                              f"with {type(self).__name__}(...)")
        if self.learns_by == "fit" and (given := changed_options(config, GRADIENT_OPTIONS)):
            raise ConfigError(f"{', '.join(given)}: a {self.spec.name} model is fitted in one pass over its training "
                              f"data, not by gradient steps; leave {'it' if len(given) == 1 else 'them'} out")
        L.seed_everything(config.seed, workers=True, verbose=False)
        devices = int(config.devices) if config.devices.isdigit() else 1
        use_threads(config.threads, config.workers, devices if config.accelerator == "cpu" else 1)
        prepared = self.prepare(config)
        run_dir = prepare_run_dir(config, self.spec.name)
        write_yaml(run_dir / "config.yaml", saved_config(config))
        for name, text in prepared.files.items():
            (run_dir / name).write_text(text)
        best = run_dir / "best.ckpt"
        with self.fitting():
            history = self.train(config, prepared, run_dir, best)
            if history is None:
                return None
            self._restore(best)
            self.after_training(prepared, best)
        split = "test" if len(prepared.datamodule.dataset("test")) else "val"  # --test-fraction 0: the val images
        test = prepared.datamodule.dataset(split)
        metrics = self.score(test)
        fps = time_network(self.infer, self.sample_inputs(count=8, dataset=test), 1, min_seconds=1.0).images_per_s
        load = Load.now()
        self.report(run_dir, test, history, metrics)
        write_json(run_dir / "metrics.json", {"history": history, "test": metrics.to_json(), "scored_on": split,
                                              "fps_batch1": fps, "fps_measured_with": dataclasses.asdict(load),
                                              **prepared.notes})
        return TrainingRun(run_dir, best, metrics, history, fps, load, split)

    def train(self, config: TrainConfig, prepared: Prepared, run_dir: Path, best: Path) -> list[dict] | None:
        """Fit the network, writing `best` whenever the module's monitor improves (and, for a task that draws
        samples every epoch, samples/epoch_NNN.png from the val images); the epoch history."""
        draw = partial(self._epoch_samples, prepared.datamodule.dataset("val"), run_dir) \
            if self.samples_every_epoch else None
        return train_module(self.training_module(config), prepared.datamodule, config, run_dir, best, self.save,
                            draw)

    def _epoch_samples(self, val: Dataset, run_dir: Path, epoch: int) -> None:
        if len(val):  # a run without a val split has nothing to show
            self.plot_examples(val, run_dir / "samples" / f"epoch_{epoch + 1:03d}.png")

    def fitting(self) -> AbstractContextManager:
        """A context the whole fit runs within (default: none)."""
        return nullcontext()

    def after_training(self, prepared: Prepared, best: Path) -> None:
        """A stage after gradient training, on the best weights (default: none); re-save `best` if it changes them."""
        return None

    def report(self, run_dir: Path, test: Dataset, history: list[dict], metrics: Metrics) -> None:
        """The run folder's plots: training curves, the metrics' plots, example predictions."""
        if history and any("/" in key for key in history[-1] if key != "epoch"):
            plot_curves(history, run_dir / "curves.png")
        metrics.plot(run_dir)
        self.plot_examples(test, run_dir / self.examples_name)

    examples_name: ClassVar[str] = "predictions.png"  # the run folder's plot_examples picture of the test split
    # a task whose answer is a picture (a reconstruction, an upscale) shows training's progress: plot_examples of
    # the val split after every epoch, into samples/epoch_NNN.png
    samples_every_epoch: ClassVar[bool] = False

    def plot_examples(self, dataset: Dataset, path: Path) -> Path | None:
        """A grid of predictions on `dataset` written to `path` (default: none)."""
        return None

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def evaluate(self, data: str | None = None, split: str = "test") -> Metrics:
        """Metrics on `split` of `data` (default: the training data). Other data counts whole unless it has splits.
        The metrics' `scored` says what was read; the training data's images are scored only where asked for
        (split "train"), never in place of a split the run did not hold out."""
        self._require_network()
        dataset = self.dataset(data, split)
        scored = dataclasses.replace(self._scored, count=len(dataset))
        if scored.own and scored.split != split:
            raise DataError(f"{scored.data} has no {split} split: the run held none out (--{split}-fraction 0), so "
                            f"every image of it trained the model; pass --split {'val' if split == 'test' else 'test'}"
                            ", --data with other images, or --split train to score the training images anyway")
        metrics = self.score(dataset)
        metrics.scored = scored
        return metrics

    def sample_inputs(self, data: str | None = None, split: str = "test", count: int | None = None,
                      dataset: Dataset | None = None) -> torch.Tensor:
        """Up to `count` preprocessed inputs of `split` of `data` (or of `dataset`), as one batch."""
        dataset = dataset if dataset is not None else self.dataset(data, split)
        return torch.stack([dataset[i][0] for i in range(min(count or len(dataset), len(dataset)))])

    def default_options(self) -> PredictOptions:
        """This model's predict options when none are given (default: the options class's defaults)."""
        return self.spec.options()

    def ignored_options(self) -> frozenset[str]:
        """Predict options of the task that this model reads nowhere (a semantic segmenter's instance thresholds):
        the server lists them for no control on the page (default: none)."""
        return frozenset()

    def predict_verb(self) -> str:
        """What this model's answer is called: the server adds /v1/models/NAME/<verb> beside /predict (a restoration
        model: upscale or inpaint; the autoencoder's reconstruct)."""
        return "predict"

    def resolve_options(self, **given: Any) -> PredictOptions:
        """`given` (None: the model's default) over default_options(), converted and range-checked."""
        defaults = dataclasses.asdict(self.default_options())
        return build_config(self.spec.options, {**defaults, **{k: v for k, v in given.items() if v is not None}})

    def predict(self, inputs: Any = None, batch: int = 16, **options: Any) -> list[Result]:
        """Results for the inputs of the task's kind (images: paths, folders, PIL images or uint8 arrays; pairs;
        clips; a generator: none, `count` and `seed` among the options); `options` are the task's predict options."""
        self._require_network()
        chosen = self.resolve_options(**options)
        reader = self.spec.inputs.read()
        results: list[Result] = []
        for names, items in reader.batches(reader.expand(inputs, chosen), self.meta.get("channels"), batch):
            results += self.postprocess(self.infer(self.preprocess(items, chosen)), names, items, chosen)
        return results

    def stream(self) -> "Stream":
        """The state a video's frames share, new for each video (default: none; a tracker keeps its tracks)."""
        return Stream()

    def predict_video(self, path: str | Path, save: str | Path | None = None, batch: int = 16,
                      **options: Any) -> list[Result]:
        """Results for every frame of a video, each batch of frames passed through a new `stream()` in order;
        with `save`, the frames' plots are written there as a video."""
        self._require_network()
        chosen = self.resolve_options(**options)
        stream = self.stream()
        writer = VideoWriter(save, frame_rate(path)) if save else None
        results: list[Result] = []
        try:
            for chunk in _chunks((Image.fromarray(frame) for frame in read_frames(path)), batch):
                names = [f"{Path(path).name}#{len(results) + i}" for i in range(len(chunk))]
                found = stream.update(self.postprocess(self.infer(self.preprocess(chunk, chosen)), names, chunk,
                                                       chosen))
                for result in found if writer else []:
                    writer.write(result.plot(enlarge=False))
                results += found
        finally:
            if writer:
                writer.close()
        return results

    # ---- the steps of predict(), shared by every back end and by the server's micro-batches -------------------
    def preprocess(self, pictures: list[Any], options: PredictOptions | None = None) -> torch.Tensor:
        """Decoded items of the task's input kind -> the network's input batch (rows need not be one per image: a
        task that tiles large images makes several, and its postprocess, given the same options, joins them). The
        default is for images; a pair task stacks each pair's `image_tensors`, a clip task its sampled frames'."""
        return self.image_tensors(pictures)

    def image_tensors(self, pictures: list[Image.Image]) -> torch.Tensor:
        """Images (any size and mode) resized and normalised as the network sees them, stacked."""
        pixels = self.pixels
        transform = eval_transform(pixels.imgsz, pixels.mean, pixels.std)
        return torch.stack([transform(picture.convert(pixels.mode)) for picture in pictures])

    @property
    def pixels(self) -> Pixels:
        """How this model sees an image (channels, side, normalisation), read from its metadata."""
        return Pixels.of(self.meta, self.source)

    def infer(self, batch: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The network's raw outputs for a preprocessed batch, on the CPU: one tensor, or a tuple of tensors (each
        batch first) for a network with several outputs."""
        self._require_network()
        device = best_device()
        with torch.no_grad():
            outputs = self.network.to(device).eval()(batch.to(device))
        return tuple(o.float().cpu() for o in outputs) if isinstance(outputs, tuple) else outputs.float().cpu()

    # ---- export -----------------------------------------------------------------------------------------------
    def export_refusal(self) -> str | None:
        """Why this model cannot be exported, or None (default: a model without a network has nothing to export)."""
        return None if self.has_network else "it has no network; its saved parts are its whole model"

    def graphs(self, samples: torch.Tensor) -> dict[str, Graph]:
        """The graphs an export writes, with example inputs built from preprocessed `samples`: by default one,
        the network on images. A task may return several (an encoder and a decoder step, say)."""
        return {"network": Graph(self.network, (samples[:2],))}

    def export(self, format: str = "onnx", path: str | Path | None = None, **options: Any) -> Exported:
        """Write ONNX or TorchScript (options: int8, half, verify, data); see ocularis.deploy.export.export_task."""
        self._require_network()
        refusal = self.export_refusal()
        if refusal:
            raise ConfigError(f"{self.meta['model']} cannot be exported: {refusal}")
        return export_task(self, format, path, **options)

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _data_config(self, data: str | None) -> tuple[TrainConfig, str]:
        """The training config for reading `data` (default: the training data); other data counts whole."""
        self._require_network()
        config = build_config(self.spec.config, {k: v for k, v in self.meta["config"].items() if k != "resume"})
        data = data or config.data
        self._scored = Scored(data, same_data(data, config.data))
        if not self._scored.own:
            config.val_fraction = config.test_fraction = 0.0
        return config, data

    def _pick_split(self, dataset: Any, split: str) -> str:
        """`split` of data that `_data_config` set up, or "train" where it has none (data read whole)."""
        self._scored.split = pick_split(dataset, split)
        return self._scored.split

    def _new_meta(self, config: TrainConfig, **fields: Any) -> dict[str, Any]:
        """A run's metadata: the task, the architecture, the config, and the task's own `fields`."""
        return {"task": self.spec.name, "model": config.model, **fields, "config": to_dict(config)}

    def _require_network(self) -> None:
        if self.network is None:
            raise ConfigError(f"this {type(self).__name__} has no trained weights yet; call fit() or "
                              "ocularis.load(path) first")


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
