"""The command line on real pixels: train, val, predict --save, info; user errors are one line and exit code 2."""

import subprocess
import sys

import pytest

from ocularis.core.results import SOURCE_WIDTH
from tests.conftest import main, write_digit_images


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


def test_a_table_tells_its_inputs_apart_by_the_part_of_their_paths_that_differs(digits_model, tmp_path,
                                                                                   tmp_path_factory, capsys):
    """Inputs outside the current folder are shown from the folder they share (named once, under the table); a
    path still too long keeps its end, the file name, and loses its start."""
    elsewhere = tmp_path_factory.mktemp("a_folder_whose_long_name_would_fill_the_whole_column") / "digits"
    written = write_digit_images(elsewhere, per_class=1)[:2]
    code, out, err = main(capsys, "classify", "predict", "--model", digits_model, *written)
    assert code == 0, err
    assert "digits/0/0_000.png" in out and "digits/1/1_000.png" in out, out
    assert f"under {elsewhere.parent}" in out.replace("\n", "")
    long_name = tmp_path / ("a_file_name_longer_than_the_column_of_sources_" * 2 + "0.png")
    long_name.write_bytes(written[0].read_bytes())
    code, out, err = main(capsys, "classify", "predict", "--model", digits_model, long_name.name)
    assert code == 0, err
    assert f"…{long_name.name[-(SOURCE_WIDTH - 1):]}" in out, out
