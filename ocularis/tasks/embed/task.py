"""Metric learning: a network trained so that images of one class (one person, one object) lie close together and
others far apart — Siamese pairs with a contrastive loss, triplets with semi-hard mining, or ArcFace."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from ocularis.core.meta import Pixels
from ocularis.engine.task import Prepared, Task
from ocularis.errors import DataError
from ocularis.explain.target import ExplainTarget, class_target
from ocularis.models.faces import HaarFaceDetector, aligned_best_face
from ocularis.models.network import EmbeddingNetwork
from ocularis.tasks.embed import SPEC
from ocularis.tasks.embed.config import EmbedConfig, EmbedOptions
from ocularis.tasks.embed.data import EmbedData, IdentityDataset, read_identities
from ocularis.tasks.embed.metrics import EmbedMetrics, embedding_metrics, recognition_threshold, verification
from ocularis.tasks.embed.model import build_network
from ocularis.tasks.embed.module import EmbedModule
from ocularis.tasks.embed.predict import Embeddings

__all__ = ["Embedder"]

# where the threshold is chosen, first choice first (what the saved note calls each)
CALIBRATED_ON = {"calibration": "identities never trained on", "val": "val images", "train": "training images"}


@dataclass(frozen=True)
class EmbedMeta(Pixels):
    """What a saved embedding model holds beyond task, model and config and its pixels."""

    classes: list[str]
    dim: int
    centroids: list[list[float]] | None  # one per class, after training
    threshold: float | None  # the verification threshold, after training


class Embedder(Task):
    """Train and use an embedding network. The saved model holds the classes' mean embeddings (to name the nearest
    known class) and the verification and recognition thresholds chosen at the run's false-accept rate on identities
    it never trained on (meta["calibration"] says on what)."""

    spec, result_type = SPEC, Embeddings
    explainable, embeds_outputs = True, True
    meta_type = EmbedMeta

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
                                   threshold=None, calibration=None)
        self._validates = bool(len(labelled.val))  # no val split (or only identities kept out): the last epoch
        datamodule = EmbedData(labelled, config, imgsz=imgsz, mean=network.mean, std=network.std)
        bad = "".join(f"{path}\t{reason}\n" for path, reason in labelled.bad_files)
        return Prepared(labelled, datamodule, {"bad_files": [p for p, _ in labelled.bad_files]},
                        {"bad_files.txt": bad} if bad else {})

    def training_module(self, config: EmbedConfig) -> EmbedModule:
        return EmbedModule(self.network, config, num_classes=len(self.meta["classes"]),
                           validates=self._validates)

    def after_training(self, prepared: Prepared, best: Path) -> None:
        """Each class's mean embedding over its training and calibration images (a class kept out of training is
        still enrolled), and the thresholds at the run's false-accept rate, saved with the model together with what
        they were chosen on (_calibrate)."""
        data = prepared.datamodule
        vectors, labels = self._vectors(data.dataset("enrolled"))
        self.meta["centroids"] = _centroids(vectors, labels, len(self.meta["classes"])).tolist()
        self.meta["threshold"], self.meta["calibration"] = self._calibrate(data)
        self.save(best)

    def _calibrate(self, data: EmbedData) -> tuple[float, dict]:
        """The verification threshold at the run's false-accept rate on pairs of the calibration identities (never
        trained on), and the recognition threshold at that rate on their photos as strangers to every other class;
        without two of them and a pair of one, on the val images of the trained identities, else on the training
        images (both lenient with strangers, which the saved note says)."""
        far = self.meta["config"]["far"]
        for split in CALIBRATED_ON:
            dataset = data.dataset(split)
            counts = np.bincount(dataset.labels()) if len(dataset) else np.zeros(1)
            if (counts > 0).sum() > 1 and counts.max() > 1:  # pairs of one class and of two: a ROC to choose on
                break
        vectors, labels = self._vectors(dataset)
        found = verification(vectors, labels, far)
        centroids = np.asarray(self.meta["centroids"], dtype=np.float32)
        return found["values"]["threshold"], {
            "far": far, "on": CALIBRATED_ON[split], "identities_unseen": split == "calibration",
            "identities": int((counts > 0).sum()), "pairs": found["pairs"]["different"],
            "same_pairs": found["pairs"]["same"], "accepted": found["values"]["far"], "tar": found["values"]["tar"],
            "classes": [self.meta["classes"][c] for c in np.flatnonzero(counts)] if split == "calibration" else [],
            "recognition": recognition_threshold(vectors, labels, centroids, far)}

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def read_data(self, data: str, config: EmbedConfig):
        return read_identities(data, config, training=False, channels=self.meta["channels"])

    def split_dataset(self, labelled, split: str, config: EmbedConfig, data: str) -> IdentityDataset:
        datamodule = EmbedData(labelled, config, imgsz=self.meta["imgsz"], mean=self.meta["mean"],
                               std=self.meta["std"])
        return datamodule.dataset(split)

    def score(self, dataset: IdentityDataset) -> EmbedMetrics:
        """Identification against the dataset's gallery (its data's training images, where it has them), pairwise
        verification and clustering of the dataset's images."""
        vectors, labels = self._vectors(dataset)
        gallery = self._vectors(dataset.gallery) if dataset.gallery is not None else (None, None)
        return embedding_metrics(vectors, labels, self.meta["threshold"], *gallery,
                                 calibration=self.meta.get("calibration"))

    def verification_threshold(self) -> float | None:
        return self.meta["threshold"]

    def recognition_threshold(self) -> float:
        """The cosine to the nearest class mean at or above which predict names an image that class (`known`):
        chosen at the run's false-accept rate on the calibration identities, as strangers to every other class
        (models saved before it was: the verification threshold)."""
        return (self.meta.get("calibration") or {}).get("recognition", {}).get("threshold", self.meta["threshold"])

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
        recognition threshold."""
        vectors = outputs.float().numpy()
        similarity = vectors @ np.asarray(self.meta["centroids"], dtype=np.float32).T
        threshold = self.recognition_threshold()
        results = []
        for name, picture, vector, row in zip(names, pictures, vectors, similarity, strict=True):
            best = int(row.argmax())
            results.append(Embeddings(name, vector, self.meta["classes"][best], float(row[best]),
                                      bool(row[best] >= threshold), np.asarray(picture)))
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
