"""Metric learning: a network trained so that images of one class (one person, one object) lie close together and
others far apart — Siamese pairs with a contrastive loss, triplets with semi-hard mining, or ArcFace."""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from ocularis.engine.task import Prepared, Task
from ocularis.errors import DataError
from ocularis.explain.target import ExplainTarget, class_target
from ocularis.models.faces import HaarFaceDetector, aligned_best_face
from ocularis.models.network import EmbeddingNetwork
from ocularis.tasks.embed import SPEC
from ocularis.tasks.embed.config import EmbedConfig, EmbedOptions
from ocularis.tasks.embed.data import EmbedData, IdentityDataset, read_identities
from ocularis.tasks.embed.metrics import EmbedMetrics, embedding_metrics, verification
from ocularis.tasks.embed.model import build_network
from ocularis.tasks.embed.module import EmbedModule
from ocularis.tasks.embed.predict import Embeddings

__all__ = ["Embedder"]


class Embedder(Task):
    """Train and use an embedding network. The saved model holds the classes' mean embeddings (to name the nearest
    known class) and the verification threshold chosen at the run's false-accept rate."""

    spec, result_type = SPEC, Embeddings
    explainable, embeds_outputs = True, True
    required_meta = ("classes", "channels", "imgsz", "mean", "std", "dim", "centroids", "threshold")

    @staticmethod
    def build(meta: dict[str, Any]) -> EmbeddingNetwork:
        return build_network(meta["model"], dim=meta["dim"], in_channels=meta["channels"])

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: EmbedConfig) -> Prepared:
        labelled = read_identities(config.data, config)
        network = build_network(config.model, dim=config.dim, in_channels=labelled.channels, weights=config.weights)
        imgsz = config.imgsz or network.default_size
        self.network = network
        self.meta = self._new_meta(config, classes=labelled.classes, channels=labelled.channels, imgsz=imgsz,
                                   mean=list(network.mean), std=list(network.std), dim=config.dim, centroids=None,
                                   threshold=None)
        datamodule = EmbedData(labelled, config, imgsz=imgsz, mean=network.mean, std=network.std)
        bad = "".join(f"{path}\t{reason}\n" for path, reason in labelled.bad_files)
        return Prepared(labelled, datamodule, {"bad_files": [p for p, _ in labelled.bad_files]},
                        {"bad_files.txt": bad} if bad else {})

    def training_module(self, config: EmbedConfig) -> EmbedModule:
        validates = not (config.test_per_class and not config.val_per_class)  # else read_identities made a val split
        return EmbedModule(self.network, config, num_classes=len(self.meta["classes"]), validates=validates)

    def after_training(self, prepared: Prepared, best: Path) -> None:
        """Each class's mean embedding over the training images, and the cosine threshold at the run's false-accept
        rate on the val images (the training images when there are none), saved with the model."""
        data = prepared.datamodule
        train = data.dataset("train")
        vectors, labels = self._vectors(train)
        self.meta["centroids"] = _centroids(vectors, labels, len(self.meta["classes"])).tolist()
        val = data.dataset("val")
        counts = np.bincount(val.labels()) if len(val) else np.zeros(1)
        if (counts > 0).sum() > 1 and counts.max() > 1:  # pairs of one class and of two: a ROC to choose on
            vectors, labels = self._vectors(val)
        far = self.meta["config"]["far"]
        self.meta["threshold"] = verification(vectors, labels, far)["values"]["threshold"]
        self.save(best)

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def dataset(self, data: str | None = None, split: str = "test") -> IdentityDataset:
        config, data = self._data_config(data)
        labelled = read_identities(data, config, training=False, channels=self.meta["channels"])
        datamodule = EmbedData(labelled, config, imgsz=self.meta["imgsz"], mean=self.meta["mean"],
                               std=self.meta["std"])
        return datamodule.dataset(self._pick_split(labelled, split))

    def score(self, dataset: IdentityDataset) -> EmbedMetrics:
        """Identification against the dataset's gallery (its data's training images, where it has them), pairwise
        verification and clustering of the dataset's images."""
        vectors, labels = self._vectors(dataset)
        gallery = self._vectors(dataset.gallery) if dataset.gallery is not None else (None, None)
        return embedding_metrics(vectors, labels, self.meta["config"]["far"], *gallery)

    def verification_threshold(self) -> float | None:
        return self.meta["threshold"]

    def preprocess(self, pictures: list[Image.Image], options: EmbedOptions | None = None) -> torch.Tensor:
        """As every task's, after finding and aligning the face in each picture when the model was trained on
        faces (--faces)."""
        if self.meta["config"]["faces"]:
            detector = HaarFaceDetector()
            aligned = [aligned_best_face(picture, detector) for picture in pictures]
            if None in aligned:
                raise DataError(f"no face found in image {aligned.index(None) + 1} of {len(pictures)}: this model "
                                "compares faces; pass photos with a frontal face in them")
            pictures = aligned
        return super().preprocess(pictures, options)

    def postprocess(self, outputs: torch.Tensor, names: list[str], pictures: list[Image.Image],
                    options: EmbedOptions) -> list[Embeddings]:
        """Unit vectors -> one Embeddings per image, with the nearest class mean and whether it passes the
        threshold."""
        vectors = outputs.float().numpy()
        similarity = vectors @ np.asarray(self.meta["centroids"], dtype=np.float32).T
        results = []
        for name, picture, vector, row in zip(names, pictures, vectors, similarity, strict=True):
            best = int(row.argmax())
            results.append(Embeddings(name, vector, self.meta["classes"][best], float(row[best]),
                                      bool(row[best] >= self.meta["threshold"]), np.asarray(picture)))
        return results

    def agreement(self, reference: torch.Tensor, outputs: torch.Tensor) -> float:
        """Share of images whose nearest class mean is the same for both networks."""
        centroids = torch.tensor(self.meta["centroids"], dtype=torch.float32)
        return ((reference @ centroids.T).argmax(dim=1) == (outputs @ centroids.T).argmax(dim=1)).float().mean().item()

    # ---- explanation hooks ------------------------------------------------------------------------------------
    def explain_layer(self) -> nn.Module | None:
        """The body's last convolutional stage, as for classifiers."""
        return self.network.last_conv_stage() if isinstance(self.network, EmbeddingNetwork) else None

    def explain_target(self, outputs: torch.Tensor, target: str | None = None) -> ExplainTarget:
        """The cosine to `target`'s mean embedding, or to the nearest class's: what makes the image that class."""
        return class_target(self._similarities(outputs), self.meta["classes"], target, self._similarities,
                            self._similarities(outputs))

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _similarities(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs @ torch.tensor(self.meta["centroids"], dtype=outputs.dtype, device=outputs.device).T

    def _vectors(self, dataset) -> tuple[np.ndarray, np.ndarray]:
        vectors, labels = [], []
        for images, targets in DataLoader(dataset, batch_size=64):
            vectors.append(self.infer(images))
            labels.append(targets)
        return torch.cat(vectors).numpy(), torch.cat(labels).numpy()


def _centroids(vectors: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Each class's mean unit vector, renormalised (a class with no image: zeros, never nearest)."""
    centroids = np.zeros((count, vectors.shape[1]), dtype=np.float32)
    for label in np.unique(labels):
        centroids[label] = vectors[labels == label].mean(axis=0)
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True).clip(1e-12)
