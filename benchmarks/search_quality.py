"""Image search quality on the hymenoptera photos: a network trained here from scratch against raw pixels and colour
histograms.

What it measures: the 245 train photos (ants/, bees/; labels = class folder) are indexed and every one of the 153 val
photos queries the index for its k = 5 nearest; a hit is relevant when it is of the query's class. Reported per
embedding: precision@5, recall@5 and mAP@5 (ocularis.search.metrics.retrieval_metrics, the relevant count of a query
being the train photos of its class), the embedding's size and the seconds it took (training included). Chance is the
share of the majority class among the train photos: what precision@5 a search that always answered that class would
reach.

The embeddings:

- network: a classifier (default simple_cnn, imgsz 64, 30 epochs, light augmentation) trained FROM SCRATCH here, on
  the train photos only (no pretrained weights exist offline); its feature layer embeds. It is indexed and queried
  through the public API, `ocularis.uses.indexing.index_images` and `search_images`, as `ocularis embed index` and
  `ocularis embed search` do. --holdout of the train photos (default 0.15) are held out of training to choose the best
  epoch, so the val photos take no part in training or model selection; --holdout 0 trains on all train photos and
  chooses the epoch on the val photos, the queries themselves (an optimistic choice, reported as such).
- with --embedder, also a metric-learning network (ocularis.Embedder, triplet loss with semi-hard mining), trained
  from scratch the same way; its embedding is its output.
- raw pixels: each photo resized (squashed) to 32x32 RGB, flattened, the mean over the train photos subtracted,
  L2-normalised (3,072-d).
- colour histogram: the 8x8x8 joint RGB histogram of the whole photo, normalised to sum 1, square-rooted (the
  Hellinger map: inner products of the results are Bhattacharyya coefficients), L2-normalised (512-d).

The two baselines go into an ocularis.search.ImageIndex (kind flat, exact cosine) directly. A table is printed and
everything written as JSON to --out.

Run from the repository root:

    python benchmarks/search_quality.py                        # the default recipe, seed 0 (~5 min on 2 cores)
    python benchmarks/search_quality.py --embedder             # also a triplet-loss Embedder (~twice as long)
    python benchmarks/search_quality.py --epochs 2             # a quick check that it runs
    python benchmarks/search_quality.py --model resnet18 --imgsz 112 --epochs 60 --augment heavy
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import ocularis
from ocularis.core.images import read_image
from ocularis.errors import CorruptImageError
from ocularis.search import ImageIndex
from ocularis.search.metrics import retrieval_metrics
from ocularis.uses.indexing import index_images, labelled_files, search_images

REPO = Path(__file__).resolve().parent.parent
# The real assets sit beside the checkout (../shared/assets) unless OCULARIS_ASSETS points elsewhere.
ASSETS = Path(os.environ.get("OCULARIS_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
PIXELS, BINS = 32, 8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=ASSETS / "hymenoptera_data",
                        help="folder with train/ and val/ class folders")
    parser.add_argument("--k", type=int, default=5, help="hits per query")
    parser.add_argument("--model", default="simple_cnn", help="architecture of the network(s) trained here")
    parser.add_argument("--imgsz", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--augment", default="light", choices=["none", "light", "heavy"])
    parser.add_argument("--holdout", type=float, default=0.15,
                        help="share of the train photos held out to choose the best epoch (0: choose on val)")
    parser.add_argument("--embedder", action="store_true", help="also train a metric-learning Embedder")
    parser.add_argument("--loss", default="triplet", choices=["contrastive", "triplet", "arcface"],
                        help="the Embedder's loss")
    parser.add_argument("--dim", type=int, default=128, help="the Embedder's embedding size")
    parser.add_argument("--per-class", type=int, default=8, help="the Embedder's images per class in a batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice, one per core); use fewer on a busy machine")
    parser.add_argument("--project", default=str(REPO / "runs" / "benchmarks"), help="where training runs go")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "benchmarks" / "search_quality.json")
    return parser.parse_args()


def readable(files: list[tuple[str, str | None]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(path, label) of the files that decode, and (path, reason) of those that do not: every embedding sees the
    same gallery and queries."""
    kept, bad = [], []
    for path, label in files:
        try:
            read_image(path)
        except CorruptImageError as error:
            bad += error.bad
            continue
        kept.append((path, label))
    return kept, bad


def raw_pixels(paths: list[str]) -> np.ndarray:
    """(N, 3072) float32: each photo squashed to 32x32 RGB, pixels in [0, 1]."""
    return np.stack([np.asarray(read_image(p).resize((PIXELS, PIXELS), Image.BILINEAR), dtype=np.float32).ravel()
                     / 255 for p in paths])


def colour_histograms(paths: list[str]) -> np.ndarray:
    """(N, 512) float32: square roots of the normalised 8x8x8 joint RGB histograms."""
    rows = []
    for path in paths:
        pixels = np.asarray(read_image(path)).reshape(-1, 3) // (256 // BINS)
        cells = (pixels[:, 0].astype(np.int64) * BINS + pixels[:, 1]) * BINS + pixels[:, 2]
        counts = np.bincount(cells, minlength=BINS ** 3).astype(np.float32)
        rows.append(np.sqrt(counts / counts.sum()))
    return np.stack(rows)


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def scores(hit_labels: list[list[str | None]], query_labels: list[str], counts: Counter, k: int) -> dict[str, float]:
    return retrieval_metrics(hit_labels, query_labels, [counts[label] for label in query_labels], k)


def baseline(name: str, gallery: list[tuple[str, str]], queries: list[tuple[str, str]], folder: Path, k: int,
             vectorise, centre: bool) -> dict:
    """Index the gallery's vectors in a flat ImageIndex and search it with the queries'."""
    started = time.perf_counter()
    stored, asked = vectorise([p for p, _ in gallery]), vectorise([p for p, _ in queries])
    if centre:  # without it every photo's vector leans the same way (all pixels positive) and cosines crowd near 1
        mean = stored.mean(axis=0)
        stored, asked = stored - mean, asked - mean
    stored, asked = unit(stored), unit(asked)
    with ImageIndex.create(folder, stored.shape[1], "flat") as index:
        index.add(stored, [p for p, _ in gallery], labels=[label for _, label in gallery])
        found = index.search(asked, k)
    seconds = time.perf_counter() - started
    metrics = scores([[hit.label for hit in hits] for hits in found], [label for _, label in queries],
                     Counter(label for _, label in gallery), k)
    return {"name": name, "dim": int(stored.shape[1]), "seconds": seconds, **metrics}


def network(name: str, trainer, options: dict, data: str, gallery: list[tuple[str, str]],
            queries: list[tuple[str, str]], train_folder: Path, folder: Path, k: int) -> dict:
    """Train a network, index the train folder with it and search with the queries, through the public API."""
    started = time.perf_counter()
    run = trainer.fit(data, **options)
    trained = time.perf_counter() - started
    task = ocularis.load(run.best)
    report = index_images(task, [train_folder], folder, model_path=str(run.best))
    with ImageIndex.open(folder, mmap=True) as index:
        indexed = sorted(index.paths())
        if indexed != sorted(p for p, _ in gallery):
            sys.exit(f"{name}: the index holds {len(indexed)} photos, not the {len(gallery)} readable train photos")
        counts, dim = Counter(index.labels()), index.dim
        found = search_images(task, index, [p for p, _ in queries], k=k)
    if [match.source for match in found] != [p for p, _ in queries]:
        sys.exit(f"{name}: search_images answered other queries than asked, or in another order")
    seconds = time.perf_counter() - started
    metrics = scores([[hit.label for hit in match.hits] for match in found], [label for _, label in queries],
                     counts, k)
    holdout = {key: value for key, value in run.metrics.values.items() if isinstance(value, int | float)}
    return {"name": name, "dim": dim, "seconds": seconds, **metrics,
            "train_seconds": trained, "epochs_run": len(run.history), "checkpoint": str(run.best),
            "selection_metrics": holdout, "indexed": report.total}


def main() -> None:
    args = parse_args()
    data = args.data.resolve()
    if not (data / "train").is_dir() or not (data / "val").is_dir():
        sys.exit(f"hymenoptera data not found at {data} (expected train/ and val/ folders of ants/ and bees/); "
                 "pass its location with --data or set OCULARIS_ASSETS")
    if args.threads:
        torch.set_num_threads(args.threads)
    gallery, bad_train = readable(labelled_files([data / "train"]))
    queries, bad_val = readable(labelled_files([data / "val"]))
    counts = Counter(label for _, label in gallery)
    majority, majority_count = counts.most_common(1)[0]
    print(f"data    {data}: {len(gallery)} train photos indexed {dict(counts)}, {len(queries)} val queries "
          f"{dict(Counter(label for _, label in queries))}; unreadable, left out: {bad_train + bad_val or 'none'}")
    print(f"torch   {torch.__version__}, {torch.get_num_threads()} threads")
    recipe = {"imgsz": args.imgsz, "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "augment": args.augment,
              "seed": args.seed, "project": args.project, "progress": False}
    rows = []
    with tempfile.TemporaryDirectory(prefix="search_quality_") as temporary:
        work = Path(temporary)
        if args.holdout:  # a data folder of train/ alone: ocularis draws the val split from it
            (work / "data").mkdir()
            (work / "data" / "train").symlink_to(data / "train", target_is_directory=True)
            train_data, recipe["val_fraction"] = str(work / "data"), args.holdout
        else:
            train_data = str(data)
        selection = f"best epoch on {args.holdout:.0%} of train held out" if args.holdout else \
            "best epoch on the val photos (the queries: optimistic)"
        print(f"network {args.model} from scratch (no pretrained weights), {selection}; "
              + " ".join(f"{key}={value}" for key, value in recipe.items() if key not in ("project", "progress")))
        classifier = ocularis.Classifier(model=args.model)
        rows.append(network(f"{args.model} classifier features", classifier,
                            {**recipe, "name": f"search-quality-classify-{args.model}"}, train_data, gallery,
                            queries, data / "train", work / "classifier", args.k))
        if args.embedder:
            embedder = ocularis.Embedder(model=args.model, loss=args.loss, dim=args.dim, per_class=args.per_class)
            rows.append(network(f"{args.model} embedder ({args.loss})", embedder,
                                {**recipe, "name": f"search-quality-embed-{args.model}"}, train_data, gallery,
                                queries, data / "train", work / "embedder", args.k))
        rows.append(baseline("raw pixels 32x32, centred", gallery, queries, work / "pixels", args.k, raw_pixels,
                             centre=True))
        rows.append(baseline("colour histogram 8x8x8, Hellinger", gallery, queries, work / "histogram", args.k,
                             colour_histograms, centre=False))
    chance = {"name": f"chance (majority class: {majority})", f"precision@{args.k}": majority_count / len(gallery)}
    rows.append(chance)

    keys = [f"precision@{args.k}", f"recall@{args.k}", f"map@{args.k}"]
    print(f"\n{'embedding':<36} {'dim':>5} " + " ".join(f"{key:>12}" for key in keys) + f" {'seconds':>8}")
    for row in rows:
        cells = " ".join(f"{row[key]:12.4f}" if key in row else f"{'-':>12}" for key in keys)
        dim = str(row.get("dim", "-"))
        seconds = f"{row['seconds']:8.1f}" if "seconds" in row else f"{'-':>8}"
        print(f"{row['name']:<36} {dim:>5} {cells} {seconds}")
    report = {"data": str(data), "k": args.k, "gallery": len(gallery), "queries": len(queries),
              "gallery_classes": dict(counts), "unreadable": bad_train + bad_val, "recipe": recipe,
              "model": args.model, "pretrained": False, "selection": selection, "holdout": args.holdout,
              "embedder": {"loss": args.loss, "dim": args.dim, "per_class": args.per_class} if args.embedder else None,
              "rows": rows, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.platform(), "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
