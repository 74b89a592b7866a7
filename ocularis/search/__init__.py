"""Image search: a folder of L2-normalised embeddings that finds the images nearest a query.

It knows no task and no torch (numpy, faiss and sqlite3 only): whoever embeds the images - a classifier's backbone,
a metric-learning model - passes float32 vectors and paths. This module stays light (it imports neither faiss nor
numpy) so that option checking can read KINDS; ImageIndex, SearchResults and Hit are loaded on first use.
"""

from importlib import import_module

# flat: exact; ivf, ivfpq, hnsw: FAISS's approximate kinds; lsh: locality-sensitive hashing; annoy: Spotify's trees.
KINDS = ("flat", "ivf", "ivfpq", "hnsw", "lsh", "annoy")

__all__ = ["KINDS", "Hit", "ImageIndex", "SearchResults"]


def __getattr__(name: str):
    if name in ("Hit", "SearchResults"):
        return getattr(import_module("ocularis.search.hits"), name)
    if name == "ImageIndex":
        return getattr(import_module("ocularis.search.index"), name)
    raise AttributeError(f"module 'ocularis.search' has no attribute {name!r}")
