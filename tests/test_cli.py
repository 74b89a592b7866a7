"""The command line on real pixels: train, val, predict --save, info; user errors are one line and exit code 2."""

import subprocess
import sys

import pytest

from tests.conftest import main


def test_train_val_predict(shape_folder, capsys):
    code, out, err = main(capsys, "classify", "train", "--data", shape_folder, "--model", "simple_cnn", "--epochs", 2,
                          "--no-progress", "--name", "cli")
    assert code == 0, err
    assert "test accuracy" in out and "runs/classify/cli" in out
    code, out, _ = main(capsys, "classify", "val", "--model", "runs/classify/cli/best.ckpt")
    assert code == 0 and "accuracy=" in out
    code, _, err = main(capsys, "classify", "predict", "--model", "runs/classify/cli/best.ckpt", shape_folder / "star",
                        "--save")
    assert code == 0, err
    assert len(list((shape_folder.parent / "runs/classify/predict").glob("*.png"))) == 12
    assert (shape_folder.parent / "runs/classify/predict/predictions.json").is_file()
    _, out, _ = main(capsys, "info")
    assert "lenet5" in out and "digits" in out


@pytest.mark.parametrize("args, message", [
    (["classify", "train", "--data", "no/such/folder"], "no such folder, CSV file or built-in dataset"),
    (["classify", "train", "--model", "resnet19"], "unknown model 'resnet19'"),
    (["classify", "train", "--epocs", "3"], "unknown option --epocs"),
    (["classify", "val", "--model", "missing.ckpt"], "checkpoint missing.ckpt does not exist"),
    (["classify", "train", "--fraction", "0.001", "--epochs", "1", "--no-progress"],
     "--fraction 0.001 leaves no whole training batch in an epoch"),
])
def test_user_errors_are_one_line_with_exit_code_2(args, message, capsys):
    code, _, err = main(capsys, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


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
