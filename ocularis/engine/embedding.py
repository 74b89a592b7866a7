"""Any model's images as unit vectors, for search, verification and clustering.

A metric-learning model's output is its embedding (`Task.embeds_outputs`); any other model's is the pooled output
of the layer its task declares for feature space (`Task.explain_features`: a classifier's body, a detector's or
segmenter's backbone) or of a layer named by the user. Files are read in chunks, so a folder larger than memory
streams; an unreadable one is reported and skipped.
"""

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ocularis.core.images import read_image
from ocularis.engine.explaining import named_layer
from ocularis.errors import ConfigError, CorruptImageError, DataError


def embed_pictures(task, pictures: list[Image.Image], layer: str | None = None) -> np.ndarray:
    """(N, D) float32 unit vectors of decoded pictures."""
    rows = task.explain_inputs(pictures)
    outputs = task.infer(rows) if task.embeds_outputs and layer is None else _layer_output(task, rows, layer)
    if outputs.ndim == 4:  # a feature map: global average pooling keeps what it holds, not where
        outputs = outputs.mean(dim=(2, 3))
    return F.normalize(outputs.flatten(1).float().cpu(), dim=1).numpy()


def _layer_output(task, rows: torch.Tensor, layer: str | None) -> torch.Tensor:
    if not isinstance(task.network, nn.Module):
        raise ConfigError(f"embedding with a {task.spec.name} model reads one of its layers: pass its checkpoint "
                          f"(best.ckpt), not the exported file {task.source}")
    module = named_layer(task.network, layer) if layer else task.explain_features()
    if module is None:
        raise ConfigError(f"{task.spec.name} models declare no feature layer; pass --layer NAME")
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, output: captured.append(
        output[0] if isinstance(output, tuple | list) else output))
    try:
        task.infer(rows)
    finally:
        handle.remove()
    return captured[-1].detach()


def model_fingerprint(task) -> str:
    """What identifies the model's embedding: its architecture and a hash of its weights (exported: the file's)."""
    digest = hashlib.sha1(str(task.meta["model"]).encode())
    network = task.network
    if isinstance(network, nn.Module):
        for name, tensor in sorted(network.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    elif task.source is not None:
        digest.update(Path(task.source).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Chunk:
    """Some files' vectors, with each file's SHA-1 (to skip it when indexed again unchanged), and those that could
    not be read (path, reason)."""

    paths: list[str] = field(default_factory=list)
    sha1s: list[str] = field(default_factory=list)
    vectors: np.ndarray | None = None
    bad: list[tuple[str, str]] = field(default_factory=list)


def file_sha1(path: str | Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embed_files(task, paths: Sequence[str], batch: int = 64, layer: str | None = None) -> Iterator[Chunk]:
    """Vectors of image files, `batch` files a forward pass (memory: one batch of pixels)."""
    mode = task.pixels.mode
    for start in range(0, len(paths), batch):
        chunk, pictures = Chunk(), []
        for path in paths[start:start + batch]:
            try:
                pictures.append(read_image(path, mode))
            except CorruptImageError as error:
                chunk.bad += error.bad
                continue
            except DataError as error:  # vanished since it was listed
                chunk.bad.append((str(path), str(error)))
                continue
            chunk.paths.append(str(path))
            chunk.sha1s.append(file_sha1(path))
        if pictures:
            chunk.vectors = embed_pictures(task, pictures, layer)
        yield chunk


def joined(chunks: Iterator[Chunk]) -> Chunk:
    """Several chunks as one."""
    whole, vectors = Chunk(), []
    for chunk in chunks:
        whole.paths += chunk.paths
        whole.sha1s += chunk.sha1s
        whole.bad += chunk.bad
        if chunk.vectors is not None:
            vectors.append(chunk.vectors)
    whole.vectors = np.concatenate(vectors) if vectors else None
    return whole
