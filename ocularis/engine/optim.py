"""Optimiser, learning-rate schedule and gradient clipping from a TrainConfig, the same for every task."""

import math

import lightning as L
import torch

from ocularis.config import TrainConfig
from ocularis.errors import ConfigError

# Where PyTorch's fused optimiser kernels run: one pass over every parameter instead of its default loop of small
# operations per tensor; on a CPU a step is 3-4 times faster (benchmarks/optimizer_step.py).
FUSED_DEVICES = ("cpu", "cuda")


def optimizers_for(parameters, config: TrainConfig, trainer: L.Trainer) -> dict | torch.optim.Optimizer:
    """What a LightningModule's configure_optimizers returns (call it once per optimiser; return a list for
    several): AdamW/Adam/SGD with a cosine, one-cycle or step schedule. The trainer is required so that the
    per-step schedules know the run's length (`estimated_stepping_batches`: epochs x batches / accumulation,
    across devices) without each module having to remember to pass it.

    Under manual optimisation Lightning steps no scheduler: the module calls `self.lr_schedulers()` itself."""
    parameters = [p for p in parameters if p.requires_grad]
    fused = {"fused": True} if all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in parameters) else {}
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay,
                                    nesterov=True, **fused)
    else:
        kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        optimizer = kind(parameters, lr=config.lr, weight_decay=config.weight_decay, **fused)
    if config.scheduler == "none":
        return optimizer
    if config.scheduler == "onecycle":
        total_steps = trainer.estimated_stepping_batches
        if not math.isfinite(total_steps):
            raise ConfigError("--scheduler onecycle needs a known run length: set --epochs to a positive number")
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                       total_steps=max(int(total_steps), 1), pct_start=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
    if config.scheduler == "cosine":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1),
                                                              eta_min=config.lr * 0.01)
    else:
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(config.epochs // 3, 1), gamma=0.1)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


def clip_gradients(module: L.LightningModule, optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
    """Clip the gradient norm to --clip-grad under manual optimisation, where the Trainer cannot (Lightning refuses
    gradient_clip_val then). Call it between `self.manual_backward(loss)` and `optimizer.step()`; Lightning's own
    `clip_gradients` unscales mixed-precision gradients first, which a bare clip_grad_norm_ would not."""
    if config.clip_grad > 0:
        module.clip_gradients(optimizer, gradient_clip_val=config.clip_grad, gradient_clip_algorithm="norm")
