"""The training engine through the CLI: a killed run resumes to the same result, a stopped one says so, saves its
state and exits as shells expect; DDP on two CPU processes; evaluation says what it scored and never scores the
training images in place of a split the run did not hold out."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ocularis.errors import DataError
from tests.conftest import main, write_shape_images

TRAIN = ["classify", "train", "--data", "digits", "--model", "lenet5", "--lr", "0.003", "--no-progress"]


def ocularis(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocularis", *args], capture_output=True, text=True, timeout=timeout)


def test_killed_run_resumes_to_the_same_metrics(tmp_path, capsys):
    code, _, err = main(capsys, *TRAIN, "--epochs", "4", "--name", "straight")
    assert code == 0, err
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
    code, _, err = main(capsys, "classify", "train", "--resume", run)
    assert code == 0, err
    first, second = (json.loads((Path("runs/classify") / n / "metrics.json").read_text()) for n in ("straight",
                                                                                                     "killed"))
    assert [r["val/acc"] for r in second["history"]] == [r["val/acc"] for r in first["history"]]
    assert second["test"]["values"] == first["test"]["values"]


def test_a_run_stopped_by_sigterm_saves_its_state_says_so_and_exits_143(tmp_path):
    run = Path("runs/classify/stopped")
    process = subprocess.Popen([sys.executable, "-m", "ocularis", *TRAIN, "--epochs", "4", "--name", "stopped"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (run / "last.ckpt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    first = torch.load(run / "last.ckpt", weights_only=True)["global_step"]
    time.sleep(0.3)  # into the next epoch
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-2000:]
    assert "stopped by SIGTERM" in stderr and f"--resume {run}" in stderr and "Traceback" not in stderr
    saved = torch.load(run / "last.ckpt", weights_only=True)
    assert saved["global_step"] > first and saved["epoch"] < 3  # the state when stopped, mid-epoch
    resumed = ocularis("classify", "train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run / "metrics.json").read_text())["test"]["values"]["accuracy"] > 0.5


def test_threads_leave_loader_workers_their_cores_and_the_speed_says_under_what_load(tmp_path):
    import ocularis as api
    from ocularis.core.devices import cpu_cores

    before = torch.get_num_threads()
    try:
        classifier = api.Classifier(model="lenet5", progress=False, project=str(tmp_path))
        run = classifier.fit("digits", epochs=1, workers=1)
        assert run.load.threads == torch.get_num_threads() == max(1, cpu_cores() - 1) and run.load.cores == cpu_cores()
        saved = json.loads((run.dir / "metrics.json").read_text())["fps_measured_with"]
        assert saved["threads"] == run.load.threads and saved["load"] >= 0
        assert str(run.load).startswith(f"{run.load.threads} threads, 1-minute load average ")
        assert classifier.fit("digits", epochs=1, threads=1).load.threads == 1
    finally:
        torch.set_num_threads(before)


def test_ddp_on_two_cpu_processes(tmp_path):
    result = ocularis(*TRAIN, "--epochs", "2", "--accelerator", "cpu", "--devices", "2", "--name", "ddp")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test accuracy" in result.stdout
    history = json.loads(Path("runs/classify/ddp/metrics.json").read_text())["history"]
    assert len(history) == 2 and history[-1]["val/acc"] > 0.5
    assert sorted(os.listdir("runs/classify")) == ["ddp"]  # the worker process used the same run folder


def test_two_machines_write_one_run_folder(tmp_path, capsys):
    """Two "machines" on loopback, as torchrun starts them (one process each, Gloo): one run folder written by
    global rank 0, one best.ckpt, and a model as good as one process's with the same global batch."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
              "--master-addr", "127.0.0.1", "--master-port", str(port)]
    train = [*TRAIN, "--epochs", "2", "--batch", "16", "--accelerator", "cpu", "--devices", "1", "--num-nodes", "2",
             "--project", "nodes", "--name", "two"]
    scratch = tmp_path / "tmp"  # where the second node's scratch run folder goes, and is removed from at its exit
    scratch.mkdir()
    nodes = [subprocess.Popen([*launch, "--node-rank", str(rank), "-m", "ocularis", *train], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(scratch)})
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[1][1][-2000:] + outputs[0][1][-2000:]
    assert os.listdir("nodes/classify") == ["two"] and Path("nodes/classify/two/best.ckpt").is_file()
    assert "test accuracy" in outputs[0][0] and "test accuracy" not in outputs[1][0]
    assert not list(scratch.glob("ocularis-rank-*"))
    two = json.loads(Path("nodes/classify/two/metrics.json").read_text())
    assert len(two["history"]) == 2
    code, _, err = main(capsys, *TRAIN, "--epochs", 2, "--batch", 32, "--project", "one", "--name", "one")
    assert code == 0, err
    one = json.loads(Path("one/classify/one/metrics.json").read_text())
    assert abs(two["test"]["values"]["accuracy"] - one["test"]["values"]["accuracy"]) < 0.1


def test_a_diverging_run_stops_at_the_first_non_finite_loss_with_one_line(tmp_path, capsys):
    code, _, err = main(capsys, "classify", "train", "--data", "digits", "--model", "lenet5", "--lr", "1e6", "--epochs",
                        3, "--no-progress", "--project", tmp_path)
    assert code == 2 and "Traceback" not in err
    assert "the training loss became" in err and "epoch 0" in err and "lower --lr" in err


def test_a_run_without_a_test_split_is_scored_on_its_validation_images(tmp_path, capsys):
    code, out, err = main(capsys, *TRAIN, "--epochs", "1", "--test-fraction", "0", "--project", tmp_path)
    assert code == 0, err[-2000:]
    assert "val (the data has no test images) accuracy" in out and "test accuracy" not in out
    metrics = json.loads(next(tmp_path.glob("classify/*/metrics.json")).read_text())
    assert metrics["scored_on"] == "val" and metrics["test"]["values"]["accuracy"] > 0.3
    best = next(tmp_path.glob("classify/*/best.ckpt"))
    code, _, err = main(capsys, "classify", "val", "--model", best)  # the default --split test: there is none
    assert code == 2 and "digits has no test split" in err
    assert "--split train" in err and "Traceback" not in err
    code, out, _ = main(capsys, "classify", "val", "--model", best, "--split", "val")
    assert code == 0 and "scored the val split of digits: 270 images" in out


def test_other_spellings_of_the_training_folder_are_the_training_data(tmp_path, shape_folder):
    import ocularis as api

    run = api.Classifier(model="simple_cnn", progress=False, project=str(tmp_path)).fit(
        str(shape_folder), epochs=1, test_fraction=0.0)
    model = api.load(run.best)
    (tmp_path / "link").symlink_to(shape_folder)
    for spelling in (f"{shape_folder}/../{shape_folder.name}", str(tmp_path / "link")):
        with pytest.raises(DataError, match="has no test split"):
            model.evaluate(spelling)
    other = tmp_path / "other"
    write_shape_images(other, per_class=3, seed=5)
    metrics = model.evaluate(str(other))
    assert str(metrics.scored) == f"scored {other}, data the model did not train on: 15 images"
    assert str(model.evaluate(split="train").scored).startswith(f"scored the train split of {shape_folder}: ")
