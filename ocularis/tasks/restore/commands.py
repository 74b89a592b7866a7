"""The restore task's own verbs, beside train / val / predict / export / benchmark: upscale photos with a
super-resolution model, fill a photo's holes with an inpainting model. Nothing here imports torch at its top."""

from pathlib import Path

import typer
from rich.console import Console

from ocularis.core.results import results_table, save_results
from ocularis.core.runs import new_run_dir
from ocularis.errors import ConfigError

console = Console(soft_wrap=True)


def upscale(sources: list[str] = typer.Argument(..., help="photos or folders"),
            model: Path = typer.Option(..., help="a restore checkpoint (espcn or srcnn) or its exported file"),
            save: bool = typer.Option(False, help="write each upscaled photo, and it beside its input"),
            project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Make photos larger by the model's scale (luma by the network, colour by bicubic interpolation)."""
    _run(model, "upscale", sources, {}, save, project)


def inpaint(photo: Path = typer.Argument(..., help="a photo with holes to fill"),
            mask: Path = typer.Option(..., help="an image of the photo's size: white (non-zero) where to fill"),
            model: Path = typer.Option(..., help="a restore checkpoint trained with --model inpaint"),
            save: bool = typer.Option(False, help="write the filled photo, and it beside the holed one"),
            project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Fill the masked parts of a photo from what surrounds them."""
    _run(model, "inpaint", [str(photo)], {"mask": str(mask)}, save, project)


def _run(model: Path, job: str, sources: list[str], options: dict, save: bool, project: str) -> None:
    from ocularis.engine.loading import load_model

    task = load_model(model, "restore")
    if task.meta["job"] != job:
        raise ConfigError(f"{model} is a {task.meta['model']} model, which does not {job}: use "
                          f"`ocularis restore {task.meta['job']}` with it, or train one with --model "
                          f"{'espcn' if job == 'upscale' else 'inpaint'}")
    results = task.predict(sources, batch=1, **options)
    console.print(results_table(results))
    if save:
        folder = new_run_dir(project, "restore", job)
        save_results(results, folder, f"{job}.json")
        console.print(f"saved to {folder}")


COMMANDS = {"upscale": upscale, "inpaint": inpaint}
