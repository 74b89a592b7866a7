"""Callbacks every training run uses: epoch seeding, the metrics history, the best checkpoint, atomic saving."""

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ocularis.core.checkpoint import atomic_save
from ocularis.core.runs import write_history_csv, write_json


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


class History(L.Callback):
    """One row per epoch (epoch, train/*, val/*, lr, seconds) into metrics.csv; kept in checkpoints for resume."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self._started = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        row: dict[str, Any] = {"epoch": trainer.current_epoch}
        row.update({k: round(float(v), 6) for k, v in sorted(trainer.callback_metrics.items()) if "/" in k})
        row["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        row["seconds"] = round(time.perf_counter() - self._started, 3)
        self.rows.append(row)
        if trainer.is_global_zero:
            write_history_csv(self.path, self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])


class BestCheckpoint(L.Callback):
    """Calls `save(path)` whenever the monitored validation metric improves; the best score survives resume."""

    def __init__(self, path: Path, monitor: str, mode: str, save: Callable[[Path], None]):
        self.path, self.monitor, self.mode, self.save = path, monitor, mode, save
        self.best: float | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better:
            self.best = value
            if trainer.is_global_zero:
                self.save(self.path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict["best"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's last.ckpt written to a temporary file and renamed: a kill mid-write leaves the old one whole."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        atomic_save(checkpoint, path)


def write_metrics_json(path: Path, history: list[dict[str, Any]], final: dict[str, Any]) -> None:
    write_json(path, {"history": history, **final})
