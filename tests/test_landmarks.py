"""Landmarks and attributes: a multi-task network trained from scratch on the ORL photos (eye centres from the Haar
cascades, glasses and gender labels read off the photos) beats the mean face and the commonest answers; bad label
files are refused with the file, line and fix."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ocularis
from ocularis.data.points import read_point_labels
from ocularis.errors import LabelError
from ocularis.tasks.landmarks.metrics import image_errors

from .conftest import ASSETS, cli
from .orl_labels import write_orl_csv

ORL = ASSETS / "att_faces"


@pytest.mark.skipif(not ORL.is_dir(), reason="ORL faces not in ../shared/assets")
def test_a_landmark_model_learns_eyes_glasses_and_gender_on_orl(tmp_path):
    labels = write_orl_csv(ORL, tmp_path / "orl.csv")
    cli("landmarks", "train", "--data", labels, "--epochs", 15, "--imgsz", 48, "--batch", 16, "--progress", "false",
        "--project", tmp_path / "runs", "--name", "orl")
    run = tmp_path / "runs" / "landmarks" / "orl"
    model = ocularis.load(run / "best.ckpt")
    metrics = model.evaluate()
    test = model.dataset()
    # the mean face: every test photo given the training photos' mean eye positions
    train = model.dataset(split="train")
    sizes = np.array([test.set.images.size(s) for s in test.rows.sources], np.float32)
    train_sizes = np.array([train.set.images.size(s) for s in train.rows.sources], np.float32)
    mean_face = np.nanmean(train.rows.points / train_sizes[:, None], axis=0)
    truth = test.rows.points / sizes[:, None]
    baseline, _ = image_errors(np.broadcast_to(mean_face, truth.shape), truth, sizes, (0, 1))
    assert metrics.normalised_by == "inter-ocular distance"
    assert metrics.values["nme"] < 0.85 * np.nanmean(baseline), (metrics.values, np.nanmean(baseline))
    for name in ("glasses", "gender"):
        row = metrics.attributes[name]
        assert row["accuracy"] >= row["majority"] + 0.04, (name, row)
    assert (run / "ced.png").is_file() and (run / "predictions.png").is_file()
    saved = json.loads((run / "metrics.json").read_text())["test"]
    assert saved["values"]["nme"] == pytest.approx(metrics.values["nme"])

    photo = ORL / "s6" / "1.pgm"  # glasses, looking at the camera
    found = model.predict([photo])[0]
    (lx, ly), (rx, ry) = found.points["left_eye"], found.points["right_eye"]
    assert 0 < lx < rx < 92 and 20 < ly < 90 and 20 < ry < 90
    assert set(found.attributes) == {"glasses", "gender"}
    assert found.to_json()["attributes"]["glasses"]["value"] in ("glasses", "no glasses")
    assert "left_eye" in cli("landmarks", "predict", "--model", run / "best.ckpt", photo)

    # explanations of one attribute's answer and of one coordinate, named with the values predict gives
    value, probability = found.attributes["glasses"]
    why_glasses = model.explain("saliency", [photo], target="glasses")[0]
    why_height = model.explain("saliency", [photo], target="left_eye.y")[0]
    assert why_glasses.target == f"glasses={value} {probability:.2f}"
    assert why_height.target == f"left_eye.y {ly / Image.open(photo).height:.2f}"
    assert np.corrcoef(why_glasses.heat.ravel(), why_height.heat.ravel())[0, 1] < 0.99  # two targets, two maps
    assert "'nose' is not an output of this model" in cli("explain", "saliency", photo, "--model",
                                                          run / "best.ckpt", "--target", "nose", fails=True)

    # the face pipeline reads each detected face's eyes and attributes with the model, and aligns by those eyes
    from ocularis.models.faces import HaarFaceDetector
    from ocularis.tasks.faces.pipeline import face_finder

    find, haar = face_finder(landmarks=run / "best.ckpt"), HaarFaceDetector()
    errors = []
    for path in sorted((ORL / "s6").glob("*.pgm")) + sorted((ORL / "s17").glob("*.pgm")):
        picture = Image.open(path)
        mine, cascade = find(picture), haar.detect(picture)
        if mine and cascade and cascade[0].eyes:
            gap = np.subtract(*cascade[0].eyes[::-1])[0]
            errors.append(np.linalg.norm(np.subtract(mine[0].eyes, cascade[0].eyes), axis=1).mean() / gap)
            assert set(mine[0].attributes) == {"glasses", "gender"}
    assert len(errors) >= 10 and np.median(errors) < 0.2, errors  # within a fifth of the eye gap of the cascades'
    assert "glasses" in cli("faces", "detect", photo, "--landmarks", run / "best.ckpt")
    assert "10 aligned faces written" in cli("faces", "align", ORL / "s6", "--landmarks", run / "best.ckpt", "--out",
                                             tmp_path / "aligned")


def _write_csv(tmp_path, text, size=(40, 30)):
    Image.new("L", size).save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text(text)
    return tmp_path / "labels.csv"


def test_a_csv_reads_points_attributes_and_missing_cells(tmp_path):
    labels = read_point_labels(_write_csv(tmp_path, "path,eye_x,eye_y,smile\na.png,10,12,yes\na.png,,,\n"))
    assert labels.point_names == ["eye"] and labels.attributes == {"smile": ["yes"]}
    assert labels.rows.points[0].tolist() == [[10, 12]] and np.isnan(labels.rows.points[1]).all()
    assert labels.rows.attributes[:, 0].tolist() == [0, -1]


def test_an_mtfl_file_reads_its_five_points_and_four_attributes(tmp_path):
    (tmp_path / "lfw").mkdir()
    Image.new("RGB", (250, 250)).save(tmp_path / "lfw" / "x.jpg")
    (tmp_path / "training.txt").write_text("lfw\\x.jpg 107 147 126 101 152 108 111 135 152 151 1 2 2 3\n")
    labels = read_point_labels(tmp_path)
    assert labels.point_names[:2] == ["left_eye", "right_eye"]
    assert labels.rows.points[0, 1].tolist() == [147, 111]
    assert labels.rows.attributes[0].tolist() == [0, 1, 1, 2]  # male, not smiling, no glasses, frontal
    assert labels.rows.sources[0].endswith("lfw/x.jpg")


@pytest.mark.parametrize(("text", "message"), [
    ("file_name,eye_x,eye_y\na.png,1,2\n", "labels.csv:1: the header needs a path"),
    ("path,eye_x,eye_y,nose_x\na.png,1,2,3\n", "column 'nose_x' has no partner"),
    ("path,eye_x,eye_y\na.png,1\n", "labels.csv:2: 2 cells, the header has 3"),
    ("path,eye_x,eye_y\na.png,one,2\n", "labels.csv:2: point coordinates must be numbers"),
])
def test_a_malformed_csv_is_refused_naming_the_line(tmp_path, text, message):
    with pytest.raises(LabelError, match=message):
        read_point_labels(_write_csv(tmp_path, text))


def test_a_point_outside_its_image_and_a_bad_mtfl_line_are_refused(tmp_path):
    csv = _write_csv(tmp_path, "path,eye_x,eye_y\n" + "a.png,10,10\n" * 5 + "a.png,55,10\n")
    message = cli("landmarks", "train", "--data", csv, "--epochs", 1, fails=True)
    assert "point eye at (55, 10) lies outside the 40 x 30 image" in message
    (tmp_path / "training.txt").write_text("a.png 1 2 3\n")
    with pytest.raises(LabelError, match="training.txt:1: an MTFL line has 15 fields"):
        read_point_labels(tmp_path)
    assert "--data is required" in cli("landmarks", "train", "--epochs", 1, fails=True)


def test_other_data_with_a_value_the_model_does_not_know_is_refused(tmp_path):
    csv = _write_csv(tmp_path, "path,eye_x,eye_y,smile\n" + "a.png,10,10,yes\na.png,20,12,no\n" * 4)
    cli("landmarks", "train", "--data", csv, "--epochs", 1, "--batch", 4, "--progress", "false", "--project",
        tmp_path / "runs", "--name", "tiny")
    model = ocularis.load(tmp_path / "runs" / "landmarks" / "tiny" / "best.ckpt")
    (tmp_path / "other.csv").write_text("path,eye_x,eye_y,smile\na.png,10,10,grin\n")
    with pytest.raises(LabelError, match="smile value 'grin' is not one the model knows \\(no, yes\\)"):
        model.evaluate(str(tmp_path / "other.csv"))
    (tmp_path / "other.csv").write_text("path,nose_x,nose_y\na.png,10,10\n")
    with pytest.raises(LabelError, match="point 'nose' is not one the model finds \\(eye\\)"):
        model.evaluate(str(tmp_path / "other.csv"))


def test_explain_targets_name_an_attribute_its_value_or_a_coordinate():
    from ocularis.errors import ConfigError
    from ocularis.tasks.landmarks.task import output_target

    attributes = {"glasses": ["no", "yes"], "smile": ["no", "yes"]}
    # two points (x, y each), then glasses' and smile's logits
    outputs = torch.tensor([[0.3, 0.4, 0.7, 0.4, 2.0, 0.0, 0.0, 1.0],
                            [0.2, 0.5, 0.6, 0.5, -1.0, 1.0, 3.0, 0.0]])
    own = output_target(outputs, ["left_eye", "right_eye"], attributes, None)  # the first attribute's own value
    assert own.index.tolist() == [4, 5] and own.labels == ["glasses=no", "glasses=yes"]
    assert own.names[0] == f"glasses=no {torch.tensor([2.0, 0.0]).softmax(0)[0]:.2f}"
    assert output_target(outputs, ["left_eye", "right_eye"], attributes, "smile").labels == ["smile=yes", "smile=no"]
    fixed = output_target(outputs, ["left_eye", "right_eye"], attributes, "smile=yes")
    assert fixed.index.tolist() == [7, 7] and fixed.chosen(outputs).tolist() == [1.0, 0.0]
    height = output_target(outputs, ["left_eye", "right_eye"], attributes, "right_eye.y")
    assert height.index.tolist() == [3, 3] and height.names == ["right_eye.y 0.40", "right_eye.y 0.50"]
    assert output_target(outputs[:, :4], ["left_eye", "right_eye"], {}, None).labels == ["left_eye.x"] * 2
    with pytest.raises(ConfigError, match="'nose' is not an output of this model; explain one of glasses, smile, "
                                          "left_eye.x"):
        output_target(outputs, ["left_eye", "right_eye"], attributes, "nose")
