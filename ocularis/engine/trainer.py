"""The Lightning Trainer, built from a TrainConfig: devices, precision, strategy, checkpoints, loggers."""

import logging
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ocularis.config import TrainConfig
from ocularis.engine.callbacks import AtomicCheckpointIO, EpochSeed, FiniteLoss, History, check_mode
from ocularis.engine.progress import progress_callbacks, shows_bar
from ocularis.errors import ConfigError


def parse_devices(devices: str) -> int | str:
    if devices == "auto":
        return "auto"
    try:
        return int(devices)
    except ValueError:
        raise ConfigError(f"--devices {devices!r} must be a number or auto") from None


def resolve_precision(config: TrainConfig) -> str:
    if config.precision != "auto":
        return config.precision
    on_gpu = torch.cuda.is_available() and config.accelerator in ("auto", "gpu", "cuda")
    return "16-mixed" if on_gpu else "32-true"


def build_trainer(config: TrainConfig, run_dir: Path, *, monitor: str | None, mode: str, manual_optimization: bool,
                  callbacks: list[L.Callback]) -> L.Trainer:
    """A Trainer that writes last.ckpt atomically each epoch, logs to TensorBoard, stops early if asked (on
    `monitor`, better when higher for mode "max", lower for "min"), and trains with DDP when given more than one
    device. Under manual optimisation (a module with `automatic_optimization = False`, such as a GAN's two
    optimisers) the Trainer does not clip gradients: the module calls ocularis.engine.optim.clip_gradients."""
    check_mode(mode)
    devices = parse_devices(config.devices)
    several = config.num_nodes > 1 or (isinstance(devices, int) and devices > 1)
    strategy = config.strategy if config.strategy != "auto" else ("ddp" if several else "auto")
    extra: list[L.Callback] = []
    if config.patience > 0:
        if monitor is None:
            raise ConfigError("--patience needs a validation metric to watch, and this task has none; "
                              "leave --patience at 0")
        extra.append(EarlyStopping(monitor=monitor, mode=mode, patience=config.patience))
    _quiet_lightning()
    history = History(run_dir / "metrics.csv")
    shown = progress_callbacks(config.progress, history)
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=config.epochs,
        limit_train_batches=config.fraction,
        accelerator=config.accelerator,
        devices=devices,
        num_nodes=config.num_nodes,
        strategy=strategy,
        precision=resolve_precision(config),
        logger=TensorBoardLogger(run_dir, name="tensorboard", version=""),
        # Lightning runs Checkpoint callbacks last, in this order: the history row and BestCheckpoint's score are
        # settled before last.ckpt is written, so a resumed run carries them
        callbacks=[EpochSeed(config.seed), FiniteLoss(), LearningRateMonitor(), *extra,
                   history, *shown, *callbacks,
                   LastCheckpoint(dirpath=run_dir, filename="last", save_top_k=1, enable_version_counter=False)],
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=shows_bar(config.progress),
        # Lightning refuses gradient_clip_val under manual optimisation
        gradient_clip_val=None if manual_optimization else config.clip_grad or None,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
        deterministic=False,
    )


class LastCheckpoint(ModelCheckpoint):
    """last.ckpt at every epoch's end and when a signal stops the run mid-epoch (SIGTERM, Ctrl+C), so --resume
    continues from there; never after another exception (a diverged loss would save its NaN weights)."""

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException | KeyboardInterrupt):
            self.save_on_exception = True
            super().on_exception(trainer, module, exception)


def history_of(trainer: L.Trainer) -> list[dict]:
    return next(c.rows for c in trainer.callbacks if isinstance(c, History))


def _quiet_lightning() -> None:
    """Lightning's tips (about workers, tensor cores ...) would drown the user's output."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # the run folder already holds config.yaml (and, on --resume, last.ckpt) when the checkpoint callback starts
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")  # epoch metrics are logged
    # a run without val images (the ORL protocol: train and test only) has an empty val loader on purpose
    warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
