"""Every image file is decoded once before training and at most once per epoch; --cache ram|disk serve the same
pixels without decoding again, also to DataLoader workers."""

import os
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from ocularis.config import build_config
from ocularis.data.cache import ImageCache
from ocularis.data.shapes import draw_scene
from ocularis.errors import ConfigError
from ocularis.tasks.classify import ClassifyConfig
from ocularis.tasks.classify.data import ClassifyData, read_labelled
from ocularis.tasks.detect.config import DetectConfig
from ocularis.tasks.detect.data import DetectData, read_boxes

MODES = ("none", "ram", "disk")
NORMALISE = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}


@pytest.fixture
def file_reads(monkeypatch):
    """Per image file (absolute path): how often PIL opened it, and how often it decoded its pixels."""
    opens, decodes, lock = Counter(), Counter(), threading.Lock()
    real_open, real_load = Image.open, ImageFile.ImageFile.load

    def counting_open(fp, *args, **kwargs):
        if isinstance(fp, str | os.PathLike):
            with lock:
                opens[os.path.abspath(fp)] += 1
        return real_open(fp, *args, **kwargs)

    def counting_load(self):
        if self.tile and self.filename:  # pixels not decoded yet: this call decodes them
            with lock:
                decodes[os.path.abspath(self.filename)] += 1
        return real_load(self)

    monkeypatch.setattr(Image, "open", counting_open)
    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    return opens, decodes


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("OCULARIS_CACHE", str(tmp_path / "cache"))


def each_once(paths) -> dict[str, int]:
    return {os.path.abspath(p): 1 for p in paths}


def run_epoch(datamodule, epoch: int) -> list:
    """One epoch of the train loader and one of the val loader, as Lightning runs them."""
    train = datamodule.train_dataloader()
    train.sampler.set_epoch(epoch)
    return [batch for loader in (train, datamodule.val_dataloader()) for batch in loader]


@pytest.mark.parametrize("mode", MODES)
def test_a_folder_is_decoded_once_before_training_then_once_per_epoch_or_never(shape_folder, file_reads, mode):
    opens, decodes = file_reads
    config = build_config(ClassifyConfig, {"cache": mode, "batch": 64})  # one batch: no image left out by drop_last
    labelled = read_labelled(str(shape_folder), config)
    everything = each_once(shape_folder.rglob("*.png"))
    assert dict(decodes) == everything and dict(opens) == everything  # the check pass is the only look
    data = ClassifyData(labelled, config, imgsz=32, **NORMALISE)
    for epoch in range(2):
        opens.clear(), decodes.clear()
        images = sum(len(batch[0]) for batch in run_epoch(data, epoch))
        assert images == len(labelled.train) + len(labelled.val)
        expected = each_once(labelled.train.sources + labelled.val.sources) if mode == "none" else {}
        assert dict(decodes) == expected and dict(opens) == expected, epoch


def write_yolo(root: Path, count: int = 9) -> Path:
    """A YOLO set of drawn-shape JPEGs (odd sizes), each labelled with its shapes' boxes; the last third is val."""
    rng = np.random.default_rng(0)
    for index in range(count):
        split = "val" if index >= 2 * count // 3 else "train"
        image, objects = draw_scene(rng, 48 + 8 * index, 2)
        height, width = image.shape[:2]
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "images" / split / f"s{index}.jpg", quality=90)
        lines = [f"{o.label} {(o.box[0] + o.box[2]) / 2 / width} {(o.box[1] + o.box[3]) / 2 / height} "
                 f"{(o.box[2] - o.box[0]) / width} {(o.box[3] - o.box[1]) / height}\n" for o in objects]
        (root / "labels" / split / f"s{index}.txt").write_text("".join(lines))
    (root / "data.yaml").write_text("train: images/train\nval: images/val\n"
                                    "names: [circle, square, triangle, star, hexagon]\n")
    return root / "data.yaml"


@pytest.mark.parametrize("mode", MODES)
def test_a_yolo_set_is_decoded_once_before_training_then_once_per_epoch_or_never(tmp_path, file_reads, mode):
    data_yaml = write_yolo(tmp_path / "yolo")
    opens, decodes = file_reads
    config = build_config(DetectConfig, {"data": str(data_yaml), "cache": mode, "batch": 64, "test_fraction": 0.0})
    dataset = read_boxes(str(data_yaml), config)
    everything = each_once((tmp_path / "yolo" / "images").rglob("*.jpg"))
    assert dict(decodes) == everything
    # YOLO boxes are fractions of the image size, so the reader reads each header (no pixels) once; that is all
    assert all(opens[path] - decodes[path] <= 1 for path in everything)
    for split in (dataset.train, dataset.val):  # recorded for anchor fitting and writers: no one asks a file again
        assert split.sizes == [Image.open(source).size for source in split.sources]
    opens.clear(), decodes.clear()
    data = DetectData(dataset, config, imgsz=32, **NORMALISE)
    for epoch in range(2):
        opens.clear(), decodes.clear()
        run_epoch(data, epoch)
        expected = each_once(dataset.train.sources + dataset.val.sources) if mode == "none" else {}
        assert dict(decodes) == expected and dict(opens) == expected, epoch


def test_cached_pixels_are_the_decoded_pixels(shape_folder):
    reference = None
    for mode in MODES:
        config = build_config(ClassifyConfig, {"cache": mode, "augment": "heavy"})
        data = ClassifyData(read_labelled(str(shape_folder), config), config, imgsz=32, **NORMALISE)
        train = data.dataset("train", train=True)
        images = torch.stack([train[(3, index)][0] for index in range(len(train))])
        if reference is None:
            reference = images
        assert torch.equal(images, reference), mode  # the same seeded augmentation of the same pixels


def test_a_second_run_reads_the_disk_cache_and_a_damaged_file_is_rewritten(tmp_path, shape_folder, file_reads):
    opens, decodes = file_reads
    config = build_config(ClassifyConfig, {"cache": "disk"})
    read_labelled(str(shape_folder), config)
    written = sorted((tmp_path / "cache" / "images").iterdir())
    assert len(written) == 60 and all(p.suffix == ".npy" for p in written)  # no temporary file left behind
    opens.clear(), decodes.clear()
    again = read_labelled(str(shape_folder), config)
    assert not decodes and not opens  # the .npy files were written from a full decode of these very files
    written[0].write_bytes(written[0].read_bytes()[:20])  # a damaged cache file: decoded again, rewritten
    read_labelled(str(shape_folder), config)
    assert sum(decodes.values()) == 1 and np.load(written[0]).shape == (32, 32, 3)
    source = again.train.sources[0]
    os.utime(source, ns=(1, 1))  # an edited image: a new key, so its stale pixels are never served
    decodes.clear()
    read_labelled(str(shape_folder), config)
    assert dict(decodes) == each_once([source])


@pytest.mark.parametrize("mode", ["ram", "disk"])
def test_workers_are_served_what_the_main_process_cached(shape_folder, mode):
    """The images are deleted once read: two worker processes must still get every image, the same as in-process."""
    config = build_config(ClassifyConfig, {"cache": mode, "batch": 16})
    labelled = read_labelled(str(shape_folder), config)
    for path in shape_folder.rglob("*.png"):
        path.unlink()
    in_process = run_epoch(ClassifyData(labelled, config, imgsz=32, **NORMALISE), 1)
    config.workers = 2
    in_workers = run_epoch(ClassifyData(labelled, config, imgsz=32, **NORMALISE), 1)
    assert len(in_workers) == len(in_process)
    for (images, targets), (again, again_targets) in zip(in_process, in_workers, strict=True):
        assert torch.equal(images, again) and torch.equal(targets, again_targets)


def test_unknown_mode_or_unwritable_folder_name_the_fix(tmp_path, shape_folder):
    with pytest.raises(ConfigError, match="--cache tape: unknown; choose one of none, ram, disk"):
        ImageCache("tape")
    (tmp_path / "file").write_text("")  # a file where the cache folder should go
    with pytest.raises(ConfigError, match=r"--cache disk: cannot write .*file/.*npy .* set OCULARIS_CACHE"):
        ImageCache("disk", folder=tmp_path / "file").scan([str(p) for p in shape_folder.rglob("*.png")])
