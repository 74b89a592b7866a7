"""items.sqlite: one row per vector ever added (row id = row of vectors.f32) and the folder's metadata.

A path is live in at most one row: re-adding it tombstones the old row (removed = 1) and adds a new one, so the
vectors of both stay where they are and the FAISS file only changes when it is compacted. SQLite commits are atomic,
which makes this table the folder's record of what is indexed; the other two files are checked against it.
"""

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Paths are unique among live rows only (a partial index): tombstoned rows keep their path as history.
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, path TEXT NOT NULL, sha1 TEXT, label TEXT, added REAL,
                                  removed INTEGER DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS live_path ON items(path) WHERE removed = 0;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
CHUNK = 900  # SQLite's smallest limit on ? parameters in one statement is 999


class ItemTable:
    """The SQLite file of one index folder. Every method that changes it commits once, or not at all."""

    def __init__(self, path: Path):
        self.path = path
        # A server searches from its worker threads; the index is used by one of them at a time (its owner's lock)
        self.connection = sqlite3.connect(str(path), check_same_thread=False)
        self.connection.executescript(SCHEMA)

    def close(self) -> None:
        self.connection.close()

    def meta(self) -> dict[str, Any]:
        return {key: json.loads(value) for key, value in self.connection.execute("SELECT key, value FROM meta")}

    def set_meta(self, values: dict[str, Any]) -> None:
        with self.connection:
            self._write_meta(values)

    def _write_meta(self, values: dict[str, Any]) -> None:
        self.connection.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                    [(key, json.dumps(value)) for key, value in values.items()])

    def row_count(self) -> int:
        """Rows ever added, tombstoned ones included: the next id, and the rows vectors.f32 must hold."""
        return self.connection.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def live_mask(self) -> np.ndarray:
        """live[id] is True for rows not tombstoned."""
        live = np.zeros(self.row_count(), dtype=bool)
        ids = [row[0] for row in self.connection.execute("SELECT id FROM items WHERE removed = 0")]
        live[ids] = True
        return live

    def live_ids(self, paths: Iterable[str]) -> dict[str, int]:
        """The live row of each of `paths` that is indexed."""
        found: dict[str, int] = {}
        for chunk in _chunks(list(paths)):
            marks = ",".join("?" * len(chunk))
            found.update(self.connection.execute(
                f"SELECT path, id FROM items WHERE removed = 0 AND path IN ({marks})", chunk))
        return found

    def add(self, first_id: int, paths: Sequence[str], sha1s: Sequence[str | None], labels: Sequence[str | None],
            replaced: Iterable[int], meta: dict[str, Any]) -> None:
        """One transaction: tombstone the `replaced` rows, insert the new ones from `first_id` on, update meta."""
        now = time.time()
        rows = [(first_id + i, path, sha1, label, now) for i, (path, sha1, label) in
                enumerate(zip(paths, sha1s, labels, strict=True))]
        with self.connection:
            self._tombstone(replaced)
            self.connection.executemany("INSERT INTO items (id, path, sha1, label, added) VALUES (?, ?, ?, ?, ?)",
                                        rows)
            self._write_meta(meta)

    def remove(self, ids: Iterable[int]) -> None:
        with self.connection:
            self._tombstone(ids)

    def _tombstone(self, ids: Iterable[int]) -> None:
        self.connection.executemany("UPDATE items SET removed = 1 WHERE id = ?", [(int(i),) for i in ids])

    def rows(self, ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
        """(path, label) of each id."""
        found: dict[int, tuple[str, str | None]] = {}
        for chunk in _chunks(sorted({int(i) for i in ids})):
            marks = ",".join("?" * len(chunk))
            for row_id, path, label in self.connection.execute(
                    f"SELECT id, path, label FROM items WHERE id IN ({marks})", chunk):
                found[row_id] = (path, label)
        return found

    def all_rows(self) -> list[tuple[str, str | None]]:
        """(path, label) of every row, tombstoned ones included, in id order (ids are 0, 1, 2 ...)."""
        return list(self.connection.execute("SELECT path, label FROM items ORDER BY id"))

    def live_items(self) -> list[tuple[int, str, str | None]]:
        """(id, path, label) of every live row, in the order they were added."""
        return list(self.connection.execute("SELECT id, path, label FROM items WHERE removed = 0 ORDER BY id"))

    def label_counts(self) -> dict[str | None, int]:
        return dict(self.connection.execute("SELECT label, COUNT(*) FROM items WHERE removed = 0 GROUP BY label"))

    def contains(self, path: str, sha1: str | None) -> bool:
        row = self.connection.execute("SELECT sha1 FROM items WHERE removed = 0 AND path = ?", (path,)).fetchone()
        return row is not None and (sha1 is None or row[0] == sha1)


def _chunks(values: list) -> Iterable[list]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]
