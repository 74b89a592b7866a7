"""Callbacks every training run uses: epoch seeding, the metrics history, the best checkpoint, atomic saving; and
EpochMeans, the cheap way for a module to log per-epoch means of per-step values."""

import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ocularis.core.checkpoint import atomic_save
from ocularis.core.runs import write_history_csv, write_json
from ocularis.errors import DivergedError


class EpochSeed(L.Callback):
    """Reseed every RNG from (seed, epoch) before an epoch's first step, so dropout in epoch k is the same
    whether the run went straight through or was killed and resumed. (Shuffling and augmentation are
    seeded per image by data.sampling.)"""

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, index: int) -> None:
        if index != 0:
            return
        seed = self.seed * 1000 + trainer.current_epoch + 1000 * trainer.global_rank
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)


class FiniteLoss(L.Callback):
    """Stop at the first step whose loss is NaN or infinite: every later step would train on NaN weights, and the
    epochs' checkpoints before it are the ones worth keeping."""

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any,
                           index: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
            kept = "last.ckpt holds the last finished epoch" if trainer.current_epoch else "no epoch had finished"
            raise DivergedError(f"the training loss became {float(loss)} at epoch {trainer.current_epoch}, step "
                                f"{index}: lower --lr or set --clip-grad ({kept})")


class History(Checkpoint):
    """One row per epoch (epoch, train/*, val/*, lr, seconds) into metrics.csv; kept in checkpoints for resume.

    A Checkpoint subclass only so that Lightning runs its epoch-end hook after the module's own on_train_epoch_end
    (where EpochMeans are logged) and, like BestCheckpoint, before ModelCheckpoint writes last.ckpt (build_trainer
    puts ModelCheckpoint last): the row is complete and the checkpoint holds it. `seconds` runs from the previous
    row (or the start of training) to this one, so the column adds up to the training time, checkpoint writes
    included."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self._since = 0.0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._since = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        row: dict[str, Any] = {"epoch": trainer.current_epoch}
        row.update({k: round(float(v), 6) for k, v in sorted(trainer.callback_metrics.items()) if "/" in k})
        row["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        now = time.perf_counter()
        row["seconds"], self._since = round(now - self._since, 3), now
        self.rows.append(row)
        if trainer.is_global_zero:
            write_history_csv(self.path, self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])


class BestCheckpoint(Checkpoint):
    """Calls `save(path)` whenever the monitored validation metric improves (higher for mode "max", lower for
    "min"); the best score survives resume. With no monitor, or while it has not been logged (or was NaN), the
    latest weights are saved each epoch: best.ckpt always exists after a fit that ran an epoch. (A Checkpoint for
    the same hook order as History: it sees metrics logged in the module's on_train_epoch_end.)"""

    def __init__(self, path: Path, monitor: str | None, mode: str, save: Callable[[Path], None]):
        check_mode(mode)
        self.path, self.monitor, self.mode, self.save = path, monitor, mode, save
        self.best: float | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor) if self.monitor else None
        value = float(value) if value is not None else math.nan
        if math.isnan(value):
            # once a real score exists, an epoch without one (validation skipped) must not replace its weights
            better = self.best is None
        else:
            better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
            if better:
                self.best = value
        if better and trainer.is_global_zero:
            self.save(self.path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict["best"]


class EpochPictures(L.Callback):
    """`draw(epoch)` after every validation epoch, on the main process: a run folder's per-epoch sample grids. The
    network is back in training mode afterwards (Lightning sets it after this hook)."""

    def __init__(self, draw: Callable[[int], Any]):
        self.draw = draw

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            self.draw(trainer.current_epoch)


class EpochMeans:
    """Batch-size-weighted means over an epoch of per-step values (losses), summed in float32 on their device.
    One `LightningModule.log` call per step costs about a millisecond of Python on any hardware (Lightning moves
    its stored result to the value's device on every call), a loss per part several; adding here and logging the
    means once per epoch gives the same numbers for a fraction of that:

        self.train_means.add({"train/loss": loss}, len(images))           # in training_step
        self.log_dict(self.train_means.pop(), sync_dist=True)            # in on_train_epoch_end
    """

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, values: dict[str, torch.Tensor], batch_size: int) -> None:
        for name, value in values.items():
            weighted = value.detach().float() * batch_size
            self.sums[name] = self.sums[name] + weighted if name in self.sums else weighted
        self.count += batch_size

    def pop(self) -> dict[str, torch.Tensor]:
        """The means since the last pop (nothing if no step ran), and a fresh start."""
        means = {name: total / max(self.count, 1) for name, total in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def check_mode(mode: str) -> None:
    if mode not in ("max", "min"):
        raise ValueError(f"monitor mode must be 'max' or 'min', not {mode!r}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's last.ckpt written to a temporary file and renamed: a kill mid-write leaves the old one whole."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        atomic_save(checkpoint, path)


def write_metrics_json(path: Path, history: list[dict[str, Any]], final: dict[str, Any]) -> None:
    write_json(path, {"history": history, **final})
