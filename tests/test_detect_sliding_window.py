"""The naive sliding-window detector: its pyramid's crops are the windows training samples, it learns the built-in
shapes in a few epochs, and the exported ONNX file reproduces it."""

import numpy as np
import pytest
import torch
from torchvision.ops import roi_align

import ocularis
from ocularis.tasks.detect.model import build_detector


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    detector = ocularis.Detector(model="sliding_window", progress=False, project=str(tmp_path_factory.mktemp("sw")))
    # small val and test splits: every window is classified on its own, so evaluating is what costs here
    return detector, detector.fit("shapes", epochs=2, lr=0.01, val_fraction=0.05, test_fraction=0.1)


def test_the_pyramid_crops_are_the_windows_training_sees():
    network = build_detector("sliding_window", num_classes=3, in_channels=3, imgsz=96,
                             box_sizes=np.random.default_rng(0).uniform(12, 50, (100, 2)))
    images = torch.rand(2, 3, 96, 96)
    crops = network.crops(images)  # resize + unfold, as inference does
    rois = torch.cat([torch.cat([torch.full((len(network.grid), 1), float(i)), network.grid], 1) for i in range(2)])
    sampled = roi_align(images, rois, network.patch, 1.0, 1, aligned=True)  # as training does
    assert torch.allclose(crops.flatten(0, 1), sampled, atol=1e-4)
    outputs = network.eval()(images)
    assert outputs.shape == (2, len(network.grid), 4 + 1 + 3)
    assert ((outputs[..., 4:] >= 0) & (outputs[..., 4:] <= 1)).all()


def test_training_losses_take_images_without_boxes():
    network = build_detector("sliding_window", num_classes=3, in_channels=3, imgsz=96)
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 40.0, 50.0]]), "labels": torch.tensor([2])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    losses = network.training_losses(torch.rand(2, 3, 96, 96), targets)
    sum(losses.values()).backward()
    assert set(losses) == {"cls", "box"} and all(torch.isfinite(v) for v in losses.values())
    empty = [targets[1], targets[1]]
    assert network.training_losses(torch.rand(2, 3, 96, 96), empty)["box"] == 0


def test_sliding_window_learns_shapes(shapes_run):
    _, run = shapes_run
    # 2 epochs scored test mAP@.5 0.11-0.13 (mAP@.5:.95 0.04-0.05); untrained networks scored 0.001-0.002
    assert run.metrics.values["mAP50"] > 0.06
    assert run.history[-1]["train/loss"] < run.history[0]["train/loss"]


def test_onnx_export_reproduces_the_sliding_window_detector(shapes_run, tmp_path):
    detector, run = shapes_run
    loaded = ocularis.load(run.best)
    # the window shapes were fitted to the training boxes: the checkpoint carries them and the pyramid follows
    assert torch.equal(loaded.network.windows, detector.network.windows)
    assert torch.equal(loaded.network.grid, detector.network.grid)
    exported = loaded.export("onnx", tmp_path / "sw.onnx", verify=True)
    assert exported.verification.agreement == 1.0 and exported.verification.max_abs_diff < 1e-2
