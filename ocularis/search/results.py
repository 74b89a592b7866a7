"""Search results as every entry point shows them: a query image and its ranked hits (path, cosine, label, and the
inliers of geometric verification where it ran), as a CLI row, JSON with thumbnails, and a contact sheet."""

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from pydantic import BaseModel, Field

from ocularis.core.results import Result
from ocularis.search.hits import Hit

THUMBNAIL = 128  # pixels, the longer side


class HitJson(BaseModel):
    path: str
    score: float = Field(description="cosine similarity to the query")
    label: str | None = Field(description="the indexed image's label (its class folder), if any")
    inliers: int | None = Field(None, description="keypoint matches under one homography (--rerank geometric)")
    thumbnail: str | None = Field(None, description="data URL of a small JPEG of the image (server only)")


class MatchesResult(BaseModel):
    """One query's nearest indexed images, best first."""

    source: str
    hits: list[HitJson]


@dataclass
class Matches(Result):
    schema = MatchesResult
    renderer = "matches"
    source_column = "query"

    source: str
    hits: list[Hit]
    inliers: list[int] | None = None
    image: np.ndarray | None = field(default=None, repr=False)
    thumbnails: bool = False  # to_json embeds a small JPEG of each hit (what the web page shows)

    def to_json(self) -> dict[str, Any]:
        hits = []
        for rank, hit in enumerate(self.hits):
            entry = {"path": hit.path, "score": round(hit.score, 6), "label": hit.label,
                     "inliers": None if self.inliers is None else self.inliers[rank]}
            if self.thumbnails:
                entry["thumbnail"] = thumbnail_url(hit.path)
            hits.append(entry)
        return {"source": self.source, "hits": hits}

    def row(self) -> dict[str, str]:
        best = self.hits[0] if self.hits else None
        return {"best": best.path if best else "-",
                "score": f"{best.score:.3f}" if best else "-",
                "labels": ", ".join(str(h.label) for h in self.hits[:5]) if best else "-"}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        """A contact sheet: the query, then each hit with its rank, score and label (and inliers)."""
        tiles = [_tile(Image.fromarray(self.image) if self.image is not None else None, "query")]
        for rank, hit in enumerate(self.hits):
            extra = f" {self.inliers[rank]}in" if self.inliers is not None else ""
            tiles.append(_tile(_open(hit.path), f"{rank + 1}. {hit.score:.3f} {hit.label or ''}{extra}"))
        columns = min(len(tiles), 7)
        rows = -(-len(tiles) // columns)
        sheet = Image.new("RGB", (columns * (THUMBNAIL + 4), rows * (THUMBNAIL + 18)), "white")
        for index, tile in enumerate(tiles):
            sheet.paste(tile, ((index % columns) * (THUMBNAIL + 4), (index // columns) * (THUMBNAIL + 18)))
        return np.asarray(sheet)


def thumbnail_url(path: str | Path) -> str | None:
    """A small JPEG of the image file as a data URL (None where it can no longer be read)."""
    picture = _open(path)
    if picture is None:
        return None
    picture.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _open(path: str | Path) -> Image.Image | None:
    try:
        with Image.open(path) as picture:
            return ImageOps.exif_transpose(picture).convert("RGB")
    except OSError:  # moved or deleted since it was indexed
        return None


def _tile(picture: Image.Image | None, caption: str) -> Image.Image:
    tile = Image.new("RGB", (THUMBNAIL, THUMBNAIL + 16), "white")
    if picture is not None:
        picture = picture.convert("RGB")
        picture.thumbnail((THUMBNAIL, THUMBNAIL))
        tile.paste(picture, ((THUMBNAIL - picture.width) // 2, (THUMBNAIL - picture.height) // 2))
    ImageDraw.Draw(tile).text((2, THUMBNAIL + 2), caption[:24], fill=(0, 0, 0))
    return tile
