"""A model that is not a network: a task defined here learns by a fit of scikit-learn state (k-means centroids named
by the digits they gather), saves it as arrays and a small text file through the same checkpoint mechanism, and
loads back, with no pickle, to the same predictions. A task that does not learn at all refuses to train."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from pydantic import BaseModel
from sklearn.cluster import KMeans

import ocularis
from ocularis.config import PredictOptions, TrainConfig, option
from ocularis.contract import TaskSpec
from ocularis.core.checkpoint import Parts
from ocularis.core.results import Metrics, Result
from ocularis.data.builtin import digits
from ocularis.engine.task import Prepared, Task
from ocularis.registry import TASKS
from tests.conftest import main


@dataclass
class ClustersConfig(TrainConfig):
    model: str = option("kmeans", "the clustering (one here)")
    clusters: int = option(40, "k-means centroids", low=2)


class NamedJson(BaseModel):
    source: str
    digit: str


@dataclass
class Named(Result):
    schema = NamedJson

    source: str
    digit: str

    def to_json(self) -> dict:
        return {"source": self.source, "digit": self.digit}

    def row(self) -> dict[str, str]:
        return {"digit": self.digit}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        return np.zeros((8, 8, 3), np.uint8)


@dataclass
class Accuracy(Metrics):
    accuracy: float

    @property
    def headline(self) -> tuple[str, float]:
        return "accuracy", self.accuracy

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy}

    def __str__(self) -> str:
        return f"accuracy={self.accuracy:.4f}"


class NearestCentroid:
    """The model `infer` runs: each image's nearest centroid's digit."""

    def __init__(self, centroids: np.ndarray | None = None, names: list[str] | None = None):
        self.centroids, self.names = centroids, names or []

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.cdist(pixels, torch.from_numpy(self.centroids)).argmin(1)


class Pixels:
    """A split as (pixels in [0, 1], digit) pairs, what fit_config scores and times."""

    def __init__(self, split, classes: list[str]):
        self.split, self.classes = split, classes

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int):
        return torch.from_numpy(self.split.sources[index].reshape(-1) / 255).float(), self.split.targets[index][0]


class Splits:
    def __init__(self, labelled):
        self.labelled = labelled

    def dataset(self, split: str) -> Pixels:
        return Pixels(getattr(self.labelled, split), self.labelled.classes)


CLUSTERS = TaskSpec("clusters", "Digits by their nearest k-means centroid (a test's classic task).", ClustersConfig,
                    PredictOptions, "tests.test_saved_parts:Clusters")


class Clusters(Task):
    spec, result_type = CLUSTERS, Named
    learns_by, has_network = "fit", False

    @staticmethod
    def build(meta) -> NearestCentroid:
        return NearestCentroid()

    def prepare(self, config: ClustersConfig) -> Prepared:
        labelled = digits(val_fraction=0.0, test_fraction=0.2, seed=config.seed)
        self.meta = self._new_meta(config)
        return Prepared(labelled, Splits(labelled))

    def train(self, config: ClustersConfig, prepared: Prepared, run_dir, best) -> list[dict]:
        pixels = np.stack([s.reshape(-1) / 255 for s in prepared.data.train.sources]).astype(np.float32)
        found = KMeans(config.clusters, n_init=3, random_state=config.seed).fit(pixels)
        labels = np.asarray([target[0] for target in prepared.data.train.targets])
        names = [prepared.data.classes[np.bincount(labels[found.labels_ == c], minlength=10).argmax()]
                 for c in range(config.clusters)]
        self.network = NearestCentroid(found.cluster_centers_.astype(np.float32), names)
        self.save(best)
        return [{"epoch": 0, "inertia": float(found.inertia_)}]

    def parts(self) -> Parts:
        return Parts({"centroids": self.network.centroids}, {"names.json": json.dumps(self.network.names)})

    def load_parts(self, parts: Parts) -> None:
        self.network = NearestCentroid(parts.arrays["centroids"], json.loads(parts.texts["names.json"]))

    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        return self.network(batch)

    def preprocess(self, pictures, options=None) -> torch.Tensor:
        return torch.stack([torch.from_numpy(np.asarray(p.convert("L").resize((8, 8))).reshape(-1) / 255).float()
                            for p in pictures])

    def postprocess(self, outputs, names, pictures, options) -> list[Named]:
        return [Named(name, self.network.names[int(c)]) for name, c in zip(names, outputs, strict=True)]

    def training_module(self, config):
        raise AssertionError("a fit task has no training step")

    def read_data(self, data, config: ClustersConfig):
        return digits(val_fraction=0.0, test_fraction=0.2, seed=config.seed)

    def split_dataset(self, labelled, split: str, config: ClustersConfig, data) -> Pixels:
        return Splits(labelled).dataset(split)

    def score(self, dataset: Pixels) -> Accuracy:
        inputs, labels = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
        found = self.infer(torch.stack(inputs))
        return Accuracy(float(np.mean([self.network.names[int(c)] == dataset.classes[label]
                                       for c, label in zip(found, labels, strict=True)])))

    def agreement(self, reference, outputs) -> float:
        return float((reference == outputs).float().mean())


class Fixed(Clusters):
    spec = TaskSpec("fixed", "A pipeline that is built, never trained.", ClustersConfig, PredictOptions,
                    "tests.test_saved_parts:Fixed")
    learns_by = "none"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    TASKS.add("clusters", CLUSTERS)
    TASKS.add("fixed", Fixed.spec)
    yield tmp_path_factory.mktemp("clusters")
    TASKS.remove("clusters")
    TASKS.remove("fixed")


def test_a_fit_task_trains_saves_its_parts_without_pickle_and_loads_back(trained, capsys, tmp_path):
    code, out, err = main(capsys, "clusters", "train", "--project", trained)
    assert code == 0, err
    best = trained / "clusters" / "kmeans" / "best.ckpt"
    accuracy = json.loads((best.parent / "metrics.json").read_text())["test"]["accuracy"]
    assert accuracy > 0.8  # it learned: chance is 0.1
    saved = torch.load(best, weights_only=True)  # tensors and strings only: nothing to unpickle
    assert saved["state_dict"] == {} and saved["parts"]["arrays"]["centroids"].shape == (40, 64)
    assert len(json.loads(saved["parts"]["texts"]["names.json"])) == 40
    loaded = ocularis.load(best)
    images = digits(val_fraction=0.0, test_fraction=0.2, seed=0).test.sources[:20]
    again = ocularis.load(loaded.save(tmp_path / "again.ckpt"))
    assert [r.digit for r in loaded.predict(list(images))] == [r.digit for r in again.predict(list(images))]
    assert loaded.evaluate().accuracy == pytest.approx(accuracy)
    code, _, err = main(capsys, "clusters", "export", "--model", best)
    assert code == 2 and "kmeans cannot be exported: it has no network" in err


def test_a_task_that_does_not_learn_refuses_to_train(trained, capsys):
    code, _, err = main(capsys, "fixed", "train", "--project", trained)
    assert code == 2 and "a fixed model is not trained" in err


def test_a_fit_task_refuses_the_options_only_gradient_training_reads(trained, capsys):
    code, _, err = main(capsys, "clusters", "train", "--project", trained, "--fraction", "0.5", "--epochs", "3")
    assert code == 2 and "--epochs, --fraction: a clusters model is fitted in one pass" in err
    assert len(err.strip().splitlines()) == 1
