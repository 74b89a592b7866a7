"""What every task's LightningModule declares for the engine, beside Lightning's own `automatic_optimization`
(False: the module steps its optimisers itself, as a GAN's two do)."""

import lightning as L

from ocularis.engine.callbacks import EpochMeans


class TaskModule(L.LightningModule):
    """A LightningModule that names the validation metric best.ckpt follows, and which way is better."""

    monitor: str | None = None  # a metric the module logs, such as "val/acc"; None: the latest epoch is the best
    monitor_mode: str = "max"  # "min" for a loss

    def log_means(self, means: EpochMeans, prog_bar: str = "train/loss") -> None:
        """Log an epoch's means (averaged over DDP ranks), the `prog_bar` one on the progress bar."""
        for name, value in means.pop().items():
            self.log(name, value, prog_bar=name == prog_bar, sync_dist=True)
