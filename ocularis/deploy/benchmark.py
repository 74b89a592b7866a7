"""`ocularis benchmark`: for each format, the file size, the task's quality metric on real data, latency p50/p95 and
throughput at each batch size, and the speed ratio to PyTorch eager, measured in one process on one machine."""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ocularis.deploy.export import export_task, exported_path
from ocularis.deploy.runtime import file_size_mb
from ocularis.deploy.timing import Timing, time_network
from ocularis.errors import ConfigError

# Benchmark format name -> export options ("torch" is the checkpoint itself, run eagerly).
BENCHMARK_FORMATS: dict[str, dict[str, Any] | None] = {
    "torch": None,
    "torchscript": {"format": "torchscript"},
    "onnx": {"format": "onnx"},
    "onnx-fp16": {"format": "onnx", "half": True},
    "onnx-int8": {"format": "onnx", "int8": "static"},
    "onnx-int8-dynamic": {"format": "onnx", "int8": "dynamic"},
}
ONE_GRAPH_ONLY = ("onnx-fp16", "onnx-int8", "onnx-int8-dynamic")


@dataclass
class BenchmarkRow:
    format: str
    file: str
    size_mb: float
    metric: str
    value: float
    timings: list[Timing]
    speedup: dict[int, float] = field(default_factory=dict)  # throughput / PyTorch eager throughput, by batch

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in BENCHMARK_FORMATS]
    if unknown or not formats:
        raise ConfigError(f"--formats {text!r}: choose from {', '.join(BENCHMARK_FORMATS)}")
    return formats if formats[0] == "torch" else ["torch", *[f for f in formats if f != "torch"]]


def parse_batches(text: str) -> list[int]:
    try:
        batches = [int(b) for b in text.split(",")]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise ConfigError(f"--batch {text!r}: give positive batch sizes separated by commas, e.g. 1,32")
    return batches


def benchmark(task, formats: list[str], batches: list[int], folder: Path, data: str | None = None,
              min_seconds: float = 2.0) -> list[BenchmarkRow]:
    """Export `task` to each format in `folder`, then measure every file the same way; PyTorch eager comes first."""
    samples = task.sample_inputs(data, "test", max(batches))
    if len(task.graphs(samples.float())) > 1:  # an encoder and a decoder: int8 and float16 take one graph
        formats = [name for name in formats if name not in ONE_GRAPH_ONLY]
    rows: list[BenchmarkRow] = []
    for name in formats:
        options = BENCHMARK_FORMATS[name]
        if options is None:
            runner, path, files = task, Path(task.source), [Path(task.source)]
        else:
            target = exported_path(folder / Path(task.source).name, **options)
            exported = export_task(task, path=target, data=data, **options)
            path, files = exported.path, list(exported.paths.values())
            runner = type(task).load(path)
        metric, value = runner.evaluate(data).headline
        timings = [time_network(runner.infer, samples, batch, min_seconds=min_seconds) for batch in batches]
        size = sum(file_size_mb(file) for file in files)  # every graph's file
        rows.append(BenchmarkRow(name, str(path), round(size, 3), metric, value, timings))
    for row in rows:
        row.speedup = {t.batch: t.images_per_s / base.images_per_s
                       for t, base in zip(row.timings, rows[0].timings, strict=True)}
    return rows
