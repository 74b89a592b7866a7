"""A network's raw outputs are one tensor or a tuple of tensors, each batch first (an instance segmenter's rows,
coefficients and prototypes). What every back end, the exporter's check and the server's micro-batches do with them,
written once so none of them asks which."""

import torch

Outputs = torch.Tensor | tuple[torch.Tensor, ...]


def parts(outputs: Outputs) -> tuple[torch.Tensor, ...]:
    return outputs if isinstance(outputs, tuple) else (outputs,)


def joined(parts_: tuple[torch.Tensor, ...]) -> Outputs:
    """Back to a tensor when there is one part."""
    return parts_[0] if len(parts_) == 1 else tuple(parts_)


def rows(outputs: Outputs, start: int, stop: int) -> Outputs:
    """Batch rows start .. stop - 1 of every part."""
    return joined(tuple(part[start:stop] for part in parts(outputs)))


def concatenated(chunks: list[Outputs]) -> Outputs:
    """Chunks of outputs joined along the batch."""
    return joined(tuple(torch.cat(pieces).float() for pieces in zip(*(parts(c) for c in chunks), strict=True)))


def largest_magnitude(outputs: Outputs) -> float:
    return max(float(part.abs().max()) if part.numel() else 0.0 for part in parts(outputs))


def largest_difference(a: Outputs, b: Outputs) -> float:
    return max(float((x - y).abs().max()) if x.numel() else 0.0 for x, y in zip(parts(a), parts(b), strict=True))
