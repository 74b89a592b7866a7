"""Train an ants-vs-bees classifier from scratch on real photos and report its accuracy and training time.

What it measures: the test accuracy of the best checkpoint (chosen on val) and the wall time of the training
epochs, for a from-scratch recipe trained through the public API (`ocularis.Classifier(...).fit(...)`) on the
hymenoptera photos (train/: 245 images, val/: 153). The data has no test/ folder, so ocularis reports the val
split as the test split: the accuracy printed here is the val accuracy of the best epoch, re-measured by
fit()'s final evaluation. Goal: >= 0.75 within about 10-12 minutes on a 2-core CPU.

Run from the repository root:

    python benchmarks/hymenoptera.py                       # the default recipe, seed 0
    python benchmarks/hymenoptera.py --seeds 0 1 2         # several seeds, to see the spread
    python benchmarks/hymenoptera.py --data /path/to/hymenoptera_data --epochs 40 --imgsz 96
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from ocularis import Classifier

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO / ".." / "shared" / "assets" / "hymenoptera_data"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with train/ and val/ class folders (default: ../shared/assets/"
                             "hymenoptera_data relative to the repository root)")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--imgsz", type=int, default=112)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--optimizer", default="adamw", choices=["adamw", "adam", "sgd"])
    parser.add_argument("--scheduler", default="cosine", choices=["cosine", "step", "none"])
    parser.add_argument("--augment", default="heavy", choices=["none", "light", "heavy"])
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice, one per core); use fewer on a busy machine")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--project", default=str(REPO / "runs" / "benchmarks"), help="where run folders go")
    parser.add_argument("--progress", action="store_true", help="show Lightning's progress bar")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data = args.data.resolve()
    if not (data / "train").is_dir() or not (data / "val").is_dir():
        sys.exit(f"hymenoptera data not found at {data} (expected train/ and val/ folders of ants/ and bees/); "
                 "pass its location with --data")
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = {"imgsz": args.imgsz, "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
              "weight_decay": args.weight_decay, "optimizer": args.optimizer, "scheduler": args.scheduler,
              "augment": args.augment, "label_smoothing": args.label_smoothing, "workers": args.workers}
    print(f"data   {data}")
    print(f"recipe model={args.model} weights=None (from scratch) "
          + " ".join(f"{k}={v}" for k, v in recipe.items()))
    print(f"torch  {torch.__version__}, {torch.get_num_threads()} threads")
    results = []
    for seed in args.seeds:
        started = time.perf_counter()
        run = Classifier(model=args.model).fit(str(data), seed=seed, project=args.project,
                                               name=f"hymenoptera-{args.model}-s{seed}",
                                               progress=args.progress, **recipe)
        total = time.perf_counter() - started
        train_s = sum(row["seconds"] for row in run.history)  # the epochs only (History callback)
        best = max(run.history, key=lambda row: row.get("val/acc", -1.0))
        accuracy = run.metrics.values["accuracy"]
        results.append((seed, accuracy, train_s))
        print(f"seed {seed}: test(=val) accuracy {accuracy:.4f} (best epoch {best['epoch']}), "
              f"training {train_s / 60:.1f} min ({train_s / len(run.history):.1f} s/epoch), "
              f"whole fit() {total / 60:.1f} min, run folder {run.dir}")
    if len(results) > 1:
        accuracies = [a for _, a, _ in results]
        print(f"over {len(results)} seeds: accuracy mean {statistics.mean(accuracies):.4f} "
              f"sd {statistics.stdev(accuracies):.4f} min {min(accuracies):.4f} max {max(accuracies):.4f}; "
              f"training mean {statistics.mean(t for _, _, t in results) / 60:.1f} min")


if __name__ == "__main__":
    main()
