"""Errors a user can cause. Each message names the file, row or field at fault and says how to fix it.

The CLI prints these in one line without a traceback and exits with code 2 (a stopped run: 128 + the signal).
"""


class OcularisError(Exception):
    """Base class of every error a user can cause and fix."""

    exit_code = 2  # what the CLI exits with


class DataError(OcularisError):
    """A dataset, folder, label file or split is missing, empty or malformed."""


class CorruptImageError(DataError):
    """One or more image files cannot be decoded."""

    def __init__(self, bad: list[tuple[str, str]], listing: str | None = None):
        """`listing`: a file naming every one of `bad`, which the message then names instead of them all."""
        self.bad = bad
        named = "; ".join(f"{path}: {reason}" for path, reason in (bad[:1] if listing else bad))
        where = f" (each with its reason in {listing}; the first: {named})" if listing else f": {named}"
        super().__init__(
            f"{len(bad)} unreadable image file(s){where}. "
            "Fix or remove them, or pass --skip-bad to exclude them (a run lists them in its folder's bad_files.txt)."
        )


class ConfigError(OcularisError):
    """An option, config file or combination of options is invalid."""


class UnknownNameError(ConfigError):
    """A model, dataset or task name is not registered."""


class CheckpointError(OcularisError):
    """A checkpoint is missing, unreadable, or made for another task."""


class WeightsError(OcularisError):
    """Pretrained weights cannot be found or do not fit the model."""


class ExportError(OcularisError):
    """A model cannot be exported, or the exported file does not reproduce the PyTorch model."""


class LabelError(DataError):
    """An annotation file (YOLO .txt, COCO .json, VOC .xml, box .csv) has a malformed line, class or box."""


class DivergedError(OcularisError):
    """Training's loss stopped being a finite number."""


class TrainingStopped(OcularisError):
    """A training run was stopped by a signal (SIGTERM, Ctrl+C); its last.ckpt resumes it."""

    def __init__(self, run_dir, signal_number: int, name: str):
        self.exit_code = 128 + signal_number  # as shells report a process a signal ended: 143, 130
        super().__init__(f"training stopped by {name}; its state is saved in {run_dir}/last.ckpt: continue with "
                         f"--resume {run_dir}")


class SearchIndexError(OcularisError):
    """An index folder is missing, inconsistent, or made with another model."""
