"""Autoencoders trained from scratch on the real handwritten digits (UCI, 8x8): a denoiser gains over its noisy
inputs, a convolutional autoencoder of the digits 0-8 ranks the 9s as outliers, a VAE's latent manifold and class
scatter land in its run folder, the codes index the digits for search, the encoder and decoder export as two graphs;
every registered architecture trains a step; bad input is refused in one line."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

import ocularis
from ocularis.errors import ConfigError, DataError, UnknownNameError
from ocularis.registry import MODELS
from ocularis.tasks.autoencode.model import build_network
from ocularis.tasks.autoencode.module import Objective, losses
from ocularis.tasks.autoencode.noise import corrupt, seeded

from .conftest import cli, write_digit_images

NINE_CLASSES = ",".join(str(d) for d in range(9))


def _autoencoder(**options):
    return ocularis.task_class("autoencode")(progress=False, **options)


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory):
    """best.ckpt of the default convolutional autoencoder (code 32), 15 epochs on every digit."""
    project = tmp_path_factory.mktemp("ae_runs")
    run = _autoencoder(model="conv", lr=3e-3, project=str(project), name="conv").fit("digits", epochs=15)
    assert run.metrics.values["psnr"] > 17.0  # the first epoch's reconstructions: about 11 dB
    return run.best


def test_a_denoising_autoencoder_gains_6_db_over_gaussian_noise_of_half_the_range(tmp_path):
    cli("autoencode", "train", "--data", "digits", "--model", "denoising", "--epochs", 45, "--batch", 64, "--lr",
        0.005, "--scheduler", "onecycle", "--progress", "false", "--project", tmp_path / "runs", "--name", "dn")
    run = tmp_path / "runs" / "autoencode" / "dn"
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert test["noise"] == "gaussian" and test["noise_level"] == 0.5
    # 6.2 dB measured (15.6 dB out of 9.4 dB in: the noise is clipped to 0..1, as a noisy image file is)
    assert test["values"]["psnr_gain"] >= 6.0, test["values"]
    for name in ("reconstructions.png", "curves.png", "reconstruction_errors.png"):
        assert (run / name).is_file()
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"epoch_{e:03d}.png" for e in range(1, 46)]
    # rows clean / noisy / denoised of 16 digits, each 8x8 digit enlarged to 64 pixels, 2-pixel gaps
    assert Image.open(run / "samples" / "epoch_045.png").size == (16 * 64 + 15 * 2, 3 * 64 + 2 * 2)

    digits = write_digit_images(tmp_path / "digits", per_class=3)
    model = ocularis.load(run / "best.ckpt")
    cleaned = model.denoise(digits, add_noise="gaussian", level=0.5)
    assert np.mean([r.scores["psnr_gain"] for r in cleaned]) > 3.0
    assert cleaned[0].before.shape == (8, 8) and cleaned[0].image.shape == (8, 8)
    out = cli("autoencode", "denoise", "--model", run / "best.ckpt", tmp_path / "digits" / "4", "--add-noise",
              "gaussian", "--save", "--project", tmp_path / "runs")
    assert "psnr_gain" in out
    assert (tmp_path / "runs" / "autoencode" / "denoise" / "denoised.json").is_file()


def test_a_conv_autoencoder_of_the_digits_0_to_8_ranks_the_9s_as_outliers(tmp_path):
    model = _autoencoder(model="conv", code_size=8, width=64, lr=5e-3, scheduler="onecycle", classes=NINE_CLASSES,
                         project=str(tmp_path / "runs"), name="normal")
    run = model.fit("digits", epochs=25)
    saved = ocularis.load(run.best)
    assert saved.meta["classes"] == [str(d) for d in range(9)] and saved.meta["threshold"] > 0
    # the test split of every digit: the 9s were never seen in training
    report = saved.outliers(data="digits", split="test")
    assert report.metrics.outliers == 27 and report.metrics.normal == 243
    assert report.metrics.roc_auc >= 0.9, str(report)  # 0.954 measured (seeds 0-2 at 40 epochs: 0.94-0.98)
    assert report.metrics.false_alarm < 0.12  # chosen at 5% of the clean validation images
    assert report.ranked[0].score >= report.ranked[-1].score

    write_digit_images(tmp_path / "batch", per_class=4)
    out = cli("autoencode", "outliers", "--model", run.best, tmp_path / "batch", "--save", "--project",
              tmp_path / "runs", "--false-alarm", 0.1)
    assert "ROC AUC" in out and "threshold" in out
    written = json.loads((tmp_path / "runs" / "autoencode" / "outliers" / "outliers.json").read_text())
    assert len(written["ranked"]) == 40 and written["false_alarm"] == 0.1
    assert (tmp_path / "runs" / "autoencode" / "outliers" / "scores.png").is_file()


def test_a_vae_learns_the_digits_and_draws_its_manifold_and_latent_scatter(tmp_path, conv_model):
    cli("autoencode", "train", "--data", "digits", "--model", "vae", "--epochs", 15, "--lr", 0.003, "--progress",
        "false", "--project", tmp_path / "runs", "--name", "vae")
    run = tmp_path / "runs" / "autoencode" / "vae"
    assert (run / "manifold.png").is_file() and (run / "latent.png").is_file()
    history = json.loads((run / "metrics.json").read_text())["history"]
    first, last = history[0]["val/reconstruction"], min(h["val/reconstruction"] for h in history)
    assert last < 0.85 * first, (first, last)  # 27.5 -> 22.4 nats an image measured (8x8 pixels)
    model = ocularis.load(run / "best.ckpt")
    samples = model.sample(16, seed=1)
    pixels = np.stack([s.image for s in samples]).astype(float)
    assert pixels.std(axis=0).mean() > 10  # different images, not one average digit
    assert all(s.image.std() > 20 for s in samples)  # each has strokes, not a flat grey

    cli("autoencode", "sample", "--model", run / "best.ckpt", "-n", 16, "--save", "--project", tmp_path / "runs")
    assert (tmp_path / "runs" / "autoencode" / "sample" / "samples.png").is_file()
    cli("autoencode", "manifold", "--model", run / "best.ckpt", "--project", tmp_path / "runs")
    assert (tmp_path / "runs" / "autoencode" / "manifold" / "manifold.png").is_file()
    message = cli("autoencode", "sample", "--model", conv_model, fails=True)
    assert "needs a variational autoencoder" in message and "conv" in message


def test_conv_codes_index_the_digits_so_the_top_5_share_the_query_class(tmp_path, conv_model):
    write_digit_images(tmp_path / "digits", per_class=40)
    cli("embed", "index", tmp_path / "digits", "--model", conv_model, "--out", tmp_path / "digits.index")
    out = cli("embed", "evaluate", "--index", tmp_path / "digits.index", "-k", 5)
    precision = float(out.split("precision@5=")[1].split()[0])
    assert precision >= 0.90, out  # 0.959 measured (chance: 0.1)
    model = ocularis.load(conv_model)
    vectors = model.embed([tmp_path / "digits" / "3"])
    assert vectors.shape == (40, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    names, codes = model.codes([tmp_path / "digits" / "3"])
    assert np.allclose(codes / np.linalg.norm(codes, axis=1, keepdims=True), vectors, atol=1e-5)
    cli("autoencode", "encode", "--model", conv_model, tmp_path / "digits" / "3", "--out", tmp_path / "codes.npz")
    assert np.load(tmp_path / "codes.npz")["codes"].shape == (40, 32)


def test_export_writes_the_encoder_and_decoder_and_verifies_them(tmp_path, conv_model):
    out = cli("autoencode", "export", "--model", conv_model, "--verify")
    assert "verified" in out
    encoder = conv_model.with_name("best.encoder.onnx")
    assert encoder.is_file() and conv_model.with_name("best.decoder.onnx").is_file()
    digit = write_digit_images(tmp_path / "digits", per_class=1)[5]
    exported, original = ocularis.load(encoder).predict([digit])[0], ocularis.load(conv_model).predict([digit])[0]
    assert exported.scores["error"] == pytest.approx(original.scores["error"], rel=1e-3, abs=1e-6)
    assert np.abs(exported.image.astype(int) - original.image.astype(int)).max() <= 1


def test_benchmark_times_both_graphs_and_skips_the_one_graph_formats(tmp_path, conv_model):
    cli("benchmark", "--model", conv_model, "--formats", "torch,onnx,onnx-int8", "--batch", "1", "--seconds", "0.2")
    report = json.loads(next((tmp_path / "runs").rglob("benchmark.json")).read_text())
    rows = {row["format"]: row for row in report["rows"]}
    assert list(rows) == ["torch", "onnx"]  # int8 quantises one graph: an encoder and a decoder skip it
    assert rows["onnx"]["file"].endswith("best.encoder.onnx") and rows["onnx"]["size_mb"] > 0
    assert rows["onnx"]["value"] == pytest.approx(rows["torch"]["value"], rel=1e-3)


def test_predict_gives_the_reconstruction_with_its_input_and_error(tmp_path, conv_model):
    digit = write_digit_images(tmp_path / "digits", per_class=1)[7]
    found = ocularis.load(conv_model).predict([digit])[0]
    assert found.before.shape == (8, 8) and found.image.shape == (8, 8) and found.image.dtype == np.uint8
    assert 0 < found.scores["error"] < 0.05 and found.scores["psnr"] > 13 and "outlier" in found.verdicts
    assert found.to_json()["input_png"] and found.to_json()["scores"]["error"] == found.scores["error"]
    # a colour image is converted to the model's grey, and reconstructed the same
    colour = Image.open(digit).convert("RGB")
    again = ocularis.load(conv_model).predict([colour])[0]
    assert again.scores["error"] == pytest.approx(found.scores["error"], rel=1e-4)
    out = cli("autoencode", "reconstruct", "--model", conv_model, digit, "--save", "--project", tmp_path / "runs")
    assert "error" in out
    assert list((tmp_path / "runs" / "autoencode" / "reconstruct").glob("*_compare.png"))


@pytest.mark.parametrize("name", MODELS.names(task="autoencode"))
@pytest.mark.parametrize(("channels", "size"), [(1, 8), (3, 16)])
def test_every_autoencoder_trains_a_step_and_reconstructs_its_input_shape(name, channels, size):
    torch.manual_seed(0)
    network = build_network(name, channels=channels, size=size)
    images = torch.rand(4, channels, size, size)
    objective = Objective("gaussian", 0.1, "l1" if name == "sparse" else "none", 1e-3, 0.05, network.variational, 1.0)
    found = losses(network, corrupt(images, "gaussian", 0.1), images, objective, sample=True)
    found["loss"].backward()
    assert torch.isfinite(found["loss"]) and found["output"].shape == images.shape
    network.eval()
    with torch.no_grad():
        output, code = network(images), network.encode(images)
    assert output.shape == images.shape and output.min() >= 0 and output.max() <= 1
    assert code.shape == (4, network.code_size)


@pytest.mark.parametrize("kind", ["salt_pepper", "masking"])
def test_pixel_noise_hits_the_share_of_pixels_asked(kind):
    images = torch.full((8, 3, 32, 32), 0.5)
    noisy = corrupt(images, kind, 0.3, seeded(0))
    hit = (noisy != 0.5).any(dim=1).float().mean().item()
    assert hit == pytest.approx(0.3, abs=0.02)
    assert torch.equal(noisy, corrupt(images, kind, 0.3, seeded(0)))  # seeded: the same every time
    assert set(noisy.unique().tolist()) <= ({0.0, 0.5, 1.0} if kind == "salt_pepper" else {0.0, 0.5})


def test_a_folder_of_loose_images_trains_without_labels(tmp_path):
    for number, path in enumerate(write_digit_images(tmp_path / "classes", per_class=6)):
        (tmp_path / "loose").mkdir(exist_ok=True)
        Image.open(path).save(tmp_path / "loose" / f"{number}.png")
    run = _autoencoder(model="dense", project=str(tmp_path / "runs")).fit(str(tmp_path / "loose"), epochs=1)
    assert ocularis.load(run.best).meta["classes"] == ["loose"]


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"model": "convv"}, UnknownNameError, "unknown model 'convv' for task 'autoencode'; did you mean 'conv'"),
    ({"model": "conv", "noise": "speckle"}, ConfigError, "--noise 'speckle' is not one of"),
    ({"model": "conv", "imgsz": 10}, ConfigError, "must divide by 4; pass --imgsz 8"),
    ({"model": "conv", "classes": "0,1,x"}, DataError, "--classes: 'x' is not a class of digits"),
])
def test_bad_options_are_refused_in_one_line(tmp_path, options, error, message):
    with pytest.raises(error, match=re.escape(message)):
        _autoencoder(project=str(tmp_path / "runs"), **options).fit("digits", epochs=1)


def test_the_cli_refuses_bad_input_in_one_line(tmp_path, conv_model):
    assert "--noise 'speckle' is not one of" in cli("autoencode", "train", "--noise", "speckle", fails=True)
    assert "--add-noise 'speckle'" in cli("autoencode", "denoise", "--model", conv_model, tmp_path, "--add-noise",
                                          "speckle", fails=True)
    assert "needs a variational" in cli("autoencode", "manifold", "--model", conv_model, fails=True)
    assert "pass images or folders" in cli("autoencode", "outliers", "--model", conv_model, fails=True)


def test_the_server_reconstructs_with_the_error_in_its_scores(tmp_path, conv_model):
    from fastapi.testclient import TestClient

    from ocularis.serve.app import create_app, load_models

    digit = write_digit_images(tmp_path / "digits", per_class=1)[2]
    local = ocularis.load(conv_model).predict([digit])[0]
    with TestClient(create_app(load_models([f"ae={conv_model}"]))) as client:
        response = client.post("/v1/models/ae/reconstruct", files=[("image", ("2.png", digit.read_bytes()))])
        assert response.status_code == 200, response.text
        found = response.json()["results"][0]
        assert found["input_png"] and (found["width"], found["height"]) == (8, 8)
        assert found["scores"]["error"] == pytest.approx(local.scores["error"], rel=1e-4)
        assert client.get("/v1/models").json()[0]["renderer"] == "images"
