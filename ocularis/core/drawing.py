"""Answers drawn over images, shared by every task's results: boxes with captions, masks with a legend."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

UNLABELLED = 255  # data.masks.IGNORE: a class map's pixels no class is given (left untinted)
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


def enlarged(image: np.ndarray, enlarge: bool = True) -> tuple[Image.Image, int]:
    """An RGB copy of `image`, small ones scaled up by a whole factor (so drawn text stays legible), and the factor."""
    picture = Image.fromarray(image).convert("RGB")
    scale = max(1, round(384 / max(picture.size))) if enlarge else 1
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture, scale


def label_font(picture: Image.Image) -> ImageFont.FreeTypeFont:
    """Pillow's own font at a size legible on `picture`: a 20th of its shorter side, 12 pixels at least."""
    return ImageFont.load_default(size=max(12, min(picture.size) // 20))


def caption(picture: Image.Image, text: str, at: tuple[float, float], fill: tuple[int, int, int],
            colour: tuple[int, int, int] = (0, 0, 0)) -> None:
    """`text` in `colour` on a box of `fill` whose top-left corner is `at`, in the picture's legible font."""
    draw, font = ImageDraw.Draw(picture), label_font(picture)
    box = draw.textbbox(at, text, font=font)
    draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=fill)
    draw.text(at, text, fill=colour, font=font)


def draw_boxes(image: np.ndarray, boxes: np.ndarray, texts: list[str], labels: np.ndarray,
               enlarge: bool = True) -> np.ndarray:
    """Boxes and captions over a copy of `image`, one colour per class; small images are enlarged first."""
    picture, scale = enlarged(image, enlarge)
    draw = ImageDraw.Draw(picture)
    for box, text, label in zip(boxes, texts, labels, strict=True):
        colour = PALETTE[int(label) % len(PALETTE)]
        x1, y1, x2, y2 = (float(v) * scale for v in box)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=2)
        caption(picture, text, (x1 + 2, y1 + 1), colour)
    return np.asarray(picture)


def class_colours(count: int, background: bool = True) -> np.ndarray:
    """(count, 3) uint8 colours: class 0 black where it is the background, the others from the palette (every class
    from the palette where class 0 is a real one, such as CamVid's Sky)."""
    if not background:
        return np.array([PALETTE[i % len(PALETTE)] for i in range(count)], np.uint8).reshape(-1, 3)
    colours = np.array([(0, 0, 0), *[PALETTE[(i - 1) % len(PALETTE)] for i in range(1, count)]], np.uint8)
    return colours[:count]


def overlay_mask(image: np.ndarray, semantic: np.ndarray, opacity: float = 0.5, background: bool = True
                 ) -> np.ndarray:
    """`image` with each class of the (H, W) class map tinted in its colour at `opacity`: every class but the
    background (class 0 where `background`) and unlabelled pixels (255)."""
    picture = np.asarray(Image.fromarray(image).convert("RGB")).astype(np.float32)
    colours = class_colours(int(semantic.max(initial=0)) + 1, background).astype(np.float32)
    tint = colours[semantic]
    alpha = np.where(((semantic[..., None] > 0) | (not background)) & (semantic[..., None] != UNLABELLED), opacity,
                     0.0)
    return (picture * (1 - alpha) + tint * alpha).round().astype(np.uint8)


def class_map_picture(semantic: np.ndarray, background: bool = True) -> np.ndarray:
    """An (H, W) class map as an RGB picture in class_colours' palette (unlabelled pixels grey): the classes in
    colours of their own, which a tint over a colourful photo would blend into."""
    colours = np.vstack([class_colours(int(semantic[semantic != UNLABELLED].max(initial=0)) + 1, background),
                         np.full((1, 3), 128, np.uint8)])
    return colours[np.where(semantic == UNLABELLED, len(colours) - 1, semantic)]


def draw_legend(image: np.ndarray, names: list[str], present: list[int], background: bool = True) -> np.ndarray:
    """A colour key of the classes `present` in the top-left corner (colours as class_colours(..., background))."""
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    colours = class_colours(max(present, default=0) + 1, background)
    for row, index in enumerate(present):
        y = 4 + row * 14
        draw.rectangle((4, y, 14, y + 10), fill=tuple(int(c) for c in colours[index]), outline=(255, 255, 255))
        draw.text((18, y - 1), names[index], fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    return np.asarray(picture)
