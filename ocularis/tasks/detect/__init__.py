"""Object detection: YOLO-style and the seeds' other detectors, trained, evaluated against COCO/VOC metrics,
predicting on images, exported and served like every task."""

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.ops import box_iou

from ocularis.config import to_dict
from ocularis.core.checkpoint import load_checkpoint
from ocularis.core.plots import plot_curves, plot_image_grid
from ocularis.core.runs import write_json, write_yaml
from ocularis.core.video import VideoWriter, frame_rate, read_frames
from ocularis.data.dataset import load_pil
from ocularis.data.detection import image_size
from ocularis.data.inputs import batches, expand_inputs
from ocularis.deploy.timing import time_network
from ocularis.engine.run import prepare_run_dir, run_config, train_module
from ocularis.engine.task import Task
from ocularis.errors import DataError
from ocularis.registry import TASKS
from ocularis.tasks.detect.config import DetectConfig
from ocularis.tasks.detect.data import DetectData, read_boxes
from ocularis.tasks.detect.metrics import DetectMetrics, detection_metrics
from ocularis.tasks.detect.model import DEFAULT_LR, DEFAULT_SIZE, TASK, build_detector
from ocularis.tasks.detect.module import VAL_CONF, DetectModule, dense_to_detections
from ocularis.tasks.detect.predict import Boxes, draw_boxes

__all__ = ["Boxes", "DetectConfig", "DetectMetrics", "DetectRun", "Detector"]


@dataclass
class DetectRun:
    """What fit() leaves behind: the run folder, its best checkpoint and the test metrics."""

    dir: Path
    best: Path
    metrics: DetectMetrics
    history: list[dict]
    fps: float  # images per second at batch 1 on this machine


class Detector(Task):
    """Train, evaluate and predict with an object detector. The constructor only stores options."""

    task, config_class, default_model = TASK, DetectConfig, "yolo"

    @staticmethod
    def build(meta: dict[str, Any]) -> nn.Module:
        return build_detector(meta["model"], num_classes=len(meta["classes"]), in_channels=meta["channels"],
                              imgsz=meta["imgsz"])

    # ---- training -------------------------------------------------------------------------------------------
    def fit(self, data: str | None = None, **options: Any) -> DetectRun | None:
        """Train on `data` (built-in name, data.yaml, COCO json, VOC folder, CSV); None on DDP worker ranks."""
        config = run_config(DetectConfig, {**self.options, **({"data": data} if data else {}), **options})
        L.seed_everything(config.seed, workers=True, verbose=False)
        dataset = read_boxes(config.data, config)
        imgsz = config.imgsz or DEFAULT_SIZE.get(config.model, 128)
        config.lr = config.lr or DEFAULT_LR.get(config.model, 4e-3)
        self.network = build_detector(config.model, num_classes=len(dataset.classes), in_channels=dataset.channels,
                                      imgsz=imgsz, weights=config.weights, seed=config.seed,
                                      box_sizes=_box_sizes(dataset, imgsz) if config.anchors == "auto" else None)
        mean, std = (0.0,) * dataset.channels, (1.0,) * dataset.channels
        self.meta = {"task": TASK, "model": config.model, "classes": dataset.classes, "channels": dataset.channels,
                     "imgsz": imgsz, "mean": list(mean), "std": list(std), "config": to_dict(config)}
        run_dir = prepare_run_dir(config, TASK)
        write_yaml(run_dir / "config.yaml", {k: v for k, v in to_dict(config).items() if k != "resume"})
        datamodule = DetectData(dataset, config, imgsz=imgsz, mean=mean, std=std)
        best = run_dir / "best.ckpt"
        with getattr(self.network, "fitting", nullcontext)():
            history = train_module(DetectModule(self.network, config, dataset.classes), datamodule, config, run_dir,
                                   best, self.save)
            if history is None:
                return None
            state = load_checkpoint(best, TASK)
            self.network.load_state_dict(state["state_dict"])
            self.meta, self.source = state["ocularis"], best
            if hasattr(self.network, "after_training"):  # a stage fitted without gradients (R-CNN's SVMs)
                self.network.after_training(datamodule.loader(datamodule.dataset("train"), shuffle=False))
                self.save(best)
        metrics = self.evaluate()
        fps = time_network(self.infer, self.sample_inputs(count=8), 1, min_seconds=1.0).images_per_s
        plot_curves(history, run_dir / "curves.png")
        metrics.plot(run_dir)
        self.plot_examples(run_dir / "predictions.png")
        write_json(run_dir / "metrics.json", {"history": history, "test": metrics.to_json(), "fps_batch1": fps,
                                              "warnings": dataset.warnings})
        return DetectRun(run_dir, best, metrics, history, fps)

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def evaluate(self, data: str | None = None, split: str = "test") -> DetectMetrics:
        """COCO and VOC metrics on `split` of `data` (default: the training data), in the images' own pixels."""
        chosen = self._split(data, split)
        predictions, truths = [], []
        for start in range(0, len(chosen), 32):
            pictures = [load_pil(s, self.meta["channels"]) for s in chosen.sources[start:start + 32]]
            outputs = self.infer(self.preprocess(pictures))
            for picture, output in zip(pictures, outputs, strict=True):
                predictions.append(self._detections(output, picture.size, VAL_CONF))
            truths += [(t.boxes, t.labels) for t in chosen.targets[start:start + 32]]
        return detection_metrics(predictions, truths, self.meta["classes"])

    def predict(self, inputs: Any, conf: float | None = None, iou: float | None = None,
                batch: int = 16) -> list[Boxes]:
        """Boxes for image paths, folders, PIL images or uint8 arrays."""
        self._require_network()
        results: list[Boxes] = []
        for names, pictures in batches(expand_inputs(inputs), self.meta["channels"], batch):
            results += self.postprocess(self.infer(self.preprocess(pictures)), names, pictures, conf=conf, iou=iou)
        return results

    def predict_video(self, path: str | Path, save: str | Path | None = None, conf: float | None = None,
                      iou: float | None = None, batch: int = 16) -> list[Boxes]:
        """Boxes for every frame of a video; with `save`, the annotated video is written there."""
        self._require_network()
        writer = VideoWriter(save, frame_rate(path)) if save else None
        results: list[Boxes] = []
        frames = read_frames(path)
        try:
            while chunk := [Image.fromarray(f) for _, f in zip(range(batch), frames, strict=False)]:
                names = [f"{Path(path).name}#{len(results) + i}" for i in range(len(chunk))]
                found = self.postprocess(self.infer(self.preprocess(chunk)), names, chunk, conf=conf, iou=iou)
                for result in found if writer else []:
                    writer.write(result.plot(enlarge=False))
                results += found
        finally:
            if writer:
                writer.close()
        return results

    def plot_examples(self, path: str | Path, data: str | None = None, split: str = "test", count: int = 8) -> Path:
        """A grid of `count` images of `split`: the ground truth beside the predictions, pair by pair."""
        chosen = self._split(data, split)
        pictures = [load_pil(s, self.meta["channels"]) for s in chosen.sources[:count]]
        found = self.postprocess(self.infer(self.preprocess(pictures)), chosen.image_ids[:count], pictures)
        images, titles = [], []
        for target, result in zip(chosen.targets, found, strict=False):
            truth = draw_boxes(result.image, target.boxes, [self.meta["classes"][i] for i in target.labels],
                               target.labels)
            images += [truth, result.plot()]
            titles += [f"{result.source}: truth", f"predicted ({len(result)})"]
        return plot_image_grid(images, titles, Path(path), columns=4)

    # ---- the steps of predict() after Task.preprocess and Task.infer ----------------------------------------
    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    conf: float | None = None, iou: float | None = None) -> list[Boxes]:
        """Dense predictions -> NMS'd Boxes in each image's own pixels."""
        results = []
        for name, picture, output in zip(names, pictures, outputs, strict=True):
            boxes, scores, labels = self._detections(output, picture.size, conf, iou)
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

    def sample_inputs(self, data: str | None = None, split: str = "test", count: int | None = None) -> torch.Tensor:
        chosen = self._split(data, split)
        sources = chosen.sources[:count or len(chosen)]
        return self.preprocess([load_pil(s, self.meta["channels"]) for s in sources])

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

    def _split(self, data: str | None, split: str):
        """`split` of `data` (default: the training data) with labels mapped onto the model's classes."""
        config, data = self._data_config(data)
        dataset = read_boxes(data, config)
        unknown = [c for c in dataset.classes if c not in self.meta["classes"]]
        if unknown:
            raise DataError(f"--data {data}: class {unknown[0]!r} is not one the model knows "
                            f"({', '.join(self.meta['classes'])})")
        chosen = getattr(dataset, split) if len(getattr(dataset, split)) else dataset.train
        mapping = np.array([self.meta["classes"].index(c) for c in dataset.classes])
        for target in chosen.targets:
            target.labels = mapping[target.labels] if len(target.labels) else target.labels
        return chosen

def _box_sizes(dataset, imgsz: int) -> np.ndarray:
    """Every training box's (w, h) in input pixels, for anchor clustering."""
    sizes = []
    for source, target in zip(dataset.train.sources, dataset.train.targets, strict=True):
        if len(target.boxes):
            width, height = image_size(source)
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


TASKS.add(TASK, Detector)
