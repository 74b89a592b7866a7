"""The face pipeline's steps that need no embedding model: find the faces in photos (OpenCV's Haar cascades, or a
detector the detect task trained) and write each one aligned by its eyes (ready for `ocularis embed train`)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pydantic import BaseModel

from ocularis.core.images import list_images, read_image
from ocularis.core.results import Result
from ocularis.engine.indexing import labelled_files
from ocularis.engine.loading import load_model
from ocularis.errors import ConfigError, CorruptImageError
from ocularis.models.faces import Face, HaarFaceDetector, align_face


class FaceJson(BaseModel):
    box: list[int]
    score: float
    eyes: list[list[float]] | None


class FacesResult(BaseModel):
    """The faces found in one photo, surest first."""

    source: str
    faces: list[FaceJson]


@dataclass
class Faces(Result):
    schema = FacesResult

    source: str
    faces: list[Face]
    image: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "faces": [face.to_json() for face in self.faces]}

    def row(self) -> dict[str, str]:
        best = self.faces[0] if self.faces else None
        return {"image": self.source, "faces": str(len(self.faces)), "best box": str(list(best.box)) if best else "-",
                "eyes": "yes" if best and best.eyes else "no"}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        picture = Image.fromarray(self.image).convert("RGB")
        draw = ImageDraw.Draw(picture)
        for face in self.faces:
            draw.rectangle(face.box, outline=(46, 204, 64), width=2)
            for x, y in face.eyes or ():
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), outline=(255, 65, 54), width=2)
        return np.asarray(picture)


def face_finder(detector: str | Path | None = None, face_class: str | None = None) -> Callable[[Image.Image],
                                                                                                   list[Face]]:
    """A function from a photo to its faces: Haar cascades, or a checkpoint of the detect task (its boxes of
    `face_class`, or of every class; no eyes, so alignment crops the box)."""
    if detector is None:
        return HaarFaceDetector().detect
    model = load_model(detector, "detect")
    if face_class is not None and face_class not in model.meta["classes"]:
        raise ConfigError(f"--face-class {face_class!r} is not one of {detector}'s classes: "
                          f"{', '.join(model.meta['classes'])}")

    def find(picture: Image.Image) -> list[Face]:
        boxes = model.predict([picture])[0]
        return [Face(tuple(int(round(v)) for v in box), float(score)) for box, score, name in
                zip(boxes.boxes.tolist(), boxes.scores.tolist(), boxes.names, strict=True)
                if face_class is None or name == face_class]

    return find


def detect_faces(sources: Sequence[str | Path], find: Callable[[Image.Image], list[Face]]) -> list[Faces]:
    """The faces in every photo under `sources`."""
    found = []
    for path, _ in labelled_files(sources):
        picture = read_image(path, "RGB")
        found.append(Faces(path, find(picture), np.asarray(picture)))
    return found


@dataclass
class AlignReport:
    folder: Path
    written: int = 0
    faceless: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.written} aligned faces written to {self.folder}; {len(self.faceless)} photos without a face, "
                f"{len(self.unreadable)} unreadable")


def align_faces(sources: Sequence[str | Path], out: str | Path, find: Callable[[Image.Image], list[Face]],
                size: tuple[int, int] = (112, 112), every: bool = False) -> AlignReport:
    """Each photo's surest face (every face, with `every`) aligned into `out`, keeping its class folder: a folder of
    people's photos becomes a folder of their faces to train on."""
    report = AlignReport(Path(out))
    for path, relative in _targets(sources):
        try:
            picture = read_image(path, "RGB")
        except CorruptImageError as error:
            report.unreadable += error.bad
            continue
        faces = find(picture)
        if not faces:
            report.faceless.append(path)
            continue
        mode = "L" if Image.open(path).mode in ("L", "I;16", "1") else "RGB"  # grey photos stay grey
        for number, face in enumerate(faces if every else faces[:1]):
            target = report.folder / relative.parent / f"{relative.stem}{f'_{number}' if every else ''}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            align_face(picture, face, size).convert(mode).save(target)
            report.written += 1
    (report.folder / "faceless.txt").write_text("".join(f"{p}\n" for p in report.faceless))
    return report


def _targets(sources: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """Each photo and where its face goes below the output folder: the folder's own layout for one folder (its class
    folders kept), each folder's under its name for several (so s5/1.pgm and s6/1.pgm stay apart)."""
    found = []
    for source in sources:
        root = Path(source)
        if root.is_dir():
            base = root if len(sources) == 1 else root.parent
            found += [(str(path), path.relative_to(base)) for path in list_images(root)]
        else:
            found += [(path, Path(Path(path).name)) for path, _ in labelled_files([root])]
    return found
