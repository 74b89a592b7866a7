"""Exported model files: ONNX (dynamic batch axis) and TorchScript, each carrying the task's metadata inside it, so
the exported file alone can predict, evaluate and be served."""

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ocularis.core.checkpoint import atomic_write
from ocularis.errors import CheckpointError, ConfigError

META_KEY = "ocularis"  # ONNX metadata_props key and TorchScript extra-file name holding the metadata as JSON
ONNX_SUFFIXES = (".onnx",)
TORCHSCRIPT_SUFFIXES = (".torchscript", ".pt", ".ts")


def exported_kind(path: str | Path) -> str | None:
    """'onnx', 'torchscript' or None (an ocularis checkpoint) from the file name."""
    suffix = Path(path).suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if suffix in TORCHSCRIPT_SUFFIXES:
        return "torchscript"
    return None


def graph_path(path: Path, graph: str | None, other: str) -> Path:
    """Where graph `other` of a multi-graph export lies, given the file `path` of graph `graph` (None: `path` is
    the export's base name): best.onnx -> best.decoder.onnx; best.encoder.onnx -> best.decoder.onnx."""
    stem = path.name[:-len(path.suffix)] if path.suffix else path.name
    if graph is not None:
        stem = stem.removesuffix(f".{graph}")
    return path.with_name(f"{stem}.{other}{path.suffix}")


class HalfPrecision(nn.Module):
    """Runs `network` in float16 behind a float32 interface, so a half model is a drop-in replacement."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network.half()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images.half()).float()


def export_onnx(network: nn.Module, example: tuple[torch.Tensor, ...], path: Path, meta: dict[str, Any],
                input_names: tuple[str, ...] = ("images",), output_names: tuple[str, ...] = ("outputs",),
                any_size: bool = False) -> Path:
    """Trace `network` on the `example` inputs into ONNX with a dynamic batch axis (and, with `any_size`, dynamic
    height and width), metadata embedded; atomic."""
    batch = torch.export.Dim("batch", min=1, max=65536)
    axes = {0: batch}
    if any_size:  # an image side of any length; the example's own must lie inside the range
        axes |= {2: torch.export.Dim("height", min=8, max=16384), 3: torch.export.Dim("width", min=8, max=16384)}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(network.eval(), tuple(example), input_names=list(input_names),
                                    output_names=list(output_names), dynamic_shapes=tuple(axes for _ in example),
                                    dynamo=True, verbose=False)
    write_onnx_meta(program.model_proto, path, meta)
    return path


def write_onnx_meta(model, path: Path, meta: dict[str, Any]) -> None:
    """Embed `meta` as JSON in the model's metadata_props and save it to `path` atomically."""
    import onnx

    for prop in [p for p in model.metadata_props if p.key == META_KEY]:
        model.metadata_props.remove(prop)
    model.metadata_props.add(key=META_KEY, value=json.dumps(meta))
    atomic_write(path, model.SerializeToString())
    onnx.checker.check_model(str(path))


def export_torchscript(network: nn.Module, example: tuple[torch.Tensor, ...], path: Path,
                       meta: dict[str, Any]) -> Path:
    """Trace `network` into TorchScript with the metadata as an extra file; atomic."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(network.eval(), tuple(example), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={META_KEY: json.dumps(meta)})
    atomic_write(path, buffer.getvalue())
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata embedded in an exported ONNX or TorchScript file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist")
    kind = exported_kind(path)
    try:
        if kind == "onnx":
            import onnx

            model = onnx.load(str(path), load_external_data=False)
            found = {p.key: p.value for p in model.metadata_props}.get(META_KEY)
        elif kind == "torchscript":
            files = {META_KEY: ""}
            torch.jit.load(str(path), map_location="cpu", _extra_files=files)
            found = files[META_KEY] or None
        else:
            raise ConfigError(f"{path}: not an exported model (.onnx, .torchscript) nor a checkpoint")
    except (OSError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable {kind} file ({type(error).__name__}); "
                              "export it again with `ocularis export`") from None
    if not found:
        raise CheckpointError(f"{path} carries no ocularis metadata; export it with `ocularis export` "
                              "so it knows its task, classes and preprocessing")
    return json.loads(found)
