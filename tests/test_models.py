"""One contract for every registered classification model: it trains a step and predicts at any size."""

import pytest
import torch

import ocularis  # noqa: F401  (registers the tasks' models)
from ocularis.errors import UnknownNameError
from ocularis.registry import MODELS
from ocularis.tasks.classify.model import build_network

CLASSIFIERS = MODELS.names(task="classify")


def test_the_seed_models_are_registered():
    wanted = {"simple_cnn", "lenet5", "alexnet", "vgg11", "vgg16", "resnet18", "resnet50", "inception_v3",
              "squeezenet1_1", "densenet121", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"}
    assert wanted <= set(CLASSIFIERS)


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("channels, size, batch", [(1, 32, 4), (3, 224, 2)])
def test_model_trains_one_step_and_predicts(name, channels, size, batch):
    torch.manual_seed(0)
    network = build_network(name, num_classes=7, in_channels=channels)
    images, targets = torch.randn(batch, channels, size, size), torch.arange(batch) % 7
    optimizer = torch.optim.SGD([p for p in network.parameters() if p.requires_grad], lr=1e-3)
    network.train()
    loss = torch.nn.functional.cross_entropy(network(images), targets)
    loss.backward()
    before = network.head.weight.detach().clone()
    optimizer.step()
    assert torch.isfinite(loss) and not torch.equal(before, network.head.weight)
    network.eval()
    with torch.no_grad():
        logits = network(images[:1])
    assert logits.shape == (1, 7) and torch.isfinite(logits).all()


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
