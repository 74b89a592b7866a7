"""A training run: its folder (new, or the one being resumed), its config, and the fit that fills it."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import lightning as L

from ocularis.config import TrainConfig, build_config, to_dict
from ocularis.core.runs import new_run_dir
from ocularis.engine.callbacks import BestCheckpoint
from ocularis.engine.module import TaskModule
from ocularis.engine.trainer import build_trainer, history_of
from ocularis.errors import ConfigError

C = TypeVar("C", bound=TrainConfig)
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


def train_module(module: TaskModule, datamodule: L.LightningDataModule, config: TrainConfig, run_dir: Path,
                 best: Path, save: Callable[[Path], Any]) -> list[dict] | None:
    """Fit `module`, saving `best` (via `save`) whenever its monitor improves (every epoch when it has none); the
    epoch history, or None on DDP worker ranks."""
    trainer = build_trainer(config, run_dir, monitor=module.monitor, mode=module.monitor_mode,
                            manual_optimization=not module.automatic_optimization,
                            callbacks=[BestCheckpoint(best, module.monitor, module.monitor_mode, save)])
    trainer.fit(module, datamodule=datamodule,
                ckpt_path=resumed_checkpoint(config.resume) if config.resume else None, weights_only=True)
    return history_of(trainer) if trainer.is_global_zero else None
