"""Object detection: YOLO-style and the seeds' other detectors, trained, evaluated against COCO/VOC metrics,
predicting on images, exported and served like every task."""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.ops import box_iou

from ocularis.core.drawing import draw_boxes
from ocularis.core.meta import Pixels
from ocularis.core.plots import plot_image_grid
from ocularis.data.dataset import load_pil
from ocularis.data.splits import class_mapping
from ocularis.engine.task import Prepared, Task
from ocularis.explain.target import ExplainTarget, box_target, detection_scores
from ocularis.registry import MODELS
from ocularis.tasks.detect import SPEC
from ocularis.tasks.detect.config import DetectConfig, DetectOptions
from ocularis.tasks.detect.data import DetectData, read_boxes
from ocularis.tasks.detect.metrics import DetectMetrics, detection_metrics
from ocularis.tasks.detect.model import build_detector
from ocularis.tasks.detect.module import VAL_CONF, DetectModule, dense_to_detections, detected_rows
from ocularis.tasks.detect.predict import Boxes

__all__ = ["Detector"]


@dataclass(frozen=True)
class DetectMeta(Pixels):
    """What a saved detector holds beyond task, model and config and its pixels."""

    classes: list[str]


class Detector(Task):
    """Train, evaluate and predict with an object detector. The constructor only stores options."""

    spec, result_type = SPEC, Boxes
    explainable = True
    meta_type = DetectMeta

    @staticmethod
    def build(meta: dict[str, Any]) -> nn.Module:
        return build_detector(meta["model"], num_classes=len(meta["classes"]), in_channels=meta["channels"],
                              imgsz=meta["imgsz"])

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: DetectConfig) -> Prepared:
        dataset = read_boxes(config.data, config)
        record = MODELS.get(config.model, task=self.spec.name)
        imgsz = config.imgsz or record.imgsz
        config.lr = config.lr or record.lr
        self.network = build_detector(config.model, num_classes=len(dataset.classes), in_channels=dataset.channels,
                                      imgsz=imgsz, weights=config.weights, seed=config.seed,
                                      box_sizes=_box_sizes(dataset, imgsz) if config.anchors == "auto" else None)
        mean, std = (0.0,) * dataset.channels, (1.0,) * dataset.channels
        self.meta = self._new_meta(config, classes=dataset.classes, channels=dataset.channels, imgsz=imgsz,
                                   mean=list(mean), std=list(std))
        return Prepared(dataset, DetectData(dataset, config, imgsz=imgsz, mean=mean, std=std),
                        {"warnings": dataset.warnings})

    def training_module(self, config: DetectConfig) -> DetectModule:
        return DetectModule(self.network, config, self.meta["classes"])

    def fitting(self) -> AbstractContextManager:
        return self.network.fitting()

    def after_training(self, prepared: Prepared, best: Path) -> None:
        """The network's stage fitted without gradients, if it has one (R-CNN's SVMs)."""
        datamodule = prepared.datamodule
        self.network.after_training(datamodule.loader(datamodule.dataset("train"), shuffle=False))
        self.save(best)

    def plot_examples(self, dataset, path: Path, count: int = 8) -> Path:
        """A grid of `count` images: the ground truth beside the predictions, pair by pair."""
        chosen = dataset.split
        pictures = [load_pil(s, self.meta["channels"]) for s in chosen.sources[:count]]
        found = self.postprocess(self.infer(self.preprocess(pictures)), chosen.image_ids[:count], pictures,
                                 self.default_options())
        images, titles = [], []
        for target, result in zip(chosen.targets, found, strict=False):
            truth = draw_boxes(result.image, target.boxes, [self.meta["classes"][i] for i in target.labels],
                               target.labels)
            images += [truth, result.plot()]
            titles += [f"{result.source}: truth", f"predicted ({len(result)})"]
        return plot_image_grid(images, titles, Path(path), columns=4, panel=3.2)  # box labels legible

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def read_data(self, data: str, config: DetectConfig):
        return read_boxes(data, config, training=False, channels=self.meta["channels"])

    def split_dataset(self, dataset, chosen: str, config: DetectConfig, data: str):
        mapping = np.array(class_mapping(dataset.classes, self.meta["classes"], data))
        for target in getattr(dataset, chosen).targets:
            target.labels = mapping[target.labels] if len(target.labels) else target.labels
        dataset.classes = self.meta["classes"]
        return DetectData(dataset, config, imgsz=self.meta["imgsz"], mean=self.meta["mean"],
                          std=self.meta["std"]).dataset(chosen)

    def score(self, dataset) -> DetectMetrics:
        """COCO and VOC metrics, in the images' own pixels."""
        chosen = dataset.split
        predictions, truths = [], []
        for start in range(0, len(chosen), 32):
            pictures = [load_pil(s, self.meta["channels"]) for s in chosen.sources[start:start + 32]]
            outputs = self.infer(self.preprocess(pictures))
            for picture, output in zip(pictures, outputs, strict=True):
                predictions.append(self._detections(output, picture.size, VAL_CONF))
            truths += [(t.boxes, t.labels) for t in chosen.targets[start:start + 32]]
        return detection_metrics(predictions, truths, self.meta["classes"])

    def default_options(self) -> DetectOptions:
        """The run's own thresholds."""
        return DetectOptions(conf=self.meta["config"]["conf"], iou=self.meta["config"]["iou"])

    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: DetectOptions) -> list[Boxes]:
        """Dense predictions -> NMS'd Boxes in each image's own pixels."""
        results = []
        for name, picture, output in zip(names, pictures, outputs, strict=True):
            boxes, scores, labels = self._detections(output, picture.size, options.conf, options.iou)
            results.append(Boxes(name, boxes.numpy(), scores.numpy(), labels.numpy(),
                                 [self.meta["classes"][i] for i in labels.tolist()], picture.size,
                                 np.asarray(picture.convert("RGB"))))
        return results

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """Share of images whose detections (at the run's conf) have the same classes and boxes (IoU >= 0.9)."""
        size = (self.meta["imgsz"],) * 2
        same = [_same_detections(self._detections(a, size), self._detections(b, size))
                for a, b in zip(reference, outputs, strict=True)]
        return float(np.mean(same))

    def export_refusal(self) -> str | None:
        return self.network.export_refusal if isinstance(self.network, nn.Module) else None

    def explain_layer(self) -> nn.Module | None:
        return self.network.explained_layer() if isinstance(self.network, nn.Module) else None

    def explain_target(self, outputs: torch.Tensor, target: str | None = None) -> ExplainTarget:
        """Each image's best box (of class `target` if given), or with "all" each detection at the run's thresholds:
        its objectness x class probability."""
        size, config, count = (self.meta["imgsz"],) * 2, self.meta["config"], len(self.meta["classes"])

        def detected(output: torch.Tensor) -> torch.Tensor:
            rows, labels = detected_rows(output, config["conf"], config["iou"], config["max_det"],
                                         config["class_agnostic"])
            return rows * count + labels

        return box_target(outputs, self.meta["classes"], target, detection_scores,
                          lambda row: self.network.explained_layer(row, size), detected)

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _detections(self, output: torch.Tensor, size: tuple[int, int], conf: float | None = None,
                    iou: float | None = None):
        """One image's dense output -> (boxes in the image's pixels, scores, labels)."""
        config = self.meta["config"]
        boxes, scores, labels = dense_to_detections(output, config["conf"] if conf is None else conf,
                                                    config["iou"] if iou is None else iou, config["max_det"],
                                                    config["class_agnostic"])
        scale = torch.tensor([size[0], size[1], size[0], size[1]], dtype=torch.float32) / self.meta["imgsz"]
        return boxes * scale, scores, labels


def _box_sizes(dataset, imgsz: int) -> np.ndarray:
    """Every training box's (w, h) in input pixels, for anchor clustering."""
    sizes = []
    for (width, height), target in zip(dataset.train.sizes, dataset.train.targets, strict=True):
        if len(target.boxes):
            wh = np.asarray(target.boxes)[:, 2:4] - np.asarray(target.boxes)[:, 0:2]
            sizes.append(wh * [imgsz / width, imgsz / height])
    return np.concatenate(sizes) if sizes else np.zeros((0, 2))


def _same_detections(a, b) -> bool:
    (boxes_a, _, labels_a), (boxes_b, _, labels_b) = a, b
    if len(labels_a) != len(labels_b):
        return False
    if not len(labels_a):
        return True
    overlap = box_iou(boxes_a, boxes_b) * (labels_a[:, None] == labels_b[None, :])
    return bool((overlap.max(dim=1).values >= 0.9).all() and (overlap.max(dim=0).values >= 0.9).all())

