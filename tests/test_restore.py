"""Restoration on real photos: the luma PSNR reproduces the published bicubic baselines of Set5 and Set14 exactly;
ESPCN trained from scratch on BSDS500 photos beats bicubic on Set5; its ONNX file upscales photos of any size like
PyTorch; the inpainting autoencoder learns to fill holes; the server answers with the picture; bad input is refused
by name."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient
from PIL import Image

import ocularis
from ocularis.core.quality import luma, with_luma, y_psnr, y_ssim
from ocularis.errors import ConfigError, DataError
from ocularis.models.restorers import ESPCN
from ocularis.serve.app import create_app, load_models
from tests.serving import needs_browser, page_at

from .conftest import ASSETS, cli

SR = ASSETS / "super_resolution"
BSDS = ASSETS / "bsds500_train"
needs_photos = pytest.mark.skipif(not (SR.is_dir() and BSDS.is_dir()), reason="Set5/Set14/BSDS500 not in assets")

# Y-PSNR of bicubic upsampling of the given low-resolution images, as published (assets README; Set5 x2 33.64 ...)
PUBLISHED_BICUBIC = {("Set5", 2): 33.64, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
                     ("Set14", 2): 30.22, ("Set14", 3): 27.53, ("Set14", 4): 25.99}


def _pairs(name: str, scale: int) -> list[tuple[Image.Image, Image.Image]]:
    folder = SR / name / f"image_SRF_{scale}"
    found = []
    for high in sorted(folder.glob("*_HR.png")):
        found.append((Image.open(high), Image.open(str(high).replace("_HR", "_LR"))))
    return found


@needs_photos
@pytest.mark.parametrize("name,scale", sorted(PUBLISHED_BICUBIC))
def test_luma_psnr_reproduces_the_published_bicubic_baselines(name, scale):
    values = [y_psnr(np.asarray(high), np.asarray(low.resize(high.size, Image.BICUBIC)), scale)
              for high, low in _pairs(name, scale)]
    assert round(float(np.mean(values)), 2) == PUBLISHED_BICUBIC[(name, scale)]


@needs_photos
def test_luma_helpers_agree_with_scikit_image_and_keep_colour():
    from skimage.color import rgb2ycbcr
    from skimage.metrics import structural_similarity

    high, low = _pairs("Set5", 3)[0]
    photo = np.asarray(high.convert("RGB"))
    assert np.abs(luma(photo, rounded=False) - rgb2ycbcr(photo)[..., 0]).max() < 1e-6
    assert np.array_equal(with_luma(photo, luma(photo, rounded=False)), photo)  # same luma: the very same photo
    brighter = with_luma(photo, np.clip(luma(photo, rounded=False) + 10, 16, 235))
    assert 8 < (luma(brighter) - luma(photo)).mean() <= 10.5
    bicubic = np.asarray(low.resize(high.size, Image.BICUBIC).convert("RGB"))
    reference = structural_similarity(luma(photo)[3:-3, 3:-3], luma(bicubic)[3:-3, 3:-3], data_range=255,
                                      gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert y_ssim(photo, bicubic, 3) == pytest.approx(reference)


def test_espcn_starts_as_exactly_torch_s_bicubic_upscale():
    """Its residual is bicubic as fixed filters before the pixel shuffle (fast in ONNX Runtime, unlike its cubic
    Resize): with the learnt part zeroed, the output is F.interpolate's bicubic, borders included."""
    pixels = torch.rand(2, 1, 23, 31)
    for scale in (2, 3, 4):
        network = ESPCN(scale)
        torch.nn.init.zeros_(network.body[-1].weight)
        expected = F.interpolate(pixels, scale_factor=scale, mode="bicubic", align_corners=False)
        assert torch.allclose(network(pixels), expected, atol=1e-5)


@pytest.fixture(scope="module")
def espcn(tmp_path_factory):
    """ESPCN x3 trained from scratch for half a minute on 40 BSDS500 photos."""
    folder = tmp_path_factory.mktemp("bsds")
    for photo in sorted(BSDS.glob("*.jpg"))[:40]:
        (folder / photo.name).symlink_to(photo)
    project = tmp_path_factory.mktemp("runs")
    cli("restore", "train", "--data", folder, "--model", "espcn", "--scale", 3, "--epochs", 5, "--patches", 32,
        "--lr", 0.003, "--progress", "false", "--project", project, "--name", "espcn")
    return project / "restore" / "espcn"


@needs_photos
def test_espcn_trained_on_photos_beats_bicubic_on_set5(espcn):
    model = ocularis.load(espcn / "best.ckpt")
    metrics = model.evaluate(str(SR / "Set5" / "image_SRF_3"))  # the given MATLAB low-resolution inputs
    values = metrics.values
    assert values["bicubic_psnr"] == pytest.approx(30.39, abs=0.005)
    assert values["psnr"] > values["bicubic_psnr"] + 0.8, values  # measured +1.03 dB
    assert values["ssim"] > values["bicubic_ssim"], values
    saved = json.loads((espcn / "metrics.json").read_text())["test"]
    assert saved["baseline"] == "bicubic" and len(saved["per_image"]) == 6  # 40 photos, 15% held out
    assert (espcn / "psnr.png").is_file() and (espcn / "predictions.png").is_file()
    assert sorted(p.name for p in (espcn / "samples").iterdir()) == [f"epoch_{e:03d}.png" for e in range(1, 6)]

    low = Image.open(SR / "Set5" / "image_SRF_3" / "img_002_SRF_3_LR.png")
    found = model.predict([low])[0]
    assert found.image.shape == (low.height * 3, low.width * 3, 3)
    assert found.to_json()["width"] == low.width * 3


@needs_photos
def test_the_upscale_verb_the_onnx_file_and_the_server_agree_on_any_size(espcn, tmp_path):
    low = SR / "Set14" / "image_SRF_3" / "img_005_SRF_3_LR.png"
    assert "saved to" not in cli("restore", "upscale", "--model", espcn / "best.ckpt", low)  # as predict: --save
    out = cli("restore", "upscale", "--model", espcn / "best.ckpt", low, "--project", tmp_path / "out", "--save")
    assert "saved to" in out
    written = Image.open(next((tmp_path / "out" / "restore").glob("upscale*/*[!e].png")))
    width, height = Image.open(low).size
    assert written.size == (width * 3, height * 3)
    saved = json.loads(next((tmp_path / "out" / "restore").glob("upscale*/upscale.json")).read_text())[0]
    assert Path(written.filename).name == saved["image_file"] and "image_png" not in saved  # files, not base64

    model = ocularis.load(espcn / "best.ckpt")
    exported = model.export("onnx", verify=True, data=str(SR / "Set14" / "image_SRF_3"))
    assert exported.verification.passed
    session = onnxruntime.InferenceSession(str(exported.path))
    for size in ((37, 23), (width, height)):  # sizes the export never saw
        batch = model.preprocess([Image.open(low).convert("RGB").resize(size)])
        theirs = session.run(None, {"images": batch.numpy()})[0]
        assert theirs.shape == (1, 1, size[1] * 3, size[0] * 3)
        assert np.abs(theirs - model.infer(batch).numpy()).max() < 1e-4
    from_onnx = ocularis.load(exported.path).predict([low])[0].image
    assert np.abs(from_onnx.astype(int) - written_array(written)).max() <= 1

    with TestClient(create_app(load_models([f"sr={espcn / 'best.ckpt'}"]))) as client:
        pictures = [("image", ("a.png", low.read_bytes())), ("image", ("b.png", _noise_png((40, 30))))]
        response = client.post("/v1/models/sr/upscale", files=pictures)  # the same as /predict
        assert response.status_code == 200, response.text
        first, second = response.json()["results"]
        decoded = Image.open(io.BytesIO(base64.b64decode(first["image_png"])))
        assert decoded.size == (width * 3, height * 3) and (second["width"], second["height"]) == (120, 90)
        assert np.abs(np.asarray(decoded).astype(int) - written_array(written)).max() <= 1
        assert client.get("/v1/models").json()[0]["renderer"] == "images"
        assert client.post("/v1/models/sr/predict", files=pictures[1:]).json()["results"][0]["width"] == 120


def written_array(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB")).astype(int)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _noise_png(size: tuple[int, int]) -> bytes:
    return _png(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), np.uint8))


@pytest.fixture(scope="module")
def inpainter(tmp_path_factory):
    """The masked autoencoder trained from scratch for three short epochs on 20 BSDS500 photos: (run, photos)."""
    folder = tmp_path_factory.mktemp("photos")
    for photo in sorted(BSDS.glob("*.jpg"))[:20]:
        (folder / photo.name).symlink_to(photo)
    project = tmp_path_factory.mktemp("runs")
    cli("restore", "train", "--data", folder, "--model", "inpaint", "--epochs", 3, "--patches", 32, "--crop", 48,
        "--hole", 16, "--progress", "false", "--project", project, "--name", "fill")
    return project / "restore" / "fill", folder


def _holes(photo: Image.Image) -> np.ndarray:
    mask = np.zeros((photo.height, photo.width), np.uint8)
    mask[100:132, 200:232] = 255
    return mask


@needs_photos
def test_the_inpainting_autoencoder_learns_to_fill_holes(inpainter, tmp_path):
    run, folder = inpainter
    model = ocularis.load(run / "best.ckpt")
    metrics = model.evaluate()
    untrained = ocularis.load(run / "best.ckpt")
    untrained.network = type(untrained).build(untrained.meta)
    assert metrics.values["psnr"] > untrained.evaluate().values["psnr"] + 3, metrics.values
    assert metrics.baseline == "telea" and "telea_psnr" in metrics.values

    photo = Image.open(next(folder.iterdir())).convert("RGB")
    mask = _holes(photo)
    Image.fromarray(mask).save(tmp_path / "holes.png")
    cli("restore", "inpaint", next(folder.iterdir()), "--mask", tmp_path / "holes.png", "--model", run / "best.ckpt",
        "--project", tmp_path / "out", "--save")
    filled = np.asarray(Image.open(next((tmp_path / "out" / "restore").glob("inpaint*/*[!e].png"))))
    outside = mask == 0
    assert np.array_equal(filled[outside], np.asarray(photo)[outside])  # known pixels are kept as they were
    in_python = model.predict([photo], mask=Image.fromarray(mask))[0].image  # a mask in memory: the same fill
    assert np.array_equal(in_python, filled)

    Image.fromarray(mask[:50]).save(tmp_path / "small.png")
    with pytest.raises(DataError, match="small.png is 481x50 but the photo is"):
        model.predict([photo], mask=str(tmp_path / "small.png"))
    with pytest.raises(ConfigError, match="inpainting needs the holes"):
        model.predict([photo])
    assert "does not upscale" in cli("restore", "upscale", "--model", run / "best.ckpt", next(folder.iterdir()),
                                     fails=True)


@needs_photos
def test_the_server_takes_the_inpainting_mask_as_an_uploaded_file(inpainter):
    run, folder = inpainter
    path = next(folder.iterdir())
    photo = Image.open(path).convert("RGB")
    mask = _holes(photo)
    expected = ocularis.load(run / "best.ckpt").predict([photo], mask=Image.fromarray(mask))[0].image
    with TestClient(create_app(load_models([f"fill={run / 'best.ckpt'}"]))) as client:
        info = client.get("/v1/models").json()[0]
        assert [(o["name"], o["type"]) for o in info["options"]] == [("mask", "image")]
        response = client.post("/v1/models/fill/inpaint", files=[("image", (path.name, path.read_bytes())),
                                                                 ("mask", ("holes.png", _png(mask)))])
        assert response.status_code == 200, response.text
        picture = response.json()["results"][0]["image_png"]
        answer = np.asarray(Image.open(io.BytesIO(base64.b64decode(picture))).convert("RGB"))
        assert np.array_equal(answer, expected)  # the uploaded mask filled the same holes
        refused = client.post("/v1/models/fill/inpaint", files=[("image", (path.name, path.read_bytes()))])
        assert refused.status_code == 422 and "form field 'mask'" in refused.json()["error"]["message"]
        wrong = client.post("/v1/models/fill/inpaint", files=[("image", (path.name, path.read_bytes())),
                                                              ("mask", ("holes.png", _png(mask[:50])))])
        assert wrong.status_code == 422 and "the mask is 481x50" in wrong.json()["error"]["message"]
        as_query = client.post("/v1/models/fill/inpaint?mask=holes.png", files=[("image", ("a.jpg", b"x"))])
        assert as_query.status_code == 422 and "upload mask as a file" in as_query.json()["error"]["message"]


@needs_photos
@needs_browser
def test_the_page_sends_the_chosen_mask_with_the_photo(inpainter, tmp_path):
    run, folder = inpainter
    path = next(folder.iterdir())
    Image.fromarray(_holes(Image.open(path))).save(tmp_path / "holes.png")
    with page_at(create_app(load_models([f"fill={run / 'best.ckpt'}"]))) as page:
        page.wait_for_selector("#model option[value='fill']", state="attached")
        page.set_input_files("#option-mask", str(tmp_path / "holes.png"))
        page.set_input_files("#file", str(path))
        page.wait_for_selector("#compare img.before", timeout=60_000)
        assert page.inner_text("#error") == ""


def test_bad_restoration_data_is_refused_by_name(tmp_path):
    assert "a folder of photos" in cli("restore", "train", "--data", tmp_path / "missing", fails=True)
    photos = tmp_path / "photos"
    photos.mkdir()
    for number in range(6):
        Image.fromarray(np.full((40, 50, 3), 40 * number, np.uint8)).save(photos / f"{number}.png")
    assert "is 50x40, smaller than the 51-pixel training crop; lower --crop" in cli(
        "restore", "train", "--data", photos, fails=True)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    Image.fromarray(np.zeros((48, 48, 3), np.uint8)).save(pairs / "a_HR.png")
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(pairs / "a_LR.png")  # an x2 pair
    from ocularis.tasks.restore.config import RestoreConfig
    from ocularis.tasks.restore.data import PhotoPairs, read_photos
    from ocularis.tasks.restore.model import network_kind

    found = read_photos(str(pairs), RestoreConfig(data=str(pairs), val_fraction=0, test_fraction=0), training=False)
    assert found.train.sources == [str(pairs / "a_HR.png")] and found.train.inputs == [str(pairs / "a_LR.png")]
    with pytest.raises(DataError, match=r"a_LR.png is 24x24: at --scale 3 its photo .* needs 16x16"):
        PhotoPairs(found.train, network_kind("espcn"), 3)[0]
    assert "--scale 5 is above its maximum" in cli("restore", "train", "--data", photos, "--scale", 5, fails=True)


@needs_photos
@needs_browser
def test_the_page_shows_the_upscaled_photo_with_a_before_after_slider(espcn):
    low = SR / "Set5" / "image_SRF_3" / "img_004_SRF_3_LR.png"
    width = Image.open(low).width
    with page_at(create_app(load_models([f"sr={espcn / 'best.ckpt'}"]))) as page:
        page.wait_for_selector("#model option[value='sr']", state="attached")
        page.set_input_files("#file", str(low))
        page.wait_for_selector("#compare img.before", timeout=60_000)
        page.wait_for_function("document.querySelector('#compare img').naturalWidth > 0")
        assert page.eval_on_selector("#compare img", "img => img.naturalWidth") == 3 * width
        assert page.eval_on_selector("#compare img.before", "img => img.naturalWidth") == width
        page.fill("#before-after", "20")
        page.dispatch_event("#before-after", "input")
        assert page.eval_on_selector("#compare img.before", "img => img.style.clipPath") == "inset(0px 80% 0px 0px)"
        assert page.inner_text("#error") == ""
