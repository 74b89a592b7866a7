"""Every kind of input the contract declares, each proved by a task defined here and registered with one line: a
generator that takes nothing, a pair task, a clip task and a stream task (per-video state). Each gets its CLI verbs,
its own server route and OpenAPI request, ONNX export with verification, and its results on the web page, with no
change to the CLI, the server, the exporter or the page. The inputs are real: the handwritten digits, written into
video files where a task takes clips."""

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import ocularis
from ocularis.config import PredictOptions, TrainConfig
from ocularis.contract import Inputs, TaskSpec
from ocularis.registry import TASKS
from ocularis.serve.app import create_app
from tests.conftest import main
from tests.input_kind_tasks import DIGITS, TASK_CLASSES, moving_digit, write_video
from tests.serving import needs_browser, page_at


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kinds")
    for cls in TASK_CLASSES:
        TASKS.add(cls.spec.name, cls.spec)  # the one line that registers each
    yield {cls.spec.name: cls.create(folder / f"{cls.spec.name}.ckpt") for cls in TASK_CLASSES}
    for cls in TASK_CLASSES:
        TASKS.remove(cls.spec.name)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {"still": write_video(folder / "still.mp4", moving_digit(0, 0)),
            "moving": write_video(folder / "moving.mp4", moving_digit(0, 3))}


def digit_files(folder: Path, count: int, offset: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i}.png" for i in range(count)]
    for i, path in enumerate(paths):
        Image.fromarray(DIGITS[offset + i]).save(path)
    return paths


def test_a_kind_whose_options_lack_what_it_needs_is_refused_at_declaration():
    with pytest.raises(TypeError, match="none inputs need predict options that extend GenerateOptions"):
        TaskSpec("bad", "", TrainConfig, PredictOptions, "x:Y", inputs=Inputs.NONE)


def test_each_kind_gets_its_verbs_and_its_sources_in_help(models, capsys):
    code, out, _ = main(capsys, "sketch", "--help")
    assert code == 0 and "generate" in out and "predict" in out
    _, out, _ = main(capsys, "sketch", "generate", "--help")
    assert all(flag in out for flag in ("--count", "--seed", "--class")) and "SOURCES" not in out
    _, out, _ = main(capsys, "same", "predict", "--help")
    assert "two at a time" in out and "--threshold" in out
    _, out, _ = main(capsys, "motion", "predict", "--help")
    assert "video files" in out
    code, out, _ = main(capsys, "glow", "--help")
    assert code == 0 and "generate" not in out


def test_a_generator_draws_count_samples_from_seed_and_class(models, capsys, tmp_path):
    code, out, err = main(capsys, "sketch", "generate", "--model", models["sketch"], "--count", "3", "--seed", "5",
                          "--class", "2", "--save", "--project", tmp_path)
    assert code == 0, err
    assert all(f"seed{s}" in out for s in (5, 6, 7)) and "seed8" not in out
    saved = sorted(p.name for p in tmp_path.rglob("seed?.png"))
    assert saved == ["seed5.png", "seed6.png", "seed7.png"]
    model = ocularis.load(models["sketch"])
    again = model.predict(count=3, seed=5, class_=2)
    alone = model.predict(count=1, seed=6, class_=2)[0]  # sample i is seed + i: one can be drawn again alone
    assert np.array_equal(again[1].image, alone.image)
    assert not np.array_equal(again[0].image, again[1].image)
    assert not np.array_equal(model.predict(count=1, seed=6, class_=3)[0].image, alone.image)
    code, _, err = main(capsys, "sketch", "predict", "x.png", "--model", models["sketch"])
    assert code == 2 and "unexpected extra argument" in err


def test_pairs_come_two_at_a_time_or_from_two_folders(models, capsys, tmp_path):
    paths = digit_files(tmp_path / "a", 4)
    code, out, err = main(capsys, "same", "predict", *paths, "--model", models["same"])
    assert code == 0, err
    assert [line.startswith("│") for line in out.splitlines()].count(True) == 2  # two pairs, two rows
    model = ocularis.load(models["same"])
    assert [r.source for r in model.predict(paths)] == [f"{paths[0]}|{paths[1]}", f"{paths[2]}|{paths[3]}"]
    same_image = model.predict([(str(paths[0]), str(paths[0]))])[0]
    assert same_image.score == pytest.approx(1.0, abs=1e-5)  # an image is exactly like itself
    other = digit_files(tmp_path / "b", 4, offset=10)
    by_folder = model.predict([str(tmp_path / "a"), str(tmp_path / "b")])
    assert [r.source for r in by_folder] == [f"{a}|{b}" for a, b in zip(paths, other, strict=True)]
    code, _, err = main(capsys, "same", "predict", *paths[:3], "--model", models["same"])
    assert code == 2 and "3 images make no pairs" in err


def test_a_clip_task_reads_video_files_and_tells_motion_from_stillness(models, videos, capsys):
    code, out, err = main(capsys, "motion", "predict", videos["still"], videos["moving"], "--model", models["motion"])
    assert code == 0, err
    still, moving = ocularis.load(models["motion"]).predict([str(videos["still"]), str(videos["moving"])])
    assert still.score < 0.2 * moving.score  # the codec's noise is all that changes in a still clip


def test_a_stream_keeps_state_within_a_video_and_starts_afresh_for_the_next(models, videos, capsys):
    model = ocularis.load(models["glow"])
    for _ in range(2):  # the second video's running mean does not carry the first's
        frames = model.predict_video(videos["moving"], batch=3)  # state carries across batches of frames
        scores = np.array([r.score for r in frames])
        assert [r.running for r in frames] == pytest.approx(np.cumsum(scores) / np.arange(1, len(scores) + 1))
    code, out, err = main(capsys, "glow", "predict", videos["still"], "--model", models["glow"])
    assert code == 0 and "8 frames" in out, err


def test_each_kind_gets_its_own_route_and_request_in_openapi(models, videos, tmp_path):
    app = create_app({name: ocularis.load(path) for name, path in models.items()})
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()

        def fields(route: str) -> list[str]:
            body = schema["paths"][route]["post"].get("requestBody")
            if body is None:
                return []
            reference = body["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
            return sorted(schema["components"]["schemas"][reference]["properties"])

        assert fields("/v1/models/sketch/predict") == []
        assert fields("/v1/models/same/predict") == ["first", "second"]
        assert fields("/v1/models/motion/predict") == ["clip"]
        assert fields("/v1/models/glow/predict") == ["image"]
        queries = [p["name"] for p in schema["paths"]["/v1/models/sketch/predict"]["post"]["parameters"]
                   if p["in"] == "query"]
        assert queries == ["count", "seed", "class"]
        info = {m["name"]: m for m in client.get("/v1/models").json()}
        assert [u["name"] for u in info["same"]["uploads"]] == ["first", "second"]
        assert info["sketch"]["inputs"] == "none" and info["sketch"]["uploads"] == []

        generated = client.post("/v1/models/sketch/predict", params={"count": 4, "seed": 1, "class": 7})
        assert generated.status_code == 200, generated.text
        expected = ocularis.load(models["sketch"]).predict(count=4, seed=1, class_=7)
        assert [r["image_png"] for r in generated.json()["results"]] == [r.to_json()["image_png"] for r in expected]
        assert client.post("/v1/models/sketch/predict", params={"count": 64}).status_code == 413  # 16 at most

        a, b, c = (p.read_bytes() for p in digit_files(tmp_path, 3))
        paired = client.post("/v1/models/same/predict", files=[("first", ("a.png", a)), ("second", ("b.png", b)),
                                                               ("first", ("c.png", c)), ("second", ("c.png", c))])
        assert paired.status_code == 200, paired.text
        assert [r["source"] for r in paired.json()["results"]] == ["a.png|b.png", "c.png|c.png"]
        assert paired.json()["results"][1]["score"] == pytest.approx(1.0, abs=1e-5)
        lonely = client.post("/v1/models/same/predict", files=[("first", ("a.png", a)), ("first", ("c.png", c)),
                                                               ("second", ("b.png", b))])
        assert lonely.status_code == 422 and "2 first and 1 second images" in lonely.json()["error"]["message"]

        clip = client.post("/v1/models/motion/predict", files=[("clip", ("m.mp4", videos["moving"].read_bytes()))])
        assert clip.status_code == 200, clip.text
        direct = ocularis.load(models["motion"]).predict(str(videos["moving"]))[0]
        assert clip.json()["results"][0]["score"] == pytest.approx(direct.score, rel=1e-4)
        not_video = client.post("/v1/models/motion/predict", files=[("clip", ("m.mp4", a))])
        assert not_video.status_code == 415 and "PNG image, not a video" in not_video.json()["error"]["message"]
        missing = client.post("/v1/models/same/predict", files=[("first", ("a.png", a))])
        assert missing.status_code == 422 and "multipart/form-data field 'second'" in missing.json()["error"]["message"]


@pytest.mark.parametrize("name", [cls.spec.name for cls in TASK_CLASSES])
def test_each_exports_onnx_that_reproduces_it(models, name, capsys):
    code, out, err = main(capsys, name, "export", "--model", models[name], "--verify")
    assert code == 0, err
    assert "agreement 100.00%" in out
    exported = ocularis.load(models[name].with_suffix(".onnx"))
    original = ocularis.load(models[name])
    inputs = {"sketch": None, "same": original.examples()[:2], "motion": original.examples()[:2],
              "glow": original.examples()[:2]}[name]
    for mine, theirs in zip(exported.predict(inputs), original.predict(inputs), strict=True):
        assert mine.to_json() == theirs.to_json() or mine.score == pytest.approx(theirs.score, abs=1e-4)


@needs_browser
def test_the_page_uploads_a_pair_and_a_clip_and_shows_a_generated_grid(models, videos, tmp_path):
    a, b = digit_files(tmp_path, 2)
    with page_at(create_app({name: ocularis.load(path) for name, path in models.items()})) as page:
        page.wait_for_selector("#model option[value='sketch']", state="attached")
        page.select_option("#model", "same")
        page.set_input_files("#file", str(a))
        page.set_input_files("#file-second", str(b))
        page.wait_for_selector("#top1", timeout=30_000)
        expected = ocularis.load(models["same"]).predict([(str(a), str(b))])[0]
        assert page.inner_text("#top1") == f"{round(expected.score, 6):.4f}"

        page.select_option("#model", "motion")
        page.set_input_files("#file", str(videos["moving"]))
        page.wait_for_function("document.getElementById('status').innerText.includes('moving.mp4')",
                               timeout=30_000)
        assert page.inner_text("#error") == ""

        page.select_option("#model", "sketch")
        page.fill("#option-count", "6")
        page.click("#generate")
        page.wait_for_function("document.querySelectorAll('#output .result img').length === 6", timeout=30_000)
        assert "6 generated" in page.inner_text("#status") and page.inner_text("#error") == ""
