"""Embedding results: an image's unit vector, and the known class (identity) whose mean vector is nearest."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field

from ocularis.core.results import Result


class EmbeddingsResult(BaseModel):
    """One image's embedding and the nearest known class."""

    source: str
    vector: list[float] = Field(description="the L2-normalised embedding")
    identity: str | None = Field(description="the training class whose mean embedding is nearest")
    similarity: float | None = Field(description="cosine similarity to that class's mean embedding")
    known: bool = Field(description="similarity at or above the model's recognition threshold (below: unknown, a "
                                    "stranger nearest that class)")


@dataclass
class Embeddings(Result):
    """An image's embedding, the nearest known class, and whether it is close enough to count as that class."""

    schema = EmbeddingsResult
    renderer = "embedding"

    source: str
    vector: np.ndarray
    identity: str | None
    similarity: float | None
    known: bool
    image: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "vector": [round(float(v), 6) for v in self.vector],
                "identity": self.identity, "similarity": None if self.similarity is None else round(self.similarity, 6),
                "known": self.known}

    def row(self) -> dict[str, str]:
        """The answer first: the identity, or "unknown" below the model's threshold (a stranger is still nearest
        some class, which the next column names)."""
        shown = " ".join(f"{v:+.3f}" for v in self.vector[:4])
        return {"identity": (self.identity if self.known else "unknown") if self.identity
                else "-", "nearest": self.identity or "-",
                "similarity": "-" if self.similarity is None else f"{self.similarity:.3f}",
                "vector": f"[{shown} ...] ({len(self.vector)}-d)"}

    def plot(self, enlarge: bool = True) -> np.ndarray:
        image = Image.fromarray(self.image).convert("RGB")
        scale = max(1, round(256 / max(image.size))) if enlarge else 1
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST) if scale > 1 else image
        text = f"{self.identity} {self.similarity:.2f}{'' if self.known else ' (unknown)'}" if self.identity else "-"
        draw = ImageDraw.Draw(image)
        box = draw.textbbox((4, 4), text)
        draw.rectangle((box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3), fill=(0, 0, 0))
        draw.text((4, 4), text, fill=(255, 255, 255))
        return np.asarray(image)
