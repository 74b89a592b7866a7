"""Where a training run lives: a new runs/<task>/<name>/ folder, or the folder of a run being resumed."""

import os
from pathlib import Path

from ocularis.config import TrainConfig
from ocularis.core.runs import new_run_dir
from ocularis.errors import ConfigError

RUN_DIR_ENV = "OCULARIS_RUN_DIR"  # DDP worker processes re-run the command and must find the same folder


def resumed_checkpoint(resume: str) -> Path:
    """The last.ckpt meant by --resume (a run folder or the file itself)."""
    path = Path(resume)
    checkpoint = path / "last.ckpt" if path.is_dir() else path
    if not checkpoint.is_file():
        raise ConfigError(f"--resume {resume}: no last.ckpt there; pass the folder of a run that trained an epoch")
    return checkpoint


def prepare_run_dir(config: TrainConfig, task: str) -> Path:
    if os.environ.get("LOCAL_RANK", "0") != "0" and RUN_DIR_ENV in os.environ:
        return Path(os.environ[RUN_DIR_ENV])
    if config.resume:
        run_dir = resumed_checkpoint(config.resume).parent
    else:
        run_dir = new_run_dir(config.project, task, config.name or config.model)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir
