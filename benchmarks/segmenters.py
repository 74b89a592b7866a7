"""Segmentation networks trained on the same split, from scratch, on this machine:

    python benchmarks/segmenters.py --models unet,fcn8s,segnet,pspnet:20 --epochs 30 --imgsz 64
    python benchmarks/segmenters.py --data ../shared/assets/isbi_membranes --models unet --epochs 60 --imgsz 256
    python benchmarks/segmenters.py --data ../shared/assets/dsb2018_nuclei --models yolo_seg,maskrcnn_resnet18_fpn

(`name:epochs` gives one network its own epochs; any other train option passes through as --option value)
prints, per network: the test split's headline metrics (mIoU, mDice, pixel error and Rand error for two classes,
mask AP for instance models), training time and inference FPS (batch 1, one tile of the model's input size).
"""

import argparse
import json
import tempfile
import time

import torch

import ocularis
from ocularis.deploy.timing import time_network
from ocularis.registry import MODELS

SHOWN = ("mIoU", "mDice", "pixel_error", "rand_error", "mask_mAP50", "mask_mAP50_95")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS.names(task="segment")))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--data", default="shapes")
    parser.add_argument("--json", help="also write the rows to this file")
    args, extra = parser.parse_known_args()
    options = {key.lstrip("-").replace("-", "_"): option_value(value) for key, value in zip(extra[::2], extra[1::2],
                                                                                        strict=True)}
    rows = []
    with tempfile.TemporaryDirectory() as project:
        for entry in args.models.split(","):
            name, _, epochs = entry.partition(":")
            segmenter = ocularis.Segmenter(model=name, progress=False, project=project, **options)
            started = time.perf_counter()
            run = segmenter.fit(args.data, epochs=int(epochs or args.epochs))
            seconds = time.perf_counter() - started
            fps = time_network(segmenter.infer, segmenter.sample_inputs(count=8), 1, min_seconds=2.0).images_per_s
            values = {k: run.metrics.values[k] for k in SHOWN if k in run.metrics.values}
            rows.append({"model": name, "epochs": int(epochs or args.epochs), **values, "train_s": round(seconds),
                         "fps": round(fps, 1), "imgsz": segmenter.meta["imgsz"]})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.data}, {torch.get_num_threads()} threads, trained from scratch")
    columns = [c for c in ("model", "epochs", "imgsz", *SHOWN, "train_s", "fps") if any(c in r for r in rows)]
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(cell(row.get(c)) for c in columns) + " |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)


def option_value(text: str):
    """A command-line value as the number it spells, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def cell(value) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
