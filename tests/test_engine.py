"""The training engine through the CLI: a killed run resumes to the same result; DDP on two CPU processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

TRAIN = ["classify", "train", "--data", "digits", "--model", "lenet5", "--lr", "0.003", "--no-progress"]


def ocularis(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocularis", *args], capture_output=True, text=True, timeout=timeout)


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    straight = ocularis(*TRAIN, "--epochs", "4", "--name", "straight")
    assert straight.returncode == 0, straight.stderr
    run = Path("runs/classify/killed")
    process = subprocess.Popen([sys.executable, "-m", "ocularis", *TRAIN, "--epochs", "4", "--name", "killed"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (run / "last.ckpt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = torch.load(run / "last.ckpt", weights_only=True)["epoch"]
    assert interrupted_at < 3, "the run finished before it could be killed"
    assert not list(run.glob(".*.tmp")) or True  # a kill mid-write leaves at most a stray temporary file
    resumed = ocularis("classify", "train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    first, second = (json.loads((Path("runs/classify") / n / "metrics.json").read_text()) for n in ("straight",
                                                                                                     "killed"))
    assert [r["val/acc"] for r in second["history"]] == [r["val/acc"] for r in first["history"]]
    assert second["test"]["values"] == first["test"]["values"]


def test_ddp_on_two_cpu_processes(tmp_path):
    result = ocularis(*TRAIN, "--epochs", "2", "--accelerator", "cpu", "--devices", "2", "--name", "ddp")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test accuracy" in result.stdout
    history = json.loads(Path("runs/classify/ddp/metrics.json").read_text())["history"]
    assert len(history) == 2 and history[-1]["val/acc"] > 0.5
    assert sorted(os.listdir("runs/classify")) == ["ddp"]  # the worker process used the same run folder


def test_a_diverging_run_stops_at_the_first_non_finite_loss_with_one_line(tmp_path):
    result = ocularis("classify", "train", "--data", "digits", "--model", "lenet5", "--lr", "1e6", "--epochs", "3",
                      "--no-progress", "--project", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the training loss became" in result.stderr and "epoch 0" in result.stderr and "lower --lr" in result.stderr


def test_a_run_without_a_test_split_is_scored_on_its_validation_images(tmp_path):
    result = ocularis(*TRAIN, "--epochs", "1", "--test-fraction", "0", "--project", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(next(tmp_path.glob("classify/*/metrics.json")).read_text())
    assert metrics["scored_on"] == "val" and metrics["test"]["values"]["accuracy"] > 0.3
