"""The command line, generated from the task registry: `ocularis TASK train|val|predict|export|benchmark` (and the
task's own verbs) for every registered task, `ocularis TOOL VERB` for every registered tool, plus `export`,
`benchmark`, `explain`, `serve`, `info` and `data convert`. No task is named here.

Building the app reads only the tasks' declarations (ocularis.contract.TaskSpec), so `--help` answers without torch;
each command imports what it runs (the engine, a task's class) when it runs. User errors print one line, exit 2.
"""

import inspect
import platform
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ocularis.config import flag, option_fields, parse_cli_options
from ocularis.contract import Inputs, TaskSpec
from ocularis.core.paths import existing_inputs, existing_model
from ocularis.core.results import results_table, save_results
from ocularis.core.runs import new_run_dir, run_config, write_json
from ocularis.data.formats import BOX_FORMATS, MASK_FORMATS
from ocularis.errors import OcularisError
from ocularis.explain import DATA_METHODS, IMAGE_METHODS, TARGET_HELP
from ocularis.registry import TASKS, TOOLS
from ocularis.tasks import BUILTIN  # noqa: F401  (importing the package registers the built-in tasks)

console = Console(soft_wrap=True)  # long lines stay whole for pipes and logs
EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def build_app() -> typer.Typer:
    """The whole CLI for the tasks registered now."""
    app = typer.Typer(help="Deep learning for computer vision: train, evaluate, predict, export, serve.",
                      no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.callback()(version_option)
    for name in TASKS.names():
        app.add_typer(task_app(TASKS.get(name)), name=name)
    for name in TOOLS.names():
        tool = TOOLS.get(name)
        group = typer.Typer(help=tool.summary, no_args_is_help=True)
        for verb, command in tool.own_commands().items():
            group.command(verb)(command)
        app.add_typer(group, name=name)
    app.command("export")(export_command(None))
    app.command("benchmark")(benchmark_command(None))
    app.command("explain")(explain)
    app.command("serve")(serve)
    app.command("info")(info)
    data_app = typer.Typer(help="Datasets: convert between box and mask formats.", no_args_is_help=True)
    data_app.command("convert")(data_convert)
    app.add_typer(data_app, name="data")
    return app


def version_option(version: bool = typer.Option(False, "--version", is_eager=True, help="print the version and exit",
                                                callback=lambda given: _print_version() if given else None)) -> None:
    """Deep learning for computer vision: train, evaluate, predict, export, serve."""


def _print_version() -> None:
    console.print(f"ocularis {metadata.version('ocularis')}")
    raise typer.Exit()


def task_app(spec: TaskSpec) -> typer.Typer:
    """train, val, predict, export and benchmark for one task, with its own options; and its own verbs."""
    group = typer.Typer(help=spec.summary, no_args_is_help=True)
    group.command("train", context_settings=EXTRA_ARGS, epilog=options_help(spec.config))(train_command(spec))
    group.command("val")(val_command(spec))
    for verb in dict.fromkeys(("predict", spec.predict_verb)):  # a generator's `generate` is its predict
        group.command(verb)(predict_command(spec))
    group.command("export")(export_command(spec.name))
    group.command("benchmark")(benchmark_command(spec.name))
    for verb, command in spec.own_commands().items():
        group.command(verb)(command)
    return group


def _article(word: str) -> str:
    """The indefinite article a task's name takes in help: an embed model, a segment model."""
    return "an" if word[0] in "aeio" else "a"


def options_help(config: type) -> str:
    """The train options as help lists them: flag, type or allowed values, default, what it does. The options are
    read from the config class at run time (not declared to click), so they are listed here, markup escaped."""
    lines = []
    for field in option_fields(config):
        kind = "|".join(field.choices) if field.choices else field.kind.__name__
        if field.low is not None or field.high is not None:
            kind += " " + "..".join("" if end is None else f"{end:g}" for end in (field.low, field.high))
        lines.append(escape(f"{flag(field.name)} <{kind}> (default: {field.default}): {field.help}"))
    return "Options:\n\n" + "\n\n".join(lines)


def train_command(spec: TaskSpec) -> Callable:
    def train(ctx: typer.Context, cfg: str = typer.Option(None, help="YAML file of options")) -> None:
        config = run_config(spec.config, parse_cli_options(ctx.args), yaml_file=cfg)  # checked before any work
        spec.check_model(config.model)  # before torch loads
        spec.check_data(config.data)
        run = spec.task_class()().fit_config(config)
        if run is None:  # a DDP worker process: rank 0 reports
            return
        console.print(str(run.metrics))
        scored = "test" if run.split == "test" else f"{run.split} (the data has no test images)"
        console.print(f"{scored} {run.metrics.summary()}  ({run.fps:.0f} images/s at batch 1; {run.load})")
        console.print(f"run folder: {run.dir}")

    train.__doc__ = f"Train {_article(spec.name)} {spec.name} model; every option below may also come from --cfg FILE."
    return train


def val_command(spec: TaskSpec) -> Callable:
    def val(model: Path = typer.Option(..., help="checkpoint (best.ckpt) or exported file"),
            data: str = typer.Option(None, help="dataset (default: the training data)"),
            split: str = typer.Option("test", help="train, val or test")) -> None:
        existing_model(model)  # before torch loads
        spec.check_data(data)
        from ocularis.api import load

        metrics = load(model, spec.name).evaluate(data, split=split)
        console.print(str(metrics.scored))
        console.print(str(metrics))

    val.__doc__ = f"Evaluate {_article(spec.name)} {spec.name} model on a split of its data or other data."
    return val


def predict_command(spec: TaskSpec) -> Callable:
    """`predict SOURCES --model M` with one flag per field of the task's predict options."""
    fields = option_fields(spec.options)

    def predict(model: Path, batch: int, save: bool, project: str, sources: list[str] | None = None,
                **options: Any) -> None:
        existing_model(model)  # before torch loads
        existing_inputs(sources or [])
        from ocularis.api import load
        from ocularis.core.video import is_video_file

        task = load(model, spec.name)
        folder = new_run_dir(project, spec.name, "predict") if save else None
        videos = [s for s in sources or [] if spec.inputs == Inputs.IMAGE and is_video_file(s)]  # streams
        inputs = [s for s in sources or [] if s not in videos]
        results = task.predict(inputs, batch=batch, **options) if inputs or not sources else []
        for video in videos:
            found = task.predict_video(video, folder / f"{Path(video).stem}.mp4" if folder else None, batch=batch,
                                       **options)
            console.print(f"{video}: {len(found)} frames")
        if results:
            console.print(results_table(results))
        if folder:
            save_results(results, folder, "predictions.json")
            console.print(f"saved to {folder}")

    parameters = [
        *([_parameter("sources", list[str], typer.Argument(..., help=spec.inputs.sources))]
          if spec.inputs.sources else []),
        _parameter("model", Path, typer.Option(..., help="checkpoint (best.ckpt) or exported file")),
        *[_parameter(f.name, f.kind | None, typer.Option(None, _flags(f), help=_option_text(f))) for f in fields],
        _parameter("batch", int, typer.Option(16, help="inputs per forward pass")),
        _parameter("save", bool, typer.Option(False, help="write pictures of the results and predictions.json")),
        _parameter("project", str, typer.Option("runs", help="folder that holds run folders")),
    ]
    return _command(predict, parameters, f"Predict with {_article(spec.name)} {spec.name} model; every option "
                                         "defaults to the model's own.")


def export_command(task: str | None) -> Callable:
    def export(model: Path = typer.Option(..., help="checkpoint (best.ckpt)"),
               format: str = typer.Option("onnx", help="onnx or torchscript"),
               output: Path = typer.Option(None, help="file to write (default: beside the checkpoint)"),
               int8: bool = typer.Option(False, help="quantise to int8 with ONNX Runtime"),
               int8_mode: str = typer.Option("static", help="static (calibrated on --data's images) or dynamic"),
               half: bool = typer.Option(False, help="float16 weights and arithmetic"),
               verify: bool = typer.Option(False, help="run the file and PyTorch on real inputs; fail if they "
                                                       "differ"),
               data: str = typer.Option(None, help="data for verification and calibration (default: the training "
                                                   "data)"),
               calibration_images: int = typer.Option(256, help="images that calibrate static int8")) -> None:
        """Export a checkpoint to ONNX (dynamic batch) or TorchScript, with its metadata inside the file."""
        existing_model(model)  # before torch loads
        from ocularis.api import load

        exported = load(model, task).export(format, output, int8=int8_mode if int8 else None, half=half,
                                            verify=verify, data=data, calibration_images=calibration_images)
        for path in exported.paths.values():
            console.print(f"wrote {path} ({exported.format}, {exported.precision}, "
                          f"{path.stat().st_size / 2**20:.2f} MB)")
        if exported.verification:
            console.print(str(exported.verification))

    return export


def benchmark_command(task: str | None) -> Callable:
    def benchmark(model: Path = typer.Option(..., help="checkpoint (best.ckpt)"),
                  data: str = typer.Option(None, help="data whose test split gives the quality metric and inputs"),
                  formats: str = typer.Option("torch,onnx,onnx-int8", help="comma-separated: torch, torchscript, "
                                              "onnx, onnx-fp16, onnx-int8, onnx-int8-dynamic"),
                  batch: str = typer.Option("1,32", help="comma-separated batch sizes"),
                  seconds: float = typer.Option(2.0, help="least time spent timing each format and batch size"),
                  project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
        """Size, quality, latency p50/p95 and throughput of each format, and the speed ratio to PyTorch eager."""
        existing_model(model)  # before torch loads
        import torch

        from ocularis.api import load
        from ocularis.deploy.benchmark import benchmark as run_benchmark
        from ocularis.deploy.benchmark import parse_batches, parse_formats

        chosen, sizes = parse_formats(formats), parse_batches(batch)
        loaded = load(model, task)
        folder = new_run_dir(project, loaded.meta["task"], "benchmark")
        rows = run_benchmark(loaded, chosen, sizes, folder, data=data, min_seconds=seconds)
        table = Table("format", "MB", rows[0].metric, "batch", "p50 ms", "p95 ms", "img/s", "x torch")
        for row in rows:
            for timing in row.timings:
                table.add_row(row.format, f"{row.size_mb:.2f}", f"{row.value:.4f}", str(timing.batch),
                              f"{timing.p50_ms:.2f}", f"{timing.p95_ms:.2f}", f"{timing.images_per_s:.0f}",
                              f"{row.speedup[timing.batch]:.2f}")
        console.print(table)
        write_json(folder / "benchmark.json", {"model": str(model), "data": data or loaded.meta["config"]["data"],
                                               "threads": torch.get_num_threads(),
                                               "rows": [r.to_json() for r in rows]})
        console.print(f"results: {folder / 'benchmark.json'}")

    return benchmark


def explain(method: str = typer.Argument(..., help=f"per image: {', '.join(IMAGE_METHODS)}; over a dataset: "
                                                   f"{', '.join(DATA_METHODS)}"),
            sources: list[str] = typer.Argument(None, help="images or folders (per-image methods; neighbours' "
                                                           "queries)"),
            model: Path = typer.Option(..., help="checkpoint (best.ckpt) of any task"),
            target: str = typer.Option(None, help=TARGET_HELP),
            layer: str = typer.Option(None, help="layer by name, e.g. stage3 or body.4 (default: the model's own)"),
            data: str = typer.Option(None, help="dataset methods: the data (default: the training data)"),
            split: str = typer.Option("test", help="dataset methods: train, val or test"),
            limit: int = typer.Option(500, help="dataset methods: most images used"),
            epsilon: float = typer.Option(0.05, help="fgsm / pgd: the budget, in pixel units [0..1]"),
            save: bool = typer.Option(False, help="per-image methods: write the pictures and explanations.json"),
            project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Explain a model: where it looks, what its layers hold, how its features group, how it fails (results in
    runs/explain/METHOD)."""
    from ocularis.api import load

    task = load(model)
    if method in DATA_METHODS:
        console.print(str(task.explain_data(method, new_run_dir(project, "explain", method), data, split, layer,
                                            sources or None, limit, progress=True)))
        return
    results = task.explain(method, sources or [], target=target, layer=layer, progress=True, epsilon=epsilon)
    if not results:
        raise OcularisError(f"{method} explains images: give some (files or folders) after the method")
    console.print(results_table(results))
    if save:
        folder = new_run_dir(project, "explain", method)
        save_results(results, folder, "explanations.json")
        console.print(f"saved to {folder}")


def serve(model: list[str] = typer.Option(None, help="checkpoint or exported file, or NAME=PATH; repeat for more"),
          index: list[str] = typer.Option(None, help="image index folder (ocularis embed index), or NAME=FOLDER; "
                                                     "repeat for more"),
          host: str = typer.Option("127.0.0.1", help="address to bind (0.0.0.0 exposes the server to the network)"),
          port: int = typer.Option(8000, help="TCP port"),
          token: str = typer.Option(None, envvar="OCULARIS_TOKEN", help="require 'Authorization: Bearer TOKEN'"),
          max_batch: int = typer.Option(16, help="largest micro-batch of concurrent requests (1: no batching)"),
          max_wait_ms: float = typer.Option(5.0, help="longest a request waits for others to batch with"),
          max_upload_mb: float = typer.Option(10.0, help="largest image file accepted"),
          max_pixels: int = typer.Option(40_000_000, help="largest image (width x height) accepted"),
          max_images: int = typer.Option(16, help="most images in one request"),
          timeout: float = typer.Option(30.0, help="seconds a request may take")) -> None:
    """Serve models and image indexes over REST (/v1/models/NAME/predict, /v1/indexes/NAME/search; OpenAPI docs at
    /docs) with a web page at /."""
    from ocularis.serve.app import load_models
    from ocularis.serve.app import serve as run_server
    from ocularis.serve.limits import Limits
    from ocularis.serve.search import load_indexes

    if not model and not index:
        raise OcularisError("nothing to serve; pass --model PATH and/or --index FOLDER (each may repeat)")
    models, indexes = load_models(model or [], required=not index), load_indexes(index or [])
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        console.print(f"[yellow]warning:[/yellow] serving on {host} without a token: anyone who can reach it can "
                      "use it (pass --token or set OCULARIS_TOKEN)")
    console.print(f"serving {', '.join([*models, *indexes])} at http://{host}:{port}/ (API docs: /docs)")
    run_server(models, host=host, port=port, indexes=indexes, token=token, max_batch=max_batch,
               max_wait_ms=max_wait_ms, limits=Limits(max_upload_mb, max_pixels, max_images, timeout))


def info() -> None:
    """The registered tasks, their models and built-in datasets (at once: their declarations need no torch), then
    the versions and devices (once torch has loaded)."""
    from ocularis import __version__

    console.print(f"ocularis {__version__} · python {platform.python_version()}")
    table = Table("task", "inputs", "models", "built-in datasets")
    for name in TASKS.names():
        spec = TASKS.get(name)
        table.add_row(name, spec.inputs.value, ", ".join(sorted(spec.models)) or "-",
                      ", ".join(spec.datasets or ()) or "-")
    console.print(table)
    import lightning
    import torch
    import torchvision

    console.print(f"torch {torch.__version__} · torchvision {torchvision.__version__} · lightning "
                  f"{lightning.__version__}")
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    console.print(f"devices: cpu ({torch.get_num_threads()} threads)" + "".join(f", cuda:{i} {n}"
                                                                            for i, n in enumerate(gpus)))


def data_convert(source: str = typer.Argument(..., help="data.yaml, COCO .json, VOC folder, Udacity .csv, or "
                                             "image + mask folders / nuclei folders (for mask formats)"),
                 out: Path = typer.Argument(..., help="new folder to write"),
                 to: str = typer.Option(..., "--to", help=f"boxes: {', '.join(BOX_FORMATS)}; masks: "
                                        f"{', '.join(MASK_FORMATS)}"),
                 from_format: str = typer.Option(None, "--from", help="the source's format (default: detected)"),
                 ) -> None:
    """Convert a dataset between formats, keeping its splits; images are copied."""
    from ocularis.data.convert import convert, source_format

    found = source_format(source)
    if from_format and found not in (from_format, "voc", "builtin"):  # a folder may hold any format
        raise OcularisError(f"{source} looks like {found}, not {from_format}; leave out --from or pass the right file")
    console.print(f"wrote {convert(source, to, str(out))}")


def _option_text(field) -> str:
    bounds = f" [{field.low:g}..{field.high:g}]" if field.low is not None and field.high is not None else ""
    choices = f" [{'|'.join(field.choices)}]" if field.choices else ""
    return f"{field.help}{bounds}{choices} (default: the model's own, else {field.default})"


def _flags(field) -> str:
    return f"--{field.flag}/--no-{field.flag}" if field.kind is bool else f"--{field.flag}"


def _parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _command(body: Callable, parameters: list[inspect.Parameter], doc: str) -> Callable:
    """A Typer command whose parameters are generated (Typer reads a function's signature and annotations)."""
    def command(**values: Any) -> None:
        body(**values)

    command.__signature__ = inspect.Signature(parameters)
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = doc
    return command


def main(argv: list[str] | None = None) -> None:
    try:
        build_app()(args=argv)
    except OcularisError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
