"""Every registered detector trained on the same built-in shapes split, from scratch, on this machine:

    python benchmarks/detectors.py --models yolo:100,ssd7,fasterrcnn_resnet18_fpn:8 --epochs 30

(`name:epochs` gives one detector its own epochs)
prints, per detector: test mAP@.5, mAP@.5:.95, training time and inference FPS (batch 1, the model's input size).
"""

import argparse
import tempfile
import time

import torch

import ocularis
from ocularis.deploy.timing import time_network
from ocularis.registry import MODELS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS.names(task="detect")))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--imgsz", type=int, default=None, help="input size (default: each model's own)")
    parser.add_argument("--data", default="shapes")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as project:
        for entry in args.models.split(","):
            name, _, epochs = entry.partition(":")
            detector = ocularis.Detector(model=name, progress=False, project=project, imgsz=args.imgsz)
            started = time.perf_counter()
            run = detector.fit(args.data, epochs=int(epochs or args.epochs))
            seconds = time.perf_counter() - started
            fps = time_network(detector.infer, detector.sample_inputs(count=8), 1, min_seconds=2.0).images_per_s
            rows.append((name, int(epochs or args.epochs), run.metrics.values["mAP50"], run.metrics.values["mAP50_95"],
                         seconds, fps))
            print(f"{name}: mAP@.5 {rows[-1][2]:.3f}  mAP@.5:.95 {rows[-1][3]:.3f}  {seconds:.0f} s  {fps:.1f} FPS",
                  flush=True)
    print(f"\n{args.data}, {torch.get_num_threads()} threads")
    print(f"{'model':<32} {'epochs':>6} {'mAP@.5':>7} {'mAP@.5:.95':>10} {'train s':>8} {'FPS':>7}")
    for name, epochs, map50, map5095, seconds, fps in rows:
        print(f"{name:<32} {epochs:>6} {map50:>7.3f} {map5095:>10.3f} {seconds:>8.0f} {fps:>7.1f}")


if __name__ == "__main__":
    main()
