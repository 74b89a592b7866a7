"""Video files through OpenCV: frames in (RGB), annotated frames out."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ocularis.errors import DataError

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def is_video_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Every frame of the video at `path` as an RGB uint8 array."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"video {path} cannot be opened; check the file (codecs OpenCV reads: mp4, avi, mov ...)")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


MAX_CLIP_FRAMES = 256  # frames a clip keeps in memory: a longer video is read at an even stride


def read_clip(path: str | Path, max_frames: int = MAX_CLIP_FRAMES) -> list[np.ndarray]:
    """The frames of a short video (RGB uint8), at most `max_frames` of them spread evenly over it."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    stride = max(1, -(-count // max_frames))
    frames = [frame for index, frame in enumerate(read_frames(path)) if index % stride == 0][:max_frames]
    if not frames:
        raise DataError(f"video {path} has no frames that can be read; check the file")
    return frames


def frame_rate(path: str | Path) -> float:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        return capture.get(cv2.CAP_PROP_FPS) or 25.0
    finally:
        capture.release()


class VideoWriter:
    """Writes RGB frames to an .mp4 (mp4v) or .avi (MJPG) file; the size is taken from the first frame."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps, self.writer = Path(path), fps, None

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            codec = "MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec), self.fps,
                                          (frame.shape[1], frame.shape[0]))
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
