"""What the server accepts: upload size, image type, pixel count, images per request. Every refusal is an ApiError
with a 4xx status and a message naming the file and the limit."""

import io
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ocularis.core.video import read_clip
from ocularis.errors import DataError

ALLOWED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM")


class ApiError(Exception):
    """A request the server refuses; becomes {"error": {"status": ..., "message": ...}}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Limits:
    max_upload_mb: float = 10.0
    max_pixels: int = 40_000_000
    max_images: int = 16
    timeout_s: float = 30.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)


def decode_upload(data: bytes, filename: str, limits: Limits) -> Image.Image:
    """The decoded image in `data`, or an ApiError saying why it is refused."""
    _check_size(data, filename, "an image", limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the pixel limit below is ours
        try:
            image = Image.open(io.BytesIO(data))  # reads the header only
        except Image.DecompressionBombError:
            raise ApiError(413, f"image {filename!r} has over {2 * Image.MAX_IMAGE_PIXELS:,} pixels; "
                                f"the limit is {limits.max_pixels:,}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ApiError(415, f"file {filename!r} is not an image; upload one of {', '.join(ALLOWED_FORMATS)}") \
                from None
        if image.format not in ALLOWED_FORMATS:
            raise ApiError(415, f"file {filename!r} is {image.format}; upload one of {', '.join(ALLOWED_FORMATS)}")
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ApiError(413, f"image {filename!r} is {width}x{height} = {width * height:,} pixels; "
                                f"the limit is {limits.max_pixels:,}")
        try:
            image.load()  # the full decode: a truncated or damaged file fails here
        except (OSError, SyntaxError, ValueError) as error:
            raise ApiError(400, f"image {filename!r} is damaged or truncated ({str(error).splitlines()[0]}); "
                                "upload the complete file") from None
    return image


def decode_file(data: bytes, filename: str, accept: str, limits: Limits) -> Image.Image | list[Image.Image]:
    """An uploaded file decoded as its field accepts: an image, or a video's frames."""
    return decode_video_upload(data, filename, limits) if accept.startswith("video") else \
        decode_upload(data, filename, limits)


def decode_video_upload(data: bytes, filename: str, limits: Limits) -> list[Image.Image]:
    """The frames of an uploaded video (at most core.video.MAX_CLIP_FRAMES, evenly spread), or an ApiError."""
    _check_size(data, filename, "a video", limits)
    try:  # OpenCV would read a picture as a video of one frame
        kind = Image.open(io.BytesIO(data)).format
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        kind = None
    if kind:
        raise ApiError(415, f"file {filename!r} is a {kind} image, not a video; upload an mp4, avi, mov or webm")
    with tempfile.TemporaryDirectory() as scratch:  # the decoders read files, not bytes
        path = Path(scratch) / f"upload{Path(filename).suffix or '.mp4'}"
        path.write_bytes(data)
        try:
            frames = read_clip(path)
        except DataError:
            raise ApiError(415, f"file {filename!r} is not a video that can be read; upload an mp4, avi, mov or webm")\
                from None
    if frames[0].shape[0] * frames[0].shape[1] > limits.max_pixels:
        raise ApiError(413, f"video {filename!r} frames are over the limit of {limits.max_pixels:,} pixels")
    return [Image.fromarray(frame) for frame in frames]


def _check_size(data: bytes, filename: str, what: str, limits: Limits) -> None:
    if not data:
        raise ApiError(400, f"file {filename!r} is empty (0 bytes); upload {what} file")
    if len(data) > limits.max_upload_bytes:
        raise ApiError(413, f"file {filename!r} is {len(data) / 2**20:.1f} MB; "
                            f"the limit is {limits.max_upload_mb:g} MB")
