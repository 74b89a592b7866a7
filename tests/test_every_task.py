"""One battery over every built-in task of the registry: its class is part of the package, a short fit on real
pixels saves a model that loads back to the same predictions, and what the task declares it can do (export, explain,
embed) it does: the exported file reproduces PyTorch, an explanation has one heat map per image, an embedding is
unit vectors. The server answers each model on its own route. A task added to the registry is checked here without
a line added, once the data it trains on is named in TINY_FITS."""

import io
from pathlib import Path

import numpy as np
import pytest
import tomllib
from fastapi.testclient import TestClient
from PIL import Image

import ocularis
from ocularis.data.shapes import draw_scene
from ocularis.registry import DATASETS, MODELS, TASKS
from ocularis.serve.app import create_app
from ocularis.tasks import BUILTIN
from tests.conftest import ASSETS, write_digit_images
from tests.orl_labels import write_orl_csv

ORL, BSDS, STYLES = ASSETS / "att_faces", ASSETS / "bsds500_train", ASSETS / "style_transfer"


def _orl_landmarks(folder: Path) -> str:
    return str(write_orl_csv(ORL, folder / "orl.csv", people=range(1, 9)))


def _photos(folder: Path) -> str:
    for photo in sorted(BSDS.glob("*.jpg"))[:8]:
        (folder / photo.name).symlink_to(photo)
    return str(folder)


def _digits(folder: Path) -> list[Path]:
    return write_digit_images(folder / "inputs", per_class=1)[:3]


def _scenes(_: Path) -> list[Image.Image]:
    return [Image.fromarray(draw_scene(np.random.default_rng(seed), 64, 2)[0]) for seed in range(3)]


# task -> (the assets it needs, its data made in a folder, its tiny fit's options, a few input images): one epoch on
# (a share of) the task's default data or a few real photos, at small sizes, with a small model
TINY_FITS = {
    "classify": (None, lambda _: "digits", dict(model="simple_cnn", epochs=1, fraction=0.3), _digits),
    "detect": (None, lambda _: "shapes", dict(model="yolo", imgsz=64, epochs=1, fraction=0.2), _scenes),
    "segment": (None, lambda _: "shapes", dict(model="unet", imgsz=32, epochs=1, fraction=0.2), _scenes),
    "embed": (None, lambda _: "digits", dict(model="simple_cnn", imgsz=32, epochs=1, fraction=0.3, batch=32,
                                        per_class=4),
              _digits),
    "landmarks": (ORL, _orl_landmarks, dict(imgsz=32, epochs=1, batch=16),
                  lambda _: [ORL / "s1" / f"{photo}.pgm" for photo in (1, 2, 3)]),
    "restore": (BSDS, _photos, dict(model="espcn", scale=2, epochs=1, patches=4),
                lambda _: sorted(BSDS.glob("*.jpg"))[-2:]),
    "autoencode": (None, lambda _: "digits", dict(model="dense", epochs=1, fraction=0.3), _digits),
    "generate": (None, lambda _: "digits", dict(model="dcgan", imgsz=16, epochs=1, fraction=0.3), lambda _: None),
    "style": (STYLES, _photos, dict(imgsz=32, epochs=1, batch=4, style=str(STYLES / "style-images" / "mosaic.jpg")),
              lambda _: sorted(BSDS.glob("*.jpg"))[-2:]),
}
NAMES = [spec.name for spec in BUILTIN]


@pytest.fixture(scope="module", params=NAMES)
def fitted(request, tmp_path_factory):
    """(task name, the task object fit() left, the path of its best checkpoint, a few real input images)."""
    name = request.param
    needs, data, options, inputs = TINY_FITS[name]
    if needs is not None and not needs.is_dir():
        pytest.skip(f"{needs.name} is not in the assets")
    folder = tmp_path_factory.mktemp(name)
    task = TASKS.get(name).task_class()(progress=False, project=str(folder / "runs"))
    run = task.fit(data(folder), **options)
    given = inputs(folder)  # None for a generator: it draws from seeds
    return name, task, run.best, None if given is None else [Image.open(i) if isinstance(i, Path) else i
                                                              for i in given]


def test_every_task_in_the_registry_has_its_tiny_fit_and_stands_alone():
    assert set(TINY_FITS) == set(NAMES) == set(TASKS.names())
    contracts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["tool"]["importlinter"]
    alone = next(c for c in contracts["contracts"] if c["type"] == "independence")
    folders = {p.name for p in (Path(ocularis.__file__).parent / "tasks").iterdir() if (p / "__init__.py").is_file()}
    assert set(alone["modules"]) == {f"ocularis.tasks.{folder}" for folder in folders}


@pytest.mark.parametrize("name", NAMES)
def test_the_task_class_and_its_result_are_part_of_the_package(name):
    task_class = TASKS.get(name).task_class()
    for exported in (task_class, task_class.result_type):
        assert exported.__name__ in ocularis.__all__ and getattr(ocularis, exported.__name__) is exported
    assert task_class.spec is TASKS.get(name)
    # the names the CLI checks before torch loads are the models and built-in datasets the task registers
    assert sorted(task_class.spec.models) == MODELS.names(task=name)
    assert sorted(task_class.spec.datasets) == DATASETS.names(task=name)


def test_a_saved_model_loads_back_to_the_same_predictions(fitted, tmp_path):
    name, task, best, pictures = fitted
    fresh = [r.to_json() for r in task.predict(pictures)]
    loaded = ocularis.load(best, task=name)
    assert [r.to_json() for r in loaded.predict(pictures)] == fresh
    copy = ocularis.load(loaded.save(tmp_path / "copy.ckpt"))
    assert [r.to_json() for r in copy.predict(pictures)] == fresh


def test_what_a_model_declares_it_does(fitted, tmp_path):
    name, _, best, pictures = fitted
    model = ocularis.load(best)
    refusal = model.export_refusal()
    if refusal is None:
        exported = model.export("onnx", tmp_path / "model.onnx", verify=True)
        assert exported.verification is not None and all(p.is_file() for p in (exported.paths or {}).values())
        assert [r.to_json() for r in ocularis.load(exported.path).predict(pictures)][0].keys() == \
            model.predict(pictures)[0].to_json().keys()
    else:
        with pytest.raises(ocularis.errors.ConfigError, match="cannot be exported"):
            model.export("onnx", tmp_path / "model.onnx")
    methods = model.explanations()
    assert bool(methods) == model.explainable
    if methods:
        maps = model.explain(methods[0], pictures[:2])
        assert len(maps) == 2
    if model.embeds_outputs or model.explain_features() is not None:
        vectors = model.embed(pictures)
        assert vectors.shape[0] == len(pictures) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_the_server_answers_every_model_on_its_own_route(fitted):
    name, _, best, pictures = fitted
    model = ocularis.load(best)
    with TestClient(create_app({name: model})) as client:
        schema = client.get("/openapi.json").json()
        route = f"/v1/models/{name}/{model.predict_verb()}"
        assert route in schema["paths"] and f"/v1/models/{name}/predict" in schema["paths"]
        if pictures is None:  # a generator: nothing to upload, a count to draw
            answer, expected = client.post(route, params={"count": 1}), model.predict(count=1)[0]
        else:
            upload = io.BytesIO()
            pictures[0].save(upload, format="PNG")
            answer = client.post(route, files=[("image", ("first.png", upload.getvalue(), "image/png"))])
            expected = model.predict(pictures[:1])[0]
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert len(results) == 1 and results[0].keys() >= expected.to_json().keys() - {"source"}
