"""Image classification: single- and multi-label, trained from scratch, fine-tuned, or with a linear head."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ocularis.config import to_dict
from ocularis.core.checkpoint import load_checkpoint
from ocularis.core.plots import plot_curves, plot_image_grid
from ocularis.core.runs import write_json, write_yaml
from ocularis.data.inputs import batches, expand_inputs
from ocularis.engine.run import prepare_run_dir, run_config, train_module
from ocularis.engine.task import Task
from ocularis.errors import ConfigError, DataError
from ocularis.models.network import Network
from ocularis.registry import TASKS
from ocularis.tasks.classify.config import ClassifyConfig
from ocularis.tasks.classify.data import ClassifyData, read_labelled
from ocularis.tasks.classify.metrics import (
    ClassifyMetrics,
    classification_metrics,
    multilabel_metrics,
    tune_thresholds,
)
from ocularis.tasks.classify.model import TASK, build_network
from ocularis.tasks.classify.module import ClassifyModule, fit_linear_head
from ocularis.tasks.classify.predict import Labels, to_labels

__all__ = ["Classifier", "ClassifyConfig", "ClassifyMetrics", "Labels", "TrainingRun"]


@dataclass
class TrainingRun:
    """What fit() leaves behind: the run folder, its best checkpoint and the test metrics."""

    dir: Path
    best: Path
    metrics: ClassifyMetrics
    history: list[dict]


class Classifier(Task):
    """Train, evaluate and predict with an image classifier. The constructor only stores options."""

    task, config_class, default_model = TASK, ClassifyConfig, "simple_cnn"

    @staticmethod
    def build(meta: dict[str, Any]) -> Network:
        return build_network(meta["model"], num_classes=len(meta["classes"]), in_channels=meta["channels"])

    # ---- training -------------------------------------------------------------------------------------------
    def fit(self, data: str | None = None, **options: Any) -> TrainingRun | None:
        """Train on `data` (dataset name, class folder or CSV); returns the run (None on DDP worker ranks)."""
        overrides = {**self.options, **({"data": data} if data else {}), **options}
        config = run_config(ClassifyConfig, overrides)
        L.seed_everything(config.seed, workers=True, verbose=False)
        labelled = read_labelled(config.data, config)
        if labelled.multi_label and config.head != "linear":
            raise ConfigError("--head logistic|svm needs single-label data; use --head linear for multi-label")
        network = build_network(config.model, num_classes=len(labelled.classes), in_channels=labelled.channels,
                                weights=config.weights)
        if config.freeze is not None or config.head != "linear":
            network.freeze(_trainable_blocks(config.freeze))
        imgsz = config.imgsz or network.default_size
        self.network = network
        self.meta = {"task": TASK, "model": config.model, "classes": labelled.classes, "channels": labelled.channels,
                     "imgsz": imgsz, "mean": list(network.mean), "std": list(network.std),
                     "multi_label": labelled.multi_label, "thresholds": None, "config": to_dict(config)}
        run_dir = prepare_run_dir(config, TASK)
        datamodule = ClassifyData(labelled, config, imgsz=imgsz, mean=network.mean, std=network.std)
        write_yaml(run_dir / "config.yaml", {k: v for k, v in to_dict(config).items() if k != "resume"})
        if labelled.bad_files:
            (run_dir / "bad_files.txt").write_text("".join(f"{p}\t{r}\n" for p, r in labelled.bad_files))
        best = run_dir / "best.ckpt"
        if config.head != "linear":
            train_accuracy = fit_linear_head(network, datamodule._loader(datamodule.dataset("train"), False),
                                             config.head)
            history = [{"epoch": 0, f"train/{config.head}_acc": train_accuracy}]
            self.save(best)
        else:
            history = self._train(config, run_dir, datamodule, best)
            if history is None:
                return None
        return self._finish(run_dir, best, labelled, datamodule, history)

    def _train(self, config: ClassifyConfig, run_dir: Path, datamodule: ClassifyData, best: Path) -> list | None:
        module = ClassifyModule(self.network, config, num_classes=len(self.meta["classes"]),
                                multi_label=self.meta["multi_label"])
        return train_module(module, datamodule, config, run_dir, best, self.save)

    def _finish(self, run_dir: Path, best: Path, labelled, datamodule: ClassifyData, history: list) -> TrainingRun:
        """Reload the best weights, tune multi-label thresholds on val, test, and draw the run's plots."""
        best_state = load_checkpoint(best, TASK)
        self.network.load_state_dict(best_state["state_dict"])
        self.meta, self.source = best_state["ocularis"], best
        if labelled.multi_label:
            probs, targets = self._probabilities(datamodule.dataset("val"))
            self.meta["thresholds"] = tune_thresholds(probs, targets, self.meta["config"]["threshold"])
            self.save(best)
        test = datamodule.dataset("test")
        metrics = self._metrics(*self._probabilities(test))
        if history and any("/" in k for k in history[-1] if k != "epoch"):
            plot_curves(history, run_dir / "curves.png")
        metrics.plot(run_dir / ("per_class_ap.png" if labelled.multi_label else "confusion_matrix.png"))
        self._plot_examples(test, run_dir / "predictions.png")
        write_json(run_dir / "metrics.json", {"history": history, "test": metrics.to_json(),
                                              "test_is_val": labelled.test_is_val,
                                              "bad_files": [p for p, _ in labelled.bad_files]})
        return TrainingRun(run_dir, best, metrics, history)

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def evaluate(self, data: str | None = None, split: str = "test") -> ClassifyMetrics:
        """Metrics on `split` of `data` (default: the training data). Other data counts whole unless it has splits."""
        return self._metrics(*self._probabilities(self._dataset(data, split)))

    def sample_inputs(self, data: str | None = None, split: str = "test", count: int | None = None) -> torch.Tensor:
        """Up to `count` preprocessed images of `split` of `data` (default: the training data), as one batch."""
        dataset = self._dataset(data, split)
        return torch.stack([dataset[i][0] for i in range(min(count or len(dataset), len(dataset)))])

    def predict(self, inputs: Any, topk: int = 5, batch: int = 32) -> list[Labels]:
        """Labels for image paths, folders, PIL images or uint8 arrays."""
        self._require_network()
        results: list[Labels] = []
        for names, pictures in batches(expand_inputs(inputs), self.meta["channels"], batch):
            results += self.postprocess(self.infer(self.preprocess(pictures)), names, pictures, topk=topk)
        return results

    # ---- the steps of predict() after Task.preprocess and Task.infer ----------------------------------------
    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    topk: int = 5) -> list[Labels]:
        """Raw outputs -> one Labels per image."""
        return to_labels(names, [np.asarray(p) for p in pictures], self._activate(outputs), self.meta["classes"],
                         topk, self.meta["thresholds"])

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """Share of images given the same answer (top-1 class, or the same multi-label set) by two networks."""
        if self.meta["multi_label"]:
            thresholds = torch.tensor(self.meta["thresholds"] or [self.meta["config"]["threshold"]]
                                      * len(self.meta["classes"]))
            same = ((reference.sigmoid() >= thresholds) == (outputs.sigmoid() >= thresholds)).all(dim=1)
        else:
            same = reference.argmax(dim=1) == outputs.argmax(dim=1)
        return same.float().mean().item()

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid() if self.meta["multi_label"] else logits.float().softmax(dim=1)

    def _probabilities(self, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        probs, targets = [], []
        for images, target in DataLoader(dataset, batch_size=64):
            probs.append(self._activate(self.infer(images)))
            targets.append(target)
        return torch.cat(probs), torch.cat(targets)

    def _dataset(self, data: str | None, split: str):
        """`split` of `data` (default: the training data) mapped onto the model's classes and preprocessing."""
        config, data = self._data_config(data)
        labelled = read_labelled(data, config)
        known = self.meta["classes"]
        unknown = [c for c in labelled.classes if c not in known]
        if unknown:
            raise DataError(f"--data {data}: class {unknown[0]!r} is not one the model knows ({', '.join(known)})")
        chosen = getattr(labelled, split) if len(getattr(labelled, split)) else labelled.train
        mapping = [known.index(c) for c in labelled.classes]
        chosen.targets = [tuple(mapping[i] for i in t) for t in chosen.targets]
        labelled.classes, labelled.channels, labelled.test = known, self.meta["channels"], chosen
        datamodule = ClassifyData(labelled, config, imgsz=self.meta["imgsz"], mean=self.meta["mean"],
                                  std=self.meta["std"])
        return datamodule.dataset("test")

    def _metrics(self, probs: torch.Tensor, targets: torch.Tensor) -> ClassifyMetrics:
        if self.meta["multi_label"]:
            thresholds = self.meta["thresholds"] or [self.meta["config"]["threshold"]] * len(self.meta["classes"])
            return multilabel_metrics(probs, targets, self.meta["classes"], thresholds)
        return classification_metrics(probs, targets, self.meta["classes"])

    def _plot_examples(self, dataset, path: Path, count: int = 32) -> None:
        """A grid of test images titled predicted/true; wrong predictions in red."""
        split, classes = dataset.split, self.meta["classes"]
        chosen = list(range(min(count, len(split))))
        labels = self.predict([split.sources[i] for i in chosen], topk=1)
        titles, wrong = [], []
        for index, result in zip(chosen, labels, strict=True):
            true = {classes[t] for t in split.targets[index]}
            titles.append(f"{'|'.join(result.names) or '-'} / {'|'.join(sorted(true))}")
            wrong.append(set(result.names) != true)
        plot_image_grid([r.image for r in labels], titles, path, wrong)

def _trainable_blocks(freeze: str | None) -> int:
    if freeze in (None, "backbone"):
        return 0
    try:
        return int(freeze)
    except ValueError:
        raise ConfigError(f"--freeze {freeze!r} must be 'backbone' or a number of blocks to fine-tune") from None


TASKS.add(TASK, Classifier)
