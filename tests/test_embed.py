"""Metric learning on the real handwritten digits: each loss learns, the saved model verifies and names classes, and
its metrics agree with a brute-force reading of the same vectors."""

import numpy as np
import pytest
import torch

import ocularis
from ocularis.errors import ConfigError, DataError
from ocularis.tasks.embed.metrics import embedding_metrics, pair_scores
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
    metrics = model.evaluate()
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
    far = 0.01
    metrics = embedding_metrics(vectors, labels, far, gallery, gallery_labels)
    nearest = [gallery_labels[np.argmax(gallery @ v)] for v in vectors]
    assert metrics.values["rank1"] == pytest.approx(np.mean(np.array(nearest) == labels))
    scores, same = pair_scores(vectors, labels)
    accepted = scores >= metrics.values["threshold"]
    assert accepted[~same].mean() <= far + 1e-9  # the threshold keeps false accepts within the rate asked for
    assert accepted[same].mean() == pytest.approx(metrics.values["tar"])
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

    labelled = read_identities(str(tmp_path / "faces"), build_config(EmbedConfig, {"test_per_class": 2,
                                                                                    "val_per_class": 1}))
    for split, count in (("train", 3), ("val", 1), ("test", 2)):
        found = np.bincount([t[0] for t in getattr(labelled, split).targets], minlength=10)
        assert (found == count).all(), split
    with pytest.raises(DataError, match="cannot hold out 6 images of every class"):
        read_identities(str(tmp_path / "faces"), build_config(EmbedConfig, {"test_per_class": 6}))


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
