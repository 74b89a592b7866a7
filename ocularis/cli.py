"""The command line: `ocularis TASK MODE [--options]` plus `info`. User errors print one line and exit 2."""

import platform
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ocularis.config import fields_help, parse_cli_options
from ocularis.core.runs import new_run_dir, write_json
from ocularis.core.video import is_video_file
from ocularis.errors import OcularisError
from ocularis.registry import DATASETS, MODELS, TASKS
from ocularis.tasks.classify import Classifier, ClassifyConfig
from ocularis.tasks.detect import DetectConfig, Detector

console = Console(soft_wrap=True)  # long lines stay whole for pipes and logs
app = typer.Typer(help="Deep learning for computer vision: train, evaluate, predict.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
classify = typer.Typer(help="Image classification (single- and multi-label).", no_args_is_help=True)
app.add_typer(classify, name="classify")
detect = typer.Typer(help="Object detection (YOLO-style and the seeds' other detectors).", no_args_is_help=True)
app.add_typer(detect, name="detect")
data_app = typer.Typer(help="Datasets: convert between detection formats.", no_args_is_help=True)
app.add_typer(data_app, name="data")



def options_help(config: type) -> str:
    return "Options:\n\n" + "\n\n".join(f"{name} (default {default}): {text}"
                                          for name, default, text in fields_help(config))


@classify.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                  epilog=options_help(ClassifyConfig))
def classify_train(ctx: typer.Context, cfg: str = typer.Option(None, help="YAML file of options")) -> None:
    """Train a classifier; every option below may also come from --cfg FILE."""
    from ocularis.config import build_config

    options = parse_cli_options(ctx.args)
    config = build_config(ClassifyConfig, options, yaml_file=cfg)  # checks every option before any work starts
    run = Classifier().fit(**vars(config))
    if run is None:  # a DDP worker process: rank 0 reports
        return
    console.print(str(run.metrics))
    name, value = run.metrics.headline
    console.print(f"test {name}: {value:.4f}")
    console.print(f"run folder: {run.dir}")


@classify.command("val")
def classify_val(model: Path = typer.Option(..., help="checkpoint (best.ckpt)"),
                 data: str = typer.Option(None, help="dataset (default: the training data)"),
                 split: str = typer.Option("test", help="train, val or test")) -> None:
    """Evaluate a checkpoint: accuracy, top-5, per-class precision/recall/F1, confusion matrix."""
    classifier = Classifier.load(model)
    metrics = classifier.evaluate(data or classifier.meta["config"]["data"], split=split)
    console.print(str(metrics))


@classify.command("predict")
def classify_predict(sources: list[str] = typer.Argument(..., help="images or folders"),
                     model: Path = typer.Option(..., help="checkpoint (best.ckpt)"),
                     topk: int = typer.Option(5, help="classes listed per image"),
                     save: bool = typer.Option(False, help="write annotated images and predictions.json"),
                     project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Predict the class of each image."""
    results = Classifier.load(model).predict(sources, topk=topk)
    table = Table("image", "label", "score", "top-k")
    for result in results:
        table.add_row(result.source, "|".join(result.names), f"{result.score:.3f}",
                      ", ".join(f"{n} {s:.2f}" for n, s in result.topk))
    console.print(table)
    if save:
        folder = new_run_dir(project, "classify", "predict")
        for index, result in enumerate(results):
            result.save(folder / f"{index:04d}_{Path(result.source).stem}.png")
        write_json(folder / "predictions.json", [r.to_json() for r in results])
        console.print(f"saved to {folder}")


@detect.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                epilog=options_help(DetectConfig))
def detect_train(ctx: typer.Context, cfg: str = typer.Option(None, help="YAML file of options")) -> None:
    """Train a detector; every option below may also come from --cfg FILE."""
    from ocularis.config import build_config

    config = build_config(DetectConfig, parse_cli_options(ctx.args), yaml_file=cfg)
    run = Detector().fit(**vars(config))
    if run is None:
        return
    console.print(str(run.metrics))
    console.print(f"test mAP@.5: {run.metrics.values['mAP50']:.4f}  mAP@.5:.95: {run.metrics.values['mAP50_95']:.4f}  "
                  f"{run.fps:.0f} images/s at batch 1")
    console.print(f"run folder: {run.dir}")


@detect.command("val")
def detect_val(model: Path = typer.Option(..., help="checkpoint (best.ckpt) or exported file"),
               data: str = typer.Option(None, help="dataset (default: the training data)"),
               split: str = typer.Option("test", help="train, val or test")) -> None:
    """Evaluate a detector: mAP@.5, mAP@.5:.95, per-class AP, precision and recall."""
    console.print(str(Detector.load(model).evaluate(data, split=split)))


@detect.command("predict")
def detect_predict(sources: list[str] = typer.Argument(..., help="images or folders"),
                   model: Path = typer.Option(..., help="checkpoint (best.ckpt) or exported file"),
                   conf: float = typer.Option(None, help="confidence threshold (default: the run's)"),
                   iou: float = typer.Option(None, help="NMS IoU threshold (default: the run's)"),
                   save: bool = typer.Option(False, help="write annotated images, predictions.json, labels/*.txt"),
                   project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Find the objects in each image, folder or video (annotated videos are written with --save)."""
    detector = Detector.load(model)
    folder = new_run_dir(project, "detect", "predict") if save else None
    videos = [s for s in sources if is_video_file(s)]
    results = detector.predict([s for s in sources if s not in videos], conf=conf, iou=iou) \
        if len(videos) < len(sources) else []
    for video in videos:
        found = detector.predict_video(video, folder / f"{Path(video).stem}.mp4" if folder else None, conf, iou)
        console.print(f"{video}: {len(found)} frames, {sum(len(r) for r in found)} detections")
    table = Table("image", "objects", "detections")
    for result in results:
        table.add_row(result.source, str(len(result)), ", ".join(f"{n} {s:.2f}" for n, s in
                                                                 zip(result.names, result.scores, strict=True)))
    console.print(table)
    if folder:
        for index, result in enumerate(results):
            stem = f"{index:04d}_{Path(result.source).stem}"
            result.save(folder / f"{stem}.png")
            (folder / "labels").mkdir(exist_ok=True)
            (folder / "labels" / f"{stem}.txt").write_text(result.to_yolo())
        write_json(folder / "predictions.json", [r.to_json() for r in results])
        console.print(f"saved to {folder}")


@data_app.command("convert")
def data_convert(source: str = typer.Argument(..., help="data.yaml, COCO .json, VOC folder or Udacity .csv"),
                 out: Path = typer.Argument(..., help="new folder to write"),
                 to: str = typer.Option(..., "--to", help="yolo, coco, voc or csv"),
                 from_format: str = typer.Option(None, "--from", help="the source's format (default: detected)"),
                 ) -> None:
    """Convert a detection dataset between formats, keeping its splits; images are copied."""
    from ocularis.data.convert import convert, source_format

    found = source_format(source)
    if from_format and found not in (from_format, "voc", "builtin"):  # a folder may hold any format
        raise OcularisError(f"{source} looks like {found}, not {from_format}; leave out --from or pass the right file")
    console.print(f"wrote {convert(source, to, str(out))}")


@app.command("export")
def export(model: Path = typer.Option(..., help="checkpoint (best.ckpt)"),
           format: str = typer.Option("onnx", help="onnx or torchscript"),
           output: Path = typer.Option(None, help="file to write (default: beside the checkpoint)"),
           int8: bool = typer.Option(False, help="quantise to int8 with ONNX Runtime"),
           int8_mode: str = typer.Option("static", help="static (calibrated on --data's images) or dynamic"),
           half: bool = typer.Option(False, help="float16 weights and arithmetic"),
           verify: bool = typer.Option(False, help="run the file and PyTorch on real images; fail if they differ"),
           data: str = typer.Option(None, help="data for verification and calibration (default: the training data)"),
           calibration_images: int = typer.Option(256, help="images that calibrate static int8")) -> None:
    """Export a checkpoint to ONNX (dynamic batch) or TorchScript, with its metadata inside the file."""
    from ocularis.api import load

    exported = load(model).export(format, output, int8=int8_mode if int8 else None, half=half, verify=verify,
                                  data=data, calibration_images=calibration_images)
    console.print(f"wrote {exported.path} ({exported.format}, {exported.precision}, "
                  f"{exported.path.stat().st_size / 2**20:.2f} MB)")
    if exported.verification:
        console.print(str(exported.verification))


@app.command("benchmark")
def benchmark(model: Path = typer.Option(..., help="checkpoint (best.ckpt)"),
              data: str = typer.Option(None, help="data whose test split gives the quality metric and the inputs"),
              formats: str = typer.Option("torch,onnx,onnx-int8", help="comma-separated: torch, torchscript, onnx, "
                                          "onnx-fp16, onnx-int8, onnx-int8-dynamic"),
              batch: str = typer.Option("1,32", help="comma-separated batch sizes"),
              seconds: float = typer.Option(2.0, help="least time spent timing each format and batch size"),
              project: str = typer.Option("runs", help="folder that holds run folders")) -> None:
    """Size, quality, latency p50/p95 and throughput of each format, and the speed ratio to PyTorch eager."""
    from ocularis.api import load
    from ocularis.deploy.benchmark import benchmark as run_benchmark
    from ocularis.deploy.benchmark import parse_batches, parse_formats

    chosen, sizes = parse_formats(formats), parse_batches(batch)
    task = load(model)
    folder = new_run_dir(project, task.meta["task"], "benchmark")
    rows = run_benchmark(task, chosen, sizes, folder, data=data, min_seconds=seconds)
    table = Table("format", "MB", rows[0].metric, "batch", "p50 ms", "p95 ms", "img/s", "x torch")
    for row in rows:
        for timing in row.timings:
            table.add_row(row.format, f"{row.size_mb:.2f}", f"{row.value:.4f}", str(timing.batch),
                          f"{timing.p50_ms:.2f}", f"{timing.p95_ms:.2f}", f"{timing.images_per_s:.0f}",
                          f"{row.speedup[timing.batch]:.2f}")
    console.print(table)
    write_json(folder / "benchmark.json", {"model": str(model), "data": data or task.meta["config"]["data"],
                                           "threads": torch_threads(), "rows": [r.to_json() for r in rows]})
    console.print(f"results: {folder / 'benchmark.json'}")


@app.command("serve")
def serve(model: list[str] = typer.Option(..., help="checkpoint or exported file, or NAME=PATH; repeat for more"),
          host: str = typer.Option("127.0.0.1", help="address to bind (0.0.0.0 exposes the server to the network)"),
          port: int = typer.Option(8000, help="TCP port"),
          token: str = typer.Option(None, envvar="OCULARIS_TOKEN", help="require 'Authorization: Bearer TOKEN'"),
          max_batch: int = typer.Option(16, help="largest micro-batch of concurrent requests (1: no batching)"),
          max_wait_ms: float = typer.Option(5.0, help="longest a request waits for others to batch with"),
          max_upload_mb: float = typer.Option(10.0, help="largest image file accepted"),
          max_pixels: int = typer.Option(40_000_000, help="largest image (width x height) accepted"),
          max_images: int = typer.Option(16, help="most images in one request"),
          timeout: float = typer.Option(30.0, help="seconds a request may take")) -> None:
    """Serve models over REST (/v1/models/NAME/predict, OpenAPI docs at /docs) with a web page at /."""
    from ocularis.serve.app import load_models
    from ocularis.serve.app import serve as run_server
    from ocularis.serve.limits import Limits

    models = load_models(model)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        console.print(f"[yellow]warning:[/yellow] serving on {host} without a token: anyone who can reach it can "
                      "use it (pass --token or set OCULARIS_TOKEN)")
    console.print(f"serving {', '.join(models)} at http://{host}:{port}/ (API docs: /docs)")
    run_server(models, host=host, port=port, token=token, max_batch=max_batch, max_wait_ms=max_wait_ms,
               limits=Limits(max_upload_mb, max_pixels, max_images, timeout))


@app.command()
def info() -> None:
    """Versions, devices, and the registered tasks, models and datasets."""
    import lightning
    import torch
    import torchvision

    from ocularis import __version__

    console.print(f"ocularis {__version__} · python {platform.python_version()} · torch {torch.__version__} · "
                  f"torchvision {torchvision.__version__} · lightning {lightning.__version__}")
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    console.print(f"devices: cpu ({torch.get_num_threads()} threads)" + "".join(f", cuda:{i} {n}"
                                                                            for i, n in enumerate(gpus)))
    table = Table("task", "models", "datasets")
    for task in TASKS.names():
        table.add_row(task, ", ".join(MODELS.names(task=task)), ", ".join(DATASETS.names(task=task)))
    console.print(table)


# Every task has the same verbs: `ocularis classify export` is `ocularis export`.
for _task_app in (classify, detect):
    _task_app.command("export")(export)
    _task_app.command("benchmark")(benchmark)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> None:
    try:
        app()
    except OcularisError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
