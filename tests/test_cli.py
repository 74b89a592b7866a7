"""The command line on real pixels: train, val, predict --save, info; user errors are one line and exit code 2."""

import subprocess
import sys

import pytest


def ocularis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocularis", *args], capture_output=True, text=True, timeout=300)


def test_train_val_predict(shape_folder):
    trained = ocularis("classify", "train", "--data", str(shape_folder), "--model", "simple_cnn", "--epochs", "2",
                       "--no-progress", "--name", "cli")
    assert trained.returncode == 0, trained.stderr
    assert "test accuracy" in trained.stdout and "runs/classify/cli" in trained.stdout
    checked = ocularis("classify", "val", "--model", "runs/classify/cli/best.ckpt")
    assert checked.returncode == 0 and "accuracy=" in checked.stdout
    predicted = ocularis("classify", "predict", "--model", "runs/classify/cli/best.ckpt", str(shape_folder / "star"),
                         "--save")
    assert predicted.returncode == 0, predicted.stderr
    assert len(list((shape_folder.parent / "runs/classify/predict").glob("*.png"))) == 12
    assert (shape_folder.parent / "runs/classify/predict/predictions.json").is_file()
    info = ocularis("info")
    assert "lenet5" in info.stdout and "digits" in info.stdout


@pytest.mark.parametrize("args, message", [
    (["classify", "train", "--data", "no/such/folder"], "no such folder, CSV file or built-in dataset"),
    (["classify", "train", "--model", "resnet19"], "unknown model 'resnet19'"),
    (["classify", "train", "--epocs", "3"], "unknown option --epocs"),
    (["classify", "val", "--model", "missing.ckpt"], "checkpoint missing.ckpt does not exist"),
])
def test_user_errors_are_one_line_with_exit_code_2(args, message):
    result = ocularis(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_answers_without_importing_torch():
    """Building the CLI reads only the tasks' declarations; torch is imported by the commands that run models."""
    script = ("import sys\nfrom ocularis.cli import main\n"
              "for args in (['--help'], ['classify', '--help'], ['detect', 'predict', '--help'],"
              " ['classify', 'train', '--help']):\n"
              "    try:\n        main(args)\n    except SystemExit as stop:\n        assert stop.code == 0, args\n"
              "print('torch' in sys.modules, 'cv2' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False False"
    assert "--conf" in result.stdout and "--epochs" in result.stdout
