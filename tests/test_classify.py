"""Image classification end to end on real pixels, through the Python API."""

import json

import numpy as np
import pytest
import torch

import ocularis
from ocularis.core.checkpoint import save_checkpoint
from ocularis.errors import CheckpointError, UnknownNameError


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """LeNet-5 trained for a few epochs on the real handwritten digits."""
    project = tmp_path_factory.mktemp("runs")
    classifier = ocularis.Classifier(model="lenet5", lr=0.003, progress=False, project=str(project))
    return classifier, classifier.fit("digits", epochs=3)


def test_fit_learns_digits_and_fills_the_run_folder(digits_run):
    _, run = digits_run
    assert run.metrics.values["accuracy"] > 0.8  # chance is 0.1
    losses = [row["train/loss"] for row in run.history]
    assert losses[-1] < losses[0] * 0.6
    for name in ("config.yaml", "metrics.csv", "metrics.json", "best.ckpt", "last.ckpt", "curves.png",
                 "confusion_matrix.png", "predictions.png"):
        assert (run.dir / name).is_file(), name
    saved = json.loads((run.dir / "metrics.json").read_text())
    assert saved["test"]["values"]["accuracy"] == pytest.approx(run.metrics.values["accuracy"])
    assert len(saved["test"]["confusion"]) == 10 and sum(map(sum, saved["test"]["confusion"])) == 270


def test_load_gives_the_same_answers_as_the_trained_object(digits_run):
    classifier, run = digits_run
    loaded = ocularis.load(run.best)
    assert isinstance(loaded, ocularis.Classifier) and loaded.meta["classes"] == [str(d) for d in range(10)]
    assert loaded.evaluate("digits").values == pytest.approx(run.metrics.values)
    from sklearn.datasets import load_digits

    pixels = (load_digits().images[:20] * 255 / 16).astype(np.uint8)
    first, second = classifier.predict(list(pixels)), loaded.predict(list(pixels))
    assert [r.label for r in first] == [r.label for r in second]
    assert np.mean([r.label == str(t) for r, t in zip(first, load_digits().target[:20], strict=True)]) > 0.7
    assert len(first[0].topk) == 5 and first[0].to_json()["labels"] == [first[0].label]


def test_other_data_read_whole_is_scored_in_the_models_classes(digits_run, tmp_path):
    """A folder of two of the ten digits (no val split: other data counts whole) scores in the model's classes."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for digit in (3, 7):
        for index in np.flatnonzero(digits.target == digit)[:10]:
            (tmp_path / str(digit)).mkdir(exist_ok=True)
            pixels = (digits.images[index] * 255 / 16).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / str(digit) / f"{index}.png")
    metrics = ocularis.load(digits_run[1].best).evaluate(str(tmp_path))
    assert metrics.values["accuracy"] > 0.6  # 2 of 10 classes: chance 0.1


def test_a_checkpoint_of_another_task_is_refused(tmp_path, digits_run):
    _, run = digits_run
    foreign = save_checkpoint(tmp_path / "detector.ckpt", {}, {"task": "detect"})
    with pytest.raises(CheckpointError, match="is a 'detect' checkpoint, not 'classify'"):
        ocularis.Classifier.load(foreign)
    with pytest.raises(CheckpointError, match="lacks the metadata 'model'"):
        ocularis.load(foreign)
    unknown = save_checkpoint(tmp_path / "segmenter.ckpt", {}, {"task": "segment-3d"})
    with pytest.raises(UnknownNameError, match="unknown task 'segment-3d'"):
        ocularis.load(unknown)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="holds no ocularis metadata"):
        ocularis.load(tmp_path / "plain.pth")
    saved = torch.load(run.best, weights_only=True)  # typed metadata: a wrong normalisation is refused on load
    saved["ocularis"]["mean"] = [0.5, 0.5, 0.5]
    torch.save(saved, tmp_path / "wrong.ckpt")
    with pytest.raises(CheckpointError, match=r"wrong.ckpt has mean \[0.5, 0.5, 0.5\] .* for 1 channel"):
        ocularis.load(tmp_path / "wrong.ckpt")
    saved = torch.load(run.best, weights_only=True)  # each task's declared metadata type: classes are names
    saved["ocularis"]["classes"] = "0123456789"
    torch.save(saved, tmp_path / "classes.ckpt")
    with pytest.raises(CheckpointError, match=r"classes.ckpt holds the metadata classes='0123456789', not the "
                                              r"list\[str\] a model of its task saves"):
        ocularis.load(tmp_path / "classes.ckpt")


def test_multi_label_csv_learns_every_label_of_a_digit(tmp_path):
    """Real digits saved as PNG, each labelled with several of: even|odd, low|high, prime."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch, rows = load_digits(), []
    for index in range(900):
        digit = int(bunch.target[index])
        Image.fromarray((bunch.images[index] * 255 / 16).astype(np.uint8)).save(tmp_path / f"{index}.png")
        labels = ["odd" if digit % 2 else "even", "high" if digit >= 5 else "low"]
        labels += ["prime"] if digit in (2, 3, 5, 7) else []
        rows.append(f"{index}.png,{'|'.join(labels)}")
    (tmp_path / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    run = ocularis.Classifier(model="lenet5", lr=0.003, progress=False).fit(str(tmp_path / "labels.csv"), epochs=4)
    assert run.metrics.multi_label and run.metrics.values["mAP"] > 0.85  # chance is about 0.45
    loaded = ocularis.load(run.best)
    assert sorted(loaded.meta["classes"]) == ["even", "high", "low", "odd", "prime"]
    assert all(0 < t < 1 for t in loaded.meta["thresholds"])
    (result,) = loaded.predict(str(tmp_path / "7.png"))  # a seven: odd, high, prime
    assert set(result.names) == {"odd", "high", "prime"}
    assert all(s >= loaded.meta["thresholds"][loaded.meta["classes"].index(n)]
               for n, s in zip(result.names, result.scores, strict=True))
