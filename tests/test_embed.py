"""Metric learning on the real handwritten digits: each loss learns, the saved model verifies and names classes, and
its metrics agree with a brute-force reading of the same vectors."""

import shutil

import numpy as np
import pytest
import torch

import ocularis
from ocularis.errors import ConfigError, DataError
from ocularis.tasks.embed.metrics import embedding_metrics, pair_scores, verification
from tests.conftest import write_digit_images


@pytest.mark.parametrize("loss", ["contrastive", "arcface"])
def test_each_other_loss_learns_to_identify_digits(loss, tmp_path):
    run = ocularis.Embedder(model="simple_cnn", loss=loss, progress=False).fit(
        "digits", epochs=2, batch=32, per_class=4, lr=0.003)
    assert run.metrics.values["rank1"] > 0.7  # chance: 0.1
    assert run.history[-1]["val/recall@1"] > 0.5


def test_the_saved_model_knows_its_classes_and_threshold(embed_model):
    model = ocularis.load(embed_model)
    meta = model.meta
    assert np.allclose(np.linalg.norm(meta["centroids"], axis=1), 1, atol=1e-5)
    assert -1 <= model.verification_threshold() <= 1
    calibration = meta["calibration"]  # every digit trained on: the thresholds come from the val images, and say so
    assert calibration["on"] == "val images" and calibration["identities"] == 10
    assert not calibration["identities_unseen"] and not calibration["classes"]
    assert calibration["accepted"] <= calibration["far"] == 0.01 and calibration["recognition"]["accepted"] <= 0.01
    metrics = model.evaluate()
    assert "it trained on; expect more false accepts on strangers" in str(metrics)
    assert metrics.values["threshold"] == model.verification_threshold()  # the test split reports the model's own
    assert metrics.values["auc"] > 0.9 and metrics.values["eer"] < 0.2  # chance: 0.5 and 0.5
    assert metrics.values["rank5"] >= metrics.values["rank1"] > 0.85


def test_predict_names_the_nearest_class_of_real_digit_images(embed_model, tmp_path):
    paths = write_digit_images(tmp_path / "digits", per_class=3)
    results = ocularis.load(embed_model).predict(paths)
    assert all(abs(np.linalg.norm(r.vector) - 1) < 1e-5 for r in results)
    right = sum(r.identity == path.parent.name for r, path in zip(results, paths, strict=True))
    assert right / len(paths) > 0.8  # chance: 0.1


def test_metrics_agree_with_a_brute_force_reading(embed_model):
    model = ocularis.load(embed_model)
    test = model.dataset(split="test")
    vectors, labels = model._vectors(test)
    gallery, gallery_labels = model._vectors(test.gallery)
    threshold = model.verification_threshold()
    metrics = embedding_metrics(vectors, labels, threshold, gallery, gallery_labels)
    nearest = [gallery_labels[np.argmax(gallery @ v)] for v in vectors]
    assert metrics.values["rank1"] == pytest.approx(np.mean(np.array(nearest) == labels))
    scores, same = pair_scores(vectors, labels)
    accepted = scores >= threshold  # the rates reported are the model's threshold's on these pairs
    assert metrics.values["threshold"] == threshold
    assert accepted[same].mean() == pytest.approx(metrics.values["tar"])
    assert accepted[~same].mean() == pytest.approx(metrics.values["far"])
    far = 0.01
    chosen = verification(vectors, labels, far)["values"]
    assert (scores >= chosen["threshold"])[~same].mean() <= far + 1e-9  # a threshold chosen keeps within the rate
    # EER: where false accepts and false rejects cross
    eer = metrics.values["eer"]
    at = np.quantile(scores[~same], 1 - eer)
    assert abs((scores[same] < at).mean() - eer) < 0.02


def test_embedding_any_model_reads_its_feature_layer(digits_model, tmp_path):
    paths = write_digit_images(tmp_path / "digits", per_class=2)
    classifier = ocularis.load(digits_model)
    vectors = classifier.embed(paths)
    assert vectors.shape == (20, 84)  # LeNet-5's penultimate layer
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    pooled = classifier.embed(paths, layer="body.3")  # the second convolution's maps, averaged over space
    assert pooled.shape == (20, 16)


def test_per_class_holdout_keeps_that_many_of_every_class(tmp_path):
    write_digit_images(tmp_path / "faces", per_class=6)
    from ocularis.config import build_config
    from ocularis.tasks.embed.config import EmbedConfig
    from ocularis.tasks.embed.data import read_identities

    labelled = read_identities(str(tmp_path / "faces"), build_config(EmbedConfig, {
        "test_per_class": 2, "val_per_class": 1, "calibration_classes": 0}))  # no identity kept out of training
    for split, count in (("train", 3), ("val", 1), ("test", 2)):
        found = np.bincount([t[0] for t in getattr(labelled, split).targets], minlength=10)
        assert (found == count).all(), split
    with pytest.raises(DataError, match="cannot hold out 6 images of every class"):
        read_identities(str(tmp_path / "faces"), build_config(EmbedConfig, {"test_per_class": 6}))


def test_calibration_identities_are_kept_out_of_training(tmp_path):
    """A fifth of the classes (at least two, drawn with the seed) lose their train and val images to the calibration
    split and keep their test images; none are drawn unless three classes are left to train on; val identities
    without a training image are calibration identities first."""
    write_digit_images(tmp_path / "digits", per_class=6)
    from ocularis.config import build_config
    from ocularis.tasks.embed.config import EmbedConfig
    from ocularis.tasks.embed.data import read_identities

    def read(data, **options):
        return read_identities(str(data), build_config(EmbedConfig, {"test_per_class": 2, **options}))

    labelled = read(tmp_path / "digits", val_per_class=1)
    held = {t[0] for t in labelled.calibration.targets}
    assert len(held) == 2 and len(labelled.calibration) == 2 * 4  # 6 photos a digit, 2 of them test photos
    assert not held & {t[0] for t in labelled.train.targets + labelled.val.targets}
    assert np.bincount([t[0] for t in labelled.test.targets]).tolist() == [2] * 10  # every digit is tested
    assert labelled.calibration_classes() == read(tmp_path / "digits").calibration_classes()  # seeded, not by split
    assert read(tmp_path / "digits", seed=1).calibration_classes() != labelled.calibration_classes()
    assert not len(read(tmp_path / "digits", calibration_classes=0).calibration)
    for digit in "56789":
        shutil.rmtree(tmp_path / "digits" / digit)
    assert len(read(tmp_path / "digits").calibration_classes()) == 2  # 5 classes: 2 kept out, 3 trained
    shutil.rmtree(tmp_path / "digits" / "4")
    assert not len(read(tmp_path / "digits").calibration)  # 4 classes would leave 2 to train on: none kept out
    # a CSV whose val rows are other people: they are the calibration identities, and no more are drawn
    write_digit_images(tmp_path / "all", per_class=6)
    rows = ["path,label,split"] + [
        f"{p},{p.parent.name},{'test' if p.stem.endswith(('0', '1')) else 'val' if p.parent.name in '89' else 'train'}"
        for p in sorted((tmp_path / "all").glob("*/*.png"))]
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n")
    labelled = read_identities(str(tmp_path / "people.csv"), build_config(EmbedConfig, {}))
    assert labelled.calibration_classes() == ["8", "9"] and len(labelled.calibration) == 8
    assert not len(labelled.val)  # nothing left to pick an epoch with: the last one is kept


def test_a_batch_that_is_not_whole_classes_is_refused():
    with pytest.raises(ConfigError, match="multiple of --per-class"):
        ocularis.Embedder(progress=False).fit("digits", epochs=1, batch=30, per_class=4)


def test_the_exported_embedding_matches_pytorch(embed_model, tmp_path):
    model = ocularis.load(embed_model)
    exported = model.export("onnx", tmp_path / "embed.onnx", verify=True)
    assert exported.verification.agreement == 1.0
    paths = write_digit_images(tmp_path / "digits", per_class=1)
    onnx = ocularis.load(tmp_path / "embed.onnx")
    assert torch.allclose(torch.tensor(onnx.embed(paths)), torch.tensor(model.embed(paths)), atol=1e-4)


def test_an_embedding_is_explained_by_its_nearest_class_mean(embed_model, tmp_path):
    """Saliency of the cosine to the class mean predict names (Grad-CAM reads ResNet-18's last stage, 1 x 1 at 32 px:
    a blank map for some digits, so the pixel gradients are what is checked here)."""
    paths = write_digit_images(tmp_path / "digits", per_class=1)
    model = ocularis.load(embed_model)
    found = model.explain("saliency", paths)
    named = [r.identity for r in model.predict(paths)]
    assert [e.target.split()[0] for e in found] == named  # the class explained is the one predict names
    assert all(e.heat.shape == (32, 32) and e.heat.max() > 0 for e in found)
