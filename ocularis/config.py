"""Configuration is data: a dataclass per task, whose defaults work, overridden by a YAML file and CLI options."""

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ocularis.errors import ConfigError

LABEL_FILE_SUFFIXES = (".yaml", ".yml", ".csv", ".json", ".txt")  # a bare word is a built-in dataset's name

C = TypeVar("C")


def option(default: Any, help: str, choices: tuple[str, ...] = (), low: float | None = None,
           high: float | None = None, picture: bool = False, path: bool = False) -> Any:
    """A config field with its help text (shown by the CLI), for strings the allowed values, for numbers the range
    [low, high] (checked, and the web page's slider). A `picture` option is an image the task reads beside its
    inputs (an inpainting mask): a file path on the command line, a path, PIL image or array in Python, an uploaded
    file on the server and the web page; tasks read its value with `core.images.read_picture`. A `path` option
    that reads as a path (names_a_path) must exist: checked with the options, before any work."""
    return field(default=default, metadata={"help": help, "choices": choices, "low": low, "high": high,
                                            "picture": picture, "path": path})


@dataclass
class TrainConfig:
    """Options every trainable task shares."""

    data: str = option("digits", "built-in dataset name, image folder, or label file", path=True)
    model: str = option("", "architecture name (see `ocularis info`)")
    weights: str | None = option(None, "pretrained weights: a file, a folder, or a torchvision name (IMAGENET1K_V1)")
    epochs: int = option(10, "training epochs")
    fraction: float = option(1.0, "share of the training batches each epoch runs (a different random share every "
                             "epoch): a quick first run on a large data set", low=0.001, high=1.0)
    batch: int = option(32, "images per batch (per device)")
    imgsz: int | None = option(None, "input size in pixels (default: the model's own)")
    lr: float = option(1e-3, "peak learning rate")
    weight_decay: float = option(1e-4, "weight decay")
    optimizer: str = option("adamw", "optimiser", ("adamw", "adam", "sgd"))
    scheduler: str = option("cosine", "learning-rate schedule (onecycle: warm-up then cosine, per step)",
                            ("cosine", "onecycle", "step", "none"))
    clip_grad: float = option(0.0, "clip the gradient norm to this (0: no clipping)")
    patience: int = option(0, "stop after this many epochs without improvement (0: never)")
    augment: str = option("light", "augmentation preset", ("none", "light", "heavy"))
    fliplr: float | None = option(None, "horizontal flip probability (default: 0.5 unless the data forbids flips)")
    val_fraction: float = option(0.15, "share of the data held out for validation when the data has no val split")
    test_fraction: float = option(0.15, "share held out for testing when the data has no test split")
    seed: int = option(0, "random seed: same seed, same run")
    workers: int = option(0, "data-loading worker processes")
    threads: int | None = option(None, "CPU threads of PyTorch's operations (default: the cores the data-loading "
                                 "workers leave free; fewer where other work keeps cores busy)")
    cache: str = option("none", "keep decoded images in memory (ram) or as .npy files in a cache folder (disk): "
                        "each image file is decoded once, not once per epoch", ("none", "ram", "disk"))
    accelerator: str = option("auto", "cpu, gpu or auto", ("auto", "cpu", "gpu", "cuda", "mps"))
    devices: str = option("auto", "how many devices per machine (more than one trains with DDP)")
    num_nodes: int = option(1, "machines the run spans: start the same command on each (torchrun or SLURM tells "
                            "them apart); global rank 0 writes the run folder", low=1)
    strategy: str = option("auto", "how the processes share the work (auto: DDP when there are several)",
                           ("auto", "ddp", "ddp_spawn", "fsdp"))
    precision: str = option("auto", "32, 16-mixed, bf16-mixed or auto (16-mixed on GPU)")
    project: str = option("runs", "folder that holds run folders")
    name: str | None = option(None, "run name (default: the model name, numbered)")
    resume: str | None = option(None, "run folder or last.ckpt of a stopped run to continue")
    skip_bad: bool = option(False, "exclude unreadable images (listed in the run folder) instead of failing")
    progress: bool = option(True, "show progress: a bar on a terminal, one line per epoch in a log or pipe")


# what only gradient training reads: a task that learns by a fit (OpenCV or scikit-learn state) refuses them
GRADIENT_OPTIONS = ("epochs", "fraction", "lr", "weight_decay", "optimizer", "scheduler", "clip_grad", "patience",
                    "precision", "resume")


def changed_options(config: Any, names: tuple[str, ...]) -> list[str]:
    """Those of `names` that `config` sets away from their defaults, spelled as the CLI spells them."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    return [flag(name) for name in names if name in defaults and getattr(config, name) != defaults[name]]


def build_config(cls: type[C], overrides: dict[str, Any] | None = None, yaml_file: str | None = None) -> C:
    """Defaults of `cls`, then the YAML file, then `overrides`; every value converted and checked."""
    values: dict[str, Any] = {}
    if yaml_file:
        path = Path(yaml_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of option: value")
        values.update(loaded)
    values.update(overrides or {})
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    typed = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in known:
            flags = [flag(k) for k in sorted(known)]
            # a flag the typed one begins (--clip: --clip-grad), else the closest spelling (--epcohs: --epochs)
            close = [f for f in flags if f.startswith(flag(name))] or difflib.get_close_matches(flag(name), flags,
                                                                                                 n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"unknown option {flag(name)}; {hint}known: {', '.join(flags)}")
        picture = known[name].metadata.get("picture") and value is not None and not isinstance(value, str | Path)
        typed[name] = value if picture else _convert(name, value, hints[name])  # decoded pixels stay as they are
        _check_range(name, typed[name], known[name].metadata)
    return cls(**typed)


def names_a_path(value: str) -> bool:
    """Whether a --data value is meant as a path (it has a folder or a label file's suffix), not a dataset's name."""
    return "/" in value or "\\" in value or value.lower().endswith(LABEL_FILE_SUFFIXES)


def flag(name: str) -> str:
    """A config field as the CLI spells it: clip_grad -> --clip-grad."""
    return "--" + name.replace("_", "-")


def _check_range(name: str, value: Any, metadata: dict[str, Any]) -> None:
    spelled = flag(name)
    choices, low, high = metadata.get("choices"), metadata.get("low"), metadata.get("high")
    if choices and value not in choices:
        raise ConfigError(f"{spelled} {value!r} is not one of {', '.join(choices)}")
    if metadata.get("path") and isinstance(value, str) and names_a_path(value) and not Path(value).exists():
        raise ConfigError(f"{spelled} {value}: no such file or folder; {spelled} takes {metadata['help']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if low is not None and value < low:
            raise ConfigError(f"{spelled} {value!r} is below its minimum, {low:g}")
        if high is not None and value > high:
            raise ConfigError(f"{spelled} {value!r} is above its maximum, {high:g}")


@dataclass(frozen=True)
class OptionField:
    """One option as entry points show it: a CLI flag, a query parameter, a control on the web page."""

    name: str
    kind: type  # bool, int, float or str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    picture: bool = False  # an image: an uploaded file on the server

    @property
    def query(self) -> str:
        """Its name in a query and on the page: a Python keyword's trailing underscore dropped (class_ -> class)."""
        return self.name.rstrip("_")

    @property
    def flag(self) -> str:
        """Its name on the command line: --mask-threshold, --class."""
        return self.query.replace("_", "-")


def option_fields(cls: type) -> list[OptionField]:
    """The fields of a config or predict-options dataclass, typed and ranged."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        kinds = [a for a in typing.get_args(hints[f.name]) if a is not type(None)] or [hints[f.name]]
        rows.append(OptionField(f.name, kinds[0], f.default, f.metadata.get("help", ""),
                                tuple(f.metadata.get("choices") or ()), f.metadata.get("low"),
                                f.metadata.get("high"), bool(f.metadata.get("picture"))))
    return rows


@dataclass
class PredictOptions:
    """Base of a task's predict options. Its fields become the CLI's predict flags, the server's query parameters
    and the web page's controls (a slider for each ranged number); a task's `default_options` fills them from the
    model's own run, so an unset option means "the model's default"."""


@dataclass
class GenerateOptions(PredictOptions):
    """What every generator's options hold (a task of the input kind "none"): how many samples, from which seed
    (sample i comes from seed + i, so one sample can be drawn again alone)."""

    count: int = option(4, "samples to generate", low=1, high=1024)
    seed: int = option(0, "the first sample's random seed", low=0)


def parse_cli_options(tokens: list[str]) -> dict[str, Any]:
    """`--key value`, `--key=value`, `--flag` and `--no-flag` tokens -> {key: raw value}."""
    options: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise ConfigError(f"unexpected argument {token!r}; options look like --name value")
        key, eq, value = token[2:].partition("=")
        if not eq:
            takes_value = i + 1 < len(tokens) and not tokens[i + 1].startswith("--")
            if takes_value:
                value, i = tokens[i + 1], i + 1
            elif key.startswith("no-"):
                key, value = key[3:], "false"
            else:
                value = "true"
        options[key.replace("-", "_")] = value
        i += 1
    return options


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _convert(name: str, value: Any, hint: Any) -> Any:
    """Convert a raw (string or YAML) value to the field's type, or raise a ConfigError naming the option."""
    args = typing.get_args(hint)
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    candidates = [a for a in args if a is not type(None)] if is_union else [hint]
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args):
        return None
    for kind in candidates:
        try:
            if kind is bool:
                if isinstance(value, bool):
                    return value
                lowered = str(value).lower()
                if lowered in ("true", "1", "yes", "on"):
                    return True
                if lowered in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return kind(value)
        except (TypeError, ValueError):
            continue
    wanted = " or ".join(getattr(k, "__name__", str(k)) for k in candidates)
    raise ConfigError(f"--{name.replace('_', '-')} {value!r} is not a valid {wanted}")
