"""GANs: a conditional DCGAN trained on the real handwritten digits draws the digit it is asked for (LeNet-5, trained
on the same digits, labels its samples), scored by FID, KID and precision/recall on that classifier's features;
sampled through the API, the CLI, the server and its ONNX file alike; bad requests refused in one line."""

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import ocularis
from ocularis.errors import ConfigError
from ocularis.serve.app import create_app
from tests.conftest import main, write_digit_images


@pytest.fixture(scope="module")
def cgan(digits_model, tmp_path_factory):
    """A conditional DCGAN of 16 px digits, 40 epochs from scratch (about a minute here), scored on LeNet-5's
    features."""
    project = tmp_path_factory.mktemp("gan_runs")
    generator = ocularis.Generator(model="dcgan", imgsz=16, conditional=True, features=str(digits_model),
                                   progress=False, project=str(project))
    return generator, generator.fit("digits", epochs=40)


def test_a_conditional_gan_draws_the_digit_asked_for(cgan, digits_model):
    generator, run = cgan
    metrics = run.metrics
    print(metrics)
    # chance is 0.1; measured 0.97 (an untrained generator's samples are all labelled one or two digits)
    assert metrics.conditioning_accuracy >= 0.9
    assert metrics.fidelity.precision > 0.5 and metrics.fidelity.features.startswith("lenet5 (classify, ")
    assert run.history[-1]["train/g_loss"] > 0 and "train/d_loss" in run.history[-1]
    saved = json.loads((run.dir / "metrics.json").read_text())["test"]
    assert saved["values"]["conditioning_accuracy"] == pytest.approx(metrics.conditioning_accuracy)
    assert (run.dir / "samples.png").is_file() and (run.dir / "curves.png").is_file()
    assert len(list((run.dir / "samples").glob("epoch_*.png"))) == 40  # the same seeds drawn after every epoch
    assert 0 < run.history[-1]["val/d_fake"] < run.history[-1]["val/d_real"] < 1  # held-out digits look realer
    # the same seed draws the same picture, alone or in a batch; other seeds draw other ones
    batch = generator.predict(count=4, seed=10, class_=5)
    alone = generator.predict(count=1, seed=12, class_=5)[0]
    assert np.array_equal(batch[2].image, alone.image) and not np.array_equal(batch[0].image, batch[1].image)
    classifier = ocularis.load(digits_model)
    said = [r.label for r in classifier.predict([r.image for r in generator.predict(count=20, class_=5)])]
    assert said.count("5") >= 16, said


def test_samples_through_the_cli_the_server_and_onnx_agree(cgan, digits_model, capsys, tmp_path):
    generator, run = cgan
    code, out, err = main(capsys, "generate", "sample", "--model", run.best, "--count", "6", "--class", "7",
                          "--seed", "3", "--save", "--project", tmp_path)
    assert code == 0, err
    assert "seed3" in out and "class 7" in out
    written = sorted((tmp_path / "generate" / "predict").glob("seed?.png"))
    assert [p.name for p in written] == [f"seed{s}.png" for s in range(3, 9)]
    labels = [r.label for r in ocularis.load(digits_model).predict([str(p) for p in written])]
    assert labels.count("7") >= 4, labels
    # any folder of generated images is scored the same way: here, sevens against the real sevens and nines
    real = write_digit_images(tmp_path / "real", per_class=12)
    scores = {}
    for digit in ("7", "9"):
        code, out, err = main(capsys, "generate", "score", *written, "--real", tmp_path / "real" / digit,
                              "--features", digits_model, "--out", tmp_path / f"{digit}.json")
        assert code == 0 and "on the features of lenet5" in out, err
        scores[digit] = json.loads((tmp_path / f"{digit}.json").read_text())
    assert scores["7"]["fid"] < scores["9"]["fid"] and scores["7"]["real"] == len(real) // 10

    with TestClient(create_app({"digits": generator})) as client:
        answer = client.post("/v1/models/digits/generate", params={"count": 3, "seed": 3, "class": 7})
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["source"] for r in results] == ["seed3", "seed4", "seed5"]
        first = np.asarray(Image.open(written[0]))
        assert results[0]["width"] == first.shape[1] == 16
        too_many = client.post("/v1/models/digits/generate", params={"count": 5000})
        assert too_many.status_code == 422 and "count" in too_many.text

    exported = generator.export("onnx", tmp_path / "gan.onnx", verify=True)
    assert exported.verification.passed
    onnx = ocularis.load(exported.path)
    assert np.array_equal(onnx.predict(count=2, seed=3, class_=7)[0].image, first)


def test_bad_requests_are_refused_in_one_line(cgan, capsys, tmp_path):
    generator, run = cgan
    with pytest.raises(ConfigError, match=r"--class 12: this GAN draws classes 0 to 9"):
        generator.predict(count=1, class_=12)
    plain = ocularis.Generator(model="gan", progress=False, project=str(tmp_path / "runs"))
    plain.fit("digits", epochs=1, fraction=0.2)
    with pytest.raises(ConfigError, match="this one is unconditional"):
        plain.predict(count=1, class_=3)
    folder = tmp_path / "one_kind"
    folder.mkdir()
    for index in range(12):
        Image.fromarray(np.full((16, 16), index * 20, np.uint8)).save(folder / f"{index}.png")
    code, _, err = main(capsys, "generate", "train", "--data", folder, "--conditional", "--epochs", "1",
                        "--project", tmp_path / "runs")
    assert code == 2 and "--conditional draws the class asked for" in err and len(err.strip().splitlines()) == 1
    code, _, err = main(capsys, "generate", "sample", "--model", run.best, "--count", "0")
    assert code == 2 and "--count 0 is below its minimum" in err


def test_a_walk_between_two_seeds_starts_and_ends_on_their_samples(cgan, capsys, tmp_path):
    generator, run = cgan
    code, out, err = main(capsys, "generate", "interpolate", "--model", run.best, "--from", "0", "--to", "5",
                          "--steps", "6", "--class", "2", "--out", tmp_path / "walk.gif")
    assert code == 0 and "6 samples from seed 0 to seed 5" in out, err
    walk = Image.open(tmp_path / "walk.gif")
    assert walk.n_frames == 6
    frames = generator.interpolate(0, 5, steps=6, class_=2)
    ends = generator.predict(count=1, seed=0, class_=2)[0], generator.predict(count=1, seed=5, class_=2)[0]
    assert np.abs(frames[0].image.astype(int) - ends[0].image).max() <= 1  # the great circle's ends are the seeds'
    assert np.abs(frames[-1].image.astype(int) - ends[1].image).max() <= 1
    assert not np.array_equal(frames[2].image, frames[0].image)
    code, _, err = main(capsys, "generate", "interpolate", "--model", run.best, "--steps", "1")
    assert code == 2 and "a walk needs at least 2 samples" in err


def test_an_infogan_learns_to_read_its_codes_back_without_labels(digits_model, capsys, tmp_path):
    """InfoGAN (10 categories, 2 continuous codes) on the digits without their labels: the guess head reads the
    codes back from the samples (the information term falls), --code picks a category, and the run reports how well
    the categories match LeNet-5's digits (benchmarks/infogan_digits.py trains long enough for them to)."""
    gan = ocularis.Generator(model="dcgan", imgsz=16, categories=10, continuous=2, latent=16,
                             features=str(digits_model), progress=False, project=str(tmp_path / "runs"))
    run = gan.fit("digits", epochs=20)
    assert run.history[-1]["train/info"] < 0.5 * run.history[0]["train/info"], run.history
    assert 0.0 < run.metrics.code_purity <= 1.0 and "code purity" in str(run.metrics)
    ones, twos = gan.predict(count=4, seed=0, code=1), gan.predict(count=4, seed=0, code=2)
    assert [r.scores["code"] for r in ones] == [1.0] * 4
    assert all(not np.array_equal(a.image, b.image) for a, b in zip(ones, twos, strict=True))
    assert [r.scores["code"] for r in gan.predict(count=3, seed=4)] == [4.0, 5.0, 6.0]  # categories in turn
    with pytest.raises(ConfigError, match="--code 10: this InfoGAN draws categories 0 to 9"):
        gan.predict(count=1, code=10)
    code, _, err = main(capsys, "generate", "sample", "--model", run.best, "--code", "3", "--count", "2")
    assert code == 0, err
    assert gan.ignored_options() == {"class_"}
