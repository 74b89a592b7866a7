"""Running exported files: ONNX Runtime and TorchScript behind the same call as a PyTorch network (a float batch
in, the raw outputs out), so a task's one pre/post-processing path serves every back end."""

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ocularis.deploy.formats import exported_kind, read_meta
from ocularis.errors import CheckpointError


class OnnxNetwork:
    """An ONNX Runtime session that takes and returns torch tensors, like the network it was exported from."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # The same thread count as PyTorch, so comparisons between back ends are fair.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types for bad or unsupported graphs
            raise CheckpointError(f"{path}: ONNX Runtime cannot run this file ({str(error).splitlines()[0]})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.path = Path(path)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])

    # The task code moves and switches networks the PyTorch way; an ONNX session has nothing to move.
    def to(self, *_: Any, **__: Any) -> "OnnxNetwork":
        return self

    def eval(self) -> "OnnxNetwork":
        return self


def load_exported(path: str | Path, task: str | None = None) -> tuple[dict[str, Any], Any]:
    """(metadata, network) of an exported .onnx or TorchScript file; checks it belongs to `task` when given."""
    meta = read_meta(path)
    if task is not None and meta.get("task") != task:
        raise CheckpointError(f"{path} is a {meta.get('task')!r} model, not {task!r}; use "
                              f"`ocularis {meta.get('task')} ...` or ocularis.load() to get the right task")
    if exported_kind(path) == "onnx":
        return meta, OnnxNetwork(path)
    network = torch.jit.load(str(path), map_location="cpu").eval()
    return meta, network


def file_size_mb(path: str | Path) -> float:
    return os.path.getsize(path) / 2**20
