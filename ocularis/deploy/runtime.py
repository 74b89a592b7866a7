"""Running exported files: ONNX Runtime and TorchScript behind the same call as a PyTorch network (a float batch
in, the raw outputs out), so a task's one pre/post-processing path serves every back end."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ocularis.core.checkpoint import FORMAT_KEY, Parts, load_checkpoint
from ocularis.deploy.formats import META_KEY, exported_kind, graph_path
from ocularis.deploy.outputs import Outputs, joined
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
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.path = Path(path)

    @property
    def meta(self) -> dict[str, Any] | None:
        """The ocularis metadata embedded in the file, read from the session (no second parse of the file)."""
        found = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        return json.loads(found) if found else None

    def __call__(self, *inputs: torch.Tensor) -> Outputs:
        feed = {name: np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)
                for name, tensor in zip(self.input_names, inputs, strict=True)}
        return joined(tuple(torch.from_numpy(found) for found in self.session.run(None, feed)))

    # The task code moves and switches networks the PyTorch way; an ONNX session has nothing to move.
    def to(self, *_: Any, **__: Any) -> "OnnxNetwork":
        return self

    def eval(self) -> "OnnxNetwork":
        return self


@dataclass
class OpenedModel:
    """A saved model read once: its metadata and either its weights (a checkpoint) or its runnable graphs."""

    meta: dict[str, Any]
    state_dict: dict[str, torch.Tensor] | None = None
    graphs: dict[str, Any] = field(default_factory=dict)  # graph name -> OnnxNetwork or TorchScript module
    parts: Parts = field(default_factory=Parts)  # arrays and texts saved beside the weights (a checkpoint's)


def open_model(path: str | Path, task: str | None = None) -> OpenedModel:
    """Read a checkpoint or an exported .onnx / TorchScript file once (with the other graphs of a multi-graph
    export beside it); checks it belongs to `task` when given."""
    path = Path(path)
    kind = exported_kind(path)
    if kind is None:
        checkpoint = load_checkpoint(path, task)
        return OpenedModel(checkpoint[FORMAT_KEY], state_dict=checkpoint["state_dict"],
                           parts=Parts.from_saved(checkpoint.get("parts")))
    meta, first = open_graph(path)
    if task is not None and meta.get("task") != task:
        raise CheckpointError(f"{path} is a {meta.get('task')!r} model, not {task!r}; use "
                              f"`ocularis {meta.get('task')} ...` or ocularis.load() to get the right task")
    graphs = {meta.get("graph", "network"): first}
    for name in meta.get("graphs", []):
        if name not in graphs:
            graphs[name] = open_graph(graph_path(path, meta["graph"], name))[1]
    return OpenedModel(meta, graphs=graphs)


def open_graph(path: Path) -> tuple[dict[str, Any], Any]:
    """(metadata, runtime) of one exported file, read once."""
    kind = exported_kind(path)
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist; export the model again with `ocularis export`")
    if kind == "onnx":
        network = OnnxNetwork(path)
        meta = network.meta
    else:
        files = {META_KEY: ""}
        try:
            network = torch.jit.load(str(path), map_location="cpu", _extra_files=files).eval()
        except RuntimeError as error:
            raise CheckpointError(f"{path} is not a readable torchscript file ({type(error).__name__}); "
                                  "export it again with `ocularis export`") from None
        meta = json.loads(files[META_KEY]) if files[META_KEY] else None
    if not meta:
        raise CheckpointError(f"{path} carries no ocularis metadata; export it with `ocularis export` "
                              "so it knows its task, classes and preprocessing")
    return meta, network


def file_size_mb(path: str | Path) -> float:
    return os.path.getsize(path) / 2**20
