"""Reading image files: every failure becomes a CorruptImageError naming the file."""

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ocularis.errors import CorruptImageError, DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files below `folder`, sorted, at any depth."""
    return sorted(p for p in folder.rglob("*") if is_image_file(p))


def read_image(path: str | Path, mode: str = "RGB") -> Image.Image:
    """Decode `path` into a PIL image in `mode` ("RGB" or "L")."""
    try:
        with Image.open(path) as image:
            image.load()
            # Palette and alpha images (GIF, PNG) go through RGBA so transparency does not become noise.
            if image.mode in ("P", "PA", "LA", "RGBA"):
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            # convert() copies even to the mode the image already has: one copy of the pixels less per decode
            return image if image.mode == mode else image.convert(mode)
    except FileNotFoundError:
        raise DataError(f"image file {path} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CorruptImageError([(str(path), str(error).split("\n")[0])]) from None


def read_picture(source: str | Path | Image.Image | np.ndarray, mode: str = "RGB") -> Image.Image:
    """A picture option's value (see `config.option`) as a PIL image in `mode`: a file decoded, pixels converted."""
    if isinstance(source, Image.Image):
        return source if source.mode == mode else source.convert(mode)
    if isinstance(source, np.ndarray):
        return to_pil(source).convert(mode)
    return read_image(source, mode)


def to_pil(array: np.ndarray) -> Image.Image:
    """A HxW or HxWxC uint8 array as a PIL image."""
    return Image.fromarray(np.ascontiguousarray(array))


def resized(picture: Image.Image, longest: int | None,
            resample: Image.Resampling = Image.Resampling.BILINEAR) -> Image.Image:
    """`picture` scaled so its longer side is `longest` pixels (None: as it is)."""
    if not longest or max(picture.size) == longest:
        return picture
    scale = longest / max(picture.size)
    return picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), resample)
