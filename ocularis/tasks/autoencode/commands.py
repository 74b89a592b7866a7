"""The autoencode task's own verbs, beside train / val / predict / export / benchmark: reconstruct, denoise, encode,
outliers, and (VAEs) sample and manifold. Nothing here imports torch at its top (the CLI's help is built from this
module); each verb imports what it runs."""

from pathlib import Path

import typer
from rich.console import Console

from ocularis.core.results import results_table, save_results
from ocularis.core.runs import new_run_dir
from ocularis.tasks.autoencode.config import NOISES

console = Console(soft_wrap=True)
TASK = "autoencode"
MODEL = typer.Option(..., help="autoencoder checkpoint (best.ckpt) or exported encoder file")
SAVE = typer.Option(False, help="write the pictures and a JSON file into a new run folder")
PROJECT = typer.Option("runs", help="folder that holds run folders")


def _load(model: Path):
    from ocularis.engine.loading import load_model

    return load_model(model, TASK)


def _saved(results, save: bool, project: str, verb: str, json_name: str) -> None:
    console.print(results_table(results))
    if save:
        folder = new_run_dir(project, TASK, verb)
        save_results(results, folder, json_name)
        console.print(f"saved to {folder}")


def reconstruct(sources: list[str] = typer.Argument(..., help="images or folders"), model: Path = MODEL,
                save: bool = SAVE, project: str = PROJECT) -> None:
    """Reconstruct images; --save writes each original beside its reconstruction."""
    _saved(_load(model).predict(sources), save, project, "reconstruct", "reconstructions.json")


def denoise(sources: list[str] = typer.Argument(..., help="noisy images or folders"), model: Path = MODEL,
            add_noise: str = typer.Option("none", help=f"corrupt the images first, as a demonstration: "
                                                       f"{', '.join(NOISES)}"),
            noise_level: float = typer.Option(0.5, help="--add-noise: Gaussian standard deviation (0..1) or the "
                                                        "share of pixels hit"),
            seed: int = typer.Option(0, help="--add-noise: the noise's random seed"),
            save: bool = SAVE, project: str = PROJECT) -> None:
    """Clean noisy images (no noise is added unless --add-noise asks; then PSNR before and after is shown)."""
    _saved(_load(model).denoise(sources, add_noise, noise_level, seed), save, project, "denoise", "denoised.json")


def encode(sources: list[str] = typer.Argument(..., help="images or folders"), model: Path = MODEL,
           out: Path = typer.Option(..., help=".npz file to write: names and codes")) -> None:
    """The images' codes (the bottleneck), as a NumPy .npz of `names` and `codes`; `ocularis embed index --model
    CHECKPOINT` indexes the same codes, L2-normalised, for search."""
    import numpy as np

    names, codes = _load(model).codes(sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, names=np.array(names), codes=codes)
    console.print(f"{len(names)} codes of {codes.shape[1]} numbers written to {out}")


def outliers(sources: list[str] = typer.Argument(None, help="images or folders (class folders: one of the "
                                                            "model's classes is normal, any other an outlier)"),
             model: Path = MODEL,
             data: str = typer.Option(None, help="instead of sources: a dataset, its --split scored"),
             split: str = typer.Option("test", help="--data: train, val or test"),
             false_alarm: float = typer.Option(None, help="choose the threshold again, to flag this share of the "
                                                          "model's clean validation images (default: the model's)"),
             rows: int = typer.Option(20, help="ranked images shown"),
             save: bool = SAVE, project: str = PROJECT) -> None:
    """Rank images by reconstruction error, flag those above the threshold; with labels, ROC AUC, precision, recall."""
    from ocularis.errors import ConfigError

    if not sources and not data:
        raise ConfigError("pass images or folders to rank, or --data DATASET")
    report = _load(model).outliers(sources or None, data, split, false_alarm)
    console.print(report.table(rows))
    console.print(str(report))
    if save:
        folder = new_run_dir(project, TASK, "outliers")
        report.save(folder)
        console.print(f"saved to {folder}")


def sample(model: Path = MODEL, n: int = typer.Option(64, "-n", "--n", help="how many images"),
           seed: int = typer.Option(0, help="random seed of the codes"), save: bool = SAVE,
           project: str = PROJECT) -> None:
    """A VAE's new images, decoded from codes drawn from its prior."""
    from ocularis.tasks.autoencode.latent import sample_sheet

    results = _load(model).sample(n, seed)
    console.print(f"{len(results)} samples of {results[0].image.shape[1]}x{results[0].image.shape[0]} px")
    if save:
        folder = new_run_dir(project, TASK, "sample")
        save_results(results, folder, "samples.json")
        sample_sheet(results, folder / "samples.png")
        console.print(f"saved to {folder}")


def manifold(model: Path = MODEL, side: int = typer.Option(15, help="grid cells per side"),
             data: str = typer.Option(None, help="data whose codes are scattered by class (default: the training "
                                                 "data's test split)"),
             save: bool = typer.Option(True, help="write manifold.png and latent.png into a new run folder"),
             project: str = PROJECT) -> None:
    """A VAE's latent manifold (images decoded across the latent plane) and its codes scattered by class."""
    task = _load(model)
    if not save:
        console.print(f"a {task.meta['code_size']}-dimensional latent space; pass --save to draw it")
        return
    folder = new_run_dir(project, TASK, "manifold")
    written = [task.manifold(folder / "manifold.png", side), task.latent_scatter(folder / "latent.png", data)]
    console.print("wrote " + ", ".join(str(p) for p in written))


COMMANDS = {"reconstruct": reconstruct, "denoise": denoise, "encode": encode, "outliers": outliers,
            "sample": sample, "manifold": manifold}
