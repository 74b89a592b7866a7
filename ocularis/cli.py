"""The command line: `ocularis TASK MODE [--options]` plus `info`. User errors print one line and exit 2."""

import platform
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ocularis.config import fields_help, parse_cli_options
from ocularis.core.runs import new_run_dir, write_json
from ocularis.errors import OcularisError
from ocularis.registry import DATASETS, MODELS, TASKS
from ocularis.tasks.classify import Classifier, ClassifyConfig

console = Console()
app = typer.Typer(help="Deep learning for computer vision: train, evaluate, predict.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
classify = typer.Typer(help="Image classification (single- and multi-label).", no_args_is_help=True)
app.add_typer(classify, name="classify")

OPTIONS_HELP = "\n\n".join(f"{name} (default {default}): {text}" for name, default, text in fields_help(ClassifyConfig))


@classify.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                  epilog="Options:\n\n" + OPTIONS_HELP)
def classify_train(ctx: typer.Context, cfg: str = typer.Option(None, help="YAML file of options")) -> None:
    """Train a classifier; every option below may also come from --cfg FILE."""
    from ocularis.config import build_config

    options = parse_cli_options(ctx.args)
    config = build_config(ClassifyConfig, options, yaml_file=cfg)  # checks every option before any work starts
    run = Classifier().fit(**vars(config))
    if run is None:  # a DDP worker process: rank 0 reports
        return
    console.print(str(run.metrics))
    headline = "mAP" if run.metrics.multi_label else "accuracy"
    console.print(f"test {headline}: {run.metrics.values[headline]:.4f}")
    console.print(f"run folder: {run.dir}")


@classify.command("val")
def classify_val(model: Path = typer.Option(..., help="checkpoint (best.ckpt)"),
                 data: str = typer.Option(None, help="dataset (default: the training data)"),
                 split: str = typer.Option("test", help="train, val or test")) -> None:
    """Evaluate a checkpoint: accuracy, top-5, per-class precision/recall/F1, confusion matrix."""
    classifier = Classifier.load(model)
    metrics = classifier.evaluate(data or classifier.meta["config"]["data"], split=split)
    console.print(str(metrics))


@classify.command("predict")
def classify_predict(sources: list[str] = typer.Argument(..., help="images or folders"),
                     model: Path = typer.Option(..., help="checkpoint (best.ckpt)"),
                     topk: int = typer.Option(5, help="classes listed per image"),
                     save: bool = typer.Option(False, help="write annotated images and predictions.json"),
                     project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Predict the class of each image."""
    results = Classifier.load(model).predict(sources, topk=topk)
    table = Table("image", "label", "score", "top-k")
    for result in results:
        table.add_row(result.source, "|".join(result.names), f"{result.score:.3f}",
                      ", ".join(f"{n} {s:.2f}" for n, s in result.topk))
    console.print(table)
    if save:
        folder = new_run_dir(project, "classify", "predict")
        for index, result in enumerate(results):
            result.save(folder / f"{index:04d}_{Path(result.source).stem}.png")
        write_json(folder / "predictions.json", [r.to_json() for r in results])
        console.print(f"saved to {folder}")


@app.command()
def info() -> None:
    """Versions, devices, and the registered tasks, models and datasets."""
    import lightning
    import torch
    import torchvision

    from ocularis import __version__

    console.print(f"ocularis {__version__} · python {platform.python_version()} · torch {torch.__version__} · "
                  f"torchvision {torchvision.__version__} · lightning {lightning.__version__}")
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    console.print(f"devices: cpu ({torch.get_num_threads()} threads)" + "".join(f", cuda:{i} {n}"
                                                                            for i, n in enumerate(gpus)))
    table = Table("task", "models", "datasets")
    for task in TASKS.names():
        table.add_row(task, ", ".join(MODELS.names(task=task)), ", ".join(DATASETS.names(task=task)))
    console.print(table)


def main() -> None:
    try:
        app()
    except OcularisError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
