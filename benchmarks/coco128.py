"""Our YOLO-style detector beside Ultralytics YOLOv8n on real photos (COCO128), both from scratch on this CPU:

    python -m venv .venv-ultralytics && .venv-ultralytics/bin/pip install torch torchvision ultralytics
    python benchmarks/coco128.py --imgsz 320 --epochs 30

One seeded split of the 128 images (96 train / 32 val) is written as YOLO data; each detector trains on the same
train images at the same size, epochs and batch, then both are scored by ocularis's evaluator (equal to pycocotools)
on the same val images, each with its own NMS at IoU --iou and confidence 0.001. Inference speed is predict() on one
image path at a time (decode, resize, network, NMS). Ultralytics runs in its own environment (AGPL, and its
opencv-python clashes with our opencv-contrib), so it is never a dependency of ocularis.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import ocularis
from ocularis.data.detection import SourceDetections, read_detection
from ocularis.data.yolo import write_yolo
from ocularis.tasks.detect.metrics import detection_metrics

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("OCULARIS_ASSETS", ROOT.parent / "shared" / "assets"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ASSETS / "coco128" / "coco128.yaml"))
    parser.add_argument("--model", default="yolo_s", help="our detector")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--iou", type=float, default=0.6, help="NMS IoU of both detectors while scoring")
    parser.add_argument("--ultralytics-python", default=str(ROOT / ".venv-ultralytics" / "bin" / "python"))
    args = parser.parse_args()
    if not Path(args.ultralytics_python).is_file():
        sys.exit(f"--ultralytics-python {args.ultralytics_python}: no such interpreter; make the venv first (see "
                 "this file's docstring)")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        dataset = read_detection(args.data, val_fraction=0.25, test_fraction=0.0, seed=0)
        data_yaml = write_yolo(SourceDetections(dataset.classes, {"train": dataset.train, "val": dataset.val}, []),
                               work / "data")
        val = read_detection(str(data_yaml), test_fraction=0.0).val
        (work / "val.txt").write_text("\n".join(str(p) for p in val.sources))
        truths = [(t.boxes, t.labels) for t in val.targets]
        print(f"{len(dataset.train)} train / {len(val)} val images, {args.imgsz} px, {args.epochs} epochs, "
              f"{torch.get_num_threads()} threads", flush=True)

        ours = ocularis.Detector(model=args.model, imgsz=args.imgsz, batch=args.batch, progress=False,
                                 project=str(work / "runs"), iou=args.iou, mosaic=1.0)
        started = time.perf_counter()
        ours.fit(str(data_yaml), epochs=args.epochs, test_fraction=0.0)
        our_seconds = time.perf_counter() - started
        our_metrics = ours.evaluate(split="val").values
        our_speed = images_per_second(lambda path: ours.predict(path), val.sources)
        print(f"ours: mAP@.5 {our_metrics['mAP50']:.4f} in {our_seconds:.0f} s", flush=True)

        subprocess.run([args.ultralytics_python, str(ROOT / "benchmarks" / "ultralytics_side.py"), str(data_yaml),
                        str(work / "val.txt"), str(work / "theirs.json"), "--imgsz", str(args.imgsz),
                        "--epochs", str(args.epochs), "--batch", str(args.batch)], check=True, cwd=work)
        theirs = json.loads((work / "theirs.json").read_text())
        found = [theirs["detections"][str(p)] for p in val.sources]
        their_metrics = detection_metrics([(torch.tensor(f["boxes"]).reshape(-1, 4), torch.tensor(f["scores"]),
                                            torch.tensor(f["labels"], dtype=torch.int64)) for f in found],
                                          truths, dataset.classes).values

    rows = [("mAP@.5", our_metrics["mAP50"], their_metrics["mAP50"]),
            ("mAP@.5:.95", our_metrics["mAP50_95"], their_metrics["mAP50_95"]),
            ("train s", our_seconds, theirs["train_seconds"]),
            ("images/s", our_speed, theirs["images_per_s"])]
    print(f"\n{'':<12} {'ours (' + args.model + ')':>16} {'YOLOv8n':>10} {'ours/theirs':>12}")
    for name, mine, other in rows:
        ratio = f"{mine / other:.2f}" if other else "-"
        print(f"{name:<12} {mine:>16.4f} {other:>10.4f} {ratio:>12}")
    print(f"(YOLOv8n's own validator on the same val images: mAP@.5 {theirs['own_map50']:.4f}, "
          f"mAP@.5:.95 {theirs['own_map50_95']:.4f})")


def images_per_second(predict, paths: list) -> float:
    predict(paths[0])  # warm-up
    started = time.perf_counter()
    for path in paths:
        predict(path)
    return len(paths) / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
