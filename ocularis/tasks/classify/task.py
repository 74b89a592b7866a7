"""Image classification: single- and multi-label, trained from scratch, fine-tuned, or with a linear head."""

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
from ocularis.data.splits import class_mapping, classes_in_turn
from ocularis.engine.task import Prepared, Task
from ocularis.errors import ConfigError
from ocularis.explain.target import ExplainTarget, class_target
from ocularis.models.network import Network
from ocularis.tasks.classify import SPEC
from ocularis.tasks.classify.config import ClassifyConfig, ClassifyOptions
from ocularis.tasks.classify.data import ClassifyData, read_labelled
from ocularis.tasks.classify.metrics import (
    ClassifyMetrics,
    classification_metrics,
    multilabel_metrics,
    tune_thresholds,
)
from ocularis.tasks.classify.model import build_network
from ocularis.tasks.classify.module import ClassifyModule, fit_linear_head
from ocularis.tasks.classify.predict import Labels, to_labels

__all__ = ["Classifier"]


@dataclass(frozen=True)
class ClassifyMeta(Pixels):
    """What a saved classifier holds beyond task, model and config and its pixels."""

    classes: list[str]


class Classifier(Task):
    """Train, evaluate and predict with an image classifier. The constructor only stores options."""

    spec, result_type = SPEC, Labels
    explainable = explains_logits = True
    meta_type = ClassifyMeta

    @staticmethod
    def build(meta: dict[str, Any]) -> Network:
        return build_network(meta["model"], num_classes=len(meta["classes"]), in_channels=meta["channels"])

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: ClassifyConfig) -> Prepared:
        labelled = read_labelled(config.data, config)
        if labelled.multi_label and config.head != "linear":
            raise ConfigError("--head logistic|svm needs single-label data; use --head linear for multi-label")
        network = build_network(config.model, num_classes=len(labelled.classes), in_channels=labelled.channels,
                                weights=config.weights)
        if config.freeze is not None or config.head != "linear":
            network.freeze(_trainable_blocks(config.freeze))
        imgsz = config.imgsz or network.default_size
        self.network = network
        self.meta = self._new_meta(config, classes=labelled.classes, channels=labelled.channels, imgsz=imgsz,
                                   mean=list(network.mean), std=list(network.std), multi_label=labelled.multi_label,
                                   thresholds=None)
        datamodule = ClassifyData(labelled, config, imgsz=imgsz, mean=network.mean, std=network.std)
        bad = "".join(f"{path}\t{reason}\n" for path, reason in labelled.bad_files)
        return Prepared(labelled, datamodule, {"test_is_val": labelled.test_is_val,
                                                "bad_files": [p for p, _ in labelled.bad_files]},
                        {"bad_files.txt": bad} if bad else {})

    def training_module(self, config: ClassifyConfig) -> ClassifyModule:
        return ClassifyModule(self.network, config, num_classes=len(self.meta["classes"]),
                              multi_label=self.meta["multi_label"])

    def train(self, config: ClassifyConfig, prepared: Prepared, run_dir: Path, best: Path) -> list[dict] | None:
        """Gradient descent, or (--head logistic|svm) a scikit-learn head on the frozen body's features."""
        if config.head == "linear":
            return super().train(config, prepared, run_dir, best)
        data = prepared.datamodule
        accuracy = fit_linear_head(self.network, data.loader(data.dataset("train"), shuffle=False), config.head)
        self.save(best)
        return [{"epoch": 0, f"train/{config.head}_acc": accuracy}]

    def after_training(self, prepared: Prepared, best: Path) -> None:
        """Multi-label: per-class thresholds tuned on the validation split, saved with the model."""
        if self.meta["multi_label"]:
            probs, targets = self._probabilities(prepared.datamodule.dataset("val"))
            self.meta["thresholds"] = tune_thresholds(probs, targets, self.meta["config"]["threshold"])
            self.save(best)

    def plot_examples(self, dataset, path: Path, count: int = 32) -> Path:
        """A grid of test images titled predicted / true: mistakes first (in red, at most half the grid), then right
        answers; both drawn from every class in turn (a test split in class order would otherwise show one class)."""
        split, classes = dataset.split, self.meta["classes"]
        pool = classes_in_turn([t[0] if t else -1 for t in split.targets], limit=8 * count)
        results = self.predict([split.sources[i] for i in pool], topk=1)
        truths = [{classes[t] for t in split.targets[i]} for i in pool]
        wrong = [set(result.names) != true for result, true in zip(results, truths, strict=True)]
        mistakes = [k for k in range(len(pool)) if wrong[k]][:count // 2]
        shown = mistakes + [k for k in range(len(pool)) if not wrong[k]][:count - len(mistakes)]
        titles = [f"{'|'.join(results[k].names) or '-'} / {'|'.join(sorted(truths[k])) or '-'}" for k in shown]
        looked_at = f"{len(pool)} test images" + (f" (of {len(split)})" if len(pool) < len(split) else "")
        heading = f"titles: predicted / true; {sum(wrong)} of {looked_at} wrong (in red, shown first)"
        return plot_image_grid([results[k].image for k in shown], titles, path, [wrong[k] for k in shown],
                               heading=heading)

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def read_data(self, data: str, config: ClassifyConfig):
        return read_labelled(data, config, training=False, channels=self.meta["channels"])

    def split_dataset(self, labelled, split: str, config: ClassifyConfig, data: str):
        mapping = class_mapping(labelled.classes, self.meta["classes"], data)
        chosen = getattr(labelled, split)
        chosen.targets = [tuple(mapping[i] for i in t) for t in chosen.targets]
        labelled.classes, labelled.test = self.meta["classes"], chosen
        datamodule = ClassifyData(labelled, config, imgsz=self.meta["imgsz"], mean=self.meta["mean"],
                                  std=self.meta["std"])
        return datamodule.dataset("test")

    def score(self, dataset) -> ClassifyMetrics:
        probs, targets = self._probabilities(dataset)
        if self.meta["multi_label"]:
            thresholds = self.meta["thresholds"] or [self.meta["config"]["threshold"]] * len(self.meta["classes"])
            return multilabel_metrics(probs, targets, self.meta["classes"], thresholds)
        return classification_metrics(probs, targets, self.meta["classes"])

    def default_options(self) -> ClassifyOptions:
        return ClassifyOptions(topk=self.meta["config"].get("topk", 5))

    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: ClassifyOptions) -> list[Labels]:
        """Raw outputs -> one Labels per image."""
        return to_labels(names, [np.asarray(p) for p in pictures], self._activate(outputs), self.meta["classes"],
                         options.topk, self.meta["thresholds"])

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """Share of images given the same answer (top-1 class, or the same multi-label set) by two networks."""
        if self.meta["multi_label"]:
            thresholds = torch.tensor(self.meta["thresholds"] or [self.meta["config"]["threshold"]]
                                      * len(self.meta["classes"]))
            same = ((reference.sigmoid() >= thresholds) == (outputs.sigmoid() >= thresholds)).all(dim=1)
        else:
            same = reference.argmax(dim=1) == outputs.argmax(dim=1)
        return same.float().mean().item()

    def explain_layer(self) -> nn.Module | None:
        """The body's last convolutional stage (Grad-CAM's choice): its maps still say where, and the class is read
        from them."""
        return self.network.last_conv_stage() if isinstance(self.network, Network) else None

    def explain_features(self) -> nn.Module | None:
        """The body: its output is the penultimate features the head classifies."""
        return self.network.body if isinstance(self.network, Network) else None

    def gives_cam_weights(self) -> bool:
        return isinstance(self.network, Network) and self.network.pools_into_linear_head()

    def explain_target(self, outputs: torch.Tensor, target: str | None = None) -> ExplainTarget:
        """The logit of `target` or of each image's top class; with the head's weights of that class where the
        last convolutional stage is pooled straight into a linear head (CAM's case: nothing with weights between)."""
        found = class_target(outputs, self.meta["classes"], target, _logits, self._activate(outputs))
        if isinstance(self.network, Network):
            found.class_weights = self.network.cam_weights(found.index)
        return found

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid() if self.meta["multi_label"] else logits.float().softmax(dim=1)

    def _probabilities(self, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        probs, targets = [], []
        for images, target in DataLoader(dataset, batch_size=64):
            probs.append(self._activate(self.infer(images)))
            targets.append(target)
        return torch.cat(probs), torch.cat(targets)


def _trainable_blocks(freeze: str | None) -> int:
    if freeze in (None, "backbone"):
        return 0
    try:
        return int(freeze)
    except ValueError:
        raise ConfigError(f"--freeze {freeze!r} must be 'backbone' or a number of blocks to fine-tune") from None


def _logits(outputs: torch.Tensor) -> torch.Tensor:
    """What classification explains: the class logits themselves."""
    return outputs
