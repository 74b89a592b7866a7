"""A training run: its folder (new, or the one being resumed), its config, and the fit that fills it."""

import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ocularis.config import TrainConfig
from ocularis.core.runs import new_run_dir, resumed_checkpoint
from ocularis.engine.callbacks import BestCheckpoint, EpochPictures
from ocularis.engine.module import TaskModule
from ocularis.engine.trainer import build_trainer, history_of
from ocularis.errors import ConfigError, TrainingStopped

RUN_DIR_ENV = "OCULARIS_RUN_DIR"  # DDP worker processes re-run the command and must find the same folder
# What launchers say of a process: torchrun's global RANK, SLURM's task number, Lightning's own DDP launcher's node
# and local rank; any of them above 0 is a process that writes no run folder.
RANK_ENV = ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK")


def is_global_zero() -> bool:
    """Whether this process is the one that writes the run folder (before Lightning has started)."""
    return all(os.environ.get(name, "0") in ("", "0") for name in RANK_ENV)


def prepare_run_dir(config: TrainConfig, task: str) -> Path:
    """The run folder global rank 0 writes; another process gets a scratch folder of its own (on one machine, the
    folder its launcher named, which it only reads), so a run over several machines makes one run folder."""
    if not is_global_zero():
        given = os.environ.get(RUN_DIR_ENV)
        if given:
            return Path(given)
        scratch = tempfile.mkdtemp(prefix="ocularis-rank-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # what this process wrote, no one reads
        return Path(scratch)
    if config.resume:
        run_dir = resumed_checkpoint(config.resume).parent
    else:
        run_dir = new_run_dir(config.project, task, config.name or config.model)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir


def train_module(module: TaskModule, datamodule: L.LightningDataModule, config: TrainConfig, run_dir: Path,
                 best: Path, save: Callable[[Path], Any],
                 draw: Callable[[int], Any] | None = None) -> list[dict] | None:
    """Fit `module`, saving `best` (via `save`) whenever its monitor improves (every epoch when it has none) and
    calling `draw(epoch)` after each validation; the epoch history, or None on DDP worker ranks."""
    callbacks: list[L.Callback] = [BestCheckpoint(best, module.monitor, module.monitor_mode, save)]
    if draw is not None:
        callbacks.append(EpochPictures(draw))
    trainer = build_trainer(config, run_dir, monitor=module.monitor, mode=module.monitor_mode,
                            manual_optimization=not module.automatic_optimization, callbacks=callbacks)
    try:
        trainer.fit(module, datamodule=datamodule,
                    ckpt_path=resumed_checkpoint(config.resume) if config.resume else None, weights_only=True)
    except SystemExit as stop:  # how Lightning ends a run that SIGTERM (SIGTERMException) or Ctrl+C (exit 1) stopped,
        # after LastCheckpoint saved it; unhandled, SIGTERM's would end the process with code 0 and no word
        terminated = isinstance(stop, SIGTERMException)
        raise TrainingStopped(run_dir, signal.SIGTERM if terminated else signal.SIGINT,
                              "SIGTERM" if terminated else "Ctrl+C (SIGINT)") from None
    except MisconfigurationException as error:
        if "limit_train_batches" not in str(error):
            raise
        raise ConfigError(f"--fraction {config.fraction} leaves no whole training batch in an epoch: raise it, or "
                          "lower --batch") from None
    return history_of(trainer) if trainer.is_global_zero else None
