"""The REST server on real digits: answers match the Python API, several models at once, micro-batching, and every
kind of bad request gets a 4xx JSON error naming the problem while the server keeps serving."""

import asyncio
import io
import logging
import struct
import time
import zlib

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sklearn.datasets import load_digits

import ocularis
from ocularis.serve.app import create_app, load_models, model_name
from ocularis.serve.limits import Limits
from tests.serving import live_server


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def digit_images() -> list[bytes]:
    digits = load_digits()
    return [png_bytes((digits.images[i] * 255 / 16).astype(np.uint8)) for i in range(40)]


@pytest.fixture(scope="module")
def models(digits_model, tmp_path_factory):
    onnx_path = ocularis.load(digits_model).export("onnx", tmp_path_factory.mktemp("onnx") / "best.onnx").path
    return load_models([str(digits_model), f"digits-onnx={onnx_path}"])


@pytest.fixture
def client(models):
    with TestClient(create_app(models, token="secret", limits=Limits(max_upload_mb=0.5, max_images=4))) as client:
        client.headers["Authorization"] = "Bearer secret"
        yield client


def expected_labels(models, images: list[bytes]) -> list[str]:
    return [r.label for r in models["lenet5"].predict([Image.open(io.BytesIO(b)) for b in images])]


def test_health_models_docs_and_page(client, caplog):
    with caplog.at_level(logging.INFO, logger="ocularis.serve"):
        assert client.get("/health").json() == {"status": "ok", "models": 2}
    assert caplog.messages[-1].startswith("GET /health 200 ") and caplog.messages[-1].endswith(" ms")
    listed = {m["name"]: m for m in client.get("/v1/models").json()}
    assert listed["lenet5"]["format"] == "checkpoint" and listed["digits-onnx"]["format"] == "onnx"
    assert listed["lenet5"]["classes"] == [str(d) for d in range(10)] and listed["lenet5"]["task"] == "classify"
    schema = client.get("/openapi.json").json()
    assert {"/v1/models/lenet5/predict", "/v1/models/digits-onnx/predict"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200
    assert "renderers" in client.get("/").text


def test_predictions_match_the_python_api_for_every_served_format(client, models, digit_images):
    expected = expected_labels(models, digit_images[:4])
    for name in ("lenet5", "digits-onnx"):
        files = [("image", (f"d{i}.png", data, "image/png")) for i, data in enumerate(digit_images[:4])]
        response = client.post(f"/v1/models/{name}/predict", files=files, params={"topk": 3})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["labels"][0] for r in body["results"]] == expected
        assert [r["source"] for r in body["results"]] == ["d0.png", "d1.png", "d2.png", "d3.png"]
        assert all(len(r["topk"]) == 3 for r in body["results"]) and body["task"] == "classify"


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("case, status, message", [
    ("text", 415, "'notes.txt' is not an image"),
    ("truncated", 400, "damaged or truncated"),
    ("empty", 400, "is empty (0 bytes)"),
    ("oversize", 413, "the limit is 0.5 MB"),
    ("huge header", 413, "'huge.png' has over"),
    ("big header", 413, "'big.png' is 9000x9000 = 81,000,000 pixels; the limit is 40,000,000"),
    ("unknown model", 404, "no model named 'resnet'"),
    ("no token", 401, "needs a token"),
    ("wrong token", 401, "wrong token"),
    ("too many images", 413, "5 images in one request; the limit is 4"),
    ("no image field", 422, "multipart/form-data field 'image'"),
])
def test_bad_requests_get_a_named_4xx_and_the_server_keeps_serving(client, digit_images, case, status, message):
    name, files, headers = "lenet5", None, None
    upload = {"text": ("notes.txt", b"not a picture at all"), "truncated": ("cut.jpg", jpeg_bytes()[:2000]),
              "empty": ("empty.png", b""), "oversize": ("big.png", digit_images[0] + b"\0" * 600_000),
              "huge header": ("huge.png", png_header_only(20000, 20000)),
              "big header": ("big.png", png_header_only(9000, 9000))}.get(case, ("d.png", digit_images[0]))
    files = [("image", upload)]
    if case == "unknown model":
        name = "resnet"
    elif case == "no token":
        headers = {"Authorization": ""}
    elif case == "wrong token":
        headers = {"Authorization": "Bearer guess"}
    elif case == "too many images":
        files = [("image", (f"d{i}.png", digit_images[i])) for i in range(5)]
    elif case == "no image field":
        files = [("picture", upload)]
    response = client.post(f"/v1/models/{name}/predict", files=files, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
    assert response.json()["error"]["status"] == status
    again = client.post("/v1/models/lenet5/predict", files=[("image", ("d.png", digit_images[0]))])
    assert again.status_code == 200


def test_a_streamed_body_over_the_limit_is_refused(client):
    def chunks():
        for _ in range(20):
            yield b"x" * 2**20

    response = client.post("/v1/models/lenet5/predict", content=chunks(),
                           headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413 and "larger than the server's limit" in response.json()["error"]["message"]


def test_slow_requests_time_out_with_504(digits_model, digit_images):
    slow = ocularis.load(digits_model)
    infer = slow.infer
    slow.infer = lambda batch: (time.sleep(0.5), infer(batch))[1]

    with TestClient(create_app({"slow": slow}, limits=Limits(timeout_s=0.1))) as client:
        response = client.post("/v1/models/slow/predict", files=[("image", ("d.png", digit_images[0]))])
        assert response.status_code == 504 and "longer than 0.1 s" in response.json()["error"]["message"]
        assert client.get("/health").status_code == 200


def test_concurrent_requests_are_micro_batched_with_unchanged_answers(digits_model, models, digit_images):
    sizes = []
    recording = ocularis.load(digits_model)
    infer = recording.infer
    recording.infer = lambda batch: (sizes.append(len(batch)), infer(batch))[1]

    async def send_all(url: str) -> list[str]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            responses = await asyncio.gather(*[
                http.post("/v1/models/m/predict", files=[("image", (f"{i}.png", data))])
                for i, data in enumerate(digit_images)])
        return [r.json()["results"][0]["labels"][0] for r in responses]

    with live_server(create_app({"m": recording}, max_batch=16, max_wait_ms=50)) as url:
        labels = asyncio.run(send_all(url))
    assert labels == expected_labels(models, digit_images)
    assert sum(sizes) == len(digit_images) and max(sizes) > 1 and max(sizes) <= 16


def test_model_names_and_serving_errors(digits_model):
    assert model_name(digits_model) == "lenet5"
    assert model_name(digits_model.with_name("best.int8.onnx")) == "lenet5-int8-onnx"
    with pytest.raises(ocularis.errors.ConfigError, match="the name 'lenet5' is taken"):
        load_models([str(digits_model), str(digits_model)])


def test_the_explain_route_returns_the_overlay_and_refuses_what_a_model_cannot_do(client, models, digit_images):
    import base64

    listed = {m["name"]: m for m in client.get("/v1/models").json()}
    assert "gradcam" in listed["lenet5"]["explanations"] and listed["digits-onnx"]["explanations"] == []
    response = client.post("/v1/models/lenet5/explain?method=gradcam&target=3",
                           files=[("image", ("a.png", digit_images[3], "image/png"))])
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["source"] == "a.png" and result["method"] == "gradcam" and result["target"].startswith("3 ")
    overlay = Image.open(io.BytesIO(base64.b64decode(result["image"].split(",", 1)[1])))
    assert overlay.mode == "RGB" and min(overlay.size) >= 32
    expected = models["lenet5"].explain("gradcam", [Image.open(io.BytesIO(digit_images[3]))], target="3")[0]
    assert result["numbers"] == pytest.approx(expected.numbers)
    for route, status, message in (("digits-onnx/explain?method=gradcam", 422, "offers the explanations none"),
                                   ("lenet5/explain?method=magic", 422, "not 'magic'"),
                                   ("lenet5/explain?method=gradcam&target=eleven", 422, "not one of"),
                                   ("nobody/explain", 404, "no model named")):
        refused = client.post(f"/v1/models/{route}", files=[("image", ("a.png", digit_images[0], "image/png"))])
        assert refused.status_code == status and message in refused.json()["error"]["message"], refused.text
