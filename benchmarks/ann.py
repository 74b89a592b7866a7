"""Approximate nearest-neighbour search: ocularis.search.ImageIndex against exact search and against raw FAISS.

Data: N x D synthetic embeddings (default 1,000,000 x 512), a seeded Gaussian mixture around --centres random unit
centres (default 1,000) with uneven cluster sizes. Each cluster spreads along its own directions with a decaying
spectrum (variance of the j-th direction ~ 1/j^--decay, about 30 effective dimensions at the default), so the data
have the low intrinsic dimension of real image embeddings rather than isotropic noise, on which every approximate
index does worse than on real data; --spread 1 puts a point at cosine ~0.7 from its centre. Rows are L2-normalised
float32, generated in chunks (peak memory ~2x the database). The Q queries (default 1,000) are fresh draws from the
same mixture, not rows of the database.

Exact search with raw FAISS IndexFlatIP gives the ground truth top k (k=10) and the baseline "exact" queries/s.
Then, for each index kind (flat, ivf, ivfpq, hnsw, lsh; annoy when the annoy package is installed):

- ocularis: ImageIndex.create in a temporary folder and add() in chunks of --chunk vectors with paths "v{i}", as an
  indexing job does (every add appends vectors.f32, commits items.sqlite and rewrites vectors.faiss). The kinds that
  train (ivf, ivfpq) train once, on the vectors of the first add, so that first add holds --train vectors (default
  max(--chunk, 64 x nlist); ImageIndex shrinks nlist when it trains on fewer than 39 per centroid).
- raw: the same FAISS structure built directly, at the same settings, trained on the same vectors and added in the
  same chunks, in memory. ivfpq and lsh are wrapped in faiss.IndexRefineFlat with k_factor = refine, which re-ranks
  the refine x k candidates exactly against the raw vectors, as ImageIndex does against vectors.f32 (IndexRefineFlat
  keeps those vectors in RAM; ImageIndex memory-maps them from disk). annoy has no FAISS form: its raw side is the
  annoy package plus the same exact re-ranking in numpy.

Per search setting (the search-time knobs take comma lists and are swept over one built index: --nprobe for
ivf/ivfpq, --ef-search for hnsw, --refine for ivfpq/lsh/annoy, --annoy-search-k) it reports build seconds,
recall@10 against exact, queries/s (one batched search of all Q queries, best of --repeats, ocularis and raw
alternating, after a warm-up), the speed-up over exact, ocularis/raw queries/s, and memory: the bytes of the FAISS
structure held in RAM (the vectors.faiss file, which ImageIndex reads whole) against the flat index's N x D x 4.
ocularis's queries/s are ImageIndex.search's, paths and Hit objects included; "core/raw" times ImageIndex._nearest
alone (the FAISS search and the exact re-ranking, without the paths looked up in SQLite) to show where a gap is.

Goals (printed as PASS/FAIL): some approximate kind reaches recall@10 >= 0.95 at >= 30x exact speed; ivfpq with
exact re-ranking reaches recall@10 >= 0.95 in <= 1/8 of the flat index's memory; ocularis within 5% of raw FAISS's
queries/s for every kind. Every number, the settings and the machine's thread count are written to --out as JSON
(rewritten after each kind, so a long run that stops part-way keeps what it measured).

The full run holds the database, at most two copies of it in indexes (ocularis's and raw's) and the exact index
while the ground truth is computed: about 4 x N x D x 4 bytes of RAM (8 GiB at 1M x 512; annoy, added in one call,
needs ~6x), and up to ~5 x N x D x 4 bytes of disk in --tmp. HNSW's build dominates its time (both sides build one).
On a shared machine pass --threads 1: OpenMP threads fighting another job for the cores make timings meaningless.

    python benchmarks/ann.py                                    # the full run: 1M x 512, every kind
    python benchmarks/ann.py --n 50000 --dim 128 --queries 200 --nlist 256 --chunk 10000    # a quick look
    python benchmarks/ann.py --n 200000 --dim 256 --centres 200 --nlist 1024 --pq-m 32 --queries 500 --chunk 50000
    python benchmarks/ann.py --kinds ivfpq --nprobe 8,16,32,64 --refine 5,10,20 --threads 8
"""

import argparse
import itertools
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import faiss
import numpy as np
from ann_raw import Raw  # the raw FAISS side, beside this file

from ocularis.core.files import atomic_write
from ocularis.errors import ConfigError
from ocularis.search import KINDS, ImageIndex, backends

RECALL_GOAL, SPEEDUP_GOAL, MEMORY_GOAL, RATIO_GOAL = 0.95, 30.0, 1 / 8, 0.95


def int_list(text: str) -> list[int]:
    return [int(value) for value in text.split(",") if value.strip()]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--n", type=int, default=1_000_000, help="database vectors")
    data.add_argument("--dim", type=int, default=512)
    data.add_argument("--queries", type=int, default=1000)
    data.add_argument("--k", type=int, default=10, help="neighbours per query (recall@k)")
    data.add_argument("--centres", type=int, default=1000, help="mixture components")
    data.add_argument("--spread", type=float, default=1.0, help="noise length relative to the unit centres")
    data.add_argument("--decay", type=float, default=1.0, help="per-direction variance ~ 1/j^decay (0: isotropic)")
    data.add_argument("--seed", type=int, default=0)
    run = parser.add_argument_group("run")
    run.add_argument("--kinds", default=",".join(KINDS), help="comma list of index kinds")
    run.add_argument("--threads", type=int, default=0, help="faiss.omp_set_num_threads (0: FAISS's default)")
    run.add_argument("--repeats", type=int, default=3,
                     help="timed searches per side after one warm-up; the best is reported")
    run.add_argument("--chunk", type=int, default=250_000, help="vectors per add() call")
    run.add_argument("--train", type=int, default=0,
                     help="vectors in the first add, on which ivf/ivfpq train (0: max(chunk, 64 x nlist), at most n)")
    run.add_argument("--tmp", type=Path, default=None, help="folder for the index folders (needs ~3x N x D x 4 bytes)")
    run.add_argument("--out", type=Path, default=Path("runs/benchmarks/ann.json"))
    knobs = parser.add_argument_group("index parameters (comma lists are swept at search time over one build)")
    knobs.add_argument("--nlist", type=int, default=4096, help="ivf, ivfpq: coarse centroids")
    knobs.add_argument("--nprobe", type=int_list, default=[4, 8, 16, 32, 64], help="ivf, ivfpq: lists searched")
    knobs.add_argument("--pq-m", type=int, default=0,
                       help="ivfpq: sub-quantisers, bytes per code at 8 bits (0: dim / 8, 64 at 512-d)")
    knobs.add_argument("--pq-nbits", type=int, default=8, help="ivfpq: bits per sub-quantiser")
    knobs.add_argument("--refine", type=int_list, default=[10],
                       help="ivfpq, lsh, annoy: candidates per hit re-ranked exactly")
    knobs.add_argument("--hnsw-m", type=int, default=backends.DEFAULTS["hnsw"]["M"],
                       help="hnsw: graph neighbours per node (M)")
    knobs.add_argument("--ef-construction", type=int, default=backends.DEFAULTS["hnsw"]["ef_construction"],
                       help="hnsw: efConstruction (candidates kept while linking a new node)")
    knobs.add_argument("--ef-search", type=int_list, default=[32, 64, 128, 256], help="hnsw: efSearch")
    knobs.add_argument("--lsh-bits", type=int, default=backends.DEFAULTS["lsh"]["bits"], help="lsh: hash bits")
    knobs.add_argument("--annoy-trees", type=int, default=backends.DEFAULTS["annoy"]["trees"])
    knobs.add_argument("--annoy-search-k", type=int_list, default=[-1],
                       help="annoy: nodes inspected (-1: annoy's; write --annoy-search-k=-1,5000)")
    args = parser.parse_args()
    args.kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    unknown = sorted(set(args.kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; choose from {', '.join(KINDS)}")
    args.pq_m = args.pq_m or max(1, args.dim // 8)  # 8 dimensions per sub-quantiser, as m=64 at 512-d
    return args


# --- data ---

class Mixture:
    """Clustered unit vectors: random unit centres, uneven weights, each cluster with its own decaying spectrum."""

    def __init__(self, dim: int, centres: int, spread: float, decay: float, seed: int):
        rng = np.random.default_rng([seed, 0])
        self.centres = unit(rng.standard_normal((centres, dim), dtype=np.float32))
        weights = rng.lognormal(0.0, 0.5, centres)  # cluster sizes ~3.6x apart at the 10th and 90th percentiles
        self.weights = weights / weights.sum()
        # one random orthonormal basis, and per cluster a permutation of the spectrum over it: each cluster stretches
        # along different directions (a per-cluster rotation would cost a D x D matrix each)
        self.basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
        spectrum = np.arange(1, dim + 1, dtype=np.float64) ** (-decay / 2)
        spectrum /= np.linalg.norm(spectrum)  # expected squared noise length 1, times spread^2
        size = spread * rng.uniform(0.75, 1.25, (centres, 1))  # some clusters tighter than others
        self.scales = (np.stack([rng.permutation(spectrum) for _ in range(centres)]) * size).astype(np.float32)

    def fill(self, out: np.ndarray, rng: np.random.Generator, chunk: int = 50_000) -> np.ndarray:
        """Draw len(out) vectors into `out`, `chunk` rows at a time so the temporaries stay small."""
        for start in range(0, len(out), chunk):
            rows = out[start:start + chunk]
            labels = rng.choice(len(self.centres), size=len(rows), p=self.weights)
            noise = rng.standard_normal(rows.shape, dtype=np.float32)
            noise *= self.scales[labels]
            rows[:] = noise @ self.basis
            rows += self.centres[labels]
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        return out


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# --- timing and scoring ---

def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top k found (found is -1 padded where an index returned fewer)."""
    k = truth.shape[1]
    return float(np.mean([len(set(row[:k].tolist()) & set(exact.tolist())) / k
                          for row, exact in zip(found, truth, strict=True)]))


def hit_ids(hits: list, k: int) -> np.ndarray:
    ids = np.full((len(hits), k), -1, dtype=np.int64)
    for row, found in enumerate(hits):
        ids[row, :len(found)] = [hit.id for hit in found]
    return ids


def timed(call: Callable) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def time_sides(sides: dict[str, Callable], repeats: int) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Seconds of each side's call over `repeats` rounds, after one untimed warm-up (first touches of memory-mapped
    pages, thread start-up), and each side's last result. The sides alternate within a round, so that a busy moment
    on a shared machine hits them alike."""
    results = {name: call() for name, call in sides.items()}
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, call in sides.items():
            elapsed, results[name] = timed(call)
            seconds[name].append(elapsed)
    return seconds, results


# --- one kind ---

def build_settings(args: argparse.Namespace, kind: str) -> tuple[dict[str, int], list[dict[str, int]]]:
    """The kind's build-time parameters and its list of search-time settings (the product of the swept lists)."""
    build = {"flat": {}, "ivf": {"nlist": args.nlist}, "lsh": {"bits": args.lsh_bits},
             "hnsw": {"M": args.hnsw_m, "ef_construction": args.ef_construction},
             "ivfpq": {"nlist": args.nlist, "m": args.pq_m, "nbits": args.pq_nbits},
             "annoy": {"trees": args.annoy_trees}}[kind]
    swept = {"flat": {}, "ivf": {"nprobe": args.nprobe}, "hnsw": {"ef_search": args.ef_search},
             "ivfpq": {"nprobe": args.nprobe, "refine": args.refine}, "lsh": {"refine": args.refine},
             "annoy": {"search_k": args.annoy_search_k, "refine": args.refine}}[kind]
    settings = [dict(zip(swept, values, strict=True)) for values in itertools.product(*swept.values())]
    return build, settings


def chunk_bounds(args: argparse.Namespace, kind: str) -> list[tuple[int, int]]:
    if kind == "annoy":  # ImageIndex rebuilds annoy from all of vectors.f32 on every add: one add, not n/chunk
        return [(0, args.n)]
    first = args.chunk
    if kind in backends.TRAINED:  # they train on the first add only: it must hold enough vectors for every centroid
        first = args.train or max(args.chunk, 64 * args.nlist)
    first = min(first, args.n)
    return [(0, first)] + [(start, min(start + args.chunk, args.n)) for start in range(first, args.n, args.chunk)]


def set_search(index: ImageIndex, setting: dict[str, int]) -> None:
    """Change an ImageIndex's search-time knobs in place. They are fixed at create(), and nprobe is only pushed into
    the FAISS index when it is built or opened (backends.tune), so both are redone here to sweep one built index."""
    index.params = {**index.params, **setting}
    if "nprobe" in setting:
        index.params["nprobe"] = min(setting["nprobe"], index.params["nlist"])
    backends.tune(index._index, index.kind, index.params)


def run_kind(args: argparse.Namespace, kind: str, database: np.ndarray, queries: np.ndarray, truth: np.ndarray,
             exact_qps: float, scratch: Path) -> list[dict]:
    build, settings = build_settings(args, kind)
    bounds = chunk_bounds(args, kind)
    folder = scratch / kind
    started = time.perf_counter()
    index = ImageIndex.create(folder, args.dim, kind, **build, **settings[0])
    for number, (start, stop) in enumerate(bounds, 1):
        index.add(database[start:stop], [f"v{i}" for i in range(start, stop)])
        log(f"  ocularis {kind}: add {number}/{len(bounds)} ({stop:,} vectors), {time.perf_counter() - started:.1f} s")
    build_s = time.perf_counter() - started
    used = {name: index.params[name] for name in build}  # what training could afford (ImageIndex may shrink nlist)
    shrunk = {name: (value, used[name]) for name, value in build.items() if used[name] != value}
    if shrunk:
        log(f"  note: ImageIndex trained {kind} with {used} instead of {build} (first add too small to train)")
    index_bytes = (folder / "vectors.faiss").stat().st_size

    started = time.perf_counter()
    raw = Raw(kind, args.dim, {**index.params, **used})
    raw.train(database[:bounds[0][1]])
    for number, (start, stop) in enumerate(bounds, 1):
        raw.add(database[start:stop])
        log(f"  raw {kind}: add {number}/{len(bounds)} ({stop:,} vectors), {time.perf_counter() - started:.1f} s")
    if kind == "annoy":
        raw.index.build(database)
    raw_build_s = time.perf_counter() - started
    log(f"  raw {kind}: built in {raw_build_s:.1f} s")
    raw_bytes = raw.nbytes(scratch)

    rows = []
    for setting in settings:
        set_search(index, setting)
        raw.set(index.params, args.k)
        sides = {"ocularis": partial(index.search, queries, k=args.k), "raw": partial(raw.search, queries, args.k)}
        if hasattr(index, "_nearest"):
            # diagnosis: ImageIndex's FAISS search and exact re-ranking alone, without the paths looked up in SQLite
            # and the Hit objects that search() adds (private, so only timed while it exists)
            sides["core"] = partial(index._nearest, queries, args.k)
        seconds, results = time_sides(sides, args.repeats)
        ours_s, raw_s, core_s = seconds["ocularis"], seconds["raw"], seconds.get("core")
        hits, raw_ids = results["ocularis"], results["raw"][1]
        qps, raw_qps = len(queries) / min(ours_s), len(queries) / min(raw_s)
        core_qps = len(queries) / min(core_s) if core_s else None
        row = {"kind": kind, "build_params": build, "trained_params": used,
               "search_params": {name: index.params[name] for name in setting},
               "build_s": build_s, "raw_build_s": raw_build_s, "adds": len(bounds),
               "recall": recall(hit_ids(hits, args.k), truth), "raw_recall": recall(raw_ids, truth),
               "qps": qps, "raw_qps": raw_qps, "ratio": qps / raw_qps, "core_qps": core_qps,
               "core_ratio": core_qps / raw_qps if core_qps else None, "speedup": qps / exact_qps,
               "raw_speedup": raw_qps / exact_qps, "index_bytes": index_bytes, "raw_bytes": raw_bytes,
               "memory_of_flat": index_bytes / (args.n * args.dim * 4),
               "reranked_on_disk": "refine" in index.params,
               "search_s": ours_s, "raw_search_s": raw_s, "core_search_s": core_s}
        rows.append(row)
        log(f"  {kind} {params_text(row['search_params'])}: recall {row['recall']:.3f} (raw {row['raw_recall']:.3f}),"
            f" {qps:,.0f} q/s (raw {raw_qps:,.0f}, ratio {row['ratio']:.2f}), {row['speedup']:.1f}x exact")
    index.close()
    return rows


# --- report ---

def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def params_text(params: dict[str, int]) -> str:
    return " ".join(f"{name}={value}" for name, value in params.items()) or "-"


# (heading, width, row key or function, format)
COLUMNS = [("build s", 9, "build_s", ",.1f"), ("raw bld s", 10, "raw_build_s", ",.1f"), ("recall", 8, "recall", ".3f"),
           ("raw rec", 8, "raw_recall", ".3f"), ("q/s", 10, "qps", ",.0f"), ("raw q/s", 10, "raw_qps", ",.0f"),
           ("oc/raw", 8, "ratio", ".2f"), ("core/raw", 9, "core_ratio", ".2f"), ("x exact", 9, "speedup", ",.1f"),
           ("index MiB", 11, lambda row: row["index_bytes"] / 2**20, ",.1f"), ("of flat", 9, "memory_of_flat", ".1%"),
           ("raw MiB", 9, lambda row: row["raw_bytes"] / 2**20 if "raw_bytes" in row else None, ",.1f")]


def print_table(rows: list[dict], exact: dict) -> None:
    print("\n" + f"{'kind':<7}{'search params':<22}" + "".join(f"{name:>{width}}" for name, width, _, _ in COLUMNS))
    baseline = {"recall": 1.0, "qps": exact["qps"], "speedup": 1.0, "index_bytes": exact["bytes"],
                "memory_of_flat": 1.0}
    for row in [{"kind": "exact", "search_params": {"IndexFlatIP": 1}, **baseline}] + rows:
        if row.get("skipped"):
            print(f"{row['kind']:<7}skipped: {row['skipped']}")
            continue
        cells = []
        for _, width, key, style in COLUMNS:
            value = key(row) if callable(key) else row.get(key)
            cells.append(f"{value:>{width}{style}}" if value is not None else " " * width)
        label = "IndexFlatIP" if row["kind"] == "exact" else params_text(row["search_params"])
        print(f"{row['kind']:<7}{label:<22}" + "".join(cells))


def goals(rows: list[dict]) -> list[dict]:
    measured = [row for row in rows if not row.get("skipped")]
    results = []

    def fastest(recall_key: str, speedup_key: str) -> str:
        good = [row for row in measured if row["kind"] != "flat" and row[recall_key] >= RECALL_GOAL]
        best = max(good, key=lambda row: row[speedup_key], default=None)
        return (f"{best['kind']} {params_text(best['search_params'])}: recall {best[recall_key]:.3f} at "
                f"{best[speedup_key]:.1f}x" if best else "no approximate kind reached the recall")

    fast = [row for row in measured if row["kind"] != "flat" and row["recall"] >= RECALL_GOAL]
    results.append({"goal": f"an approximate kind at recall@10 >= {RECALL_GOAL} and >= {SPEEDUP_GOAL:.0f}x exact "
                            "queries/s",
                    "passed": any(row["speedup"] >= SPEEDUP_GOAL for row in fast),
                    "detail": f"best {fastest('recall', 'speedup')} "
                              f"(raw FAISS: {fastest('raw_recall', 'raw_speedup')})"})

    pq = [row for row in measured if row["kind"] == "ivfpq"]
    good = [row for row in pq if row["recall"] >= RECALL_GOAL]
    small = min(good, key=lambda row: row["index_bytes"], default=None)
    if pq:
        detail = (f"{params_text(small['search_params'])}: recall {small['recall']:.3f} in "
                  f"{small['memory_of_flat']:.1%} of flat's memory" if small else
                  f"best recall {max(row['recall'] for row in pq):.3f}")
        results.append({"goal": f"ivfpq with exact re-ranking at recall@10 >= {RECALL_GOAL} in <= 1/8 of flat's "
                                "memory", "passed": bool(small and small["memory_of_flat"] <= MEMORY_GOAL),
                        "detail": detail})

    for kind in dict.fromkeys(row["kind"] for row in measured):
        of_kind = [row for row in measured if row["kind"] == kind]
        worst = min(of_kind, key=lambda row: row["ratio"])
        results.append({"goal": f"{kind}: ocularis within {1 - RATIO_GOAL:.0%} of raw queries/s at every setting",
                        "passed": worst["ratio"] >= RATIO_GOAL,
                        "detail": f"worst ratio {worst['ratio']:.3f} at {params_text(worst['search_params'])}"})
    return results


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def write_json(path: Path, report: dict) -> None:
    atomic_write(path, json.dumps(report, indent=1).encode())


def main() -> None:
    args = parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    threads = faiss.omp_get_max_threads()
    machine = {"cpus": os.cpu_count(), "faiss_threads": threads, "faiss": faiss.__version__,
               "numpy": np.__version__, "python": platform.python_version(), "platform": platform.platform(),
               "load_average_before": os.getloadavg()[0]}
    log(f"{args.n:,} x {args.dim} vectors around {args.centres} centres, {args.queries} queries, k={args.k}; "
        f"{os.cpu_count()} CPUs, {threads} FAISS threads, FAISS {faiss.__version__}")

    started = time.perf_counter()
    mixture = Mixture(args.dim, args.centres, args.spread, args.decay, args.seed)
    database = mixture.fill(np.empty((args.n, args.dim), dtype=np.float32), np.random.default_rng([args.seed, 1]))
    queries = mixture.fill(np.empty((args.queries, args.dim), dtype=np.float32), np.random.default_rng([args.seed, 2]))
    nearest = np.einsum("qd,qd->q", queries, mixture.centres[np.argmax(queries @ mixture.centres.T, axis=1)])
    data = {"generate_s": time.perf_counter() - started, "query_cosine_to_nearest_centre": float(np.median(nearest))}
    log(f"data generated in {data['generate_s']:.1f} s (median query cosine to its nearest centre "
        f"{data['query_cosine_to_nearest_centre']:.2f})")

    exact_index = faiss.IndexFlatIP(args.dim)
    exact_index.add(database)
    timing, results = time_sides({"exact": partial(exact_index.search, queries, args.k)}, args.repeats)
    (exact_scores, truth), seconds = results["exact"], timing["exact"]
    del exact_index  # each kind below holds two indexes (ocularis's, raw's); this one would be a third copy
    exact = {"qps": len(queries) / min(seconds), "search_s": seconds, "bytes": args.n * args.dim * 4,
             "median_tenth_neighbour_cosine": float(np.median(exact_scores[:, -1]))}
    log(f"exact (IndexFlatIP): {exact['qps']:,.0f} queries/s; median cosine of the {args.k}th neighbour "
        f"{exact['median_tenth_neighbour_cosine']:.3f}")

    report = {"benchmark": "ann", "config": {name: str(value) if isinstance(value, Path) else value
                                             for name, value in vars(args).items()},
              "machine": machine, "data": data, "exact": exact, "rows": [], "goals": []}
    rows: list[dict] = []
    for kind in args.kinds:
        if kind == "annoy":
            try:
                backends.annoy_module()
            except ConfigError as error:  # the package is not installed
                rows.append({"kind": kind, "skipped": str(error)})
                log(f"annoy skipped: {error}")
                continue
        log(f"{kind}: building")
        with tempfile.TemporaryDirectory(dir=args.tmp, prefix="ann-") as scratch:
            rows += run_kind(args, kind, database, queries, truth, exact["qps"], Path(scratch))
        report["rows"] = rows
        report["machine"]["peak_rss_bytes"] = peak_rss()
        log(f"{kind}: done; peak RSS so far {peak_rss() / 2**30:.2f} GiB")
        write_json(args.out, report)

    print_table(rows, exact)
    print(f"\n{args.n:,} x {args.dim}, {args.queries} queries, k={args.k}, {threads} FAISS threads on "
          f"{os.cpu_count()} CPUs; q/s: one batched search, best of {args.repeats}; x exact: over IndexFlatIP's "
          f"{exact['qps']:,.0f} q/s; build s: ocularis = create + add() in chunks of {args.chunk:,} (the first "
          "holds the training vectors of ivf/ivfpq; each add appends vectors.f32, commits SQLite and rewrites "
          "vectors.faiss), raw = the same FAISS structure built in memory")
    print("notes: index MiB is the FAISS structure held in RAM (vectors.faiss) against flat's N x D x 4 bytes. ivfpq "
          "and lsh (and annoy) re-rank refine x k candidates exactly against vectors.f32, memory-mapped from disk "
          "(the page cache holds what searches touch), so their RAM is the codes; raw FAISS's side is "
          "IndexRefineFlat, which keeps a flat copy of every vector in RAM (raw MiB). annoy's raw side is the annoy "
          "package with the same re-ranking in numpy (annoy has no FAISS form). core/raw: ImageIndex._nearest alone "
          "(FAISS search and re-ranking, no SQLite path lookup nor Hit objects) over raw.")
    report["goals"] = goals(rows)
    print()
    for goal in report["goals"]:
        print(f"{'PASS' if goal['passed'] else 'FAIL'}  {goal['goal']}: {goal['detail']}")
    report["machine"].update(load_average_after=os.getloadavg()[0], peak_rss_bytes=peak_rss())
    write_json(args.out, report)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
