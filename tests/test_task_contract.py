"""The task contract: a third task defined here (an image's mean brightness, on the real handwritten digits) and
registered with one line gets the CLI's verbs and flags, its own server route and options, ONNX export with
verification and the web page, with no change to the CLI, the server or the exporter."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import typer
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from pydantic import BaseModel
from torch import nn
from torch.utils.data import DataLoader, Dataset
from typer.testing import CliRunner

import ocularis
from ocularis.cli import build_app
from ocularis.config import PredictOptions, TrainConfig, option
from ocularis.contract import TaskSpec
from ocularis.core.meta import Pixels
from ocularis.core.results import Metrics, Result
from ocularis.data.builtin import digits
from ocularis.data.dataset import load_pil
from ocularis.data.transforms import eval_transform
from ocularis.deploy.export import Graph
from ocularis.engine.datamodule import TaskData
from ocularis.engine.module import TaskModule
from ocularis.engine.task import Prepared, Task
from ocularis.registry import TASKS
from ocularis.serve.app import create_app
from tests.serving import needs_browser, page_at


@dataclass
class BrightnessConfig(TrainConfig):
    model: str = option("tiny", "architecture (one here)")
    imgsz: int | None = option(8, "input size")
    epochs: int = option(8, "training epochs")
    lr: float = option(5e-2, "peak learning rate")


@dataclass
class BrightnessOptions(PredictOptions):
    threshold: float = option(0.3, "an image is called bright above this mean brightness", low=0.0, high=1.0)


BRIGHTNESS = TaskSpec("brightness", "The mean brightness of an image (a test's own task).", BrightnessConfig,
                      BrightnessOptions, "tests.test_task_contract:Brightness", commands="tests.test_task_contract")


def brightest(sources: list[str] = typer.Argument(..., help="images"),
              model: Path = typer.Option(..., help="checkpoint")) -> None:
    """The task's own verb: which of the images the model finds brightest."""
    found = ocularis.load(model).predict([str(s) for s in sources])
    typer.echo(max(found, key=lambda r: r.brightness).source)


COMMANDS = {"brightest": brightest}  # the verbs TaskSpec.commands adds to `ocularis brightness`


class BrightnessResult(BaseModel):
    source: str
    brightness: float
    bright: bool


@dataclass
class Bright(Result):
    schema = BrightnessResult  # no renderer of its own: the page's generic one shows it

    source: str
    brightness: float
    bright: bool
    image: np.ndarray = field(repr=False)

    def to_json(self) -> dict:
        return {"source": self.source, "brightness": round(self.brightness, 6), "bright": self.bright}

    def row(self) -> dict[str, str]:
        return {"brightness": f"{self.brightness:.3f}", "bright": str(self.bright)}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        picture = Image.fromarray(self.image).convert("RGB")
        ImageDraw.Draw(picture).text((0, 0), f"{self.brightness:.2f}", fill=(255, 0, 0))
        return np.asarray(picture)


@dataclass
class BrightnessMetrics(Metrics):
    values: dict[str, float]

    @property
    def headline(self) -> tuple[str, float]:
        return "mae", self.values["mae"]

    def to_json(self) -> dict:
        return {"values": self.values}

    def __str__(self) -> str:
        return "  ".join(f"{k}={v:.4f}" for k, v in self.values.items())


class BrightnessSet(Dataset):
    def __init__(self, split, imgsz: int):
        self.split, self.transform = split, eval_transform(imgsz, (0.5,), (0.5,))

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, int]):
        index = key[1] if isinstance(key, tuple) else key  # training asks by (epoch, index)
        picture = load_pil(self.split.sources[index], 1)
        return self.transform(picture), torch.tensor(np.asarray(picture).mean() / 255, dtype=torch.float32)


class BrightnessData(TaskData):
    def __init__(self, labelled, config: BrightnessConfig, imgsz: int):
        super().__init__(config)
        self.labelled, self.imgsz = labelled, imgsz

    def dataset(self, split: str, train: bool = False) -> BrightnessSet:
        return BrightnessSet(getattr(self.labelled, split), self.imgsz)


class BrightnessModule(TaskModule):
    monitor, monitor_mode = "val/mae", "min"  # lower is better: best.ckpt must follow that

    def __init__(self, network: nn.Module, lr: float):
        super().__init__()
        self.network, self.lr = network, lr

    def training_step(self, batch, index):
        images, targets = batch
        loss = F.mse_loss(self.network(images), targets)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(images))
        return loss

    def validation_step(self, batch, index):
        images, targets = batch
        self.log("val/mae", (self.network(images) - targets).abs().mean(), batch_size=len(images))

    def configure_optimizers(self):
        return torch.optim.Adam(self.network.parameters(), lr=self.lr)


def tiny_network() -> nn.Module:
    """Linear in the pixels, as the mean is: a convolution, a global average, one weighted sum."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1),
                         nn.Flatten(0))


class Brightness(Task):
    spec, result_type = BRIGHTNESS, Bright
    meta_type = Pixels

    @staticmethod
    def build(meta: dict) -> nn.Module:
        return tiny_network()

    def prepare(self, config: BrightnessConfig) -> Prepared:
        labelled = digits(val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=config.seed)
        self.network = tiny_network()
        self.meta = self._new_meta(config, channels=1, imgsz=config.imgsz, mean=[0.5], std=[0.5])
        return Prepared(labelled, BrightnessData(labelled, config, config.imgsz))

    def training_module(self, config: BrightnessConfig) -> BrightnessModule:
        return BrightnessModule(self.network, config.lr)

    def read_data(self, data, config: BrightnessConfig):
        return digits(val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=config.seed)

    def split_dataset(self, labelled, split: str, config: BrightnessConfig, data) -> BrightnessSet:
        return BrightnessData(labelled, config, self.meta["imgsz"]).dataset(split)

    def score(self, dataset) -> BrightnessMetrics:
        outputs, targets = zip(*[(self.infer(x), y) for x, y in DataLoader(dataset, batch_size=256)], strict=True)
        return BrightnessMetrics({"mae": float((torch.cat(outputs) - torch.cat(targets)).abs().mean())})

    def postprocess(self, outputs, names, pictures, options: BrightnessOptions) -> list[Bright]:
        return [Bright(name, float(value), float(value) > options.threshold, np.asarray(picture))
                for name, value, picture in zip(names, outputs, pictures, strict=True)]

    def agreement(self, reference, outputs) -> float:
        return float(((reference - outputs).abs() < 0.01).float().mean())


TWO_GRAPHS = TaskSpec("brightness2", "Brightness, exported as an encoder and a head.", BrightnessConfig,
                      BrightnessOptions, "tests.test_task_contract:TwoGraphBrightness")


class Chained:
    """Exported graphs run one after the other, behind the call infer() makes."""

    def __init__(self, *graphs):
        self.graphs = graphs

    def __call__(self, images):
        for graph in self.graphs:
            images = graph(images)
        return images

    def to(self, *_):
        return self

    def eval(self):
        return self


class TwoGraphBrightness(Brightness):
    """An export of two graphs, as a captioner's encoder and decoder step will be."""

    spec = TWO_GRAPHS

    def graphs(self, samples):
        encoder, head = self.network[:3], self.network[3:]
        with torch.no_grad():
            features = encoder(samples)
        return {"encoder": Graph(encoder, (samples,)), "head": Graph(head, (features,), ("features",))}

    def runtime_network(self, graphs):
        return Chained(graphs["encoder"], graphs["head"])


@pytest.fixture(scope="module")
def brightness_task():
    TASKS.add("brightness", BRIGHTNESS)  # the one line that registers a task
    yield
    TASKS.remove("brightness")


@pytest.fixture(scope="module")
def trained(brightness_task, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("brightness")
    result = CliRunner().invoke(build_app(), ["brightness", "train", "--no-progress", "--project", str(folder)])
    assert result.exit_code == 0, result.output
    assert "test mae:" in result.output
    return folder / "brightness" / "tiny" / "best.ckpt"


def cli(*args: str):
    return CliRunner().invoke(build_app(), list(args))


def digit_png(tmp_path: Path, index: int) -> Path:
    labelled = digits(val_fraction=0.15, test_fraction=0.15, seed=0)
    path = tmp_path / f"digit{index}.png"
    Image.fromarray(labelled.test.sources[index]).save(path)
    return path


def test_the_cli_offers_every_verb_and_the_tasks_own_options(brightness_task):
    assert all(verb in cli("brightness", "--help").output for verb in ("train", "val", "predict", "export",
                                                                        "benchmark"))
    assert "--threshold" in cli("brightness", "predict", "--help").output
    assert "--conf" not in cli("brightness", "predict", "--help").output
    assert "--epochs" in cli("brightness", "train", "--help").output


def test_a_task_declares_its_own_verbs_beside_the_generated_ones(trained, tmp_path):
    paths = []
    for value in (40, 200, 90):
        paths.append(tmp_path / f"grey{value}.png")
        Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(paths[-1])
    result = cli("brightness", "brightest", *map(str, paths), "--model", str(trained))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(paths[1])


def test_the_task_trains_and_learns_with_a_lower_is_better_monitor(trained):
    saved = json.loads((trained.parent / "metrics.json").read_text())
    history = [row["val/mae"] for row in saved["history"]]
    guess = digits(val_fraction=0.15, test_fraction=0.15, seed=0)
    means = np.array([s.mean() / 255 for s in guess.train.sources])
    baseline = float(np.mean([abs(s.mean() / 255 - means.mean()) for s in guess.test.sources]))
    assert saved["test"]["values"]["mae"] < baseline * 0.5  # it learned: far better than guessing the mean
    best = torch.load(trained, weights_only=True)
    # best.ckpt holds the epoch of the lowest val/mae, so its test score matches a re-evaluation of that epoch
    assert min(history) <= history[-1]
    assert ocularis.load(trained).evaluate().values["mae"] == pytest.approx(saved["test"]["values"]["mae"])
    assert best["ocularis"]["task"] == "brightness"


def test_val_predict_export_and_benchmark_through_the_cli(trained, tmp_path):
    assert "mae=" in cli("brightness", "val", "--model", str(trained)).output
    image = digit_png(tmp_path, 0)
    expected = ocularis.load(trained).predict(str(image))[0]
    for threshold, bright in ((0.0, True), (1.0, False)):
        result = cli("brightness", "predict", str(image), "--model", str(trained), "--threshold", str(threshold),
                     "--save", "--project", str(tmp_path / "runs"))
        assert result.exit_code == 0, result.output
        assert f"{expected.brightness:.3f}" in result.output and str(bright) in result.output
    saved = json.loads(next((tmp_path / "runs").rglob("predictions.json")).read_text())
    assert saved[0]["brightness"] == pytest.approx(expected.brightness, abs=1e-5)
    refused = cli("brightness", "predict", str(image), "--model", str(trained), "--threshold", "2")
    assert "--threshold 2.0 is above its maximum, 1" in str(refused.exception)  # main() prints it in one line
    exported = cli("brightness", "export", "--model", str(trained), "--format", "onnx", "--verify")
    assert exported.exit_code == 0, exported.output
    assert "agreement 100.00%" in exported.output
    onnx_model = ocularis.load(trained.with_suffix(".onnx"))
    assert onnx_model.predict(str(image))[0].brightness == pytest.approx(expected.brightness, abs=1e-4)
    benchmarked = cli("brightness", "benchmark", "--model", str(trained), "--formats", "torch,onnx", "--batch", "1",
                      "--seconds", "0.1", "--project", str(tmp_path / "runs"))
    assert benchmarked.exit_code == 0, benchmarked.output
    assert "mae" in benchmarked.output


def test_a_checkpoint_of_one_task_is_refused_by_another_tasks_verbs(trained):
    result = cli("classify", "export", "--model", str(trained))
    assert result.exit_code != 0 and "is a 'brightness' checkpoint, not 'classify'" in str(result.exception)


def test_the_server_gives_the_task_its_own_route_options_and_schema(trained, digits_model, tmp_path):
    app = create_app({"bright": ocularis.load(trained), "digits": ocularis.load(digits_model)})
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
        queries = {name: [p["name"] for p in schema["paths"][f"/v1/models/{name}/predict"]["post"]["parameters"]
                          if p["in"] == "query"] for name in ("bright", "digits")}
        assert queries == {"bright": ["threshold"], "digits": ["topk"]}
        assert "BrightnessResult" in schema["components"]["schemas"]
        info = {m["name"]: m for m in client.get("/v1/models").json()}
        assert info["bright"]["options"][0]["name"] == "threshold" and info["bright"]["renderer"] == "generic"
        assert info["bright"]["classes"] is None and info["digits"]["options"][0]["default"] == 5
        image = digit_png(tmp_path, 1).read_bytes()
        answer = client.post("/v1/models/bright/predict", files=[("image", ("d.png", image))],
                             params={"threshold": 1.0})
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["bright"] is False
        wrong = client.post("/v1/models/bright/predict", files=[("image", ("d.png", image))], params={"topk": 3})
        assert wrong.status_code == 422 and "'topk' does not apply to a brightness model; its options: threshold" \
            in wrong.json()["error"]["message"]
        too_high = client.post("/v1/models/bright/predict", files=[("image", ("d.png", image))],
                               params={"threshold": 3})
        assert too_high.status_code == 422 and "threshold" in too_high.json()["error"]["message"]


@needs_browser
def test_the_web_page_shows_the_task_with_its_generic_renderer_and_a_slider(trained, tmp_path):
    image = digit_png(tmp_path, 2)
    expected = ocularis.load(trained).predict(str(image))[0]
    with page_at(create_app({"bright": ocularis.load(trained)})) as page:
        page.wait_for_selector("#model option[value='bright']", state="attached")
        page.wait_for_selector("#option-threshold")
        page.set_input_files("#file", str(image))
        page.wait_for_selector("#top1", timeout=30_000)
        assert page.inner_text("#top1") == f"{round(expected.brightness, 6):.4f}"
        assert "bright" in page.inner_text("#output")
        page.fill("#option-threshold", "0")  # moving the slider runs the image again with the new option
        page.wait_for_function("document.getElementById('output').innerText.includes('true')")



def test_an_export_may_write_several_graphs_that_load_and_predict_together(tmp_path):
    TASKS.add("brightness2", TWO_GRAPHS)
    try:
        task = TwoGraphBrightness()
        run = task.fit(epochs=2, progress=False, project=str(tmp_path))
        exported = task.export("onnx", verify=True)
        assert sorted(p.name for p in exported.paths.values()) == ["best.encoder.onnx", "best.head.onnx"]
        assert exported.verification.max_abs_diff < 1e-4
        image = digit_png(tmp_path, 4)
        loaded = ocularis.load(run.best.with_name("best.head.onnx"))  # either file finds the other
        assert loaded.predict(str(image))[0].brightness == pytest.approx(task.predict(str(image))[0].brightness,
                                                                          abs=1e-4)
    finally:
        TASKS.remove("brightness2")


def test_the_explanation_hooks_give_a_layer_and_a_scalar_to_attribute(digits_model):
    """What Grad-CAM needs from a task: the layer to look at and one scalar per image; here on the real digits."""
    classifier = ocularis.load(digits_model)
    layer = classifier.explain_layer()
    assert any(layer is module for module in classifier.network.modules())
    seen = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.update(maps=output))
    try:
        images = classifier.sample_inputs(count=4)
        outputs = classifier.network(images)
        target = classifier.explain_target(outputs).chosen(outputs)
        assert target.shape == (4,) and torch.equal(target, outputs.max(dim=1).values)
        gradients = torch.autograd.grad(target.sum(), seen["maps"])[0]
    finally:
        handle.remove()
    cam = F.relu((gradients.mean(dim=(2, 3), keepdim=True) * seen["maps"]).sum(dim=1))
    assert cam.shape[0] == 4 and cam.flatten(1).max(dim=1).values.gt(0).all()  # every image has a hot spot
