"""What a search returns: each query's hits as arrays (ids, cosines) and, when read, as Hit objects naming the
indexed images."""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Hit(NamedTuple):
    """One search result: an indexed image, its cosine similarity to the query, and its label if it had one. A named
    tuple: a search makes k of them a query, and a tuple is made in half a dataclass's time."""

    path: str
    score: float
    label: str | None
    id: int


class SearchResults(Sequence[list[Hit]]):
    """The hits of every query of one search: `ids` and `scores` as arrays (queries x k, -1 and -inf where a query
    found fewer), and each query's list of Hit objects, made when it is read (a search answering 10,000 queries a
    second would spend a fifth of its time making objects nobody asked for)."""

    def __init__(self, scores: np.ndarray, ids: np.ndarray, names: Sequence | dict):
        self.scores, self.ids, self._names = scores, ids, names

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, query):
        if isinstance(query, slice):
            return [self[i] for i in range(len(self))[query]]
        names = self._names
        return [Hit(names[i][0], score, names[i][1], i)
                for score, i in zip(self.scores[query].tolist(), self.ids[query].tolist(), strict=True) if i >= 0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"SearchResults({len(self)} queries, k={self.ids.shape[1]})"
