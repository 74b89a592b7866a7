"""Labels of the ORL faces (../shared/assets/att_faces) for the landmark task's tests: glasses and gender as this
project read them off the 400 photos, and the eye centres OpenCV's Haar cascades find (empty where they find none)."""

import csv
from functools import cache
from pathlib import Path

from PIL import Image

FEMALE = {1, 2, 8, 10, 32, 35}
GLASSES_ALWAYS = {6, 14, 20, 27, 28, 31, 34, 37}
GLASSES_SOMETIMES = {4: {1, 2, 3, 8, 9}, 7: {4, 5, 10}, 13: {1, 2, 5, 6, 7, 8, 9, 10}, 17: {1, 2, 5, 6, 7, 8, 9, 10},
                     19: {1, 2, 3, 6, 10}, 36: {9, 10}}


def glasses(person: int, photo: int) -> str:
    wears = person in GLASSES_ALWAYS or photo in GLASSES_SOMETIMES.get(person, ())
    return "glasses" if wears else "no glasses"


@cache
def _detector():
    from ocularis.models.faces import HaarFaceDetector

    return HaarFaceDetector()


@cache
def eye_cells(path: Path) -> tuple[str, ...]:
    """The four eye coordinates the Haar cascades find in one photo, as CSV cells (empty where they find none);
    found once per test process (several tests label the same photos, 40 ms each)."""
    faces = _detector().detect(Image.open(path))
    eyes = faces[0].eyes if faces and faces[0].eyes else None
    return tuple(f"{v:.1f}" for eye in eyes for v in eye) if eyes else ("", "", "", "")


def write_orl_csv(root: Path, out: Path, people: range = range(1, 41)) -> Path:
    """out (paths as given under `root`): path, left_eye_x, left_eye_y, right_eye_x, right_eye_y, glasses, gender
    for every photo of `people`."""
    rows = []
    for person in people:
        for photo in range(1, 11):
            path = root / f"s{person}" / f"{photo}.pgm"
            rows.append([str(path), *eye_cells(path), glasses(person, photo), "female" if person in FEMALE else "male"])
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y", "glasses", "gender"])
        writer.writerows(rows)
    return out
