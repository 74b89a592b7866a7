"""Where a digits classifier looks (tests/conftest.py's LeNet-5 on the real UCI digits): every heat-map method, the
measures that say a map is faithful (ink over background, the deletion test; a detector's boxes and the agreement
with occlusion are in tests/test_detect.py), CAM against
the identity that makes Grad-CAM its generalisation, and the refusals."""

import numpy as np
import pytest
import torch
from PIL import Image

import ocularis
from ocularis.errors import ConfigError
from ocularis.explain import ATTRIBUTIONS, CAMS
from ocularis.explain.maps import heat_maps
from ocularis.explain.measures import area_under, deletion_curve
from ocularis.explain.target import class_target

COUNT = 100  # test images the measures average over


@pytest.fixture(scope="module")
def digits(digits_model):
    """The trained classifier, COUNT test images as pixels (uint8, 32 x 32: the 8 x 8 digits upsampled) and as
    the network's inputs."""
    classifier = ocularis.load(digits_model)
    test = classifier.dataset(split="test")
    images = torch.stack([test[i][0] for i in range(COUNT)])
    mean, std = classifier.meta["mean"][0], classifier.meta["std"][0]
    pixels = ((images[:, 0] * std + mean).clamp(0, 1) * 255).round().byte().numpy()
    return classifier, list(pixels), images


def ink_ratio(explanations, pixels) -> float:
    """Mean heat on the digit's ink (pixels > 128) over the mean heat on the background, pooled over images."""
    ink = np.stack([p > 128 for p in pixels])
    heat = np.stack([e.heat for e in explanations])
    return float(heat[ink].mean() / heat[~ink].mean())


def test_gradcam_puts_more_heat_on_the_digit_than_on_the_background(digits):
    classifier, pixels, _ = digits
    ratios = {m: ink_ratio(classifier.explain(m, pixels), pixels) for m in ("gradcam", "scorecam", "occlusion")}
    print("heat on ink / heat on background:", {k: round(v, 2) for k, v in ratios.items()})
    # a map blind to the digit scores 1; measured 1.3-1.5 (Grad-CAM's 10 x 10 maps blur a 32 px digit), 2+
    assert ratios["gradcam"] > 1.15 and ratios["scorecam"] > 1.5 and ratios["occlusion"] > 2


def test_deleting_the_pixels_gradcam_ranks_highest_drops_the_score_faster_than_random(digits):
    classifier, pixels, images = digits
    network = classifier.network.eval()
    with torch.no_grad():
        target = classifier.explain_target(network(images))
    heat = torch.from_numpy(np.stack([e.heat for e in classifier.explain("gradcam", pixels)]))
    black = (-torch.tensor(classifier.meta["mean"]) / torch.tensor(classifier.meta["std"]))[:, None, None]
    ranked = area_under(deletion_curve(network, target, images, heat, black))
    random = area_under(deletion_curve(network, target, images, torch.rand(heat.shape,
                                                                           generator=torch.Generator().manual_seed(0)),
                                       black))
    print(f"deletion AUC of the top logit: Grad-CAM order {ranked:.2f}, random order {random:.2f}")
    assert ranked < random - 0.5


@pytest.mark.parametrize("method", [*[m for m in CAMS if m != "cam"], *ATTRIBUTIONS])
def test_every_heat_map_is_the_inputs_size_in_unit_range_and_renders(digits, method):
    classifier, pixels, _ = digits
    found = classifier.explain(method, pixels[:3], target="3")
    assert len(found) == 3 and all(e.target.startswith("3 ") for e in found)
    for explanation in found:
        assert explanation.heat.shape == (32, 32) and explanation.heat.min() >= 0
        assert explanation.heat.max() == pytest.approx(1.0)
        assert explanation.plot().shape[2] == 3
        assert explanation.to_json()["image"].startswith("data:image/png;base64,")


def test_feature_maps_show_a_grid_of_the_layers_channels(digits):
    classifier, pixels, _ = digits
    first, last = (classifier.explain("feature_maps", pixels[:1], layer=name)[0] for name in ("body.0", None))
    assert first.panel.shape == (2 * 29 + 1, 3 * 29 + 1)  # 6 maps of 28 x 28 in 2 rows of 3
    assert last.panel.shape == (4 * 11 + 1, 4 * 11 + 1)  # 16 maps of 10 x 10 in rows of 4


def test_attacks_and_dreams_through_the_api_move_the_answer_and_stay_pictures(digits):
    classifier, pixels, _ = digits
    for method in ("fgsm", "pgd"):
        found = classifier.explain(method, pixels[:20], epsilon=0.1)
        before = np.mean([e.numbers["probability_before"] for e in found])
        after = np.mean([e.numbers["probability_after"] for e in found])
        assert after < before - 0.2, (method, before, after)  # the answer's probability falls under attack
        assert found[0].panel.shape == (32, 96, 3)  # original | perturbation | adversarial
    dream = classifier.explain("deepdream", pixels[:1])[0]
    assert dream.panel.shape == (32, 32) and np.abs(dream.panel.astype(int) - pixels[0]).mean() > 1


def test_cam_is_gradcam_for_a_global_pooling_linear_head():
    """Selvaraju et al.: with global average pooling then a linear layer, Grad-CAM's channel weights are the class's
    weights divided by the pooled map's size, so the normalised maps are CAM's (untrained ResNet-18: any weights)."""
    from ocularis.tasks.classify.model import build_network

    torch.manual_seed(0)
    network = build_network("resnet18", num_classes=4, in_channels=3).eval()
    layer, images = network.body.layer4, torch.randn(2, 3, 64, 64)
    logits = network(images).detach()
    target = class_target(logits, ["a", "b", "c", "d"], None, lambda out: out, logits)
    target.class_weights = network.head.weight.detach()[target.index]
    black = torch.zeros(3, 1, 1)
    cam, gradcam = (heat_maps(m, network, layer, target, images, black) for m in ("cam", "gradcam"))
    torch.testing.assert_close(cam, gradcam, atol=1e-5, rtol=1e-4)


def test_explanations_refuse_what_they_cannot_do(digits, tmp_path):
    classifier, pixels, _ = digits
    assert "cam" not in classifier.explanations() and "gradcam" in classifier.explanations()  # LeNet's head is MLP
    with pytest.raises(ConfigError, match="cam reads the target class's weights"):
        classifier.explain("cam", pixels[:1])
    with pytest.raises(ConfigError, match="per-image methods are"):
        classifier.explain("magic", pixels[:1])
    with pytest.raises(ConfigError, match="not one of this model's classes"):
        classifier.explain("gradcam", pixels[:1], target="eleven")
    with pytest.raises(ConfigError, match="top-level layers are body, head"):
        classifier.explain("gradcam", pixels[:1], layer="conv9")
    exported = classifier.export("onnx", tmp_path / "digits.onnx").paths["network"]
    with pytest.raises(ConfigError, match="need the PyTorch weights"):
        ocularis.load(exported).explain("gradcam", pixels[:1])


def test_dataset_explanations_write_their_pictures_and_numbers(digits, tmp_path):
    classifier, pixels, _ = digits
    pca = classifier.explain_data("pca", tmp_path / "pca", limit=200)
    assert pca.numbers["images"] == 200 and pca.numbers["knn_accuracy"] > 0.5  # chance 0.1; measured 0.68 in 2-D
    assert (tmp_path / "pca" / "pca.png").is_file() and (tmp_path / "pca" / "report.json").is_file()
    queries = [tmp_path / f"q{i}.png" for i in range(2)]
    for path, picture in zip(queries, pixels, strict=False):
        Image.fromarray(picture).save(path)
    neighbours = classifier.explain_data("neighbours", tmp_path / "nn", inputs=[str(q) for q in queries])
    assert [p.name for p in neighbours.files] == ["q0_neighbours.png", "q1_neighbours.png"]
    filters = classifier.explain_data("filters", tmp_path / "filters")
    assert filters.numbers == {"filters": 6, "size": 5}
    layer = classifier.explain_data("maximise", tmp_path / "max", layer="body.3")
    fired = sum(v > 0 for v in layer.numbers.values())  # the conv's mean output (before its ReLU) made positive
    assert len(layer.numbers) == 16 and fired >= 12, layer.numbers
    patches = classifier.explain_data("top_patches", tmp_path / "patches", limit=100)
    test = classifier.dataset(split="test")
    layer = classifier.explain_layer()
    with torch.no_grad():  # the strongest response of each channel over the same 100 images, found here
        seen = []
        handle = layer.register_forward_hook(lambda _m, _i, output: seen.append(output.clone()))
        classifier.network(torch.stack([test[i][0] for i in range(100)]))
        handle.remove()
    strongest = seen[0][:, :8].amax(dim=(0, 2, 3))
    assert list(patches.numbers.values()) == pytest.approx(strongest.tolist(), rel=1e-5)
    assert (tmp_path / "patches" / "top_patches.png").is_file()
    projector = classifier.explain_data("projector", tmp_path / "proj", limit=50)
    assert (projector.files[0] / "projector_config.pbtxt").is_file()
    with pytest.raises(ConfigError, match="dataset methods are"):
        classifier.explain_data("gradcam", tmp_path / "x")


def test_the_explain_command_saves_heat_maps_and_a_robustness_report(digits, digits_model, tmp_path):
    import json
    import subprocess
    import sys

    _, pixels, _ = digits
    Image.fromarray(pixels[0]).save(tmp_path / "digit.png")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ocularis", "explain", *args, "--model", str(digits_model)],
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)

    shown = cli("gradcam", str(tmp_path / "digit.png"), "--save")
    assert shown.returncode == 0, shown.stderr
    saved = json.loads((tmp_path / "runs" / "explain" / "gradcam" / "explanations.json").read_text())
    assert saved[0]["method"] == "gradcam" and (tmp_path / "runs" / "explain" / "gradcam" / "digit.png").is_file()
    report = cli("robustness", "--limit", "40")
    assert report.returncode == 0, report.stderr
    numbers = json.loads((tmp_path / "runs" / "explain" / "robustness" / "report.json").read_text())
    assert numbers["fgsm"][-1] < numbers["clean"] and "gradient steps" in report.stderr
    refused = cli("magic")
    assert refused.returncode == 2 and "per-image methods are" in refused.stderr
