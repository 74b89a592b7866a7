"""Object detection end to end on the built-in shapes: training learns, predictions are Boxes, the exported ONNX file
reproduces PyTorch, and the server returns boxes; torchvision's detectors train through the same task."""

import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import ocularis
from ocularis.data.detection import read_detection
from ocularis.data.shapes import SHAPES
from ocularis.serve.app import create_app
from ocularis.tasks.detect.config import DetectConfig
from ocularis.tasks.detect.model import build_detector
from ocularis.tasks.detect.module import DetectModule
from tests.conftest import cli, write_shape_images
from tests.serving import needs_browser, page_at


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    """The YOLO-style detector trained briefly on the built-in shapes."""
    project = tmp_path_factory.mktemp("detect_runs")
    detector = ocularis.Detector(model="yolo", imgsz=96, progress=False, project=str(project))
    return detector, detector.fit("shapes", epochs=12)


def test_yolo_learns_shapes_and_fills_the_run_folder(shapes_run):
    _, run = shapes_run
    assert run.metrics.values["mAP50"] > 0.4  # an untrained detector scores about 0
    losses = [row["train/loss"] for row in run.history]
    assert losses[-1] < losses[0] * 0.8
    for name in ("config.yaml", "metrics.csv", "metrics.json", "best.ckpt", "curves.png", "pr_curves.png",
                 "confusion_matrix.png", "predictions.png"):
        assert (run.dir / name).is_file(), name
    saved = json.loads((run.dir / "metrics.json").read_text())
    assert saved["test"]["values"]["mAP50"] == pytest.approx(run.metrics.values["mAP50"])
    assert saved["fps_batch1"] == pytest.approx(run.fps) and run.fps > 0


def test_predictions_are_boxes_in_the_images_own_pixels(shapes_run, tmp_path):
    detector, run = shapes_run
    loaded = ocularis.load(run.best)
    assert isinstance(loaded, ocularis.Detector)
    test = read_detection("shapes").test
    image = np.asarray(Image.fromarray(test.sources[0]).resize((192, 192)))  # twice the size it trained on
    result = loaded.predict(image, conf=0.3)[0]
    assert isinstance(result, ocularis.Boxes) and result.size == (192, 192) and len(result) >= 1
    truth = test.targets[0].boxes * 2
    best = torch.tensor(result.boxes), torch.tensor(truth, dtype=torch.float32)
    from torchvision.ops import box_iou

    assert box_iou(*best).max() > 0.5
    payload = result.to_json()
    assert payload["width"] == 192 and payload["detections"][0]["label"] in loaded.meta["classes"]
    assert len(result.to_yolo().splitlines()) == len(result)
    assert result.save(tmp_path / "drawn.png").is_file()


def test_onnx_export_reproduces_the_detector(shapes_run, tmp_path):
    detector, run = shapes_run
    loaded = ocularis.load(run.best)
    exported = loaded.export("onnx", tmp_path / "det.onnx", verify=True)
    assert exported.verification.agreement == 1.0 and exported.verification.max_abs_diff < 1e-2
    onnx_detector = ocularis.load(exported.path)
    assert onnx_detector.evaluate().values["mAP50"] == pytest.approx(loaded.evaluate().values["mAP50"], abs=1e-3)


def test_the_server_returns_boxes_and_refuses_classification_options(shapes_run):
    _, run = shapes_run
    buffer = __import__("io").BytesIO()
    Image.fromarray(read_detection("shapes").test.sources[1]).save(buffer, format="PNG")
    with TestClient(create_app({"shapes": ocularis.load(run.best)})) as client:
        response = client.post("/v1/models/shapes/predict", files=[("image", ("s.png", buffer.getvalue()))],
                               params={"conf": 0.3})
        assert response.status_code == 200, response.text
        result = response.json()["results"][0]
        assert response.json()["task"] == "detect" and result["width"] == 96 and result["detections"]
        refused = client.post("/v1/models/shapes/predict", files=[("image", ("s.png", buffer.getvalue()))],
                              params={"topk": 3})
        assert refused.status_code == 422 and "'topk' does not apply to a detect model" in refused.text


def test_cli_val_predict_and_benchmark(shapes_run, tmp_path, monkeypatch):
    """The generated CLI on the fixture's checkpoint, in this process (`detect train` is the same code as
    Detector.fit, which the fixture ran; tests/test_cli.py runs the command line as its own process)."""
    monkeypatch.chdir(tmp_path)
    checkpoint = shapes_run[1].best
    assert "mAP50" in cli("detect", "val", "--model", checkpoint)
    folder = tmp_path / "images"
    folder.mkdir()
    for index, pixels in enumerate(read_detection("shapes").test.sources[:3]):
        Image.fromarray(pixels).save(folder / f"{index}.png")
    shown = cli("detect", "predict", "--model", checkpoint, folder, "--save", "--conf", "0.01")
    # at conf 0.01 an image has dozens of boxes: a row counts them per class with the best score of each
    rows = [line for line in shown.splitlines() if ".png" in line]
    assert len(rows) == 3 and all("(best 0." in row and row.count("(best") <= len(SHAPES) for row in rows), shown
    saved = tmp_path / "runs/detect/predict"
    assert len(list(saved.glob("*.png"))) == 3 and len(list((saved / "labels").glob("*.txt"))) == 3
    assert "mAP50" in cli("benchmark", "--model", checkpoint, "--formats", "torch,onnx", "--batch", "1", "--seconds",
                          "0.2")


@pytest.mark.parametrize("name", ["fasterrcnn_resnet50_fpn", "ssd300_vgg16"])  # the others: test_every_model.py
def test_torchvision_detectors_train_a_step_through_the_task(name):
    network = build_detector(name, num_classes=5, in_channels=3, imgsz=96)
    module = DetectModule(network, DetectConfig(model=name), ["a", "b", "c", "d", "e"])
    images = torch.rand(2, 3, 96, 96)
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 40.0, 50.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.tensor([[50.0, 40.0, 90.0, 90.0]]), "labels": torch.tensor([4])}]
    network.train()
    loss = module.training_step((images, targets), 0)
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad is not None for p in network.parameters())
    network.eval()
    rows = network(images)
    assert rows.shape == (2, 100, 10)


@pytest.mark.parametrize(("name", "iou", "share"), [("retinanet_resnet18_fpn", 0.5, 0.95),
                                                     ("fasterrcnn_resnet18_fpn", 0.7, 0.7)])
def test_anchors_reach_the_objects_of_small_images(name, iou, share):
    """Objects need an anchor they can be a positive of (IoU >= 0.5 for RetinaNet, 0.7 for the RPN). Anchors from 8
    pixels reached 72% of these objects for RetinaNet, which then learned nothing (0.013 mAP@.5 in 30 epochs),
    and one scale from 16 pixels 13% for the RPN (now 99% and 75%)."""
    from torchvision.models.detection.image_list import ImageList
    from torchvision.ops import box_iou

    size = 128
    model = build_detector(name, num_classes=5, in_channels=3, imgsz=size).model.eval()
    generator = model.anchor_generator if hasattr(model, "anchor_generator") else model.rpn.anchor_generator
    images = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        anchors = generator(ImageList(images, [(size, size)]), list(model.backbone(images).values()))[0]
    train = read_detection("shapes").train
    boxes = torch.cat([torch.as_tensor(t.boxes, dtype=torch.float32).reshape(-1, 4) * size / pixels.shape[0]
                       for t, pixels in zip(train.targets[:100], train.sources[:100], strict=True)])
    reached = (box_iou(boxes, anchors).max(dim=1).values >= iou).float().mean().item()
    assert reached >= share


def test_video_in_annotated_video_out(shapes_run, tmp_path):
    from ocularis.core.video import VideoWriter, read_frames

    _, run = shapes_run
    video = tmp_path / "clip.avi"
    writer = VideoWriter(video, fps=5)
    for pixels in read_detection("shapes").test.sources[:6]:
        writer.write(pixels)
    writer.close()
    results = ocularis.load(run.best).predict_video(video, save=tmp_path / "boxes.avi", conf=0.3)
    assert len(results) == 6 and sum(len(r) for r in results) >= 3
    assert [r.source for r in results[:2]] == ["clip.avi#0", "clip.avi#1"]
    frames = list(read_frames(tmp_path / "boxes.avi"))
    assert len(frames) == 6 and frames[0].shape == (96, 96, 3)


def test_cli_converts_between_formats(tmp_path):
    cli("data", "convert", "shapes", tmp_path / "coco", "--to", "coco")
    cli("data", "convert", tmp_path / "coco", tmp_path / "voc", "--to", "voc", "--from", "coco")
    assert len(read_detection(str(tmp_path / "voc")).classes) == 5
    assert "looks like coco" in cli("data", "convert", tmp_path / "coco" / "train.json", tmp_path / "x", "--to", "yolo",
                                    "--from", "csv", fails=True)


@needs_browser
def test_the_web_page_lists_the_boxes_it_draws(shapes_run, tmp_path):
    _, run = shapes_run
    image_path = tmp_path / "scene.png"
    Image.fromarray(read_detection("shapes").test.sources[3]).save(image_path)
    expected = ocularis.load(run.best).predict(str(image_path))[0]
    with page_at(create_app({"shapes": ocularis.load(run.best)})) as page:
        page.wait_for_selector("#model option[value='shapes']", state="attached")
        page.set_input_files("#file", str(image_path))
        page.wait_for_selector("#top1", timeout=30_000)
        assert page.inner_text("#top1").startswith(str(len(expected)))
        listed = page.locator(".detection").all_inner_texts()
        assert [line.split()[0] for line in listed] == expected.names


def test_a_boxs_gradcam_puts_most_of_its_mass_inside_that_box_and_agrees_with_occlusion(shapes_run):
    """Explaining a detector: each image's best box, Grad-CAM read at the map its level's head reads."""
    from ocularis.explain.measures import top_region

    detector, _ = shapes_run
    pictures = read_detection("shapes").test.sources[:40]
    looked = detector.explain("gradcam", pictures)
    inside = np.array([e.numbers["mass_in_box"] for e in looked])
    area = np.mean([(e.box[2] - e.box[0]) * (e.box[3] - e.box[1]) / e.heat.size for e in looked])
    occluded = detector.explain("occlusion", pictures)
    same = np.mean([top_region(a.heat, 3) == top_region(b.heat, 3) for a, b in zip(looked, occluded, strict=True)])
    print(f"Grad-CAM mass inside the box {inside.mean():.2f} (boxes cover {area:.2f} of the image); "
          f"same top cell of 3 x 3 as occlusion: {same:.2f} (chance 0.11)")
    assert inside.mean() > 0.5 and same > 0.5  # measured 0.62 and 0.60
    assert all(e.box is not None and e.target.split()[0] in detector.meta["classes"] for e in looked)
    assert "gradcam" in detector.explanations() and "fgsm" not in detector.explanations()
    with pytest.raises(ocularis.errors.ConfigError, match="attacks a classifier's class logits"):
        detector.explain("fgsm", pictures[:1])


def test_target_all_explains_every_box_the_detector_finds(shapes_run):
    """One explanation per detection, the same boxes `predict` returns, each map mostly inside its own box."""
    detector, _ = shapes_run
    pictures = read_detection("shapes").test.sources[:6]
    found = detector.predict(pictures)
    looked = detector.explain("gradcam", pictures, target="all")
    assert len(looked) == sum(max(len(r), 1) for r in found) > len(pictures)
    side = detector.meta["imgsz"]
    for result in found:
        mine = [e for e in looked if e.source == result.source]
        scale = np.array([side / result.size[0], side / result.size[1]] * 2)
        np.testing.assert_allclose([e.box for e in mine], result.boxes * scale, atol=1e-3)
        assert [e.target.split()[0] for e in mine] == result.names
    inside = np.mean([e.numbers["mass_in_box"] for e in looked])
    print(f"{len(looked)} boxes in {len(pictures)} images; Grad-CAM mass inside each box {inside:.2f}")
    assert inside > 0.4


def test_the_yolo_box_loss_keeps_finite_gradients_when_a_predicted_size_saturates():
    """A raw size of -100 underflows the size's square; CIoU's aspect term must not turn that into NaN gradients."""
    from ocularis.models.yolo import YOLOLoss
    from ocularis.tasks.detect.model import build_detector

    network = build_detector("yolo", num_classes=2, in_channels=3, imgsz=64)
    maps = [m.detach() for m in network.heads(torch.rand(1, 3, 64, 64))]
    for raw in maps:
        raw[..., 2:4] = -100.0
        raw.requires_grad_(True)
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 40.0, 50.0]]), "labels": torch.tensor([1])}]
    parts = YOLOLoss()(network, maps, targets)
    sum(parts.values()).backward()
    assert all(torch.isfinite(raw.grad).all() for raw in maps) and torch.isfinite(parts["box"])


def test_the_face_pipeline_finds_faces_with_a_trained_detector(shapes_run, tmp_path):
    """A detect checkpoint stands in for the Haar cascades (here the shapes detector's circles are the "faces"):
    the face pipeline's boxes are the detector's own boxes of that class."""
    checkpoint = shapes_run[1].best
    photos = write_shape_images(tmp_path / "photos", per_class=3, size=96)["circle"]
    cli("faces", "detect", *photos, "--detector", checkpoint, "--face-class", "circle", "--save")
    found = json.loads(next((tmp_path / "runs/faces").glob("detect*/faces.json")).read_text())
    predicted = ocularis.load(checkpoint).predict([str(p) for p in photos])
    for photo, boxes in zip(found, predicted, strict=True):
        circles = [[round(v) for v in box] for box, name in zip(boxes.boxes.tolist(), boxes.names, strict=True)
                   if name == "circle"]
        assert [face["box"] for face in photo["faces"]] == circles and photo["faces"][0]["eyes"] is None
    assert sum(bool(photo["faces"]) for photo in found) >= 2
    message = cli("faces", "detect", *photos, "--detector", checkpoint, "--face-class", "dog", fails=True)
    assert "--face-class 'dog' is not one of" in message
