"""The Ultralytics half of benchmarks/coco128.py, run by that script in its own environment (Ultralytics is AGPL and
pulls opencv-python, so it never shares ocularis's environment):

    python ultralytics_side.py DATA_YAML VAL_LIST OUT_JSON --imgsz 320 --epochs 30 --batch 16

trains YOLOv8n from its yaml (no pretrained weights), then writes to OUT_JSON its training seconds, its own
validation numbers, images/s of predict() at batch 1, and every val image's detections for ocularis's evaluator.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("YOLO_OFFLINE", "1")  # no hub checks, font or weight downloads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_yaml")
    parser.add_argument("val_list", help="text file with one val image path per line")
    parser.add_argument("out_json")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    with tempfile.TemporaryDirectory() as project:
        started = time.perf_counter()
        model.train(data=args.data_yaml, imgsz=args.imgsz, epochs=args.epochs, batch=args.batch, device="cpu",
                    workers=args.workers, pretrained=False, amp=False, plots=False, seed=args.seed, val=True,
                    project=project, name="train", exist_ok=True, verbose=False)
        train_seconds = time.perf_counter() - started
    own = model.val(data=args.data_yaml, imgsz=args.imgsz, batch=args.batch, device="cpu", plots=False,
                    verbose=False)
    with open(args.val_list) as file:
        images = file.read().split()
    detections = {}
    for path in images:  # the evaluator integrates over every confidence: keep all boxes, as validation does
        found = model.predict(path, imgsz=args.imgsz, conf=0.001, iou=0.6, max_det=300, device="cpu",
                              verbose=False)[0].boxes
        detections[path] = {"boxes": found.xyxy.tolist(), "scores": found.conf.tolist(),
                            "labels": found.cls.int().tolist()}
    model.predict(images[0], imgsz=args.imgsz, device="cpu", verbose=False)  # warm-up
    started = time.perf_counter()
    for path in images:
        model.predict(path, imgsz=args.imgsz, device="cpu", verbose=False)
    images_per_s = len(images) / (time.perf_counter() - started)
    with open(args.out_json, "w") as file:
        json.dump({"train_seconds": train_seconds, "images_per_s": images_per_s, "threads": torch.get_num_threads(),
                   "own_map50": float(own.box.map50), "own_map50_95": float(own.box.map),
                   "detections": detections}, file)


if __name__ == "__main__":
    main()
