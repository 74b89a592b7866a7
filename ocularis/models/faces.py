"""Classic face detection and alignment: OpenCV's Haar cascades (Viola and Jones 2001) find faces and their eyes,
and a similarity transform on the eyes turns each face into an upright crop of fixed size."""

import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ocularis.errors import ConfigError, DataError

FACE_CASCADE = "haarcascade_frontalface_alt2.xml"  # on ORL: recall of the default cascade, a sixth of its false alarms
EYE_CASCADE = "haarcascade_eye.xml"
GLASSES_CASCADE = "haarcascade_eye_tree_eyeglasses.xml"  # second try, for the eyes the plain one misses
BORDER = 0.15  # a cascade cannot find a face its window cannot hold: tightly framed faces need room around them
EYE_BAND = 0.6  # eyes sit in the upper part of a Haar face box, about 0.35-0.4 of its height down
EYE_SEARCH_WIDTH = 200  # faces are rescaled to this width before the eye search: the eye window is 20 pixels wide
CROP_MARGIN = 0.1  # without eyes, a tenth of the face box is kept on each side


@dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2) in pixels, the cascade's score and, when found, the eye centres."""

    box: tuple[int, int, int, int]
    score: float  # the last stage's sum of weak classifiers: higher is surer, comparable within one cascade only
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None  # left in the image first
    attributes: dict[str, str] | None = None  # what a landmark model says of the face (gender, glasses ...)

    def to_json(self) -> dict:
        """Plain ints and floats, ready for json.dumps."""
        eyes = None if self.eyes is None else [[float(x), float(y)] for x, y in self.eyes]
        return {"box": [int(v) for v in self.box], "score": float(self.score), "eyes": eyes,
                "attributes": self.attributes}


def _cascade(name: str) -> "cv2.CascadeClassifier":
    """A cascade shipped with the OpenCV wheel (OpenCV 5 wheels ship none, and no CascadeClassifier)."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    path = Path(folder) / name
    classifier = cv2.CascadeClassifier(str(path)) if folder and path.is_file() and hasattr(cv2, "CascadeClassifier") \
        else None
    if classifier is None or classifier.empty():
        raise ConfigError(f"Haar cascade {name} not found in {folder or 'cv2.data'} (OpenCV {cv2.__version__}): "
                          "install opencv-contrib-python-headless<5.")
    return classifier


def _array(image: "Image.Image | np.ndarray") -> np.ndarray:
    """The image as a uint8 array, H x W or H x W x C, checked."""
    if isinstance(image, Image.Image):
        image = image if image.mode in ("L", "RGB", "RGBA") else image.convert("RGB")
    array = np.asarray(image)
    bad_channels = array.ndim == 3 and array.shape[2] not in (1, 3, 4)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or bad_channels or 0 in array.shape:
        raise DataError(f"A face image must be a uint8 H x W (grey) or H x W x 1/3/4 array, not {array.dtype} of "
                        f"shape {array.shape}: convert it with np.asarray(PIL.Image.open(path).convert('RGB')).")
    return array


def _grey(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        return array
    return array[..., 0] if array.shape[2] == 1 else cv2.cvtColor(array[..., :3], cv2.COLOR_RGB2GRAY)


class HaarFaceDetector:
    """Viola-Jones faces, best first, each with its two eyes when both are found."""

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 24, find_eyes: bool = True,
                 cascade: str = FACE_CASCADE, border: float = BORDER):
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.find_eyes, self.cascade, self.border = find_eyes, cascade, border
        self._cascades: tuple | None = None  # loaded on first use, so a detector can be built where OpenCV has none

    def detect(self, image: "Image.Image | np.ndarray") -> list[Face]:
        """Faces in a PIL image or uint8 array (grey or RGB), highest score first."""
        grey = _grey(_array(image))
        if self._cascades is None:
            faces = _cascade(self.cascade)
            self._cascades = (faces, _cascade(EYE_CASCADE), _cascade(GLASSES_CASCADE)) if self.find_eyes else (faces,)
        height, width = grey.shape
        pad = round(self.border * min(height, width))
        padded = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        boxes, _, weights = self._cascades[0].detectMultiScale3(
            padded, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size), outputRejectLevels=True)
        faces = []
        for (x, y, w, h), weight in zip(np.reshape(boxes, (-1, 4)).tolist(), np.ravel(weights).tolist(), strict=True):
            x, y = x - pad, y - pad
            if not (0 <= x + w / 2 < width and 0 <= y + h / 2 < height):
                continue  # found in the replicated border: the face would be mostly outside the image
            eyes = self._eyes(grey, x, y, w, h) if self.find_eyes else None
            box = (max(x, 0), max(y, 0), min(x + w, width), min(y + h, height))
            faces.append(Face(box, weight, eyes))
        return sorted(faces, key=lambda face: -face.score)

    def _eyes(self, grey: np.ndarray, x: int, y: int, w: int, h: int):
        """The most plausible pair of eye centres in the upper part of the face box, or None."""
        x1, y1 = max(x, 0), max(y, 0)
        band = grey[y1:min(y + round(EYE_BAND * h), grey.shape[0]), x1:min(x + w, grey.shape[1])]
        if band.size == 0:
            return None
        scale = EYE_SEARCH_WIDTH / w
        band = cv2.resize(band, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        sizes = {"minSize": (round(0.12 * EYE_SEARCH_WIDTH),) * 2, "maxSize": (round(0.45 * EYE_SEARCH_WIDTH),) * 2}
        for cascade in self._cascades[1:]:
            found = cascade.detectMultiScale(band, scaleFactor=1.1, minNeighbors=3, **sizes)
            found = np.reshape(found, (-1, 4)).tolist()  # plain ints, so the eye centres are plain floats
            centres = [(x1 + (ex + ew / 2) / scale, y1 + (ey + eh / 2) / scale, ew / scale) for ex, ey, ew, eh in found]
            pair = _best_pair(centres, x, y, w, h)
            if pair is not None:
                return pair
        return None


def _best_pair(centres: list[tuple[float, float, float]], x: int, y: int, w: int, h: int):
    """One eye on each side of the face's midline, both in its upper half, of similar size and a plausible distance
    apart; of those, the pair most level and most alike (an eye with its eyebrow, or an eye with a nostril, is less)."""
    best, best_cost = None, float("inf")
    for a, b in itertools.combinations(centres, 2):
        left, right = sorted((a, b))
        gap = right[0] - left[0]
        if not (left[0] < x + w / 2 < right[0] and max(left[1], right[1]) < y + h / 2 and 0.25 * w < gap < 0.7 * w):
            continue
        if max(left[2], right[2]) > 1.5 * min(left[2], right[2]):
            continue
        cost = (abs(right[1] - left[1]) + abs(right[2] - left[2])) / gap
        if cost < best_cost:
            best, best_cost = ((left[0], left[1]), (right[0], right[1])), cost
    return best


def align_face(image: "Image.Image | np.ndarray", face: Face, size: tuple[int, int] = (112, 112),
               eye_row: float = 0.4, eye_gap: float = 0.4) -> Image.Image:
    """An upright crop of `size` (W, H), in the image's own mode.

    With eyes: rotated and scaled so they are level, eye_row x H from the top, eye_gap x W apart and centred.
    Without: the face box and a small margin, resized (not stretched) to fill `size`.
    """
    array = _array(image)
    out_w, out_h = size
    if face.eyes is not None:
        (lx, ly), (rx, ry) = face.eyes
        scale = eye_gap * out_w / max(np.hypot(rx - lx, ry - ly), 1e-6)
        centre, target = ((lx + rx) / 2, (ly + ry) / 2), (out_w / 2, eye_row * out_h)
        matrix = cv2.getRotationMatrix2D(centre, float(np.degrees(np.arctan2(ry - ly, rx - lx))), scale)
    else:
        x1, y1, x2, y2 = face.box
        scale = min(out_w / ((x2 - x1) * (1 + 2 * CROP_MARGIN)), out_h / ((y2 - y1) * (1 + 2 * CROP_MARGIN)))
        centre, target = ((x1 + x2) / 2, (y1 + y2) / 2), (out_w / 2, out_h / 2)
        matrix = cv2.getRotationMatrix2D(centre, 0.0, scale)
    matrix[:, 2] += np.subtract(target, centre)
    if scale < 0.5:
        # warpAffine samples without averaging: shrink with area averaging first, or a large face aliases
        shrunk = cv2.resize(array, None, fx=2 * scale, fy=2 * scale, interpolation=cv2.INTER_AREA)
        array, matrix = shrunk.reshape(shrunk.shape[:2] + array.shape[2:]), matrix @ np.diag([0.5 / scale] * 2 + [1])
    warped = cv2.warpAffine(array, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    warped = warped.reshape(warped.shape[:2] + array.shape[2:])
    return Image.fromarray(warped[..., 0] if warped.ndim == 3 and warped.shape[2] == 1 else warped)


def aligned_best_face(image: "Image.Image | np.ndarray", detector: HaarFaceDetector,
                      size: tuple[int, int] = (112, 112)) -> Image.Image | None:
    """The surest face in `image`, aligned by its eyes; None where the detector finds none."""
    faces = detector.detect(image)
    return align_face(image, faces[0], size) if faces else None
