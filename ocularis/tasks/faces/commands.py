"""`ocularis faces detect|align|verify|recognize|cluster`: the face pipeline's verbs. Detection and alignment need
no model (Haar cascades) or a detect checkpoint; verification, recognition and clustering take an embed model
trained with --faces, which finds and aligns the face in each photo itself. Each verb imports what it runs."""

from pathlib import Path

import typer
from rich.console import Console

from ocularis.core.results import results_table, save_results
from ocularis.core.runs import new_run_dir
from ocularis.errors import ConfigError

console = Console(soft_wrap=True)


def detect(sources: list[str] = typer.Argument(..., help="photos or folders"),
           detector: Path = typer.Option(None, help="a detect checkpoint to find faces with (default: Haar "
                                                    "cascades)"),
           face_class: str = typer.Option(None, help="with --detector: the class that is a face (default: all)"),
           landmarks: Path = typer.Option(None, help="a landmarks checkpoint: each face's eyes and attributes "
                                                     "from it (instead of the eye cascades)"),
           margin: float = typer.Option(None, help="with --landmarks: share of the face box added on each side "
                                                   "of the crop the landmark model sees (default 0.1)"),
           save: bool = typer.Option(False, help="write each photo with its faces drawn, and faces.json"),
           project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Find the faces (and their eyes) in photos."""
    from ocularis.tasks.faces.pipeline import detect_faces, face_finder

    found = detect_faces(sources, face_finder(detector, face_class, landmarks, margin))
    console.print(results_table(found))
    console.print(f"{sum(bool(f.faces) for f in found)} of {len(found)} photos have a face")
    if save:
        folder = new_run_dir(project, "faces", "detect")
        save_results(found, folder, "faces.json")
        console.print(f"saved to {folder}")


def align(sources: list[str] = typer.Argument(..., help="photos or folders (class folders are kept)"),
          out: Path = typer.Option(..., help="folder to write the aligned faces into"),
          size: int = typer.Option(112, help="side of the square aligned crop, in pixels"),
          every: bool = typer.Option(False, help="every face of each photo, not only the surest"),
          detector: Path = typer.Option(None, help="a detect checkpoint (default: Haar cascades)"),
          face_class: str = typer.Option(None, help="with --detector: the class that is a face"),
          landmarks: Path = typer.Option(None, help="a landmarks checkpoint: align by the eyes it finds (instead "
                                                    "of the eye cascades)"),
          margin: float = typer.Option(None, help="with --landmarks: share of the face box added on each side of "
                                                  "the crop the landmark model sees (default 0.1)")) -> None:
    """Write each photo's face upright, eyes level at a fixed place: data to train an embed model on."""
    from ocularis.tasks.faces.pipeline import align_faces, face_finder

    find = face_finder(detector, face_class, landmarks, margin)
    console.print(str(align_faces(sources, out, find, (size, size), every)))


def verify(first: Path = typer.Argument(..., help="a photo of a face"),
           second: Path = typer.Argument(..., help="another"),
           model: Path = typer.Option(..., help="embed checkpoint trained with --faces"),
           threshold: float = typer.Option(None, help="similarity at or above which they match (default: the "
                                                      "model's)")) -> None:
    """Are two photos of the same person?"""
    from ocularis.uses.verifying import verify_pair

    console.print(verify_pair(_face_model(model), first, second, threshold).sentence())


def recognize(sources: list[str] = typer.Argument(..., help="photos or folders"),
              model: Path = typer.Option(..., help="embed checkpoint trained with --faces"),
              save: bool = typer.Option(False, help="write each photo with its name, and recognized.json"),
              project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Name the person in each photo: the nearest of the people the model was trained on, or unknown when the
    similarity is below its threshold."""
    from ocularis.uses.verifying import recognition_note

    task = _face_model(model)
    results = task.predict(sources)
    console.print(results_table(results))
    named = sum(result.known for result in results)
    console.print(f"{named} of {len(results)} photos named, {len(results) - named} unknown (similarity below "
                  f"{task.recognition_threshold():.4f}: {recognition_note(task.meta.get('calibration'))})")
    if save:
        folder = new_run_dir(project, "faces", "recognize")
        save_results(results, folder, "recognized.json")
        console.print(f"saved to {folder}")


def cluster(sources: list[str] = typer.Argument(..., help="photos or folders"),
            model: Path = typer.Option(..., help="embed checkpoint trained with --faces"),
            out: Path = typer.Option(..., help="folder to write: one sub-folder per person found"),
            clusters: int = typer.Option(None, help="how many people (default: cut at the model's threshold)")) -> None:
    """Group an album's photos by person."""
    from ocularis.uses.clustering import cluster_images

    console.print(str(cluster_images(_face_model(model), sources, out, clusters=clusters)))


def _face_model(path: Path):
    from ocularis.engine.loading import load_model

    task = load_model(path, "embed")
    if not task.meta["config"]["faces"]:
        raise ConfigError(f"{path} embeds whole images, not faces: train one with `ocularis embed train --faces` (or "
                          "use `ocularis embed verify` for whole images)")
    return task



COMMANDS = {"detect": detect, "align": align, "verify": verify, "recognize": recognize, "cluster": cluster}
