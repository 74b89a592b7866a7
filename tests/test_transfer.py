"""Transfer learning from weights files the tests make: torchvision format, TORCH_HOME cache, our checkpoints."""

import pytest
import torch
import torchvision

import ocularis
from ocularis.errors import WeightsError
from ocularis.tasks.classify.model import build_network


@pytest.fixture
def resnet18_file(tmp_path):
    """A torchvision-format ResNet-18 state dict (random, since no published weights exist offline)."""
    torch.manual_seed(1)
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def test_weights_name_loads_from_the_torch_home_cache(tmp_path, monkeypatch, resnet18_file):
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    (cache / url.rsplit("/", 1)[-1]).write_bytes(resnet18_file.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    network = build_network("resnet18", num_classes=4, in_channels=3, weights="IMAGENET1K_V1")
    expected = torch.load(resnet18_file, weights_only=True)
    assert torch.equal(network.body.layer3[0].conv1.weight, expected["layer3.0.conv1.weight"])
    grey = build_network("resnet18", num_classes=4, in_channels=1, weights="IMAGENET1K_V1")
    assert torch.allclose(grey.body.conv1.weight, expected["conv1.weight"].sum(1, keepdim=True))


def test_missing_cache_file_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(WeightsError, match="IMAGENET1K_V1 weights for resnet18 are not in .*checkpoints; download"):
        build_network("resnet18", num_classes=2, in_channels=3, weights="IMAGENET1K_V1")
    with pytest.raises(WeightsError, match="neither an existing file nor a torchvision weights name"):
        build_network("resnet18", num_classes=2, in_channels=3, weights="no/such/file.pth")


def test_head_logistic_on_bottleneck_features(shape_folder, resnet18_file):
    run = ocularis.Classifier(model="resnet18", weights=str(resnet18_file), head="logistic", imgsz=32,
                              progress=False).fit(str(shape_folder))
    assert run.history[0]["train/logistic_acc"] > 0.9  # a linear model on 512-d features fits 36 images
    loaded = ocularis.load(run.best)
    original = torch.load(resnet18_file, weights_only=True)
    assert torch.equal(loaded.network.body.layer4[1].conv2.weight, original["layer4.1.conv2.weight"])
    assert len(loaded.predict(str(shape_folder / "star"))) == 12


def test_freeze_backbone_trains_only_the_head(shape_folder, resnet18_file):
    run = ocularis.Classifier(model="resnet18", weights=str(resnet18_file), freeze="backbone", imgsz=32,
                              progress=False).fit(str(shape_folder), epochs=2)
    trained = ocularis.load(run.best).network
    original = torch.load(resnet18_file, weights_only=True)
    assert torch.equal(trained.body.layer1[0].conv1.weight, original["layer1.0.conv1.weight"])
    assert torch.equal(trained.body.bn1.running_mean, original["bn1.running_mean"])
    assert not torch.equal(trained.head.weight, build_network("resnet18", num_classes=5, in_channels=3).head.weight)


def test_an_ocularis_checkpoint_is_a_weights_file_too(shape_folder, resnet18_file):
    first = ocularis.Classifier(model="resnet18", weights=str(resnet18_file), head="svm", imgsz=32,
                                progress=False).fit(str(shape_folder))
    network = build_network("resnet18", num_classes=3, in_channels=3, weights=str(first.best))
    assert torch.equal(network.body.conv1.weight, ocularis.load(first.best).network.body.conv1.weight)
