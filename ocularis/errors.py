"""Errors a user can cause. Each message names the file, row or field at fault and says how to fix it.

The CLI prints these in one line without a traceback and exits with code 2.
"""


class OcularisError(Exception):
    """Base class of every error a user can cause and fix."""


class DataError(OcularisError):
    """A dataset, folder, label file or split is missing, empty or malformed."""


class CorruptImageError(DataError):
    """One or more image files cannot be decoded."""

    def __init__(self, bad: list[tuple[str, str]]):
        self.bad = bad
        first = "; ".join(f"{path}: {reason}" for path, reason in bad[:3])
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        super().__init__(
            f"{len(bad)} unreadable image file(s): {first}{more}. "
            "Fix or remove them, or pass --skip-bad to exclude them (they are listed in the run folder)."
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


class SearchIndexError(OcularisError):
    """An index folder is missing, inconsistent, or made with another model."""
