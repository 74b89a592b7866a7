"""Export, quantisation and benchmarking on the real digits: every exported file must reproduce PyTorch."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

import ocularis
from ocularis.deploy.formats import read_meta
from ocularis.errors import CheckpointError, ExportError

from .conftest import cli


@pytest.fixture
def classifier(digits_model, tmp_path):
    model = ocularis.load(digits_model)
    model.source = tmp_path / "best.ckpt"  # exports land in this test's own folder
    return model


def test_onnx_export_reproduces_pytorch_on_the_digits_test_split(classifier):
    exported = classifier.export("onnx", verify=True)
    assert exported.path.name == "best.onnx" and exported.verification.images == 270
    assert exported.verification.max_abs_diff <= 1e-4 and exported.verification.agreement == 1.0
    # Independently of our own verification: ONNX Runtime straight on the file, at several batch sizes.
    images = classifier.sample_inputs()
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        reference = classifier.network(images).numpy()
    for batch in (1, 7, 270):
        outputs = session.run(None, {"images": images[:batch].numpy()})[0]
        assert np.abs(outputs - reference[:batch]).max() <= 1e-4
    assert (session.run(None, {"images": images.numpy()})[0].argmax(1) == reference.argmax(1)).all()


def test_the_exported_file_alone_predicts_and_evaluates_like_the_checkpoint(classifier, digits_model):
    path = classifier.export("onnx").path
    meta = read_meta(path)
    assert meta["task"] == "classify" and meta["classes"] == [str(d) for d in range(10)] and meta["imgsz"] == 32
    loaded = ocularis.load(path)
    assert isinstance(loaded, ocularis.Classifier)
    assert loaded.evaluate().values == pytest.approx(ocularis.load(digits_model).evaluate().values, abs=1e-6)
    pictures = [(image.numpy()[0] * 127.5 + 127.5).astype(np.uint8) for image in classifier.sample_inputs()[:20]]
    assert [r.label for r in loaded.predict(pictures)] == [r.label for r in classifier.predict(pictures)]


@pytest.mark.parametrize("options, tolerance", [({"format": "torchscript"}, 1e-5), ({"half": True}, 2e-2)])
def test_torchscript_and_float16(classifier, options, tolerance):
    exported = classifier.export(verify=True, **options)
    assert exported.verification.max_abs_diff <= tolerance * 20 and exported.verification.agreement >= 0.98
    assert ocularis.load(exported.path).evaluate().values["accuracy"] == pytest.approx(
        classifier.evaluate().values["accuracy"], abs=0.01)


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_int8_costs_at_most_one_test_image_of_accuracy(classifier, mode):
    exported = classifier.export("onnx", int8=mode, verify=True)
    assert exported.path.name == ("best.int8.onnx" if mode == "static" else "best.int8-dynamic.onnx")
    nodes = {node.op_type for node in onnx.load(str(exported.path)).graph.node}
    assert nodes & {"QuantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"}, nodes
    before, after = exported.verification.quality.values()
    # one point of accuracy, or one image where the test split is too small to tell a point (90 digits: 1.1 points;
    # static int8 lost one of them with onnxruntime 1.32)
    assert after >= before - max(0.01, 1 / SCORED) - 1e-6
    assert ocularis.load(exported.path).evaluate().values["accuracy"] == pytest.approx(after)
    assert set(exported.verification.speedup) == {1, 32}
    assert exported.path.stat().st_size < (classifier.export("onnx").path.stat().st_size * 0.6)


def test_a_file_that_does_not_reproduce_pytorch_fails_the_export_and_is_removed(classifier, monkeypatch):
    monkeypatch.setitem(ocularis.deploy.export.TOLERANCES, "float32", (1e-12, 1.0))
    with pytest.raises(ExportError, match="does not reproduce the PyTorch model"):
        classifier.export("onnx", verify=True)
    assert not classifier.source.with_suffix(".onnx").exists()


def test_export_errors(classifier, tmp_path):
    with pytest.raises(ExportError, match="--format 'tflite'"):
        classifier.export("tflite")
    with pytest.raises(ExportError, match="int8 is ONNX-only"):
        classifier.export("torchscript", int8="static")
    with pytest.raises(ExportError, match="already an exported file"):
        ocularis.load(classifier.export("onnx").path).export("onnx")
    bare = tmp_path / "bare.onnx"
    onnx.save(onnx.load(str(classifier.export("onnx").path)).__class__(), str(bare))
    with pytest.raises(CheckpointError, match="bare.onnx"):
        ocularis.load(bare)


SCORED = 90  # digits scored by the int8 quality checks (their accuracies are multiples of 1/90)


def test_cli_export_predict_with_onnx_and_benchmark(digits_model, tmp_path):
    """In this process (tests/test_cli.py runs the command line as its own process)."""
    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(digits_model.read_bytes())
    exported = cli("export", "--model", checkpoint, "--format", "onnx", "--verify")
    assert "agreement 100.00%" in exported and (tmp_path / "best.onnx").is_file()
    digits = load_digits()
    for index in range(5):
        Image.fromarray((digits.images[index] * 255 / 16).astype(np.uint8)).save(tmp_path / f"d{index}.png")
    answers = [cli("classify", "predict", "--model", tmp_path / name, *[tmp_path / f"d{i}.png" for i in range(5)])
               for name in ("best.ckpt", "best.onnx")]
    assert answers[0] == answers[1]
    cli("benchmark", "--model", checkpoint, "--formats", "torch,onnx,onnx-int8", "--batch", "1,8", "--seconds", "0.2")
    report = json.loads(next((tmp_path / "runs").rglob("benchmark.json")).read_text())
    rows = {row["format"]: row for row in report["rows"]}
    assert list(rows) == ["torch", "onnx", "onnx-int8"]
    assert rows["onnx"]["value"] == pytest.approx(rows["torch"]["value"])
    # one point, or one image of the 90-digit test split (1.1 points), as in the int8 test above
    assert abs(rows["onnx-int8"]["value"] - rows["torch"]["value"]) <= max(0.01, 1 / SCORED) + 1e-6
    for row in rows.values():
        assert [t["batch"] for t in row["timings"]] == [1, 8] and row["size_mb"] > 0
        assert all(0 < t["p50_ms"] <= t["p95_ms"] for t in row["timings"])
    assert rows["torch"]["speedup"] == {"1": 1.0, "8": 1.0}
    assert "tflite" in cli("benchmark", "--model", checkpoint, "--formats", "onnx,tflite", fails=True)


def test_loading_reads_each_file_once(classifier, digits_model, monkeypatch):
    """ocularis.load learns the task and the weights from one read of a checkpoint, one parse of an ONNX file."""
    path = classifier.export("onnx").path
    reads = {"torch.load": 0, "InferenceSession": 0, "onnx.load": 0}

    def counting(name, function):
        def counted(*args, **kwargs):
            reads[name] += 1
            return function(*args, **kwargs)
        return counted

    monkeypatch.setattr(torch, "load", counting("torch.load", torch.load))
    monkeypatch.setattr(ort, "InferenceSession", counting("InferenceSession", ort.InferenceSession))
    monkeypatch.setattr(onnx, "load", counting("onnx.load", onnx.load))
    assert isinstance(ocularis.load(digits_model), ocularis.Classifier)
    assert isinstance(ocularis.load(path), ocularis.Classifier)
    assert reads == {"torch.load": 1, "InferenceSession": 1, "onnx.load": 0}
