"""What the engine promises the tasks still to come: manual optimisation (a GAN's two optimisers) with clipping,
monitors that are better when lower, no monitor at all, and the per-step schedule told the run's length."""

import math

import lightning as L
import pytest
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader, TensorDataset

import ocularis
from ocularis.config import TrainConfig, build_config
from ocularis.engine.callbacks import BestCheckpoint, EpochMeans
from ocularis.engine.optim import clip_gradients, optimizers_for
from ocularis.engine.trainer import build_trainer, history_of
from ocularis.errors import ConfigError

CLIP = 0.5


def config(**options) -> TrainConfig:
    return build_config(TrainConfig, {"epochs": 3, "accelerator": "cpu", "devices": "1", "progress": False,
                                      "scheduler": "none", **options})


def loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(64, 4, generator=generator)), batch_size=16)


class Scripted(L.LightningModule):
    """Trains a linear layer; its validation "score" for epoch k is scores[k], so the test decides what improves."""

    def __init__(self, cfg: TrainConfig, scores: list[float] | None = None, monitor: str = "val/score"):
        super().__init__()
        self.cfg, self.scores, self.monitor = cfg, scores, monitor
        self.layer = torch.nn.Linear(4, 1)
        self.means = EpochMeans()

    def training_step(self, batch, index):
        loss = self.layer(batch[0]).pow(2).mean()
        self.means.add({"train/loss": loss}, len(batch[0]))
        return loss

    def on_train_epoch_end(self):
        self.log_dict(self.means.pop())

    def validation_step(self, batch, index):
        pass

    def on_validation_epoch_end(self):
        self.log(self.monitor, float(self.scores[self.current_epoch]))

    def configure_optimizers(self):
        return optimizers_for(self.layer.parameters(), self.cfg, self.trainer)


class TwoOptimisers(L.LightningModule):
    """A GAN's shape: two networks, two optimisers stepped by hand, gradients clipped by the engine's helper."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.automatic_optimization = False
        self.cfg = cfg
        self.generator, self.critic = torch.nn.Linear(4, 4), torch.nn.Linear(4, 1)
        self.norms: list[float] = []

    def training_step(self, batch, index):
        for optimizer, loss in zip(self.optimizers(), self.losses(batch[0]), strict=True):
            optimizer.zero_grad()
            self.manual_backward(loss)
            clip_gradients(self, optimizer, self.cfg)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            self.norms.append(float(torch.nn.utils.get_total_norm([p.grad for p in params])))
            optimizer.step()

    def losses(self, x):
        """The generator's loss, then the critic's; large on purpose, so that clipping has to bite."""
        yield -100 * self.critic(self.generator(x)).mean()
        yield 100 * self.critic(self.generator(x).detach()).mean()

    def configure_optimizers(self):
        return [optimizers_for(self.generator.parameters(), self.cfg, self.trainer),
                optimizers_for(self.critic.parameters(), self.cfg, self.trainer)]


def fit(module, cfg, tmp_path, monitor, mode, *, manual=False, val=True):
    saves: list[int] = []

    def save(path):
        torch.save(module.state_dict(), path)
        saves.append(trainer.current_epoch)

    best = BestCheckpoint(tmp_path / "best.ckpt", monitor, mode, save)
    trainer = build_trainer(cfg, tmp_path, monitor=monitor, mode=mode, manual_optimization=manual, callbacks=[best])
    trainer.fit(module, train_dataloaders=loader(), val_dataloaders=loader() if val else None)
    return trainer, saves


def test_two_optimisers_train_by_hand_with_clipping(tmp_path):
    cfg = config(clip_grad=CLIP, epochs=1)
    module = TwoOptimisers(cfg)
    before = module.generator.weight.detach().clone()
    fit(module, cfg, tmp_path, None, "max", manual=True, val=False)
    assert len(module.norms) == 2 * 4 and max(module.norms) <= CLIP + 1e-4  # one per optimiser per batch
    assert not torch.equal(before, module.generator.weight)
    assert (tmp_path / "last.ckpt").is_file() and (tmp_path / "best.ckpt").is_file()


def test_lightning_refuses_trainer_clipping_under_manual_optimisation(tmp_path):
    """Why build_trainer must be told the optimisation mode."""
    cfg = config(clip_grad=CLIP, epochs=1)
    with pytest.raises(MisconfigurationException, match="gradient clipping"):
        fit(TwoOptimisers(cfg), cfg, tmp_path, None, "max", manual=False, val=False)


@pytest.mark.parametrize(("mode", "scores", "saved_at"), [("min", [3.0, 2.0, 2.5, 1.0], [0, 1, 3]),
                                                          ("max", [3.0, 2.0, 2.5, 4.0], [0, 3])])
def test_best_checkpoint_follows_the_mode(tmp_path, mode, scores, saved_at):
    cfg = config(epochs=len(scores))
    trainer, saves = fit(Scripted(cfg, scores), cfg, tmp_path, "val/score", mode)
    assert saves == saved_at
    history = history_of(trainer)
    assert [row["val/score"] for row in history] == scores
    assert all(row["train/loss"] > 0 for row in history)  # logged in the module's on_train_epoch_end
    best = min(scores) if mode == "min" else max(scores)
    # last.ckpt is written after the history row and the best score are settled: a resumed run carries both
    state = torch.load(tmp_path / "last.ckpt", weights_only=True)["callbacks"]
    assert state["BestCheckpoint"]["best"] == best and len(state["History"]["rows"]) == len(scores)


def test_early_stopping_honours_min(tmp_path):
    scores = [3.0, 2.0, 2.5, 1.0]  # epoch 2 does not improve on 2.0: patience 1 stops there
    cfg = config(epochs=len(scores), patience=1)
    trainer, _ = fit(Scripted(cfg, scores), cfg, tmp_path, "val/score", "min")
    assert len(history_of(trainer)) == 3


@pytest.mark.parametrize("monitor", [None, "val/never_logged"])
def test_without_a_monitored_score_best_is_the_latest(tmp_path, monitor):
    cfg = config(epochs=2)
    _, saves = fit(Scripted(cfg), cfg, tmp_path, monitor, "max", val=False)
    assert saves == [0, 1] and (tmp_path / "best.ckpt").is_file()


def test_an_epoch_without_a_score_keeps_the_best(tmp_path):
    cfg = config(epochs=3)
    _, saves = fit(Scripted(cfg, [1.0, math.nan, 0.5]), cfg, tmp_path, "val/score", "max")
    assert saves == [0]


def test_patience_needs_a_monitor(tmp_path):
    with pytest.raises(ConfigError, match="--patience"):
        build_trainer(config(patience=3), tmp_path, monitor=None, mode="max", manual_optimization=False,
                      callbacks=[])


def test_onecycle_schedule_through_the_public_api(tmp_path):
    run = ocularis.Classifier(model="simple_cnn", project=str(tmp_path)).fit(
        "digits", epochs=1, scheduler="onecycle", progress=False, imgsz=16, lr=0.01)
    # one-cycle anneals from --lr to almost nothing over the steps it is told the run has: ending there means
    # the trainer told it the run's real length
    assert run.history[0]["lr"] < 0.01 * 1e-2 and run.best.is_file()
