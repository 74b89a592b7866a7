"""The face pipeline's steps that need no embedding model: find the faces in photos (OpenCV's Haar cascades, or a
detector the detect task trained), optionally read each face's eyes and attributes with a landmark model, and write
each face aligned by its eyes (ready for `ocularis embed train`)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pydantic import BaseModel

from ocularis.core.images import list_images, read_image
from ocularis.core.results import Result
from ocularis.data.points import eye_pair
from ocularis.engine.loading import load_model
from ocularis.errors import ConfigError, CorruptImageError
from ocularis.models.faces import Face, HaarFaceDetector, align_face
from ocularis.uses.indexing import labelled_files

# a Haar face box on a frontal photo is about the face's own width: a little room around it frames it like the
# photos landmark models are usually trained on (ORL's head-and-shoulders photos: their box fills most of them)
LANDMARK_MARGIN = 0.1


class FaceJson(BaseModel):
    box: list[int]
    score: float
    eyes: list[list[float]] | None
    attributes: dict[str, str] | None


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
        attributes = ", ".join(f"{k}: {v}" for k, v in (best.attributes or {}).items()) if best else ""
        return {"faces": str(len(self.faces)), "best box": str(list(best.box)) if best else "-",
                "eyes": "yes" if best and best.eyes else "no", "attributes": attributes or "-"}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        picture = Image.fromarray(self.image).convert("RGB")
        draw = ImageDraw.Draw(picture)
        for face in self.faces:
            draw.rectangle(face.box, outline=(46, 204, 64), width=2)
            for x, y in face.eyes or ():
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), outline=(255, 65, 54), width=2)
        return np.asarray(picture)


def face_finder(detector: str | Path | None = None, face_class: str | None = None, landmarks: str | Path | None = None,
                margin: float | None = None) -> Callable[[Image.Image], list[Face]]:
    """A function from a photo to its faces: Haar cascades, or a checkpoint of the detect task (its boxes of
    `face_class`, or of every class; no eyes, so alignment crops the box). With `landmarks` (a checkpoint of the
    landmarks task whose points name a left and a right eye), each face box widened by `margin` (default
    LANDMARK_MARGIN) on every side is given to that model, and its eyes and attributes become the face's."""
    find = _box_finder(detector, face_class, haar_eyes=landmarks is None)
    if landmarks is None:
        return find
    model = load_model(landmarks, "landmarks")
    names = model.meta["point_names"]
    eyes = eye_pair(names)
    if eyes is None:
        raise ConfigError(f"--landmarks {landmarks} finds {', '.join(names) or 'no points'}: aligning needs points "
                          "named left_eye and right_eye (any names with 'eye' and 'left' / 'right')")

    def find_with_landmarks(picture: Image.Image) -> list[Face]:
        faces = find(picture)
        windows = [_widened(face.box, LANDMARK_MARGIN if margin is None else margin, picture.size) for face in faces]
        found = model.predict([picture.crop(window) for window in windows]) if faces else []
        return [replace(face, eyes=tuple((x0 + result.points[names[i]][0], y0 + result.points[names[i]][1])
                                          for i in eyes),
                        attributes={k: v for k, (v, _) in result.attributes.items()} or None)
                for face, (x0, y0, _, _), result in zip(faces, windows, found, strict=True)]

    return find_with_landmarks


def _box_finder(detector: str | Path | None, face_class: str | None,
                haar_eyes: bool) -> Callable[[Image.Image], list[Face]]:
    if detector is None:
        return HaarFaceDetector(find_eyes=haar_eyes).detect
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


def _widened(box: tuple[int, int, int, int], margin: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box grown by `margin` of its width and height on each side, kept inside the image."""
    x1, y1, x2, y2 = box
    dx, dy = round(margin * (x2 - x1)), round(margin * (y2 - y1))
    return max(0, x1 - dx), max(0, y1 - dy), min(size[0], x2 + dx), min(size[1], y2 + dy)


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
