"""Shared fixtures: small real-pixel datasets written to disk, and the path of the real assets."""

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from PIL import Image

from ocularis.data.shapes import SHAPES, draw_scene

# Under pytest-xdist every worker is a process of its own: each takes its share of the cores (read by
# ocularis.core.devices.use_threads, and by torch when it first loads), so two workers on two cores do not make every
# operation wait on the other's threads.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

# The real assets sit beside the checkout (../shared/assets) unless OCULARIS_ASSETS points elsewhere.
ASSETS = Path(os.environ.get("OCULARIS_ASSETS", Path(__file__).resolve().parents[1].parent / "shared" / "assets"))


def write_shape_images(folder: Path, per_class: int, size: int = 32, seed: int = 0) -> dict[str, list[Path]]:
    """`per_class` drawn images of each shape, saved as PNG into folder/<shape>/."""
    rng = np.random.default_rng(seed)
    written: dict[str, list[Path]] = {name: [] for name in SHAPES}
    while min(len(v) for v in written.values()) < per_class:
        image, objects = draw_scene(rng, size, 1)
        name = SHAPES[objects[0].label]
        if len(written[name]) < per_class:
            path = folder / name / f"{name}_{len(written[name])}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
            written[name].append(path)
    return written


@pytest.fixture
def shape_folder(tmp_path: Path) -> Path:
    """root/<shape>/*.png, 12 images per class."""
    write_shape_images(tmp_path / "shapes", per_class=12)
    return tmp_path / "shapes"


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run folders (runs/...) land in the test's own temporary folder."""
    monkeypatch.chdir(tmp_path)


def trained_once(tmp_path_factory, name: str, train: Callable[[Path], Path]) -> Path:
    """The checkpoint `train(folder)` returns, trained once per test run: pytest-xdist's workers share it (the first
    to ask trains it while the others wait on its lock), so a model that tests on every worker use is trained once."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    done = root / f"{name}.done"
    with FileLock(root / f"{name}.lock"):
        if not done.exists():
            done.write_text(str(train(root / name)))
    return Path(done.read_text())


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory) -> Path:
    """best.ckpt of LeNet-5 trained briefly on the real handwritten digits (shared by the deploy and serve tests)."""
    import ocularis

    def train(project: Path) -> Path:
        run = ocularis.Classifier(model="lenet5", lr=0.003, progress=False, project=str(project)).fit("digits",
                                                                                                     epochs=4)
        assert run.metrics.values["accuracy"] > 0.85
        return run.best

    return trained_once(tmp_path_factory, "digits_model", train)


@pytest.fixture(scope="session")
def embed_model(tmp_path_factory) -> Path:
    """best.ckpt of a metric-learning ResNet-18 (triplet loss, semi-hard mining) trained briefly from scratch on the
    real handwritten digits at 32 px (shared by the embedding, search and serve tests). Every digit is trained on
    (calibration_classes=0: these tests name and search digits, not strangers), so its thresholds come from the val
    images."""
    import ocularis

    def train(project: Path) -> Path:
        run = ocularis.Embedder(model="resnet18", loss="triplet", imgsz=32, progress=False,
                                project=str(project)).fit("digits", epochs=3, batch=32, per_class=4,
                                                          calibration_classes=0)
        assert run.metrics.values["rank1"] > 0.85  # chance: 0.1
        return run.best

    return trained_once(tmp_path_factory, "embed_model", train)


def write_digit_images(folder: Path, per_class: int) -> list[Path]:
    """The first `per_class` real handwritten digits (UCI, 8x8) of each class as PNGs in folder/<digit>/."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    written, counts = [], [0] * 10
    for pixels, digit in zip(bunch.images, bunch.target, strict=True):
        if counts[digit] < per_class:
            path = folder / str(digit) / f"{digit}_{counts[digit]:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((pixels * (255 / 16)).round().astype(np.uint8)).save(path)
            written.append(path)
            counts[digit] += 1
    return written


def main(capsys: pytest.CaptureFixture, *args) -> tuple[int, str, str]:
    """Run the console command `ocularis ARGS` in this process: (exit code, stdout, stderr), as a shell sees them."""
    from ocularis.cli import main as console

    capsys.readouterr()
    try:
        console([str(a) for a in args])
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def cli(*args, fails: bool = False) -> str:
    """Run `ocularis ARGS` in this process: its output, or (fails=True) the message of the user error it raised."""
    from typer.testing import CliRunner

    from ocularis.cli import build_app
    from ocularis.errors import OcularisError

    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    if fails:
        assert isinstance(result.exception, OcularisError), result.output
        return str(result.exception)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def save(path: Path, size=(40, 30)) -> Path:
    """A noise image of `size` (width, height) at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def yolo(tmp_path: Path) -> Path:
    """A tiny YOLO set: train a (2 boxes), b (background, no label file); val c (1 box); images 40x30."""
    for split, stem in (("train", "a"), ("train", "b"), ("val", "c")):
        save(tmp_path / "images" / split / f"{stem}.png")
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.5 0.5\n")
    (tmp_path / "labels" / "val" / "c.txt").write_text("1 0.5 0.5 1.0 1.0\n")
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/val\nnames: {0: cat, 1: dog}\n")
    return tmp_path / "data.yaml"
