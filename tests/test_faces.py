"""The face pipeline on the real ORL photos: Haar detection and alignment through the CLI, a face embedding trained
with --faces, and its verification through the CLI, the Python API and the server; a photo without a face is
refused in one line."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import roc_auc_score

import ocularis
from ocularis.errors import DataError
from ocularis.serve.app import create_app, load_models
from ocularis.tasks.embed.metrics import pair_scores
from tests.conftest import ASSETS, cli

ORL = ASSETS / "att_faces"
pytestmark = pytest.mark.skipif(not ORL.is_dir(), reason=f"the ORL faces are not at {ORL}")
PEOPLE = [f"s{n}" for n in range(3, 23)]  # s1 and s2 of this copy are loosely framed webcam photos
UNTRAINED = ["s10", "s11", "s14", "s15", "s17", "s18", "s21", "s9"]  # 40% of PEOPLE, drawn with the seed
STRANGERS = [f"s{n}" for n in range(23, 41)]  # people face_model never saw, in training or calibration


@pytest.fixture(scope="module")
def face_model(tmp_path_factory) -> Path:
    """An embed model trained --faces on 20 ORL people: 8 of them (UNTRAINED) kept out of training, their 6 photos
    each choosing the verification and recognition thresholds (and enrolling them); the other 12 trained on 4 photos
    each (2 more choose the epoch); 4 photos of everyone held out for testing. 60 epochs of 2 steps: after 30 the
    people it named right swung from 8 to 16 of 20 with the seed or a rounding of the optimiser's kernel; after 60,
    18-19 for the seeds tried."""
    root = tmp_path_factory.mktemp("orl")
    for person in PEOPLE:
        shutil.copytree(ORL / person, root / "people" / person)
    run = ocularis.Embedder(model="resnet18", loss="arcface", faces=True, imgsz=64, progress=False,
                            project=str(root / "runs")).fit(str(root / "people"), epochs=60, batch=24, per_class=4,
                                                            test_per_class=4, val_per_class=2, far=0.05, lr=0.002,
                                                            calibration_classes=0.4)
    assert run.metrics.values["rank1"] > 0.8  # chance: 1 / 20
    return run.best


def test_detect_and_align_find_the_orl_faces(tmp_path):
    shown = cli("faces", "detect", ORL / "s5", ORL / "s6" / "1.pgm", "--save")
    assert "11 of 11 photos have a face" in shown
    saved = next((tmp_path / "runs/faces").glob("detect*"))
    found = json.loads((saved / "faces.json").read_text())
    assert all(len(photo["faces"]) == 1 for photo in found)
    # each picture is named after its photo's folder and name below the folder they share
    assert {p.name for p in saved.glob("*.png")} == {f"s5_{n}.png" for n in range(1, 11)} | {"s6_1.png"}
    aligned = cli("faces", "align", ORL / "s5", ORL / "s6", "--out", tmp_path / "aligned", "--size", "64")
    assert "20 aligned faces written" in aligned
    assert len(list((tmp_path / "aligned").glob("s[56]/*.png"))) == 20  # each folder's faces under its name


def test_verification_is_right_and_the_same_through_api_cli_and_server(face_model):
    model = ocularis.load(face_model)
    from ocularis.uses.verifying import verify_pair

    same = [(ORL / p / "7.pgm", ORL / p / "9.pgm") for p in PEOPLE]
    other = [(ORL / p / "7.pgm", ORL / q / "8.pgm") for p, q in zip(PEOPLE, PEOPLE[1:] + PEOPLE[:1], strict=True)]
    verdicts = [verify_pair(model, a, b) for a, b in same + other]
    truth = [True] * len(same) + [False] * len(other)
    assert roc_auc_score(truth, [v.similarity for v in verdicts]) > 0.8  # chance: 0.5 (measured 0.94 on all pairs)
    assert sum(v.same == t for v, t in zip(verdicts, truth, strict=True)) > len(verdicts) / 2
    client = TestClient(create_app(load_models([f"faces={face_model}"])))
    for (a, b), verdict in zip([same[0], other[0]], [verdicts[0], verdicts[len(same)]], strict=True):
        said = cli("faces", "verify", a, b, "--model", face_model)
        assert said.startswith("same identity" if verdict.same else "different identities")
        files = [("image", (p.name, p.read_bytes(), "image/x-portable-graymap")) for p in (a, b)]
        response = client.post("/v1/models/faces/verify", files=files)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["same"] == verdict.same


def test_a_photo_without_a_face_is_refused_in_one_line(face_model, tmp_path):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.new("L", (92, 112), 128).save(blank)
    message = cli("faces", "verify", ORL / "s5" / "1.pgm", blank, "--model", face_model, fails=True)
    assert "no face found in image 2 of 2" in message
    with pytest.raises(DataError, match="no face found"):
        ocularis.load(face_model).predict([blank])
    client = TestClient(create_app(load_models([f"faces={face_model}"])))
    response = client.post("/v1/models/faces/predict", files=[("image", ("wall.png", blank.read_bytes(), "image/png"))])
    assert response.status_code == 422 and "no face found" in response.json()["error"]["message"]


def test_recognize_names_the_people_and_whole_image_models_are_refused(face_model, embed_model, tmp_path):
    cli("faces", "recognize", ORL / "s5", ORL / "s12", "--model", face_model, "--save")
    named = json.loads(next((tmp_path / "runs/faces").glob("recognize*/recognized.json")).read_text())
    right = sum(Path(r["source"]).parent.name == r["identity"] for r in named)
    # both were trained on, 8 of their photos held out; chance is 1 in 20 (1 of 20). The nearest person was right for
    # 16, and 15 with later packages, of s5 and s9 when 12 people were trained and none kept out; 15 here: a floor of
    # 14 still tells a recognizer from a guesser without failing on one photo's luck
    assert len(named) == 20 and right >= 14, right
    # naming is held to at most 5% of strangers named, which this small model pays for in people it knows: measured
    # 9 of 20 named and right, the rest unknown
    assert sum(Path(r["source"]).parent.name == r["identity"] and r["known"] for r in named) >= 6
    message = cli("faces", "verify", ORL / "s5" / "1.pgm", ORL / "s5" / "2.pgm", "--model", embed_model, fails=True)
    assert "embeds whole images, not faces: train one with `ocularis embed train --faces`" in message


def test_the_saved_threshold_is_the_reported_one_and_holds_for_strangers(face_model, tmp_path):
    """The thresholds saved are the ones the run reported, chosen on people kept out of training: on 18 people the
    model never saw, verification accepts about the share of different-person pairs it was chosen for, and
    recognition calls most of them unknown. (The saved threshold used to be chosen on the trained people's val photos
    and differ from the reported one; chosen on training photos it let 52% of another face database's pairs in.)"""
    model = ocularis.load(face_model)
    threshold, calibration = model.verification_threshold(), model.meta["calibration"]
    reported = json.loads((face_model.parent / "metrics.json").read_text())["test"]
    assert reported["values"]["threshold"] == threshold and reported["calibration"] == calibration
    assert calibration["identities_unseen"] and calibration["far"] == 0.05
    assert calibration["classes"] == UNTRAINED and calibration["pairs"] == 8 * 6 * 42 // 2  # 1,008
    recognition = calibration["recognition"]  # naming: the best of 20 class means, each nearer than any one photo
    assert recognition["images"] == 8 * 6 and recognition["accepted"] <= 0.05 < recognition["threshold"] - threshold
    photos = [ORL / person / f"{photo}.pgm" for person in STRANGERS for photo in (1, 2, 3, 4)]
    vectors = model.embed(photos)
    scores, same = pair_scores(vectors, np.array([p.parent.name for p in photos]))
    false_accepts = (scores[~same] >= threshold).mean()  # of 2,448 pairs of different strangers
    assert false_accepts <= 3 * 0.05, false_accepts  # measured 0.093 (threshold 0.730)
    named = ((vectors @ np.array(model.meta["centroids"]).T).max(axis=1) >= model.recognition_threshold()).mean()
    assert named <= 0.3, named  # measured 0.18 of the 72 photos (threshold 0.894); at 0.730, 0.71
    said = cli("faces", "verify", ORL / "s30" / "1.pgm", ORL / "s31" / "1.pgm", "--model", face_model)
    assert f"threshold {threshold:.4f}" in said
    assert "chosen at false-accept rate 0.05 on 1008 pairs of 8 identities it never trained on" in said
    shown = cli("faces", "recognize", ORL / "s30", ORL / "s31", "--model", face_model, "--save")
    found = json.loads(next((tmp_path / "runs/faces").glob("recognize*/recognized.json")).read_text())
    unknown = sum(not r["known"] for r in found)
    assert unknown >= 14 and f"{20 - unknown} of 20 photos named, {unknown} unknown" in shown, unknown  # measured 16
    assert "at most 0.05 of 48 photos of 8 identities it never trained on are named as someone else" in shown
    # a person kept out of training is still enrolled: the network never learnt s9, yet names most of its 10 photos
    # (measured: all 10 after 30 epochs, 6 after 60 as it fits its 12 people closer; chance: 1 in 20)
    enrolled = model.predict([ORL / "s9" / f"{photo}.pgm" for photo in range(1, 11)])
    assert sum(r.known and r.identity == "s9" for r in enrolled) >= 5
