"""The Ultralytics half of benchmarks/dsb2018.py, run by that script in its own environment (Ultralytics is AGPL and
pulls opencv-python, so it never shares ocularis's environment):

    python ultralytics_seg_side.py DATA_YAML TEST_LIST OUT_JSON --imgsz 256 --epochs 30 --batch 8 --iou 0.5

trains YOLOv8n-seg from its yaml (no pretrained weights) on DATA_YAML's train split (validating on its val split),
then writes to OUT_JSON its training seconds, its own validator's numbers on DATA_YAML's test split, images/s of
predict() at batch 1, and each TEST_LIST image's objects: masks as uncompressed COCO RLE at the image's own size,
boxes (x0, y0, x1, y1), scores and labels (1 = the first object class, as in ocularis, where 0 is the background).
Only numpy is needed for the RLE, so this environment needs no pycocotools.
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")  # no hub checks, font or weight downloads

MAX_DET = 1000  # as ocularis's default max_det: a crowded nucleus image holds hundreds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_yaml", help="YOLO-seg data.yaml with train, val and test splits")
    parser.add_argument("test_list", help="text file with one test image path per line")
    parser.add_argument("out_json")
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iou", type=float, default=0.5, help="NMS IoU (ocularis's segmenters use 0.5)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from ultralytics import YOLO

    model = YOLO("yolov8n-seg.yaml")
    train_seconds = train(model, args)
    own = model.val(data=args.data_yaml, split="test", imgsz=args.imgsz, batch=args.batch, device="cpu",
                    plots=False, verbose=False)
    with open(args.test_list) as file:
        images = file.read().split()
    objects = {path: found_objects(model, path, args) for path in images}
    with open(args.out_json, "w") as file:
        json.dump({"train_seconds": train_seconds, "images_per_s": images_per_second(model, images, args),
                   "threads": torch.get_num_threads(), "own_mask_map50": float(own.seg.map50),
                   "own_mask_map50_95": float(own.seg.map), "own_box_map50": float(own.box.map50),
                   "objects": objects}, file)


def train(model, args) -> float:
    """Train from scratch on the CPU (run folder thrown away; the best weights stay loaded); the seconds it took."""
    with tempfile.TemporaryDirectory() as project:
        started = time.perf_counter()
        model.train(data=args.data_yaml, imgsz=args.imgsz, epochs=args.epochs, batch=args.batch, device="cpu",
                    workers=args.workers, pretrained=False, amp=False, plots=False, seed=args.seed, val=True,
                    project=project, name="train", exist_ok=True, verbose=False)
        return time.perf_counter() - started


def found_objects(model, path: str, args) -> dict:
    """One image's objects for ocularis's evaluator: mask AP integrates over every confidence, so keep all of them
    (conf 0.001, as validation does); retina_masks gives masks at the image's own size."""
    result = model.predict(path, imgsz=args.imgsz, conf=0.001, iou=args.iou, max_det=MAX_DET, retina_masks=True,
                           device="cpu", verbose=False)[0]
    height, width = result.orig_shape
    if result.masks is None:
        return {"size": [height, width], "rles": [], "scores": [], "labels": [], "boxes": []}
    masks = result.masks.data.cpu().numpy() > 0.5
    if masks.shape[1:] != (height, width):
        raise RuntimeError(f"{path}: masks are {masks.shape[1:]}, the image {(height, width)}; expected retina masks")
    return {"size": [height, width], "rles": [rle(mask) for mask in masks],
            "scores": result.boxes.conf.tolist(), "labels": (result.boxes.cls.int() + 1).tolist(),
            "boxes": result.boxes.xyxy.tolist()}


def rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a (H, W) bool mask: run lengths in column-major order, starting with a run of 0s
    (pycocotools.mask.frPyObjects reads it)."""
    pixels = mask.ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(pixels[1:] != pixels[:-1]) + 1, [pixels.size]])
    counts = np.diff(bounds).tolist()
    return {"size": list(mask.shape), "counts": [0, *counts] if pixels[0] else counts}


def images_per_second(model, images: list[str], args) -> float:
    """predict() one image path at a time at its default confidence (decode, letterbox, network, NMS, masks at the
    image's size)."""
    def predict(path: str) -> None:
        model.predict(path, imgsz=args.imgsz, iou=args.iou, max_det=MAX_DET, retina_masks=True, device="cpu",
                      verbose=False)

    predict(images[0])  # warm-up
    started = time.perf_counter()
    for path in images:
        predict(path)
    return len(images) / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
