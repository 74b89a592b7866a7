"""The command line on real pixels: train, val, predict --save, info; user errors are one line and exit code 2."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from ocularis.core.results import SOURCE_WIDTH, saved_stems
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
    (["classify", "train", "--data", "no/such/folder"], "--data no/such/folder: no such file or folder"),
    (["classify", "train", "--data", "no_such_dataset"], "nor a built-in dataset; built-in: digits"),
    (["classify", "train", "--epoch", "3"], "unknown option --epoch; did you mean --epochs?"),
    (["classify", "train", "--clip", "3"], "did you mean --clip-grad?"),
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


def test_simple_mistakes_fail_before_torch_loads(tmp_path):
    """A mistyped option or model name, a missing folder, checkpoint or input fails in a blink: before torch's
    seconds of imports."""
    model = tmp_path / "best.ckpt"
    model.write_bytes(b"not read")
    script = ("import sys\nfrom ocularis.cli import main\n"
              f"for args in (['classify', 'train', '--data', 'no/such/folder'], ['classify', 'train', '--epoch', '3'],"
              f" ['classify', 'val', '--model', 'missing.ckpt'], ['detect', 'predict', '--model', {str(model)!r},"
              " 'missing.png'], ['classify', 'train', '--model', 'resnet19'], ['segment', 'train', '--data', 'shape'],"
              " ['--version']):\n"
              "    try:\n        main(args)\n    except SystemExit as stop:\n        print('exit', stop.code)\n"
              "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    *codes, version, version_code, torch_loaded = result.stdout.splitlines()
    assert codes == ["exit 2"] * 6 and version.startswith("ocularis ") and version_code == "exit 0", result
    assert torch_loaded == "False"
    assert "input missing.png does not exist" in result.stderr
    assert "unknown model 'resnet19' for task 'classify'; did you mean 'resnet18'?" in result.stderr
    assert "--data shape: no such file or folder, nor a built-in dataset; did you mean 'shapes'?" in result.stderr


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
    assert "--conf" in result.stdout and "--epochs <int> (default: 10)" in result.stdout
    assert "--optimizer <adamw|adam|sgd>" in result.stdout  # train's options show their allowed values


def test_saved_files_are_named_after_their_inputs():
    assert saved_stems(["/photos/s5/1.pgm", "/photos/s6/1.pgm", "/photos/s6/1.pgm"]) == ["s5_1", "s6_1", "s6_1_2"]
    assert saved_stems(["/photos/a.png|/photos/b.png", "/photos/a.png|/photos/c.png"]) == ["a-b", "a-c"]
    assert saved_stems(["cat.jpg"]) == ["cat"] and saved_stems(["seed5", "seed6"]) == ["seed5", "seed6"]


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


def test_a_run_writes_a_line_per_epoch_where_output_is_not_a_terminal(capsys):
    """In a log file, nohup or CI a bar is silence and then one line: each epoch is a line of its own instead,
    with the numbers metrics.csv records for it."""
    code, out, err = main(capsys, "classify", "train", "--data", "digits", "--epochs", 2, "--fraction", 0.3,
                          "--name", "lines")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    history = list(csv.DictReader(Path("runs/classify/lines/metrics.csv").read_text().splitlines()))
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    for line, row in zip(lines, history, strict=True):
        assert f"train/loss {float(row['train/loss']):.4g}" in line and f"val/acc {float(row['val/acc']):.4g}" in line
        assert " s  ETA 0:" in line


def test_the_bar_counts_epochs_from_one_and_ends_on_the_last_epochs_numbers(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, err = main(capsys, "classify", "train", "--data", "digits", "--epochs", 2, "--fraction", 0.3,
                          "--name", "bar")
    assert code == 0, err
    drawn = out + err
    assert "Epoch 1/2" in drawn and "Epoch 2/2" in drawn and "Epoch 0" not in drawn and "epoch 1/2" not in out
    last = float(list(csv.DictReader(Path("runs/classify/bar/metrics.csv").read_text().splitlines()))[-1]["train/loss"])
    final = drawn[drawn.rindex("Epoch 2/2"):]
    assert f"train/loss={Tqdm.format_num(last)}" in final, final
