"""Neural style transfer on real paintings and photos: Gatys' optimisation carries a photo's style toward a painting's
while keeping its content, on each kind of feature network (random filters, VGG weights from a file, an ocularis
classifier); a fast style network learns a style from a folder of photos, stylises any size, and its ONNX export
agrees with PyTorch; bad input is refused in one line."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import vgg19

import ocularis
from ocularis.core.images import resized
from ocularis.errors import ConfigError
from ocularis.serve.app import create_app
from ocularis.tasks.style.features import content_loss, feature_network
from ocularis.tasks.style.gatys import LANCZOS, as_tensor
from tests.conftest import ASSETS, main
from tests.serving import needs_browser, page_at

CLASSIC = ASSETS / "style_transfer" / "classic-inputs"
PHOTO, PAINTING = CLASSIC / "tubingen.jpg", CLASSIC / "starry_night.jpg"
HYMENOPTERA = ASSETS / "hymenoptera_data"
pytestmark = pytest.mark.skipif(not CLASSIC.is_dir(), reason="style_transfer is not in the assets")


def test_gatys_lowers_the_style_loss_tenfold_and_keeps_the_content():
    found = ocularis.gatys(PHOTO, PAINTING, "random", size=96, steps=60)
    first, last = found.history[0], found.history[-1]
    assert last["style"] * 10 <= first["style"], found.history
    # the bound on content: the result stays closer to the photo than the painting itself is, by half
    network = feature_network("random")
    photo = as_tensor(resized(Image.open(PHOTO).convert("RGB"), 96, LANCZOS))
    painting = as_tensor(Image.open(PAINTING).convert("RGB").resize((photo.shape[-1], photo.shape[-2])))
    with torch.no_grad():
        painting_content = float(content_loss(network(painting)[1], network(photo)[1]))
    assert last["content"] <= 0.5 * painting_content, (last, painting_content)
    assert found.result.image.shape == found.result.before.shape == (photo.shape[-2], photo.shape[-1], 3)


def test_gatys_keeps_the_photos_colours_and_paints_only_inside_the_mask(tmp_path):
    coloured = ocularis.gatys(PHOTO, PAINTING, size=64, steps=20, preserve_colour=True)
    chroma = np.asarray(Image.fromarray(coloured.result.image).convert("YCbCr"))[..., 1:].astype(int)
    wanted = np.asarray(Image.fromarray(coloured.result.before).convert("YCbCr"))[..., 1:].astype(int)
    assert np.abs(chroma - wanted).mean() < 2.0
    width, height = Image.fromarray(coloured.result.before).size
    mask = np.zeros((height, width), np.uint8)
    mask[:, : width // 2] = 255
    Image.fromarray(mask).save(tmp_path / "left.png")
    masked = ocularis.gatys(PHOTO, PAINTING, size=64, steps=20, mask=tmp_path / "left.png")
    result, photo = masked.result.image.astype(int), masked.result.before.astype(int)
    assert np.abs(result[:, width // 2 + 1:] - photo[:, width // 2 + 1:]).max() <= 1
    assert np.abs(result[:, : width // 2 - 1] - photo[:, : width // 2 - 1]).mean() > 5


def test_gatys_on_vgg_weights_from_a_file_and_on_an_ocularis_classifier(tmp_path, digits_model):
    torch.save(vgg19().state_dict(), tmp_path / "vgg19.pth")  # the layout torchvision's weights have
    found = ocularis.gatys(PHOTO, PAINTING, str(tmp_path / "vgg19.pth"), size=48, steps=8)
    assert found.features == "VGG19 from vgg19.pth" and found.history[-1]["style"] < found.history[0]["style"]
    on_digits = ocularis.gatys(PHOTO, PAINTING, str(digits_model), size=48, steps=8)
    assert on_digits.features == "lenet5 from best.ckpt (layers body.0, body.3; content body.0)"
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ConfigError, match="not a VGG-16 or VGG-19"):
        feature_network(str(tmp_path / "other.pth"))


def test_the_gatys_command_writes_the_picture_and_its_losses(capsys, tmp_path):
    out = tmp_path / "tubingen_starry.png"
    code, printed, _ = main(capsys, "style", "gatys", str(PHOTO), "--style", str(PAINTING), "--size", "48",
                            "--steps", "10", "--optimizer", "adam", "--out", str(out))
    assert code == 0 and "x lower" in printed and "random VGG-shaped filters" in printed
    assert Image.open(out).size == (48, 36)
    assert json.loads(out.with_suffix(".json").read_text())["last"]["step"] == 10
    (tmp_path / "painting.png").write_text("not a picture")
    code, _, err = main(capsys, "style", "gatys", str(PHOTO), "--style", str(tmp_path / "painting.png"))
    assert code != 0 and "painting.png" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory):
    if not HYMENOPTERA.is_dir():
        pytest.skip("hymenoptera_data is not in the assets")
    project = tmp_path_factory.mktemp("style")
    run = ocularis.Styliser(model="johnson_small", progress=False, project=str(project)).fit(
        str(HYMENOPTERA), style=str(ASSETS / "style_transfer" / "style-images" / "mosaic.jpg"), imgsz=64, epochs=2)
    return run


def test_a_fast_style_network_learns_the_style_and_stylises_any_size(fast_model, tmp_path):
    # the untrained network returns the photo itself (style_reduction exactly 1); trained, the held-out photos'
    # style comes much closer to the painting's
    values = fast_model.metrics.values
    assert values["style_reduction"] > 1.5 and values["content_loss"] < 1.0, values
    model = ocularis.load(fast_model.best)
    photo = Image.open(PHOTO).convert("RGB").resize((101, 67))
    result = model.predict([photo])[0]
    assert result.image.shape == (67, 101, 3) and not np.array_equal(result.image, np.asarray(photo))
    assert model.predict([photo], size=50)[0].image.shape == (33, 50, 3)
    exported = model.export("onnx", tmp_path / "style.onnx", verify=True)
    assert exported.verification is not None
    assert np.abs(ocularis.load(exported.path).predict([photo])[0].image.astype(int)
                  - result.image.astype(int)).max() <= 2


def test_the_stylise_verb_saves_each_photo(fast_model, capsys, tmp_path):
    photos = sorted((HYMENOPTERA / "val" / "bees").glob("*.jpg"))[:2]
    code, out, _ = main(capsys, "style", "stylise", "--model", str(fast_model.best), *map(str, photos), "--save",
                        "--project", str(tmp_path))
    assert code == 0, out
    written = {p.name for p in tmp_path.rglob("*.png")}
    assert written == {f"{p.stem}{end}.png" for p in photos for end in ("", "_compare")}  # the photo beside it


def test_style_training_refuses_a_missing_or_unreadable_style_image(capsys, tmp_path):
    code, _, err = main(capsys, "style", "train", "--data", str(HYMENOPTERA), "--epochs", "1")
    assert code != 0 and "--style" in err and "Traceback" not in err
    (tmp_path / "style.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    code, _, err = main(capsys, "style", "train", "--data", str(HYMENOPTERA), "--style", str(tmp_path / "style.jpg"))
    assert code != 0 and "style.jpg" in err and "Traceback" not in err


@needs_browser
def test_the_page_stylises_a_photo_at_its_own_size(fast_model):
    """The page's `size` control starts unset and sends nothing until moved (it used to send its slider's midpoint,
    and a 500 px photo came back 2,056 px wide); moved, the photo is resized to it."""
    photo = sorted((HYMENOPTERA / "val" / "bees").glob("*.jpg"))[0]
    width, height = Image.open(photo).size
    with page_at(create_app({"mosaic": ocularis.load(fast_model.best)})) as page:
        page.wait_for_selector("#model option[value='mosaic']", state="attached")
        page.set_input_files("#file", str(photo))
        page.wait_for_function("document.getElementById('status').innerText.includes('ms')", timeout=30_000)
        assert page.inner_text("#error") == "" and f"{width} x {height}" in page.inner_text("#output")
        page.eval_on_selector("#option-size", "e => { e.value = 100; e.dispatchEvent(new Event('input')); }")
        wanted = f"{100 if width >= height else round(width * 100 / height)} x"
        page.wait_for_function(f"document.getElementById('output').innerText.includes('{wanted}')", timeout=30_000)
