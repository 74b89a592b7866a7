"""What every task's LightningModule declares for the engine, beside Lightning's own `automatic_optimization`
(False: the module steps its optimisers itself, as a GAN's two do)."""

import lightning as L


class TaskModule(L.LightningModule):
    """A LightningModule that names the validation metric best.ckpt follows, and which way is better."""

    monitor: str | None = None  # a metric the module logs, such as "val/acc"; None: the latest epoch is the best
    monitor_mode: str = "max"  # "min" for a loss
