"""Export any task object to ONNX or TorchScript (optionally float16 or int8) and prove the file reproduces it.

What it asks of a task is the `Exportable` protocol below, the export part of the contract on
ocularis.engine.task.Task: `meta`, `source` (the checkpoint it came from), `graphs(samples)` (the modules to write,
with example inputs), `sample_inputs(data, split, count)` (real preprocessed inputs), `agreement(reference, outputs)`
(share of inputs given the same answer, on the first graph's outputs), `evaluate(data)` (metrics with a `headline`)
and `load(path)` (the exported file back, for int8's quality check).
"""

import copy
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ocularis.deploy.formats import (
    HalfPrecision,
    export_onnx,
    export_torchscript,
    graph_path,
    read_meta,
    write_onnx_meta,
)
from ocularis.deploy.outputs import concatenated, largest_difference, largest_magnitude
from ocularis.deploy.quantize import INT8_MODES, quantize_int8
from ocularis.deploy.runtime import OnnxNetwork, open_graph
from ocularis.deploy.timing import time_network
from ocularis.errors import ExportError

FORMATS = ("onnx", "torchscript")
# Agreement an export must reach, and the allowed max |difference| relative to max(1, max |reference output|).
TOLERANCES = {"float32": (1e-4, 1.0), "float16": (2e-2, 0.98), "int8": (None, 0.95)}


@dataclass
class Verification:
    """How closely an exported file reproduces the PyTorch model on real inputs."""

    images: int
    max_abs_diff: float
    agreement: float
    tolerance: float | None
    min_agreement: float
    quality: dict[str, float] | None = None  # the task's headline metric, PyTorch vs exported (quantised files)
    speedup: dict[int, float] | None = None  # exported / float ONNX throughput by batch size (quantised files)

    @property
    def passed(self) -> bool:
        close = self.tolerance is None or self.max_abs_diff <= self.tolerance
        return close and self.agreement >= self.min_agreement

    def __str__(self) -> str:
        bound = f" (tolerance {self.tolerance:.1e})" if self.tolerance is not None else ""
        text = (f"verified on {self.images} images: max |diff| {self.max_abs_diff:.2e}{bound}, "
                f"agreement {self.agreement:.2%} (needs {self.min_agreement:.0%})")
        if self.quality:
            text += ", " + " -> ".join(f"{k} {v:.4f}" for k, v in self.quality.items())
        if self.speedup:
            text += ", speed vs float ONNX " + ", ".join(f"batch {b}: {s:.2f}x" for b, s in self.speedup.items())
        return text

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass
class Exported:
    path: Path  # the first graph's file (the only one, unless the task exports several graphs)
    format: str
    precision: str
    verification: Verification | None
    paths: dict[str, Path] | None = None  # graph name -> file


@dataclass
class Graph:
    """One graph to export: a module and example inputs (batch first), with the names the file gives them."""

    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: tuple[str, ...] = ("images",)
    output_names: tuple[str, ...] = ("outputs",)
    any_size: bool = False  # height and width are free axes too (a fully convolutional network on whole photos)


class Exportable(Protocol):
    """What export asks of a task object (ocularis.engine.task.Task has every member)."""

    meta: dict[str, Any]
    source: Path | None  # the checkpoint it came from
    network: Any

    def graphs(self, samples: torch.Tensor) -> dict[str, Graph]: ...

    def sample_inputs(self, data: str | None = None, split: str = "test", count: int | None = None) -> torch.Tensor:
        ...

    def agreement(self, reference: Any, outputs: Any) -> float: ...

    def evaluate(self, data: str | None = None, split: str = "test") -> Any: ...

    @classmethod
    def load(cls, path: str | Path) -> "Exportable": ...


def exported_path(source: Path, format: str = "onnx", *, int8: str | None = None, half: bool = False) -> Path:
    """best.ckpt -> best.onnx, best.int8.onnx, best.int8-dynamic.onnx, best.fp16.onnx, best.torchscript ..."""
    tag = {None: "", "static": ".int8", "dynamic": ".int8-dynamic"}[int8] + (".fp16" if half else "")
    return source.with_name(source.stem + tag + (".onnx" if format == "onnx" else ".torchscript"))


def export_task(task: Exportable, format: str = "onnx", path: str | Path | None = None, *, int8: str | None = None,
                half: bool = False, verify: bool = False, data: str | None = None,
                calibration_images: int = 256) -> Exported:
    """Write `task`'s graphs as `format`; with `verify`, fail unless they reproduce PyTorch on `data`'s test split."""
    if format not in FORMATS:
        raise ExportError(f"--format {format!r} is not one of {', '.join(FORMATS)}")
    if int8 is not None and (int8 not in INT8_MODES or format != "onnx" or half):
        raise ExportError(f"--int8 {int8!r}: int8 is ONNX-only ({' or '.join(INT8_MODES)}) and excludes --half")
    if not isinstance(task.network, nn.Module) or isinstance(task.network, torch.jit.ScriptModule):
        raise ExportError("only a PyTorch checkpoint (.ckpt) can be exported; this model is already an exported file")
    if path is None and task.source is None:
        raise ExportError("this model has no checkpoint file to name the export after; pass a path")
    precision = "int8" if int8 else "float16" if half else "float32"
    path = Path(path) if path else exported_path(Path(task.source), format, int8=int8, half=half)
    samples = task.sample_inputs(data, "test")
    graphs = task.graphs(samples.float())
    if len(graphs) > 1 and (int8 or half):
        raise ExportError(f"this {task.meta['task']} model exports {len(graphs)} graphs; int8 and --half take one")
    paths = {name: path if len(graphs) == 1 else graph_path(path, None, name) for name in graphs}
    meta = {**task.meta, "format": format, "precision": precision, "int8": int8, "graphs": list(graphs)}
    verifications = {}
    with tempfile.TemporaryDirectory() as scratch:
        float_onnx = Path(scratch) / "float.onnx"
        for index, (name, graph) in enumerate(graphs.items()):
            network = graph.module.float().cpu().eval()
            _write(graph, network, paths[name], format, {**meta, "graph": name}, half, int8, float_onnx,
                   task, data, calibration_images)
            if verify:
                inputs = (samples,) if index == 0 else graph.inputs  # the first graph takes the real images
                verifications[name] = _verify(task, network, paths[name], inputs, precision, agree=index == 0)
        verification = _combined(verifications) if verify else None
        if verification is not None and int8:
            _compare_quantised(verification, task, path, float_onnx, samples, data)
    if verification is not None and not verification.passed:
        for written in paths.values():
            written.unlink(missing_ok=True)
        raise ExportError(f"the exported {format} model does not reproduce the PyTorch model: {verification}; "
                          "the file was removed")
    return Exported(next(iter(paths.values())), format, precision, verification, paths)


def _write(graph: Graph, network: nn.Module, path: Path, format: str, meta: dict[str, Any], half: bool,
           int8: str | None, float_onnx: Path, task: Exportable, data: str | None, calibration_images: int) -> None:
    example = tuple(tensor[:2] for tensor in graph.inputs)
    exported = HalfPrecision(copy.deepcopy(network)) if half else network
    if format == "torchscript":
        export_torchscript(exported, example, path, meta)
    elif int8:
        export_onnx(network, example, float_onnx, meta, graph.input_names, graph.output_names, graph.any_size)
        calibration = task.sample_inputs(data, "train", calibration_images) if int8 == "static" else None
        quantize_int8(float_onnx, path, int8, calibration)
        write_onnx_meta(onnx_model(path), path, meta)
    else:
        export_onnx(exported, example, path, meta, graph.input_names, graph.output_names, graph.any_size)


def _verify(task: Exportable, network: nn.Module, path: Path, inputs: tuple[torch.Tensor, ...], precision: str,
            agree: bool) -> Verification:
    """Run PyTorch and the exported file on the same real inputs and compare their raw outputs (and, for the first
    graph, their answers)."""
    _, exported = open_graph(path)
    with torch.no_grad():
        chunks = list(zip(*(tensor.split(64) for tensor in inputs), strict=True))
        reference = concatenated([network(*chunk) for chunk in chunks])
        outputs = concatenated([exported(*chunk) for chunk in chunks])
    scale, min_agreement = TOLERANCES[precision]
    tolerance = scale * max(1.0, largest_magnitude(reference)) if scale else None
    agreement = float(task.agreement(reference, outputs)) if agree else 1.0
    return Verification(len(inputs[0]), largest_difference(reference, outputs), agreement, tolerance, min_agreement)


def _combined(verifications: dict[str, Verification]) -> Verification:
    """One verification for all graphs: the first graph's, with the largest difference and the tightest bound."""
    first, *rest = verifications.values()
    for other in rest:
        first.max_abs_diff = max(first.max_abs_diff, other.max_abs_diff)
        if other.tolerance is not None and first.tolerance is not None:
            first.tolerance = min(first.tolerance, other.tolerance)
    return first


def _compare_quantised(verification: Verification, task: Exportable, path: Path, float_onnx: Path,
                       samples: torch.Tensor, data: str | None) -> None:
    """What int8 costs and gains: the task's headline metric and the throughput against the float ONNX model."""
    name, before = task.evaluate(data).headline
    verification.quality = {f"{name} pytorch": before, f"{name} int8": type(task).load(path).evaluate(data).headline[1]}
    quantised, reference = OnnxNetwork(path), OnnxNetwork(float_onnx)
    verification.speedup = {batch: time_network(quantised, samples, batch).images_per_s
                            / time_network(reference, samples, batch).images_per_s for batch in (1, 32)}


def onnx_model(path: Path):
    import onnx

    return onnx.load(str(path))


__all__ = ["FORMATS", "Exportable", "Exported", "Graph", "Verification", "export_task", "exported_path", "read_meta"]
