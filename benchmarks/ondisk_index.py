"""An index larger than RAM: ivfpq with on-disk inverted lists, built and searched inside a memory limit.

N x D vectors from benchmarks/ann.py's mixture (default 4,000,000 x 512: 7.6 GiB of float32) are drawn a chunk at a
time and added to an ImageIndex (--kind ivfpq, on_disk=1) in a temporary folder, as an indexing job adds its chunks:
the database is never in memory at once. The first chunk trains the centroids and the product quantiser. The exact
top 10 of Q fresh queries is then found by streaming vectors.f32 through FAISS's flat inner products a chunk at a
time (the baseline, run in the same process, also reported as queries/s), and the index is searched at each --nprobe:
recall@10 against exact, queries/s (best of --repeats, after a warm-up) and the speed-up over the streamed exact
search.

Memory: the folder's size on disk against the peak anonymous memory of the process (RssAnon, sampled every 20 ms:
what must fit in RAM; pages of the mapped files are cache the kernel may drop) and, with --memory-limit GIB, the
run is moved into a memory cgroup of that size first (cgroup v1 or v2; needs root), so the kernel keeps at most that
much of the process and of its files' pages in RAM; the cgroup's peak is reported too. A folder several times the
limit then shows the index working beyond memory. The anonymous part grows with N by the path table ImageIndex keeps
for naming hits (~100 bytes an image) and the chunk in flight.

    python benchmarks/ondisk_index.py --memory-limit 2                      # 4M x 512 in a 2 GiB cgroup (as root)
    python benchmarks/ondisk_index.py --n 200000 --dim 128 --nlist 256 --pq-m 16 --queries 100     # a quick look
"""

import argparse
import itertools
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import faiss
import numpy as np
from ann import Mixture, hit_ids, int_list, recall, set_search, time_sides, write_json  # benchmarks/ann.py's

from ocularis.search import ImageIndex
from ocularis.search.index import VECTORS_FILE

K = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--centres", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=1.0)
    parser.add_argument("--decay", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--kind", choices=["ivf", "ivfpq"], default="ivfpq")
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--nprobe", type=int_list, default=[8, 32])
    parser.add_argument("--pq-m", type=int, default=64)
    parser.add_argument("--refine", type=int_list, default=[10, 40], help="candidates a hit re-ranked exactly")
    parser.add_argument("--chunk", type=int, default=50_000, help="vectors a call to add (the first one trains)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="FAISS threads (0: its default)")
    parser.add_argument("--memory-limit", type=float, default=0, help="GiB; run inside a memory cgroup this size")
    parser.add_argument("--tmp", type=Path, default=None, help="where the index folder goes (default: the system's)")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/ondisk_index.json"))
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


# --- memory ---

def enter_memory_cgroup(limit: int):
    """Move this process into a new memory cgroup of `limit` bytes (page cache included); returns a reader of the
    cgroup's peak usage. cgroup v2 (memory.max / memory.peak) or v1 (memory.limit_in_bytes / max_usage_in_bytes)."""
    root, name = Path("/sys/fs/cgroup"), f"ocularis-ondisk-{os.getpid()}"
    if (root / "cgroup.controllers").exists():
        group, files = root / name, ("memory.max", "memory.peak")
    elif (root / "memory").is_dir():
        group, files = root / "memory" / name, ("memory.limit_in_bytes", "memory.max_usage_in_bytes")
    else:
        raise SystemExit(f"--memory-limit: no memory cgroup controller under {root}; run without it")
    try:
        group.mkdir()
        (group / files[0]).write_text(str(limit))
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError as error:
        raise SystemExit(f"--memory-limit: cannot make a memory cgroup ({error}); run as root or without it") from None
    return lambda: int((group / files[1]).read_text())


class AnonymousPeak:
    """The largest RssAnon of this process seen by a thread reading /proc every 20 ms."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
        return 0

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


# --- the run ---

def build(args: argparse.Namespace, folder: Path, mixture: Mixture) -> tuple[ImageIndex, float]:
    params = {"nlist": args.nlist, "refine": args.refine[0], "on_disk": 1}
    if args.kind == "ivfpq":
        params["m"] = args.pq_m
    index = ImageIndex.create(folder, args.dim, args.kind, **params)
    rng, chunk, started = np.random.default_rng([args.seed, 1]), np.empty((args.chunk, args.dim), np.float32), \
        time.perf_counter()
    for start in range(0, args.n, args.chunk):
        rows = mixture.fill(chunk[:min(args.chunk, args.n - start)], rng)
        index.add(rows, [f"v{i}" for i in range(start, start + len(rows))])
        if start // args.chunk % 10 == 0:
            print(f"  added {start + len(rows):,} of {args.n:,} ({time.perf_counter() - started:.0f} s)", flush=True)
    return index, time.perf_counter() - started


def exact_top_k(path: Path, dim: int, queries: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """The exact top K ids of each query, streaming vectors.f32 in order through FAISS's inner products."""
    vectors = np.memmap(path, dtype=np.float32, mode="r").reshape(-1, dim)
    best_scores = np.full((len(queries), K), -np.inf, dtype=np.float32)
    best_ids = np.full((len(queries), K), -1, dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        block = np.ascontiguousarray(vectors[start:start + chunk])
        scores, ids = faiss.knn(queries, block, K, metric=faiss.METRIC_INNER_PRODUCT)
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_ids = np.concatenate([best_ids, ids + start], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :K]
        best_scores, best_ids = (np.take_along_axis(merged_scores, order, 1), np.take_along_axis(merged_ids, order, 1))
    return best_ids


def best_seconds(call, repeats: int):
    """The fastest of `repeats` timed calls after a warm-up (first touches of the mapped files), and the result."""
    seconds, results = time_sides({"call": call}, repeats)
    return min(seconds["call"]), results["call"]


def folder_bytes(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in sorted(folder.iterdir())}


def main() -> None:
    args = parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    cgroup_peak = enter_memory_cgroup(int(args.memory_limit * 2**30)) if args.memory_limit else None
    watch = AnonymousPeak()
    mixture = Mixture(args.dim, args.centres, args.spread, args.decay, args.seed)
    queries = mixture.fill(np.empty((args.queries, args.dim), np.float32), np.random.default_rng([args.seed, 2]))
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="ocularis-ondisk-") as tmp:
        folder = Path(tmp) / "index"
        print(f"building {args.kind} on_disk=1 of {args.n:,} x {args.dim} in {folder}", flush=True)
        index, build_seconds = build(args, folder, mixture)
        sizes = folder_bytes(folder)
        print(f"built in {build_seconds:.0f} s; the folder: "
              + ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in sizes.items()), flush=True)
        exact_seconds, truth = best_seconds(lambda: exact_top_k(folder / VECTORS_FILE, args.dim, queries), 1)
        rows = []
        for nprobe, refine in itertools.product(args.nprobe, args.refine):
            set_search(index, {"nprobe": nprobe, "refine": refine})
            seconds, hits = best_seconds(lambda: index.search(queries, k=K), args.repeats)
            rows.append({"nprobe": nprobe, "refine": refine, "recall_at_10": recall(hit_ids(hits, K), truth),
                         "queries_per_s": args.queries / seconds, "speedup_over_exact": exact_seconds / seconds})
        index.close()
    anonymous = watch.stop()
    report = {"args": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
              "folder_bytes": sizes, "folder_total_bytes": sum(sizes.values()), "build_seconds": build_seconds,
              "exact_queries_per_s": args.queries / exact_seconds, "searches": rows,
              "peak_anonymous_bytes": anonymous, "cgroup_peak_bytes": cgroup_peak() if cgroup_peak else None,
              "machine": {"cpus": os.cpu_count(), "faiss_threads": faiss.omp_get_max_threads(),
                          "platform": platform.platform(), "faiss": faiss.__version__}}
    print(f"\nexact search streamed from vectors.f32: {report['exact_queries_per_s']:.1f} queries/s")
    print(f"{'nprobe':>7} {'refine':>7} {'recall@10':>10} {'queries/s':>10} {'x exact':>8}")
    for row in rows:
        print(f"{row['nprobe']:>7} {row['refine']:>7} {row['recall_at_10']:>10.3f} {row['queries_per_s']:>10.1f} "
              f"{row['speedup_over_exact']:>8.1f}")
    limit = f"; memory limit {args.memory_limit:g} GiB, cgroup peak {report['cgroup_peak_bytes'] / 2**30:.2f} GiB" \
        if cgroup_peak else ""
    print(f"folder {report['folder_total_bytes'] / 2**30:.2f} GiB; peak anonymous memory {anonymous / 2**30:.2f} GiB"
          f"{limit}")
    write_json(args.out, report)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
