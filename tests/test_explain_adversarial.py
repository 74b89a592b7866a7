"""Adversarial attacks and gradient-ascent pictures on a LeNet-5 trained on the real handwritten digits.

Measures, not smoke: accuracy under FGSM falls as epsilon grows and PGD is at least as strong; FGSM equals its formula
computed by hand; the attacks keep to their pixel budget and the valid range; DeepDream and activation maximisation
raise what they claim to raise.
"""

from itertools import pairwise

import numpy as np
import pytest
import torch
from PIL import Image

from ocularis.explain.adversarial import fgsm, perturbation_picture, pgd, plot_robustness, robustness
from ocularis.explain.dream import deepdream, filter_score, maximise

EPSILONS = (0.0, 0.02, 0.05, 0.1, 0.2)


@pytest.fixture(scope="module")
def digits(digits_model):
    """(network, mean, std, test images, test labels) of tests/conftest.py's LeNet-5 on the 8x8 UCI digits at 32 px."""
    import ocularis

    classifier = ocularis.load(digits_model)
    network = classifier.network.eval()
    test = classifier.dataset(split="test")
    images = torch.stack([test[i][0] for i in range(len(test))])
    labels = torch.tensor([int(test[i][1]) for i in range(len(test))])
    return network, list(classifier.meta["mean"]), list(classifier.meta["std"]), images, labels


def _stats(mean, std):
    return torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)


def _pixels(images, mean, std):
    mean_t, std_t = _stats(mean, std)
    return images * std_t + mean_t


@pytest.fixture(scope="module")
def report(digits):
    network, mean, std, images, labels = digits
    batches = [(images[i:i + 128], labels[i:i + 128]) for i in range(0, len(images), 128)]
    calls = []
    measured = robustness(network, batches, EPSILONS, mean, std, steps=10, progress=lambda d, t: calls.append((d, t)))
    return measured, calls, len(batches)


def test_fgsm_falls_with_epsilon_and_pgd_is_at_least_as_strong(digits, report, tmp_path):
    _, _, _, images, _ = digits
    measured, calls, n_batches = report
    print(f"\nepsilon  FGSM   PGD   (clean {measured['clean']:.3f}, {measured['images']} images)")
    for e, f, p in zip(measured["epsilons"], measured["fgsm"], measured["pgd"], strict=True):
        print(f"{e:7.2f}  {f:.3f}  {p:.3f}")
    assert measured["images"] == len(images)
    assert measured["epsilons"] == list(EPSILONS)
    assert measured["clean"] > 0.85
    assert measured["fgsm"][0] == measured["pgd"][0] == measured["clean"]
    fgsm_curve, pgd_curve = measured["fgsm"], measured["pgd"]
    # No slack on either: a bigger budget is a bigger FGSM step, and PGD's ten steps search the ball FGSM steps into.
    assert all(b <= a for a, b in pairwise(fgsm_curve)), fgsm_curve
    assert all(p <= f for p, f in zip(pgd_curve, fgsm_curve, strict=True)), (pgd_curve, fgsm_curve)
    assert measured["fgsm"][-1] < measured["clean"] / 2
    assert measured["pgd"][-1] < 0.1
    assert measured["pgd"][-2] < measured["fgsm"][-2]  # strictly stronger where one step is not yet enough
    # Progress counts gradient steps: one per FGSM, ten per PGD, for each attacked epsilon and batch.
    total = n_batches * 4 * (1 + 10)
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    picture = plot_robustness(measured, tmp_path / "plots" / "robustness.png")
    assert picture == tmp_path / "plots" / "robustness.png"
    with Image.open(picture) as opened:
        assert opened.format == "PNG" and opened.width >= 300 and opened.height >= 200
    assert sorted(p.name for p in picture.parent.iterdir()) == ["robustness.png"]  # no temporary file left behind


@pytest.mark.parametrize("epsilon", [0.05, 0.2])
def test_attacks_keep_to_the_pixel_budget_and_range(digits, epsilon):
    network, mean, std, images, labels = digits
    images, labels = images[:64], labels[:64]
    original = _pixels(images, mean, std)
    for attack in (fgsm, pgd):
        adversarial = attack(network, images, labels, epsilon, mean, std)
        assert adversarial.shape == images.shape
        moved = _pixels(adversarial, mean, std)
        assert (moved - original).abs().max().item() <= epsilon + 1e-5
        assert moved.min().item() >= -1e-5 and moved.max().item() <= 1 + 1e-5
        assert (moved - original).abs().max().item() > epsilon / 2  # it did move


def test_fgsm_equals_one_signed_gradient_step_in_pixel_space(digits):
    network, mean, std, images, labels = digits
    images, labels = images[:48], labels[:48]
    epsilon = 0.07
    mean_t, std_t = _stats(mean, std)
    pixels = _pixels(images, mean, std).clamp(0, 1).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(network((pixels - mean_t) / std_t), labels)
    (gradient,) = torch.autograd.grad(loss, pixels)
    expected = (pixels.detach() + epsilon * gradient.sign()).clamp(0, 1)
    got = _pixels(fgsm(network, images, labels, epsilon, mean, std), mean, std)
    assert (got - expected).abs().max().item() < 1e-5
    # The formula moves every pixel whose gradient is not exactly zero (captum by default skips |gradient| < 1e-6).
    assert ((got - pixels.detach()).abs() > 0).float().mean().item() > 0.5


def test_pgd_is_seeded_and_leaves_the_global_generator_alone(digits):
    network, mean, std, images, labels = digits
    images, labels = images[:16], labels[:16]
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    network.train()
    try:
        first = pgd(network, images, labels, 0.1, mean, std, steps=3, seed=5)
        assert network.training  # attacked in eval mode, handed back in the caller's mode
    finally:
        network.eval()
    after = torch.rand(3)
    assert torch.equal(before, after)
    assert torch.equal(first, pgd(network, images, labels, 0.1, mean, std, steps=3, seed=5))
    assert not torch.equal(first, pgd(network, images, labels, 0.1, mean, std, steps=3, seed=6))


def test_deepdream_raises_the_layers_activation(digits):
    network, mean, std, images, _ = digits
    layer = network.body[3]  # second convolution
    image = images[:1]
    held = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: held.__setitem__("out", output.clone()))
    try:
        dreamed = deepdream(network, layer, image, mean, std, octaves=3, steps=10, seed=0)
        with torch.no_grad():
            network(image)
            before = held["out"].pow(2).mean().item()
            network(dreamed)
            after = held["out"].pow(2).mean().item()
    finally:
        handle.remove()
    assert dreamed.shape == image.shape
    assert after > 1.5 * before, (before, after)
    pixels = _pixels(dreamed, mean, std)
    assert pixels.min().item() >= -1e-5 and pixels.max().item() <= 1 + 1e-5
    assert torch.equal(dreamed, deepdream(network, layer, image, mean, std, octaves=3, steps=10, seed=0))


@pytest.mark.parametrize("digit", [3, 8])
def test_maximise_a_class_logit_beats_every_real_image_of_the_class(digits, digit):
    network, mean, std, images, labels = digits
    picture = maximise(network, lambda batch: network(batch)[0, digit], (1, 32, 32), mean, std, seed=0)
    assert picture.shape == (1, 1, 32, 32)
    pixels = _pixels(picture, mean, std)
    assert pixels.min().item() >= -1e-5 and pixels.max().item() <= 1 + 1e-5
    with torch.no_grad():
        logits = network(picture)[0]
        real = network(images[labels == digit])[:, digit]
    assert logits.argmax().item() == digit
    assert logits[digit].item() > real.mean().item()
    assert logits[digit].item() > real.max().item(), (logits[digit].item(), real.max().item())


def test_filter_score_maximisation_raises_the_filter(digits):
    network, mean, std, images, _ = digits
    score = filter_score(network, network.body[3], channel=5)
    start = maximise(network, score, (1, 32, 32), mean, std, steps=0, seed=1)
    grown = maximise(network, score, (1, 32, 32), mean, std, steps=60, seed=1)
    with torch.no_grad():
        on_start, on_grown = score(start).item(), score(grown).item()
        on_real = max(score(images[i:i + 1]).item() for i in range(0, 64))
    assert on_grown > on_start + 1.0, (on_start, on_grown)
    assert on_grown > on_real, (on_grown, on_real)
    assert not network.body[3]._forward_hooks  # the score's hook is gone after each call


def test_perturbation_picture_shows_the_change_around_grey(digits):
    network, mean, std, images, labels = digits
    adversarial = fgsm(network, images[:1], labels[:1], 0.05, mean, std)
    as_uint8 = [np.rint(_pixels(t, mean, std)[0, 0].numpy() * 255).astype(np.uint8) for t in (images[:1], adversarial)]
    picture = perturbation_picture(as_uint8[0], as_uint8[1], magnify=10.0)
    assert picture.shape == (32, 96, 3) and picture.dtype == np.uint8
    assert np.array_equal(picture[:, :32, 0], as_uint8[0]) and np.array_equal(picture[:, 64:, 2], as_uint8[1])
    difference = as_uint8[1].astype(int) - as_uint8[0].astype(int)
    assert np.array_equal(picture[:, 32:64, 1], np.clip(128 + 10 * difference, 0, 255))
    assert (picture[:, 32:64] != 128).mean() > 0.5  # most pixels were pushed
    rgb = np.stack([as_uint8[0]] * 3, axis=2)
    assert perturbation_picture(rgb, rgb).shape == (32, 96, 3)
    assert (perturbation_picture(rgb, rgb)[:, 32:64] == 128).all()
