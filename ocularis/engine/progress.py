"""How a training run shows its progress: a bar on a terminal; one line per epoch where output goes to a file, a pipe
or CI (a bar there is one unreadable line at the end, and silence until then)."""

import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf

from ocularis.engine.callbacks import History

BAR_REFRESH_SECONDS = 0.25  # redrawing a bar after every step cost 5-10% of a small model's training throughput


def shows_bar(progress: bool) -> bool:
    """Whether a run with this --progress draws a bar: only on a terminal."""
    return progress and sys.stdout.isatty()


def progress_callbacks(progress: bool, history: History) -> list[L.Callback]:
    """What a run with --progress shows: the bar on a terminal, else a line per epoch from `history` (nothing
    without --progress). Put them after `history` among a Trainer's callbacks."""
    if not progress:
        return []
    return [EpochBar()] if shows_bar(progress) else [EpochLines(history)]


class EpochBar(TQDMProgressBar):
    """Lightning's bar, with epochs counted from 1 of N, redrawn a few times a second rather than every step, and
    its last numbers those of the last epoch (the module logs an epoch's training means after the bar's epoch-end
    hook)."""

    def __init__(self) -> None:
        super().__init__()
        self._drawn = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        # not Lightning's: it draws "Epoch 0" first
        self.train_progress_bar.reset(total=convert_inf(self.total_train_batches))
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")

    def _should_update(self, current: int, total: int) -> bool:
        now = time.perf_counter()
        if current == total or now - self._drawn >= BAR_REFRESH_SECONDS:
            self._drawn = now
            return self.is_enabled
        return False

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, module))
        super().on_train_end(trainer, module)


class EpochLines(Checkpoint):
    """One line on stdout per epoch: `epoch 3/10  train/loss 0.4123  val/accuracy 0.9512  12.3 s  ETA 1:26`.

    A Checkpoint subclass, placed after History, so that it runs after the module has logged the epoch's training
    means and History has written the epoch's row, which it prints."""

    def __init__(self, history: History):
        self.history = history

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        rows = self.history.rows
        row, done = rows[-1], trainer.current_epoch + 1
        numbers = "  ".join(f"{key} {value:.4g}" for key, value in row.items() if "/" in key)
        per_epoch = sum(r["seconds"] for r in rows) / len(rows)
        left = round(per_epoch * (trainer.max_epochs - done))
        print(f"epoch {done}/{trainer.max_epochs}  {numbers}  {row['seconds']:.1f} s  ETA {left // 60}:{left % 60:02d}",
              flush=True)
