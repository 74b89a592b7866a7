"""Run folders: runs/<task>/<name>/ with the config, metrics, checkpoints and plots of one training run."""

import csv
import json
import math
from pathlib import Path
from typing import Any

import yaml


def new_run_dir(project: str | Path, task: str, name: str) -> Path:
    """A fresh folder runs/<task>/<name>, numbered name2, name3 ... if taken."""
    parent = Path(project) / task
    candidate, number = parent / name, 2
    while candidate.exists():
        candidate, number = parent / f"{name}{number}", number + 1
    candidate.mkdir(parents=True)
    return candidate


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(_finite(data), indent=2) + "\n")


def write_history_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """One row per epoch; columns are the union of all keys, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _finite(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
