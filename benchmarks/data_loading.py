"""Images per second of ocularis's training loader (--cache none | ram | disk) against a plain PIL Dataset.

Both sides load the same training split through torch DataLoaders with the same batch size, worker count and the
same torchvision transforms (ocularis.data.transforms.train_transform, the --augment preset): the plain side is the
usual tutorial Dataset that opens each file with PIL in __getitem__; ocularis's side is ClassifyData's train loader
over read_labelled's output (seeded per-image augmentation, pixels from the ImageCache). The data is the real
ants/bees photos (../shared/assets/hymenoptera_data, train split: 245 JPEGs of about 500 x 375 px) when present,
else a generated folder of drawn-shape JPEGs.

Timing: read_labelled (the one decode of every file before training: the corruption check, which also fills the
RAM cache or writes the .npy files) is timed apart as "check pass"; then each epoch. Epoch 1 is reported alone, the
later epochs together (the steady state a run of many epochs sees); "end to end" adds ocularis's check pass to its
epochs. The sides are run alternately, --repeats times, and the median is reported. Goal: with a cache, steady-state
images/s >= 1.5x the plain side's, on small real sets whose JPEG decoding dominates.

    python benchmarks/data_loading.py
    python benchmarks/data_loading.py --epochs 6 --repeats 5 --imgsz 64 --workers 2
"""

import argparse
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ocularis.config import build_config
from ocularis.data.shapes import draw_scene
from ocularis.data.transforms import train_transform
from ocularis.tasks.classify.config import ClassifyConfig
from ocularis.tasks.classify.data import ClassifyData, read_labelled

ASSETS = Path(os.environ.get("OCULARIS_ASSETS", Path(__file__).resolve().parents[1].parent / "shared" / "assets"))
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIDES = ("plain PIL", "ocularis none", "ocularis ram", "ocularis disk", "ocularis disk, warm")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ASSETS / "hymenoptera_data",
                        help="a folder of class folders (optionally under train/ val/); generated if absent")
    parser.add_argument("--imgsz", type=int, default=112)
    parser.add_argument("--augment", default="light", choices=["none", "light", "heavy"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=5, help="per run; the first is reported alone")
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


class PlainFolder(Dataset):
    """The tutorial Dataset: open the file with PIL, convert to RGB, transform."""

    def __init__(self, paths: list[str], labels: list[int], transform):
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB")), self.labels[index]


def generated_folder(root: Path, count: int = 240, size: int = 400) -> Path:
    """Drawn shapes as JPEGs, one folder per shape: a stand-in for real photos when none are here."""
    rng = np.random.default_rng(0)
    for index in range(count):
        image, objects = draw_scene(rng, size, 3)
        folder = root / f"class{objects[0].label % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:04d}.jpg", quality=90)
    return root


def time_epochs(loader: DataLoader, epochs: int) -> list[float]:
    seconds = []
    for epoch in range(epochs):
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        started = time.perf_counter()
        for _ in loader:
            pass
        seconds.append(time.perf_counter() - started)
    return seconds


def plain_run(config: ClassifyConfig, sources: list[str], labels: list[int]) -> tuple[float, list[float]]:
    transform = train_transform(config.imgsz, MEAN, STD, config.augment, 0.5)
    loader = DataLoader(PlainFolder(sources, labels, transform), batch_size=config.batch, shuffle=True,
                        num_workers=config.workers, persistent_workers=config.workers > 0,
                        drop_last=len(sources) > config.batch)
    return 0.0, time_epochs(loader, config.epochs)


def ocularis_run(config: ClassifyConfig) -> tuple[float, list[float]]:
    started = time.perf_counter()
    labelled = read_labelled(config.data, config)
    check = time.perf_counter() - started
    loader = ClassifyData(labelled, config, imgsz=config.imgsz, mean=MEAN, std=STD).train_dataloader()
    return check, time_epochs(loader, config.epochs)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data if args.data.is_dir() else generated_folder(Path(scratch) / "generated")
        base = {"data": str(data), "imgsz": args.imgsz, "augment": args.augment, "batch": args.batch,
                "workers": args.workers, "epochs": args.epochs, "skip_bad": True}
        reference = read_labelled(str(data), build_config(ClassifyConfig, base))
        sources, labels = reference.train.sources, [t[0] for t in reference.train.targets]
        sizes = [Image.open(s).size for s in sources[:50]]
        print(f"data: {data} train split, {len(sources)} images (median {statistics.median(w for w, _ in sizes)} x "
              f"{statistics.median(h for _, h in sizes)} px); imgsz {args.imgsz}, augment {args.augment}, batch "
              f"{args.batch}, workers {args.workers}, {args.epochs} epochs, median of {args.repeats} repeats; "
              f"{os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}")
        del reference
        runs: dict[str, list[tuple[float, list[float]]]] = {side: [] for side in SIDES}
        for repeat in range(args.repeats):
            os.environ["OCULARIS_CACHE"] = str(Path(scratch) / f"cache{repeat}")  # a cold disk cache each repeat
            for side in SIDES:
                if side == "plain PIL":
                    runs[side].append(plain_run(build_config(ClassifyConfig, base), sources, labels))
                else:
                    mode = side.split()[1].rstrip(",")
                    runs[side].append(ocularis_run(build_config(ClassifyConfig, {**base, "cache": mode})))
                gc.collect()  # the last RAM cache goes, so the next ram run decodes afresh
        report(runs, len(sources))
        print(f"load average after {os.getloadavg()[0]:.2f}")


def report(runs: dict[str, list[tuple[float, list[float]]]], images: int) -> None:
    def rate(seconds: list[float]) -> float:
        return images * len(seconds) / sum(seconds)

    plain_steady = statistics.median(rate(epochs[1:]) for _, epochs in runs["plain PIL"])
    print(f"{'side':<21}{'check pass s':>13}{'epoch 1 img/s':>15}{'later epochs img/s':>20}{'x plain':>9}"
          f"{'end to end img/s':>18}")
    for side, measured in runs.items():
        check = statistics.median(c for c, _ in measured)
        first = statistics.median(rate(epochs[:1]) for _, epochs in measured)
        steady = statistics.median(rate(epochs[1:]) for _, epochs in measured)
        end_to_end = statistics.median(images * len(epochs) / (c + sum(epochs)) for c, epochs in measured)
        print(f"{side:<21}{check:>13.2f}{first:>15.0f}{steady:>20.0f}{steady / plain_steady:>9.2f}{end_to_end:>18.0f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
