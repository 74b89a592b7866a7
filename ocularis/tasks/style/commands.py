"""The style task's own verb, beside train / val / stylise / export / benchmark: Gatys et al.'s optimisation of one
picture, which trains no network. Nothing here imports torch at its top."""

from pathlib import Path

import typer
from rich.console import Console

from ocularis.core.paths import existing_inputs

console = Console(soft_wrap=True)


def gatys(content: Path = typer.Argument(..., help="the photo to stylise"),
          style: Path = typer.Option(..., help="the style image (a painting)"),
          features: str = typer.Option("random", help="random (random VGG-shaped filters), a VGG-16/19 weights file "
                                                      "(torchvision's state dict) or an ocularis checkpoint"),
          size: int = typer.Option(256, min=16, help="the result's longer side in pixels"),
          steps: int = typer.Option(200, min=1, help="evaluations of the losses (L-BFGS) or Adam steps"),
          optimizer: str = typer.Option("lbfgs", help="lbfgs (as the paper) or adam"),
          init: str = typer.Option("content", help="start from the photo (content) or from noise"),
          style_weight: float = typer.Option(10.0, min=0, help="weight of the style loss (relative losses)"),
          content_weight: float = typer.Option(1.0, min=0, help="weight of the content loss"),
          tv_weight: float = typer.Option(1.0, min=0, help="weight of the total variation (smoothness)"),
          preserve_colour: bool = typer.Option(False, "--preserve-colour", help="keep the photo's colours: only "
                                                                                "the luminance is stylised"),
          mask: Path = typer.Option(None, help="an image the photo's size: the style goes where it is white"),
          seed: int = typer.Option(0, help="the noise of --init noise"),
          out: Path = typer.Option(Path("stylised.png"), help="the picture to write (its losses beside it, .json)"),
          ) -> None:
    """Stylise one photo after a style image by optimising the picture itself (Gatys et al. 2016)."""
    existing_inputs([str(content), str(style), *([str(mask)] if mask else [])])  # before torch loads
    from PIL import Image

    from ocularis.core.runs import write_json
    from ocularis.tasks.style.features import Weights
    from ocularis.tasks.style.gatys import gatys as optimise

    found = optimise(content, style, features, size=size, steps=steps, optimizer=optimizer, init=init,
                     weights=Weights(content_weight, style_weight, tv_weight), preserve_colour=preserve_colour,
                     mask=mask, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(found.result.image).save(out)
    write_json(out.with_suffix(".json"), found.to_json())
    first, last = found.history[0], found.history[-1]
    console.print(f"{out}: style loss {first['style']:.4g} -> {last['style']:.4g} ({found.style_drop:.1f}x lower), "
                  f"content loss {first['content']:.4g} -> {last['content']:.4g}, on {found.features}")


COMMANDS = {"gatys": gatys}
