"""What a detection training step is: the detector's own losses; validation mAP@.5 from the shared metrics.

Every detector network keeps one contract, so training, evaluation, export and serving never ask which it is:
- forward(images) -> (B, N, 4 + 1 + C) rows: xyxy box in input pixels, objectness, class probabilities;
- training_losses(images, targets) -> {name: loss}; the training loss is their sum;
- optionally after_training(loader): a stage fitted without gradients once the network is trained (R-CNN's SVMs);
- optionally fitting(): a context the whole fit runs within (R-CNN's proposals are searched once per image there).
"""

import torch
from torch import nn

from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import optimizers_for
from ocularis.models.boxes import kept_detections
from ocularis.tasks.detect.config import DetectConfig
from ocularis.tasks.detect.metrics import detection_metrics

VAL_CONF = 0.001  # mAP integrates over every confidence; a high threshold would cut the PR curve short


class DetectModule(TaskModule):
    monitor = "val/mAP50"

    def __init__(self, network: nn.Module, config: DetectConfig, classes: list[str]):
        super().__init__()
        self.network, self.config, self.classes = network, config, classes
        self._predictions: list = []
        self._truths: list = []
        self.train_means = EpochMeans()

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        images, targets = batch
        parts = self.network.training_losses(images, targets)
        loss = sum(parts.values())
        self.train_means.add({"train/loss": loss, **{f"train/{name}": value for name, value in parts.items()}},
                             len(images))
        return loss

    def on_train_epoch_end(self) -> None:
        self.log_means(self.train_means)

    def validation_step(self, batch, batch_index: int) -> None:
        images, targets = batch
        outputs = self.network(images)
        self._predictions += [dense_to_detections(o, VAL_CONF, self.config.iou, self.config.max_det,
                                                  self.config.class_agnostic) for o in outputs]
        self._truths += [(t["boxes"].cpu(), t["labels"].cpu()) for t in targets]

    def on_validation_epoch_end(self) -> None:
        metrics = detection_metrics(self._predictions, self._truths, self.classes)
        # None means the val split has no boxes at all: count it as nothing learned rather than failing
        self.log(self.monitor, metrics.values["mAP50"] or 0.0, prog_bar=True, sync_dist=True)
        self.log("val/mAP50_95", metrics.values["mAP50_95"] or 0.0, sync_dist=True)
        self._predictions, self._truths = [], []

    def configure_optimizers(self):
        return optimizers_for(self.network.parameters(), self.config, self.trainer)


def dense_to_detections(output: torch.Tensor, conf: float, iou: float, max_det: int, class_agnostic: bool):
    """One image's dense predictions (N, 4 + 1 + C) -> NMS'd (boxes, scores, labels); a box may carry several
    classes (sigmoid scores, as YOLOv3), each scored objectness x class probability."""
    rows, labels = detected_rows(output, conf, iou, max_det, class_agnostic)
    output = output.float().cpu()
    return output[rows, :4], output[rows, 4] * output[rows, 5 + labels], labels


def detected_rows(output: torch.Tensor, conf: float, iou: float, max_det: int, class_agnostic: bool):
    """The (rows, classes) of one image's dense predictions that survive the threshold and NMS, best first."""
    output = output.float().cpu()
    scores = output[:, 4:5] * output[:, 5:]
    candidate, label = (scores > conf).nonzero(as_tuple=True)
    keep = kept_detections(output[candidate, :4], scores[candidate, label], label, conf=conf, iou=iou,
                           class_agnostic=class_agnostic, max_det=max_det)
    return candidate[keep], label[keep]
