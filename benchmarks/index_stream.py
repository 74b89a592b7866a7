"""Indexing a folder of 10,000 photos: peak memory against a run of a fifth as many, and a kill mid-way that the next
run resumes without duplicates.

Data: --n (default 10,000) real-pixel JPEGs, seeded random crops (a quarter to nine tenths of the shorter side) of
the COCO128 and BSDS500 photos resized to --size pixels square (default 96), written to 10 sub-folders of a temporary
folder under --tmp. Model: --model CHECKPOINT (any task's), or by default a small metric-learning network
(--arch, triplet loss) trained here for one epoch on the built-in 8x8 handwritten digits: a greyscale model, which
reads the colour photos in its one channel, as ocularis reads any data in the model's channels. The model sets
how much an image costs to embed, not how indexing streams.

What it measures, each indexing job a separate `python -m ocularis embed index FOLDER --model M --out INDEX`:

1. memory: the CLI indexes the first 2 of the 10 sub-folders (n/5 images), then all n into a fresh index; each
   child's peak resident memory (ru_maxrss from os.wait4, the child alone) and wall time. Streaming holds one chunk
   of images at a time, so the n run's peak should be close to the n/5 run's (goal: at most 1.2x); what grows with
   n is the flat index itself (n x dim x 4 bytes) and the list of paths. Most of either peak is the fixed cost of a
   process with torch and Lightning imported (about 950 MiB on a CPU machine), so the growth in MiB is printed too.
2. kill: the CLI indexes all n into another fresh index and gets SIGKILL once more than --kill-at (default a
   quarter) of the images are committed, at a seeded random moment of the next chunk's cycle (the time between the
   last two commits; so not before the second commit), or after --kill-after seconds. The committed rows are polled
   through SQLite opened read-only: ImageIndex.open would cut vectors.f32 back to the table, a write that could race
   the job's own append. The files are inspected as the kill left them, then reopened with
   ocularis.uses.indexing.open_index (which repairs an interrupted write): the reopened index must hold
   vectors.f32 rows == table rows, unit vectors only and unique paths. Then `ocularis embed add FOLDER --index
   INDEX` resumes: its printed counts must say added + unchanged == n and updated == 0, and the index must hold n
   images, each path once, the whole folder, with the same vectors as the uninterrupted run of step 1.

A table and the checks (PASS/FAIL) are printed and everything written as JSON to --out.

Run from the repository root:

    python benchmarks/index_stream.py                          # 10,000 images (a few minutes on 2 cores)
    python benchmarks/index_stream.py --n 1000                 # a quick check that it runs
    python benchmarks/index_stream.py --model runs/classify/hymenoptera-resnet18-s0/best.ckpt --size 128
"""

import argparse
import json
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np
from PIL import Image

import ocularis
from ocularis.core.images import list_images
from ocularis.search import ImageIndex, backends
from ocularis.search.index import FAISS_FILE, TABLE_FILE, VECTORS_FILE
from ocularis.uses.indexing import open_index

REPO = Path(__file__).resolve().parent.parent
# The real assets sit beside the checkout (../shared/assets) unless OCULARIS_ASSETS points elsewhere.
ASSETS = Path(os.environ.get("OCULARIS_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
FOLDERS, MEMORY_GOAL = 10, 1.2
REPORT = re.compile(r"(\d+) added, (\d+) updated, (\d+) unchanged, (\d+) unreadable skipped; (\d+) images indexed")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="images to make and index (a multiple of 10)")
    parser.add_argument("--size", type=int, default=96, help="side of the square JPEGs, pixels")
    parser.add_argument("--model", type=Path, default=None,
                        help="checkpoint to embed with (default: train a small Embedder on the digits)")
    parser.add_argument("--arch", default="simple_cnn", help="architecture of the default digits model")
    parser.add_argument("--kill-at", type=float, default=0.25, help="kill once this share of the images is committed")
    parser.add_argument("--kill-after", type=float, default=None, help="kill after this many seconds instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", type=Path, default=None, help="where the temporary folder goes (default: the "
                                                               "system's temporary folder); needs ~n x 5 KB")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "benchmarks" / "index_stream.json")
    return parser.parse_args()


def make_images(folder: Path, n: int, size: int, seed: int) -> list[Path]:
    """n JPEGs cropped from the COCO128 and BSDS500 photos, image i in sub-folder i % 10; each photo decoded once."""
    photos = sorted((ASSETS / "coco128" / "images" / "train2017").glob("*.jpg"))
    photos += sorted((ASSETS / "bsds500_train").glob("*.jpg"))
    if not photos:
        sys.exit(f"no COCO128 or BSDS500 photos under {ASSETS}; set OCULARIS_ASSETS to the assets folder")
    rng = np.random.default_rng(seed)
    for part in range(FOLDERS):
        (folder / f"{part:02d}").mkdir(parents=True)
    written = []
    for number, photo in enumerate(photos):
        with Image.open(photo) as opened:
            image = opened.convert("RGB")
        share = n * (number + 1) // len(photos) - n * number // len(photos)
        for _ in range(share):
            side = int(rng.uniform(0.25, 0.9) * min(image.size))
            left, top = rng.integers(0, image.width - side + 1), rng.integers(0, image.height - side + 1)
            crop = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
            path = folder / f"{len(written) % FOLDERS:02d}" / f"{len(written):05d}.jpg"
            crop.save(path, quality=90)
            written.append(path)
    return written


def digits_model(project: Path, arch: str, seed: int) -> Path:
    run = ocularis.Embedder(model=arch, loss="triplet", progress=False, project=str(project)).fit(
        "digits", epochs=1, batch=32, per_class=4, seed=seed)
    return run.best


def cli(verb: str, arguments: list[str]) -> list[str]:
    return [sys.executable, "-m", "ocularis", "embed", verb, *arguments]


def measured(command: list[str], log: Path) -> dict:
    """Run a command to the end: exit code, wall seconds, its own peak RSS (os.wait4, not the maximum over every
    child this process ever had, which RUSAGE_CHILDREN would give) and its output."""
    started = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    text = log.read_text()
    if process.returncode:
        sys.exit(f"{' '.join(command)} failed (exit {process.returncode}):\n{text[-3000:]}")
    return {"seconds": time.perf_counter() - started, "peak_rss_mib": usage.ru_maxrss / 1024, "output": text.strip()}


def counts(output: str) -> dict[str, int]:
    found = REPORT.search(output)
    if found is None:
        sys.exit(f"no indexing report in the CLI's output:\n{output[-3000:]}")
    return dict(zip(("added", "updated", "unchanged", "unreadable", "total"), map(int, found.groups()), strict=True))


def committed(folder: Path) -> dict:
    """The table's row count and metadata, read through a read-only connection: nothing in the folder changes."""
    path = folder / TABLE_FILE
    if not path.exists():
        return {"rows": None, "meta": {}}
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=0.2)) as connection:
            rows = connection.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            meta = {key: json.loads(value) for key, value in connection.execute("SELECT key, value FROM meta")}
    except sqlite3.OperationalError:  # not made yet, or locked by a commit in flight
        return {"rows": None, "meta": {}}
    return {"rows": rows, "meta": meta}


def killed_run(command: list[str], folder: Path, n: int, kill_at: float, kill_after: float | None, seed: int,
               log: Path) -> dict:
    """Start indexing and SIGKILL it part-way; what was committed when, and how long it ran."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        rows, deadline, commits = 0, kill_after, []
        while process.poll() is None:
            seen, now = committed(folder)["rows"], time.perf_counter() - started
            if seen is not None and seen != rows:
                rows = seen
                commits.append(now)
            if deadline is None and rows > n * kill_at and len(commits) >= 2:
                # The kill waits a random part of one chunk's cycle (the time between the last two commits seen),
                # so that it may land in any of its steps: embedding, appending, committing, writing FAISS.
                deadline = now + rng.uniform(0, commits[-1] - commits[-2])
            if deadline is not None and now >= deadline:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        code = process.wait()
    return {"seconds": time.perf_counter() - started, "rows_seen": rows, "exit": code,
            "killed": code == -signal.SIGKILL, "output": log.read_text().strip()}


def files_state(folder: Path) -> dict:
    """The three files as a kill left them, before anything opens (and so repairs) them."""
    table = committed(folder)
    meta = table["meta"]
    state = {"table_rows": table["rows"] or 0, "meta_stored": meta.get("stored"), "vectors_rows": None,
             "vectors_partial_bytes": None, "faiss_vectors": None}
    if meta:
        size, row = (folder / VECTORS_FILE).stat().st_size, meta["dim"] * 4
        state["vectors_rows"], state["vectors_partial_bytes"] = size // row, size % row
        faiss_path = folder / FAISS_FILE
        if faiss_path.exists():
            state["faiss_vectors"] = int(backends.read_index(faiss_path, meta["kind"], meta["dim"], False).ntotal)
    return state


def reopened(folder: Path) -> dict:
    """open_index (repairing when needed) and what the reopened index holds."""
    try:
        with ImageIndex.open(folder):
            needed_repair = None
    except Exception as error:  # what open_index repairs
        needed_repair = str(error)
    with open_index(folder) as index:
        paths = index.paths()
        live = np.flatnonzero(index.table.live_mask())
        norms = np.linalg.norm(index.vectors()[live], axis=1) if len(live) else np.ones(0)
        return {"needed_repair": needed_repair, "rows": len(index), "table_rows": index.table.row_count(),
                "vectors_rows": (folder / VECTORS_FILE).stat().st_size // (index.dim * 4),
                "unit_vectors": bool(np.all(np.abs(norms - 1) < 1e-3)), "unique_paths": len(set(paths)) == len(paths)}


def main() -> None:
    args = parse_args()
    if args.n < FOLDERS or args.n % FOLDERS:
        sys.exit(f"--n {args.n}: pass a multiple of {FOLDERS} (the images go to {FOLDERS} sub-folders)")
    report: dict = {"n": args.n, "size": args.size, "seed": args.seed, "machine": platform.platform(),
                    "cpus": os.cpu_count()}
    checks: list[tuple[str, bool]] = []
    if args.tmp:
        args.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="index_stream_", dir=args.tmp) as temporary:
        work = Path(temporary).resolve()  # the jobs and the index key images by path as given: one spelling
        images = work / "images"
        started = time.perf_counter()
        made = make_images(images, args.n, args.size, args.seed)
        report["make_seconds"] = time.perf_counter() - started
        report["image_bytes"] = sum(path.stat().st_size for path in made)
        print(f"images  {len(made)} JPEGs of {args.size}x{args.size} in {images} ({report['image_bytes'] / 2**20:.0f} "
              f"MiB, {report['make_seconds']:.0f} s)")
        model = args.model.resolve() if args.model else digits_model(work / "runs", args.arch, args.seed)
        task = ocularis.load(model)
        report["model"] = {"path": str(model), "architecture": task.meta["model"], "task": task.meta["task"],
                           "channels": task.meta["channels"], "imgsz": task.meta.get("imgsz"),
                           "trained_here": args.model is None}
        print(f"model   {model} ({task.meta['task']} {task.meta['model']}, {task.meta['channels']} channel(s))")
        del task

        fifth = [str(images / f"{part:02d}") for part in range(FOLDERS // 5)]
        small = measured(cli("index", [*fifth, "--model", str(model), "--out", str(work / "fifth")]),
                         work / "fifth.log")
        small.update(images=args.n // 5, **counts(small["output"]))
        full = measured(cli("index", [str(images), "--model", str(model), "--out", str(work / "full")]),
                        work / "full.log")
        full.update(images=args.n, **counts(full["output"]))
        report["memory"] = {"fifth": small, "full": full, "ratio": full["peak_rss_mib"] / small["peak_rss_mib"]}
        checks += [(f"index of n/5 holds {args.n // 5}", small["total"] == args.n // 5),
                   (f"index of n holds {args.n}", full["total"] == args.n),
                   (f"peak RSS at n <= {MEMORY_GOAL} x at n/5", report["memory"]["ratio"] <= MEMORY_GOAL)]

        resumed_folder = work / "resumed"
        kill = killed_run(cli("index", [str(images), "--model", str(model), "--out", str(resumed_folder)]),
                          resumed_folder, args.n, args.kill_at, args.kill_after, args.seed, work / "killed.log")
        kill["at_kill"] = files_state(resumed_folder)
        checks.append(("the job was killed before it finished", kill["killed"]))
        kill["reopened"] = after = reopened(resumed_folder)
        checks += [("reopened: vectors.f32 rows == table rows", after["vectors_rows"] == after["table_rows"]),
                   ("reopened: stored vectors are unit vectors", after["unit_vectors"]),
                   ("reopened: no duplicate paths", after["unique_paths"])]
        add = measured(cli("add", [str(images), "--index", str(resumed_folder)]), work / "add.log")
        add.update(counts(add["output"]))
        with ImageIndex.open(resumed_folder, mmap=True) as resumed, ImageIndex.open(work / "full", mmap=True) as ref:
            paths = resumed.paths()
            add["index_rows"], add["unique_paths"] = len(resumed), len(set(paths))
            add["max_vector_difference"] = float(np.abs(resumed.vectors_of(paths) - ref.vectors_of(paths)).max())
        kill["add"] = add
        report["kill"] = kill
        checks += [(f"add: added + unchanged == {args.n}", add["added"] + add["unchanged"] == args.n),
                   ("add: nothing updated", add["updated"] == 0),
                   (f"add: reports {args.n} indexed", add["total"] == args.n),
                   (f"resumed index: {args.n} rows, each path once",
                    add["index_rows"] == add["unique_paths"] == args.n),
                   ("resumed index: every image of the folder", set(paths) == {str(p) for p in list_images(images)}),
                   ("resumed index: same vectors as the uninterrupted run", add["max_vector_difference"] < 1e-4)]

    print(f"\n{'indexing run':<28} {'images':>7} {'peak RSS MiB':>13} {'wall s':>8} {'images/s':>9}")
    for name, run in (("embed index, n/5", small), ("embed index, n", full), ("embed add after the kill", add)):
        images_done = run.get("images", add["added"])
        print(f"{name:<28} {images_done:>7} {run['peak_rss_mib']:>13.0f} {run['seconds']:>8.1f} "
              f"{images_done / run['seconds']:>9.0f}")
    print(f"peak RSS at n / at n/5: {report['memory']['ratio']:.3f} "
          f"(+{full['peak_rss_mib'] - small['peak_rss_mib']:.0f} MiB for {args.n - args.n // 5} more images)")
    state = kill["at_kill"]
    print(f"\nkill: SIGKILL after {kill['seconds']:.1f} s with {kill['rows_seen']} rows seen committed; files as left: "
          f"table {state['table_rows']} rows (meta stored {state['meta_stored']}), vectors.f32 "
          f"{state['vectors_rows']} rows (+{state['vectors_partial_bytes']} bytes), FAISS {state['faiss_vectors']} "
          "vectors")
    print(f"reopen: {after['rows']} images, vectors.f32 {after['vectors_rows']} rows for {after['table_rows']} table "
          f"rows; repair needed: {after['needed_repair'] or 'no'}")
    print(f"add: {add['added']} added, {add['updated']} updated, {add['unchanged']} unchanged; {add['index_rows']} "
          f"rows, {add['unique_paths']} distinct paths; largest vector difference from the uninterrupted run "
          f"{add['max_vector_difference']:.2g}\n")
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    report["checks"] = {name: ok for name, ok in checks}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwritten to {args.out}")
    sys.exit(0 if all(ok for _, ok in checks) else 1)


if __name__ == "__main__":
    main()
