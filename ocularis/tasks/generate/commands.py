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
                                                  "images) whose features measure both, or Inception-v3 weights "
                                                  "(torchvision's state dict, .pth) for the published FID's "
                                                  "features"),
          k: int = typer.Option(3, help="neighbours that set each image's radius for precision and recall"),
          out: Path = typer.Option(None, help="also write the numbers to this JSON file")) -> None:
    """FID, KID and precision/recall of generated images against real ones, on a model's features."""
    existing_model(features)  # before torch loads
    existing_inputs([*generated, *real])
    from ocularis.uses.fidelity import image_features, image_fidelity

    found = image_fidelity(image_features(features), real, generated, k=k)
    console.print(str(found))
    if out:
        write_json(out, found.to_json())


def interpolate(model: Path = typer.Option(..., help="a generate checkpoint or its exported file"),
                start: int = typer.Option(0, "--from", help="the seed the walk starts from"),
                end: int = typer.Option(1, "--to", help="the seed it ends at"),
                steps: int = typer.Option(8, help="samples along the walk, both ends included"),
                class_: int = typer.Option(None, "--class", help="a conditional GAN's class, all along (default: "
                                                               "the one seed --from draws)"),
                out: Path = typer.Option(Path("walk.png"), help="a .png strip of the samples, or a .gif of them"),
                ) -> None:
    """A walk through the GAN's noise between two seeds: a strip of samples, or an animation."""
    existing_model(model)  # before torch loads
    from PIL import Image

    from ocularis.engine.loading import load_model

    gan = load_model(model, "generate")
    walk = [Image.fromarray(result.image) for result in gan.interpolate(start, end, steps, class_)]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".gif":
        walk[0].save(out, save_all=True, append_images=walk[1:], duration=120, loop=0)
    else:
        strip = Image.new(walk[0].mode, (walk[0].width * len(walk), walk[0].height))
        for index, picture in enumerate(walk):
            strip.paste(picture, (index * picture.width, 0))
        strip.save(out)
    console.print(f"{len(walk)} samples from seed {start} to seed {end} written to {out}")


COMMANDS = {"score": score, "interpolate": interpolate}
