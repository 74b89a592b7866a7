"""PairVerdict: do two images show the same identity? Their embeddings' cosine against a threshold (the model's
own, chosen at its run's false-accept rate, or the caller's)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ocularis.errors import ConfigError


class PairVerdictResult(BaseModel):
    """One pair's verdict."""

    first: str
    second: str
    similarity: float = Field(description="cosine similarity of the two embeddings (1: identical)")
    distance: float = Field(description="Euclidean distance of the unit embeddings, sqrt(2 - 2 x similarity)")
    threshold: float = Field(description="similarity at or above which the pair counts as one identity")
    chosen: str = Field(description="where the threshold came from: the false-accept rate the model's was chosen at "
                                    "and on which pairs, or the caller's")
    same: bool


@dataclass
class PairVerdict:
    first: str
    second: str
    similarity: float
    threshold: float
    chosen: str = "given"

    schema = PairVerdictResult

    @property
    def same(self) -> bool:
        return self.similarity >= self.threshold

    @property
    def distance(self) -> float:
        return float(np.sqrt(max(0.0, 2 - 2 * self.similarity)))

    def to_json(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second, "similarity": round(self.similarity, 6),
                "distance": round(self.distance, 6), "threshold": round(self.threshold, 6), "chosen": self.chosen,
                "same": self.same}

    def sentence(self) -> str:
        verdict = "same identity" if self.same else "different identities"
        return (f"{verdict}: similarity {self.similarity:.4f} {'>=' if self.same else '<'} threshold "
                f"{self.threshold:.4f} (distance {self.distance:.4f}; threshold {self.chosen})")


def threshold_note(calibration: dict | None) -> str:
    """How a model's threshold was chosen, from what its run saved: the false-accept rate asked for, on which pairs
    (models saved before that was recorded: no more than that it is the model's)."""
    if not calibration:
        return "the model's"
    if calibration["identities_unseen"]:
        where = f"{calibration['pairs']} pairs of {calibration['identities']} identities it never trained on"
    else:  # no identity could be kept out of training: its pairs are pushed apart, strangers' less so
        where = (f"{calibration['pairs']} pairs of the {calibration['on']} of {calibration['identities']} identities "
                 "it trained on; expect more false accepts on strangers")
    return f"the model's, chosen at false-accept rate {calibration['far']:g} on {where}"


def recognition_note(calibration: dict | None) -> str:
    """How a model's recognition threshold (naming the nearest class, else unknown) was chosen."""
    if not calibration or "recognition" not in calibration:
        return "the model's verification threshold"
    images, count = calibration["recognition"]["images"], calibration["identities"]
    whose = (f"{images} photos of {count} identities it never trained on" if calibration["identities_unseen"] else
             f"{images} {calibration['on']} of {count} identities it trained on")
    return f"the model's, chosen so that at most {calibration['far']:g} of {whose} are named as someone else"


def pair_verdict(task, vectors: np.ndarray, names: tuple[str, str], threshold: float | None = None) -> PairVerdict:
    """The verdict on two unit vectors, at `threshold` or the model's own."""
    chosen = "given" if threshold is not None else threshold_note(task.meta.get("calibration"))
    threshold = threshold if threshold is not None else task.verification_threshold()
    if threshold is None:
        raise ConfigError(f"{task.meta['model']} ({task.spec.name}) was not calibrated for verification; pass "
                          "--threshold (a cosine similarity) or use an embed model")
    return PairVerdict(names[0], names[1], float(vectors[0] @ vectors[1]), float(threshold), chosen)


def verify_pair(task, first: Any, second: Any, threshold: float | None = None) -> PairVerdict:
    """Do images `first` and `second` (paths, PIL images or arrays) show the same identity?"""
    names = tuple(str(item) if isinstance(item, str | Path) else f"image{i}" for i, item in enumerate((first, second)))
    return pair_verdict(task, task.embed([first, second]), names, threshold)
