"""Training throughput of ocularis (Classifier.fit) relative to a bare PyTorch loop doing the same work.

Like with like: both sides train the same network (ocularis.tasks.classify.model.build_network) on the same data,
through the same DataLoaders, sampler and transforms (ocularis's ClassifyData: decode/convert, resize, normalise
per image, the per-image augmentation seeding included), with the same batch size, AdamW optimiser, cosine schedule
and number of epochs, in one process. Each epoch of both sides is a training pass plus a no-grad pass over the val
split that computes the val loss and accuracy, because fit() validates every epoch. So the ratio measures what
ocularis adds on top: Lightning's loop, callbacks, logging, metrics, the progress bar and the per-epoch checkpoint
writes (last.ckpt, and best.ckpt when val accuracy improves).

Timing: ocularis's one-off costs (reading/checking the data, building the model, the final test evaluation and
plots) are left out by timing only its epochs, using the per-epoch `seconds` column that the History callback
writes into TrainingRun.history. Those run from one epoch's row to the next, so each timed epoch holds one round
of training, validation and checkpoint writes, as a bare epoch holds everything from its start to its end. The
first epoch of each side is a warm-up and is not counted, and the sides are run alternately --repeats times (which
goes first alternates too). The median and the best of each side are reported: on a shared machine the best run is
the least disturbed one; on a busy two-core machine single runs vary by +-15%, so use more repeats there.
Goal: ratio >= 0.95.

    python benchmarks/train_overhead.py                        # simple_cnn on digits at 32x32, batch 32
    python benchmarks/train_overhead.py --no-progress --repeats 5
"""

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from ocularis import Classifier
from ocularis.config import build_config
from ocularis.tasks.classify.config import ClassifyConfig
from ocularis.tasks.classify.data import ClassifyData, read_labelled
from ocularis.tasks.classify.model import build_network


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", help="built-in dataset name, image folder or CSV")
    parser.add_argument("--model", default="simple_cnn")
    parser.add_argument("--imgsz", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=6, help="per run; the first one is warm-up")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                        help="ocularis's progress bar (on by default, as in ocularis)")
    return parser.parse_args()


def options(args: argparse.Namespace) -> dict:
    return {"data": args.data, "model": args.model, "imgsz": args.imgsz, "batch": args.batch,
            "epochs": args.epochs, "optimizer": "adamw", "scheduler": "cosine", "augment": "none",
            "accelerator": "cpu", "seed": 0}


def bare_epochs(config: ClassifyConfig) -> tuple[int, list[float]]:
    """A plain PyTorch loop; returns (training images per epoch, seconds of each epoch)."""
    labelled = read_labelled(config.data, config)
    network = build_network(config.model, num_classes=len(labelled.classes), in_channels=labelled.channels)
    data = ClassifyData(labelled, config, imgsz=config.imgsz, mean=network.mean, std=network.std)
    train_loader, val_loader = data.train_dataloader(), data.val_dataloader()
    # the fused kernel ocularis picks on a CPU or GPU (ocularis.engine.optim), so both sides step alike
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.lr * 0.01)
    seconds, images = [], 0
    for epoch in range(config.epochs):
        started, images, correct, val_loss = time.perf_counter(), 0, 0, 0.0
        train_loader.sampler.set_epoch(epoch)
        network.train()
        for x, y in train_loader:
            loss = F.cross_entropy(network(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += len(x)
        network.eval()
        with torch.no_grad():
            for x, y in val_loader:
                logits = network(x)
                val_loss += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
        schedule.step()
        seconds.append(time.perf_counter() - started)
    return images, seconds


def ocularis_epochs(args: argparse.Namespace, config: ClassifyConfig, project: str) -> list[float]:
    opts = {k: v for k, v in options(args).items() if k != "data"}
    run = Classifier(**opts).fit(args.data, project=project, progress=args.progress)
    return [row["seconds"] for row in run.history]


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = build_config(ClassifyConfig, options(args))
    bare_epochs(build_config(ClassifyConfig, {**options(args), "epochs": 1}))  # warm-up: threads, allocator
    bare, ours = [], []
    with tempfile.TemporaryDirectory() as project:
        for repeat in range(args.repeats):
            # the side that goes first alternates, so that neither always follows the other's clean-up
            for side in ("bare", "ocularis") if repeat % 2 == 0 else ("ocularis", "bare"):
                if side == "bare":
                    images, seconds = bare_epochs(config)
                    bare.append(images * (len(seconds) - 1) / sum(seconds[1:]))
                else:
                    timed = ocularis_epochs(args, config, project)[1:]
                    ours.append(images * len(timed) / sum(timed))  # images: set by repeat 0, bare first
            print(f"repeat {repeat}: bare {bare[-1]:.0f} img/s, ocularis {ours[-1]:.0f} img/s")
    print(f"\n{args.model} on {args.data} at {args.imgsz}px, batch {args.batch}, {args.epochs - 1} timed epochs "
          f"x {args.repeats} repeats, {images} training images/epoch, {torch.get_num_threads()} threads, "
          f"progress bar {'on' if args.progress else 'off'}")
    print(f"{'images/s':10}{'median':>10}{'best':>10}")
    for name, values in (("bare", bare), ("ocularis", ours)):
        print(f"{name:10}{statistics.median(values):10.0f}{max(values):10.0f}")
    print(f"{'ratio':10}{statistics.median(ours) / statistics.median(bare):10.3f}{max(ours) / max(bare):10.3f}"
          "   (goal >= 0.95)")


if __name__ == "__main__":
    main()
