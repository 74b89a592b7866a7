"""Run folders: runs/<task>/<name>/ with the config (built here, or resumed from the folder), metrics, checkpoints
and plots of one training run. No torch here: the CLI checks every option before importing it."""

import csv
import json
import math
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ocularis.config import TrainConfig, build_config, to_dict
from ocularis.errors import ConfigError

C = TypeVar("C", bound=TrainConfig)


def new_run_dir(project: str | Path, task: str, name: str) -> Path:
    """A fresh folder runs/<task>/<name>, numbered name2, name3 ... if taken."""
    parent = Path(project) / task
    candidate, number = parent / name, 2
    while candidate.exists():
        candidate, number = parent / f"{name}{number}", number + 1
    candidate.mkdir(parents=True)
    return candidate


def resumed_checkpoint(resume: str) -> Path:
    """The last.ckpt meant by --resume (a run folder or the file itself)."""
    path = Path(resume)
    checkpoint = path / "last.ckpt" if path.is_dir() else path
    if not checkpoint.is_file():
        raise ConfigError(f"--resume {resume}: no last.ckpt there; pass the folder of a run that trained an epoch")
    return checkpoint


def run_config(cls: type[C], overrides: dict[str, Any], yaml_file: str | None = None) -> C:
    """The run's typed config: defaults < YAML file < overrides, or, when resuming, the stopped run's own
    config.yaml."""
    resume = overrides.get("resume")
    if not resume:
        return build_config(cls, overrides, yaml_file=yaml_file)
    saved = resumed_checkpoint(resume).parent / "config.yaml"
    return build_config(cls, {"resume": resume}, yaml_file=str(saved))


def saved_config(config: TrainConfig) -> dict[str, Any]:
    """What a run folder's config.yaml holds: every option but --resume (a resumed run is the same run)."""
    return {k: v for k, v in to_dict(config).items() if k != "resume"}


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
