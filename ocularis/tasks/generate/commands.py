"""The generate task's own verb, beside train / val / sample / export / benchmark: score any folder of generated
images against real ones on an ocularis model's features, so images from another tool are compared on equal terms.
Nothing here imports torch at its top."""

from pathlib import Path

import typer
from rich.console import Console

from ocularis.core.paths import existing_inputs, existing_model
from ocularis.core.runs import write_json

console = Console(soft_wrap=True)


def score(generated: list[str] = typer.Argument(..., help="generated images: files or folders"),
          real: list[str] = typer.Option(..., help="real images to compare them with: files or folders (repeat)"),
          features: Path = typer.Option(..., help="an ocularis checkpoint (a classifier trained on the same kind of "
                                                  "images) whose features measure both"),
          k: int = typer.Option(3, help="neighbours that set each image's radius for precision and recall"),
          out: Path = typer.Option(None, help="also write the numbers to this JSON file")) -> None:
    """FID, KID and precision/recall of generated images against real ones, on a model's features."""
    existing_model(features)  # before torch loads
    existing_inputs([*generated, *real])
    from ocularis.engine.loading import load_model
    from ocularis.uses.fidelity import image_fidelity

    found = image_fidelity(load_model(features), real, generated, k=k)
    console.print(str(found))
    if out:
        write_json(out, found.to_json())


COMMANDS = {"score": score}
