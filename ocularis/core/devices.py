"""Which device inference runs on when the user does not say, and how many CPU threads PyTorch uses."""

import os
from dataclasses import dataclass

import torch


def cpu_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def use_threads(threads: int | None, workers: int = 0, processes: int = 1) -> int:
    """Set PyTorch's intra-op threads to `threads`, else to OMP_NUM_THREADS where the environment sets it, else to
    each process's share of the cores less its data-loader workers (at least one): threads beyond the free cores wait
    on each other at every operation. Other work on the machine is the user's to leave room for (--threads): an epoch
    of yolo_seg on the shapes took 405 s with two threads on a two-core machine running one other job, 37 s with
    one."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    if not threads and given.isdigit() and int(given) > 0:
        threads = int(given)
    chosen = threads or max(1, cpu_cores() // max(1, processes) - workers)
    torch.set_num_threads(chosen)
    return chosen


@dataclass
class Load:
    """What a speed was measured under: PyTorch's threads, the cores, the machine's 1-minute load average."""

    threads: int
    cores: int
    load: float

    @staticmethod
    def now() -> "Load":
        return Load(torch.get_num_threads(), cpu_cores(), os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0)

    def __str__(self) -> str:
        return f"{self.threads} threads, 1-minute load average {self.load:.1f} on {self.cores} cores"


def best_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
