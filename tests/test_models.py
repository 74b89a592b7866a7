"""The classification bodies' own behaviour: the seed's models are registered, freezing keeps a body fixed, an unknown
name gets a suggestion. Every model's step, prediction at two sizes, save/load and export: tests/test_every_model.py."""

import pytest

import ocularis  # noqa: F401  (registers the tasks' models)
from ocularis.errors import UnknownNameError
from ocularis.registry import MODELS
from ocularis.tasks.classify.model import build_network

CLASSIFIERS = MODELS.names(task="classify")


def test_the_seed_models_are_registered():
    wanted = {"simple_cnn", "lenet5", "alexnet", "vgg11", "vgg16", "resnet18", "resnet50", "inception_v3",
              "squeezenet1_1", "densenet121", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"}
    assert wanted <= set(CLASSIFIERS)


def test_freeze_keeps_body_and_batchnorm_fixed():
    network = build_network("resnet18", num_classes=3, in_channels=3)
    network.freeze(0)
    assert not any(p.requires_grad for p in network.body.parameters())
    assert all(p.requires_grad for p in network.head.parameters())
    network.train()
    assert not network.body.bn1.training
    network.freeze(2)
    assert network.body.layer3[0].conv1.weight.requires_grad and not network.body.layer2[0].conv1.weight.requires_grad


def test_unknown_model_suggests_a_close_name():
    with pytest.raises(UnknownNameError, match="unknown model 'resnet19' for task 'classify'; did you mean"):
        build_network("resnet19", num_classes=2, in_channels=3)
