"""Optimiser and learning-rate schedule from a TrainConfig, the same for every task."""

import torch

from ocularis.config import TrainConfig


def optimizers_for(parameters, config: TrainConfig, total_steps: int | None = None) -> dict | torch.optim.Optimizer:
    """What a LightningModule's configure_optimizers returns: AdamW/Adam/SGD with a cosine, one-cycle (needs
    `total_steps`) or step schedule."""
    parameters = [p for p in parameters if p.requires_grad]
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay,
                                    nesterov=True)
    else:
        kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        optimizer = kind(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.scheduler == "none":
        return optimizer
    if config.scheduler == "onecycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(total_steps, 1),
                                                       pct_start=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
    if config.scheduler == "cosine":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1),
                                                              eta_min=config.lr * 0.01)
    else:
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(config.epochs // 3, 1), gamma=0.1)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}
