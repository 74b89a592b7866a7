"""ocularis's instance segmenters beside Ultralytics YOLOv8n-seg on the DSB2018 nuclei, all from scratch on this CPU.

By default only ocularis's side runs, and its run folders stay under --project (runs/dsb2018) to evaluate again
later. Ultralytics runs in its own environment (AGPL, and its opencv-python clashes with our opencv-contrib), so it is
never a dependency of ocularis; to run it beside ours, make that environment once (check with --dry-run first that
ultralytics pulls no other torch) and name its python:

    python3 -m venv ulvenv && ulvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics
    python benchmarks/dsb2018.py --ultralytics-python ulvenv/bin/python --imgsz 256 --epochs 30 --batch 8

One seeded split of the 100 images (ocularis's read_segmentation, seed 0: 70 train / 10 val / 20 test) serves every
model: ours train on it as they would on the folder; Ultralytics gets the same train and val images as YOLO-seg data
(ocularis's writer, polygons from the nucleus masks). Every model trains at the same --imgsz, --epochs and --batch and
is scored by ocularis's mask and box AP (COCO segm and bbox, equal to pycocotools) against the same decoded test
masks, on the whole test images at conf 0.001, NMS IoU --iou and at most 1,000 objects per image (ocularis's
max_det). Ultralytics' own validator's numbers on the same test images are printed for reference.

What "the same imgsz" means differs: ours train on random imgsz crops at the images' own pixels and predict whole
images tile by tile; Ultralytics letterboxes each image to imgsz on its longer side, so a 696 x 520 image's nuclei
shrink 2.7 times. Train seconds are the training epochs with their validation (ours: the run's per-epoch seconds,
without the final test scoring and plots fit() adds, which the JSON's fit_s includes; Ultralytics: its train() call,
which also re-validates the best weights). images/s is predict() on one test image path at a time, conf 0.25.
`--limit N` keeps the first N train images (smoke tests); any other --option value goes to our Segmenters.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from coco128 import images_per_second  # sibling scripts: run as python benchmarks/dsb2018.py
from segmenters import cell, option_value

import ocularis
from ocularis.data.coco_seg import write_coco_masks
from ocularis.data.masks import SegmentationSet, SegmentationSplit, SourceMasks
from ocularis.data.segmentation import read_segmentation
from ocularis.data.yolo_seg import write_yolo_seg
from ocularis.tasks.segment.metrics import instance_average_precision

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("OCULARIS_ASSETS", ROOT.parent / "shared" / "assets"))
TEST_FRACTION, SEED = 0.2, 0
COLUMNS = ("model", "epochs", "imgsz", "mask_mAP50", "mask_mAP50_95", "box_mAP50_95", "train_s", "images_per_s")
HEADERS = ("model", "epochs", "imgsz", "mask mAP@.5", "mask mAP@.5:.95", "box mAP@.5:.95", "train s", "images/s")


def main() -> None:
    args, options = parse()
    dataset = read_segmentation(args.data, val_fraction=args.val_fraction, test_fraction=TEST_FRACTION, seed=SEED)
    if args.limit:
        dataset.train = dataset.train.subset(range(min(args.limit, len(dataset.train))))
    truths = [decoded(source, target) for source, target in zip(dataset.test.sources, dataset.test.targets,
                                                                 strict=True)]
    print(f"{len(dataset.train)} train / {len(dataset.val)} val / {len(dataset.test)} test images, {args.imgsz} px, "
          f"{args.epochs} epochs, batch {args.batch}, {torch.get_num_threads()} threads", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        data = str(write_coco_masks(source_of(dataset), work / "coco")) if args.limit else args.data
        for entry in filter(None, args.models.split(",")):
            name, _, epochs = entry.partition(":")
            rows.append(ours(name, int(epochs or args.epochs), data, dataset.test, args, options))
            print(json.dumps(rows[-1]), flush=True)
        if args.ultralytics_python:
            rows.append(theirs(dataset, truths, args, work))
            print(json.dumps(rows[-1]), flush=True)
    print_table(rows, args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def parse() -> tuple[argparse.Namespace, dict]:
    """The arguments, and the unknown `--option value` pairs as our Segmenters' options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ASSETS / "dsb2018_nuclei"))
    parser.add_argument("--models", default="yolo_seg,maskrcnn_resnet18_fpn",
                        help="ours, comma-separated, name:epochs for other epochs than --epochs ('' none)")
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iou", type=float, default=0.5, help="NMS IoU of every model (ocularis's default)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="of all images, taken from the non-test 80%%")
    parser.add_argument("--limit", type=int, default=0, help="keep only the first N train images (smoke tests)")
    parser.add_argument("--ultralytics-python", default="",
                        help="the Ultralytics venv's python (see above; default: ours only)")
    parser.add_argument("--project", default="runs/dsb2018", help="where our run folders are kept")
    parser.add_argument("--json", help="also write the rows to this file")
    args, extra = parser.parse_known_args()
    if args.ultralytics_python and not Path(args.ultralytics_python).is_file():
        sys.exit(f"--ultralytics-python {args.ultralytics_python}: no such interpreter; make the venv first (see "
                 "this file's docstring)")
    if len(extra) % 2 or not all(key.startswith("--") for key in extra[::2]):
        sys.exit(f"unrecognised arguments {' '.join(extra)}; other options go as --option value pairs")
    pairs = zip(extra[::2], extra[1::2], strict=True)
    return args, {key[2:].replace("-", "_"): option_value(value) for key, value in pairs}


def source_of(dataset: SegmentationSet, splits=("train", "val", "test")) -> SourceMasks:
    """`dataset`'s splits as a source that names them, for a writer: read back, no split is drawn again."""
    return SourceMasks(dataset.classes, {name: getattr(dataset, name) for name in splits}, instances=True)


def decoded(source: str, target) -> tuple[np.ndarray, np.ndarray]:
    """A test image's true (masks, labels) at its own size: what ocularis's score() compares ours with."""
    from PIL import Image

    with Image.open(source) as image:
        labels = target.decode(image.size)
    return labels.masks, labels.labels


def ours(name: str, epochs: int, data: str, test: SegmentationSplit, args, options: dict) -> dict:
    """Train one of our segmenters on the split (fit scores it on the test images), time predict()."""
    segmenter = ocularis.Segmenter(model=name, progress=False, project=args.project, imgsz=args.imgsz,
                                   batch=args.batch, iou=args.iou, **options)
    started = time.perf_counter()
    run = segmenter.fit(data, epochs=epochs, val_fraction=args.val_fraction, test_fraction=TEST_FRACTION,
                        seed=SEED)
    seconds = time.perf_counter() - started
    scored = segmenter.dataset(split="test").split.image_ids
    if scored != test.image_ids:
        raise RuntimeError(f"{name} was tested on {scored[:3]}..., not the benchmark's {test.image_ids[:3]}...")
    speed = images_per_second(segmenter.predict, test.sources)
    training = sum(epoch["seconds"] for epoch in run.history)  # the epochs alone, as Ultralytics' train() times
    label = name + "".join(f" --{key} {value}" for key, value in options.items())
    return {**row(label, epochs, args, run.metrics.values, training, speed), "fit_s": round(seconds),
            "run_dir": str(run.dir)}


def theirs(dataset: SegmentationSet, truths: list, args, work: Path) -> dict:
    """Train YOLOv8n-seg in its own environment on the same train/val images; score its test objects here."""
    data_yaml = write_yolo_seg(source_of(dataset), work / "yolo")
    (work / "test.txt").write_text("\n".join(dataset.test.sources))
    subprocess.run([args.ultralytics_python, str(ROOT / "benchmarks" / "ultralytics_seg_side.py"), str(data_yaml),
                    str(work / "test.txt"), str(work / "theirs.json"), "--imgsz", str(args.imgsz), "--epochs",
                    str(args.epochs), "--batch", str(args.batch), "--iou", str(args.iou), "--seed", str(SEED)],
                   check=True, cwd=work)
    found = json.loads((work / "theirs.json").read_text())
    predictions = [objects(found["objects"][source]) for source in dataset.test.sources]
    values = instance_average_precision(predictions, truths, len(dataset.classes))
    own = {key: round(found[key], 4) for key in ("own_mask_map50", "own_mask_map50_95", "own_box_map50")}
    timing = found["train_seconds"], found["images_per_s"]
    return {**row("ultralytics yolov8n-seg", args.epochs, args, values, *timing), **own}


def objects(entry: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ultralytics' objects of one image (uncompressed COCO RLE, boxes xyxy) as (masks, scores, labels, boxes)."""
    from pycocotools import mask as coco_mask

    height, width = entry["size"]
    masks = (coco_mask.decode(coco_mask.frPyObjects(entry["rles"], height, width)).transpose(2, 0, 1).astype(bool)
             if entry["rles"] else np.zeros((0, height, width), bool))
    return (masks, np.asarray(entry["scores"], np.float64), np.asarray(entry["labels"], np.int64),
            np.asarray(entry["boxes"], np.float64).reshape(-1, 4))


def row(name: str, epochs: int, args, values: dict, seconds: float, speed: float) -> dict:
    return {"model": name, "epochs": epochs, "imgsz": args.imgsz, "mask_mAP50": values["mask_mAP50"],
            "mask_mAP50_95": values["mask_mAP50_95"], "box_mAP50_95": values["box_mAP50_95"],
            "train_s": round(seconds), "images_per_s": round(speed, 2)}


def print_table(rows: list[dict], args) -> None:
    print(f"\n{Path(args.data).name}, {torch.get_num_threads()} threads, trained from scratch; mask AP by "
          "ocularis on the same test images")
    print("| " + " | ".join(HEADERS) + " |\n|" + "---|" * len(HEADERS))
    for entry in rows:
        print("| " + " | ".join(cell(entry.get(column)) for column in COLUMNS) + " |")
    for entry in rows:
        if "own_mask_map50" in entry:
            print(f"({entry['model']}'s own validator on the same test images: mask mAP@.5 "
                  f"{entry['own_mask_map50']:.4f}, mask mAP@.5:.95 {entry['own_mask_map50_95']:.4f})")


if __name__ == "__main__":
    main()
