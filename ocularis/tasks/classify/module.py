"""What a classification training step is: loss, metrics, optimiser and schedule. The Trainer decides how."""

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision

from ocularis.engine.callbacks import EpochMeans
from ocularis.engine.module import TaskModule
from ocularis.engine.optim import optimizers_for
from ocularis.models.network import Network
from ocularis.tasks.classify.config import ClassifyConfig


class ClassifyModule(TaskModule):
    def __init__(self, network: Network, config: ClassifyConfig, *, num_classes: int, multi_label: bool):
        super().__init__()
        self.network = network
        self.config = config
        self.multi_label = multi_label
        if multi_label:
            self.val_score = MultilabelAveragePrecision(num_labels=num_classes, average="macro")
        else:
            self.val_score = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.train_means, self.val_means = EpochMeans(), EpochMeans()

    @property
    def monitor(self) -> str:
        return "val/mAP" if self.multi_label else "val/acc"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def on_train_epoch_start(self) -> None:
        # Lightning restores each submodule's mode itself and may never call Network.train(), which is what
        # keeps frozen batch-norm layers in eval mode.
        self.network.train()

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits, targets)
        return F.cross_entropy(logits, targets, label_smoothing=self.config.label_smoothing)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        images, targets = batch
        loss = self.loss(self.network(images), targets)
        self.train_means.add({"train/loss": loss}, len(images))
        return loss

    def on_train_epoch_end(self) -> None:
        self.log_dict(self.train_means.pop(), prog_bar=True, sync_dist=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        images, targets = batch
        logits = self.network(images)
        self.val_means.add({"val/loss": self.loss(logits, targets)}, len(images))
        self.val_score.update(logits, targets.long())

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_means.pop(), prog_bar=True, sync_dist=True)
        self.log(self.monitor, self.val_score, prog_bar=True)  # computed across devices and reset by Lightning

    def configure_optimizers(self):
        return optimizers_for(self.network.parameters(), self.config, self.trainer)


def fit_linear_head(network: Network, train_loader, kind: str) -> float:
    """Bottleneck features of the frozen body -> a scikit-learn logistic regression or linear SVM, folded
    (with its feature scaling) into the network's Linear head so the result stays one exportable network.
    Returns the head's accuracy on the training features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    network.eval()
    features, labels = [], []
    with torch.no_grad():
        for images, targets in train_loader:
            features.append(network.features(images))
            labels.append(targets)
    x, y = torch.cat(features).numpy(), torch.cat(labels).numpy()
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(max_iter=3000) if kind == "logistic" else LinearSVC(C=0.1, max_iter=20000)
    model.fit(scaler.transform(x), y)
    weight = torch.tensor(model.coef_ / scaler.scale_, dtype=torch.float32)
    bias = torch.tensor(model.intercept_ - (model.coef_ * scaler.mean_ / scaler.scale_).sum(axis=1),
                        dtype=torch.float32)
    if weight.shape[0] == 1:  # binary sklearn models score class 1 only; softmax([0, z]) = sigmoid(z)
        weight, bias = torch.cat([torch.zeros_like(weight), weight]), torch.cat([torch.zeros_like(bias), bias])
    with torch.no_grad():
        network.head.weight.copy_(weight)
        network.head.bias.copy_(bias)
    return float(model.score(scaler.transform(x), y))
