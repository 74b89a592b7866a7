"""Export any task object to ONNX or TorchScript (optionally float16 or int8) and prove the file reproduces it.

A task plugs in by offering: `meta` (task, classes, input size, normalisation...), `network` (a torch module),
`source` (the checkpoint it came from), `sample_inputs(data, split, count)` (real preprocessed images),
`agreement(reference, outputs)` (share of images whose answer is the same) and `evaluate(data)` (metrics with a
`headline` (name, value)).
"""

import copy
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ocularis.deploy.formats import HalfPrecision, export_onnx, export_torchscript, read_meta, write_onnx_meta
from ocularis.deploy.quantize import INT8_MODES, quantize_int8
from ocularis.deploy.runtime import OnnxNetwork, load_exported
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
    path: Path
    format: str
    precision: str
    verification: Verification | None


def exported_path(source: Path, format: str = "onnx", *, int8: str | None = None, half: bool = False) -> Path:
    """best.ckpt -> best.onnx, best.int8.onnx, best.int8-dynamic.onnx, best.fp16.onnx, best.torchscript ..."""
    tag = {None: "", "static": ".int8", "dynamic": ".int8-dynamic"}[int8] + (".fp16" if half else "")
    return source.with_name(source.stem + tag + (".onnx" if format == "onnx" else ".torchscript"))


def export_task(task, format: str = "onnx", path: str | Path | None = None, *, int8: str | None = None,
                half: bool = False, verify: bool = False, data: str | None = None,
                calibration_images: int = 256) -> Exported:
    """Write `task`'s network as `format`; with `verify`, fail unless it reproduces PyTorch on `data`'s test split."""
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
    network = task.network.float().cpu().eval()
    samples = task.sample_inputs(data, "test")
    meta = {**task.meta, "format": format, "precision": precision, "int8": int8}
    exported = HalfPrecision(copy.deepcopy(network)) if half else network
    with tempfile.TemporaryDirectory() as scratch:
        float_onnx = Path(scratch) / "float.onnx"
        if format == "torchscript":
            export_torchscript(exported, samples[:2], path, meta)
        elif int8:
            export_onnx(network, samples[:2], float_onnx, meta)
            calibration = task.sample_inputs(data, "train", calibration_images) if int8 == "static" else None
            quantize_int8(float_onnx, path, int8, calibration)
            write_onnx_meta(onnx_model(path), path, meta)
        else:
            export_onnx(exported, samples[:2], path, meta)
        verification = _verify(task, network, path, samples, precision) if verify else None
        if verification is not None and int8:
            _compare_quantised(verification, task, path, float_onnx, samples, data)
    if verification is not None and not verification.passed:
        path.unlink(missing_ok=True)
        raise ExportError(f"the exported {format} model does not reproduce the PyTorch model: {verification}; "
                          "the file was removed")
    return Exported(path, format, precision, verification)


def _verify(task, network: nn.Module, path: Path, samples: torch.Tensor, precision: str) -> Verification:
    """Run PyTorch and the exported file on the same real inputs and compare their raw outputs and answers."""
    _, exported = load_exported(path)
    with torch.no_grad():
        reference = torch.cat([network(chunk) for chunk in samples.split(64)]).float()
        outputs = torch.cat([exported(chunk) for chunk in samples.split(64)]).float()
    scale, min_agreement = TOLERANCES[precision]
    tolerance = scale * max(1.0, float(reference.abs().max())) if scale else None
    return Verification(len(samples), float((reference - outputs).abs().max()),
                        float(task.agreement(reference, outputs)), tolerance, min_agreement)


def _compare_quantised(verification: Verification, task, path: Path, float_onnx: Path, samples: torch.Tensor,
                       data: str | None) -> None:
    """What int8 costs and gains: the task's headline metric and the throughput against the float ONNX model."""
    name, before = task.evaluate(data).headline
    verification.quality = {f"{name} pytorch": before, f"{name} int8": type(task).load(path).evaluate(data).headline[1]}
    quantised, reference = OnnxNetwork(path), OnnxNetwork(float_onnx)
    verification.speedup = {batch: time_network(quantised, samples, batch).images_per_s
                            / time_network(reference, samples, batch).images_per_s for batch in (1, 32)}


def onnx_model(path: Path):
    import onnx

    return onnx.load(str(path))


__all__ = ["FORMATS", "Exported", "Verification", "export_task", "exported_path", "read_meta"]
