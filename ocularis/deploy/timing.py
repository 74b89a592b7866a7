"""Latency and throughput of a network on a batch, measured the same way for every back end."""

import time
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Timing:
    batch: int
    p50_ms: float
    p95_ms: float
    images_per_s: float
    runs: int


def time_network(network, images: torch.Tensor, batch: int, *, warmup: int = 3, min_runs: int = 10,
                 min_seconds: float = 1.0, max_runs: int = 500) -> Timing:
    """Run `network` on `batch` images (real ones, repeated to fill the batch) until enough runs are timed."""
    inputs = images[torch.arange(batch) % len(images)].contiguous()
    with torch.no_grad():
        for _ in range(warmup):
            network(inputs)
        seconds: list[float] = []
        started = time.perf_counter()
        while len(seconds) < max_runs and (len(seconds) < min_runs or time.perf_counter() - started < min_seconds):
            tick = time.perf_counter()
            network(inputs)
            seconds.append(time.perf_counter() - tick)
    p50, p95 = np.percentile(seconds, [50, 95]) * 1000
    return Timing(batch, float(p50), float(p95), float(batch / np.mean(seconds)), len(seconds))
