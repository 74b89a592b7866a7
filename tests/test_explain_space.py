"""The feature space of a LeNet-5 trained on the real handwritten digits: features, 2-D maps, neighbours, projector."""

import math

import numpy as np
import pytest
import torch
from google.protobuf import text_format
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
from threadpoolctl import threadpool_limits

import ocularis
from ocularis.errors import ConfigError
from ocularis.explain.space import (
    embed_2d,
    layer_features,
    nearest,
    plot_embedding,
    plot_neighbours,
    separation,
    write_projector,
)


@pytest.fixture(scope="module")
def digits(digits_model):
    """The trained classifier (tests/conftest.py's), its test images (N, 1, 32, 32), their uint8 pictures, labels and
    penultimate features."""
    classifier = ocularis.load(digits_model)
    test = classifier.dataset(split="test")
    images = torch.stack([test[index][0] for index in range(len(test))])
    labels = np.array([int(test[index][1]) for index in range(len(test))])
    low, high = images.min(), images.max()
    pictures = [(255 * (image[0] - low) / (high - low)).round().byte().numpy() for image in images]
    features = layer_features(classifier.network.features, None, images.split(64))
    return classifier, images, pictures, labels, features


def tsne(features: np.ndarray) -> np.ndarray:
    # One OpenMP thread: on a busy 2-core machine libgomp's spinning threads make Barnes-Hut t-SNE ~10x slower.
    with threadpool_limits(1, user_api="openmp"):
        return embed_2d(features, method="tsne", seed=0)


def test_layer_features_by_hook_equal_the_network_outputs_and_pool_maps(digits):
    classifier, images, _, _, features = digits
    network = classifier.network
    assert features.shape == (len(images), 84) and features.dtype == np.float32
    network.train()
    hooked = layer_features(network, network.body[-1], images.split(100))
    assert not network.body[-1]._forward_hooks and network.training  # hook removed, train mode given back
    network.eval()
    np.testing.assert_allclose(hooked, features, atol=1e-5)
    logits = layer_features(network, None, [images[:10]])
    np.testing.assert_allclose(logits, network(images[:10]).detach().numpy(), atol=1e-5)
    conv = layer_features(network, network.body[3], [images[:10]])  # (10, 16, 10, 10) maps -> (10, 16)
    with torch.no_grad():
        maps = network.body[:4](images[:10])
    np.testing.assert_allclose(conv, maps.mean(dim=(2, 3)).numpy(), atol=1e-5)


def test_tsne_of_penultimate_features_separates_digits_better_than_tsne_of_pixels(digits):
    _, images, _, labels, features = digits
    pixels = images.flatten(1).numpy()
    learned, raw = separation(tsne(features), labels), separation(tsne(pixels), labels)
    original = {"features": separation(features, labels)["silhouette"],
                "pixels": separation(pixels, labels)["silhouette"]}
    print(f"\nt-SNE of penultimate features: {learned}\nt-SNE of raw pixels: {raw}")
    print(f"silhouette before t-SNE: {original}")
    assert learned["knn_accuracy"] > raw["knn_accuracy"]
    assert learned["silhouette"] > raw["silhouette"]
    assert original["features"] > original["pixels"]
    assert learned["knn_accuracy"] > 0.85  # chance is 0.1


def test_pca_gives_two_columns_the_first_of_most_variance(digits):
    features = digits[4]
    points = embed_2d(features, method="pca")
    assert points.shape == (len(features), 2)
    variance = points.var(axis=0) / features.var(axis=0).sum()
    reference = PCA(n_components=2).fit(features).explained_variance_ratio_
    assert variance[0] > variance[1]
    np.testing.assert_allclose(variance, reference, rtol=1e-3)


def test_an_unknown_embedding_method_is_refused_naming_the_choices(digits):
    with pytest.raises(ConfigError, match="'umap'.*pca, tsne"):
        embed_2d(digits[4], method="umap")


def test_nearest_finds_a_copied_row_first_and_matches_brute_force(digits):
    features = digits[4]
    database, queries = features[:200], features[200:]
    indices, similarities = nearest(database, np.concatenate([database[[7, 150]], queries]), k=5)
    assert indices.shape == similarities.shape == (2 + len(queries), 5)
    assert list(indices[:2, 0]) == [7, 150]
    np.testing.assert_allclose(similarities[:2, 0], 1, atol=1e-5)
    assert np.all(np.diff(similarities, axis=1) <= 1e-7)  # best first
    distances, expected = NearestNeighbors(n_neighbors=5, metric="cosine", algorithm="brute").fit(database).kneighbors(
        queries)
    np.testing.assert_array_equal(indices[2:], expected)
    np.testing.assert_allclose(similarities[2:], 1 - distances, atol=1e-5)


def test_write_projector_writes_what_tensorboard_reads(digits, tmp_path):
    _, _, pictures, labels, features = digits
    count = 100
    names = [str(label) for label in labels[:count]]
    large = [np.kron(picture, np.ones((2, 2), np.uint8)) for picture in pictures[:count]]  # 64x64, shrunk to 32x32
    folder = write_projector(tmp_path / "projector", features[:count], names, thumbnails=large)
    config = text_format.Parse((folder / "projector_config.pbtxt").read_text(), ProjectorConfig())
    assert len(config.embeddings) == 1
    embedding = config.embeddings[0]
    tensors = (folder / embedding.tensor_path).read_text().splitlines()
    assert len(tensors) == count and len(tensors[0].split("\t")) == features.shape[1]
    np.testing.assert_allclose(np.array([row.split("\t") for row in tensors], float), features[:count], rtol=1e-4)
    assert (folder / embedding.metadata_path).read_text().splitlines() == names
    assert list(embedding.sprite.single_image_dim) == [32, 32]
    side = math.ceil(math.sqrt(count)) * 32
    with Image.open(folder / embedding.sprite.image_path) as sprite:
        assert sprite.size == (side, side)
        cell = np.asarray(sprite.convert("L"))[:32, :32]
    expected = np.asarray(Image.fromarray(large[0]).resize((32, 32)))
    assert np.abs(cell.astype(int) - expected).mean() < 3  # the first thumbnail sits in the first cell


def _png(path) -> np.ndarray:
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("L"), float)


def test_plot_embedding_draws_classes_and_thumbnails(digits, tmp_path):
    classifier, _, pictures, labels, features = digits
    points = embed_2d(features, method="pca")
    names = classifier.meta["classes"]
    plain = _png(plot_embedding(points, labels, names, tmp_path / "plain.png", "penultimate features"))
    shown = _png(plot_embedding(points, labels, names, tmp_path / "thumbs.png", "penultimate features",
                                thumbnails=pictures, max_thumbnails=40))
    assert plain.std() > 10 and plain.shape == shown.shape
    assert np.abs(plain - shown).mean() > 1  # the thumbnails changed the picture
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plain.png", "thumbs.png"]  # no temporary left


def test_plot_neighbours_draws_the_query_and_its_neighbours(digits, tmp_path):
    _, _, pictures, labels, features = digits
    indices, similarities = nearest(features, features[:1], k=4)
    path = plot_neighbours(pictures[0], [pictures[i] for i in indices[0]], list(similarities[0]),
                           [str(labels[i]) for i in indices[0]], tmp_path / "neighbours.png")
    picture = _png(path)
    assert picture.shape[1] > 3 * picture.shape[0] and picture.std() > 10  # one wide row of five images
