"""The embed task's own verbs, beside train / val / predict / export / benchmark: build and search an image index
with any task's model, verify a pair, cluster an album. Nothing here imports torch at its top (the CLI's help is
built from this module); each verb imports what it runs."""

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from ocularis.core.results import results_table, save_results
from ocularis.core.runs import new_run_dir
from ocularis.errors import ConfigError
from ocularis.search import KINDS

console = Console(soft_wrap=True)
RERANKS = ("none", "expand", "geometric")


def index(sources: list[str] = typer.Argument(..., help="images or folders (a folder of class folders labels each "
                                                        "image by its folder)"),
          model: Path = typer.Option(..., help="checkpoint of any task (its feature layer embeds) or an embed model"),
          out: Path = typer.Option(..., help="index folder to make, or to add to when it exists"),
          kind: str = typer.Option("flat", help=f"index structure: {', '.join(KINDS)}"),
          param: list[str] = typer.Option(None, help="index parameter NAME=VALUE, e.g. nlist=256 (repeatable)"),
          layer: str = typer.Option(None, help="embed with this layer's pooled output (default: the model's own)"),
          batch: int = typer.Option(64, help="images embedded at a time")) -> None:
    """Index images for search; run again to add new or changed files (a killed run resumes where it stopped)."""
    from ocularis.engine.loading import load_model
    from ocularis.uses.indexing import index_images

    task = load_model(model)
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task("indexing", total=None)
        report = index_images(task, sources, out, kind=kind, params=_params(param), layer=layer,
                              model_path=str(model.resolve()), batch=batch,
                              progress=lambda done, total: bar.update(job, completed=done, total=total))
    _report(report)


def add(sources: list[str] = typer.Argument(..., help="images or folders to add (changed files are updated)"),
        index: Path = typer.Option(..., "--index", help="index folder"),
        model: Path = typer.Option(None, help="the index's model (default: the one that built it)")) -> None:
    """Add images to an index; a path already indexed is updated, never duplicated."""
    from ocularis.uses.indexing import index_images

    task, model = _index_model(index, model)
    _report(index_images(task, sources, index, model_path=str(model)))


def remove(paths: list[str] = typer.Argument(..., help="indexed image paths to remove"),
           index: Path = typer.Option(..., "--index", help="index folder")) -> None:
    """Remove images from an index by path (searches stop returning them at once)."""
    from ocularis.uses.indexing import open_index

    with open_index(index) as opened:
        removed = opened.remove([os.path.abspath(p) for p in paths])  # indexed as absolute paths
        console.print(f"removed {removed} of {len(paths)}; {len(opened)} images indexed")


def repair(index: Path = typer.Option(..., "--index", help="index folder")) -> None:
    """Rebuild an index's search structure from its stored vectors after an interrupted write."""
    from ocularis.search import ImageIndex

    with ImageIndex.repair(index) as opened:
        console.print(f"repaired {index}: {len(opened)} images indexed")


def search(queries: list[str] = typer.Argument(..., help="query images or folders"),
           index: Path = typer.Option(..., "--index", help="index folder"),
           k: int = typer.Option(10, "-k", "--k", help="neighbours per query"),
           rerank: str = typer.Option("none", help=f"second look at the hits: {', '.join(RERANKS)} (expand: average "
                                                   "query expansion; geometric: keypoints + RANSAC)"),
           model: Path = typer.Option(None, help="the index's model (default: the one that built it)"),
           save: bool = typer.Option(False, help="write a contact sheet per query and matches.json"),
           project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Find the indexed images nearest each query image."""
    from ocularis.search import ImageIndex
    from ocularis.uses.indexing import search_images

    if rerank not in RERANKS:
        raise ConfigError(f"--rerank {rerank!r} is not one of {', '.join(RERANKS)}")
    task, _ = _index_model(index, model)
    with ImageIndex.open(index, mmap=True) as opened:
        results = search_images(task, opened, queries, k=k, expand=3 if rerank == "expand" else 0,
                                geometric=rerank == "geometric")
    console.print(results_table(results))
    if save:
        folder = new_run_dir(project, "embed", "search")
        save_results(results, folder, "matches.json")
        console.print(f"saved to {folder}")


def evaluate(index: Path = typer.Option(..., "--index", help="index folder of labelled images (class folders)"),
             k: int = typer.Option(5, "-k", "--k", help="rank cut-off"),
             rerank: str = typer.Option("none", help="none or expand")) -> None:
    """Retrieval quality: every labelled image queries the rest (precision@k, recall@k, mAP@k)."""
    from ocularis.search import ImageIndex
    from ocularis.uses.indexing import evaluate_index

    with ImageIndex.open(index, mmap=True) as opened:
        found = evaluate_index(opened, k, expand=3 if rerank == "expand" else 0)
    console.print("  ".join(f"{name}={value:.4f}" if isinstance(value, float) else f"{name}={value}"
                            for name, value in found.items()))


def verify(first: Path = typer.Argument(..., help="an image"), second: Path = typer.Argument(..., help="another"),
           model: Path = typer.Option(..., help="embed checkpoint (or any model, with --threshold)"),
           threshold: float = typer.Option(None, help="cosine at or above which they match (default: the model's)"),
           ) -> None:
    """Do two images show the same identity? Their cosine similarity against the threshold."""
    from ocularis.engine.loading import load_model
    from ocularis.uses.verifying import verify_pair

    found = verify_pair(load_model(model), first, second, threshold)
    console.print(found.sentence())


def cluster(sources: list[str] = typer.Argument(..., help="images or folders"),
            model: Path = typer.Option(..., help="checkpoint of any task"),
            out: Path = typer.Option(..., help="folder to write: one sub-folder of links per cluster, clusters.json"),
            method: str = typer.Option("agglomerative", help="agglomerative or dbscan"),
            clusters: int = typer.Option(None, help="agglomerative: how many (default: cut at --distance)"),
            distance: float = typer.Option(None, help="cosine distance that separates clusters (default: 1 - the "
                                                      "model's threshold, else 0.5)")) -> None:
    """Group images by their embeddings (an album by person, a folder by object)."""
    from ocularis.engine.loading import load_model
    from ocularis.uses.clustering import cluster_images

    report = cluster_images(load_model(model), sources, out, method=method, clusters=clusters, distance=distance)
    console.print(str(report))


def _index_model(index: Path, model: Path | None):
    """The model that embeds queries for `index`: the one given, else the one recorded when it was built."""
    from ocularis.engine.loading import load_model
    from ocularis.search import ImageIndex

    if model is None:
        with ImageIndex.open(index, mmap=True) as opened:
            model = Path(opened.model) if opened.model else None
    if model is None or not model.is_file():
        raise ConfigError(f"index {index} records its model as {model or 'nothing'}, which is not a file; pass "
                          "--model CHECKPOINT (the one the index was built with)")
    return load_model(model), model


def _params(pairs: list[str] | None) -> dict[str, int]:
    params = {}
    for pair in pairs or []:
        name, _, value = pair.partition("=")
        if not value.lstrip("-").isdigit():
            raise ConfigError(f"--param {pair!r} must look like NAME=NUMBER (e.g. nlist=256)")
        params[name] = int(value)
    return params


def _report(report) -> None:
    console.print(str(report))
    for path, reason in report.bad[:10]:
        console.print(f"  unreadable, skipped: {path}: {reason}")



COMMANDS = {"index": index, "add": add, "remove": remove, "repair": repair, "search": search, "evaluate": evaluate,
            "verify": verify, "cluster": cluster}
