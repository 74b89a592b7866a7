"""Style transfer on the literature's own pictures: Gatys' optimisation and a fast style network trained here from
scratch on the BSDS500 photos, for the same photo and style, side by side in docs/style/; and the style networks'
speed on a 480x320 photo through ONNX Runtime beside PyTorch eager (the same network, in the same process).

Every loss is measured on random VGG-shaped filters: no ImageNet VGG downloads here (give --features vgg19.pth, a
torchvision state dict, where you have one). Numbers are this CPU's, while nothing else runs.

    python benchmarks/style_transfer.py                     # about 15 minutes on two cores
    python benchmarks/style_transfer.py --epochs 4 --steps 50 --out runs/style_bench
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image, ImageDraw

import ocularis
from ocularis.models.stylers import RECORDS

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
STYLES = ASSETS / "style_transfer"
OUT = Path(__file__).resolve().parents[1] / "docs" / "style"
SIDE = 320  # the pictures' longer side in docs/style


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", default=str(STYLES / "content-images" / "amber.jpg"))
    parser.add_argument("--style", default=str(STYLES / "style-images" / "mosaic.jpg"))
    parser.add_argument("--data", default=str(ASSETS / "bsds500_train"), help="content photos the network learns on")
    parser.add_argument("--features", default="random")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--steps", type=int, default=300, help="Gatys: evaluations of the losses (L-BFGS)")
    parser.add_argument("--out", help="keep the run here (default: a temporary folder)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    report: dict = {"features": args.features}

    start = time.perf_counter()
    slow = ocularis.gatys(args.photo, args.style, args.features, size=SIDE, steps=args.steps)
    report["gatys"] = {"seconds": round(time.perf_counter() - start, 1), "side": SIDE, "steps": args.steps,
                       "first": slow.history[0], "last": slow.history[-1], "style_drop": round(slow.style_drop, 1)}
    print(json.dumps({"gatys": report["gatys"]}), flush=True)

    with tempfile.TemporaryDirectory() as temporary:
        start = time.perf_counter()
        run = ocularis.Styliser(model="johnson_small", progress=False, project=args.out or temporary).fit(
            args.data, style=args.style, features=args.features, imgsz=args.imgsz, epochs=args.epochs)
        report["fast"] = {"seconds": round(time.perf_counter() - start, 1), "epochs": args.epochs,
                          "imgsz": args.imgsz, "test": run.metrics.to_json()["values"]}
        print(json.dumps({"fast": report["fast"]}), flush=True)
        fast = ocularis.load(run.best).predict([args.photo], size=SIDE)[0]
        report["speed_480x320"] = {name: speed(name, Path(temporary)) for name in RECORDS}
        print(json.dumps({"speed_480x320": report["speed_480x320"]}), flush=True)

    name = f"{Path(args.photo).stem}_{Path(args.style).stem}"
    painting = Image.open(args.style).convert("RGB")
    painting.thumbnail((SIDE, SIDE))
    side_by_side([fast.before, np.asarray(painting), slow.result.image, fast.image],
                 ["photo", f"style: {Path(args.style).name}",
                  f"Gatys, {args.steps} L-BFGS steps ({report['gatys']['seconds']:.0f} s)",
                  f"fast network ({report['speed_480x320']['johnson_small']['onnxruntime_fps']:.0f} frames/s at "
                  "480x320)"], OUT / f"{name}.png")
    (OUT / f"{name}.json").write_text(json.dumps(report, indent=1))


def speed(model: str, folder: Path, runs: int = 30) -> dict:
    """Frames per second of an untrained `model` (its speed does not depend on its weights) on one 480x320 photo:
    PyTorch eager, then the ONNX file in ONNX Runtime."""
    network = RECORDS[model].build().eval()
    photo = torch.rand(1, 3, 320, 480)
    path = folder / f"{model}.onnx"
    torch.onnx.export(network, (photo,), path, input_names=["images"], output_names=["stylised"],
                      dynamic_axes={"images": {2: "height", 3: "width"}}, dynamo=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def frames_per_second(call) -> float:
        call()
        start = time.perf_counter()
        for _ in range(runs):
            call()
        return runs / (time.perf_counter() - start)

    with torch.no_grad():
        eager = frames_per_second(lambda: network(photo))
    runtime = frames_per_second(lambda: session.run(None, {"images": photo.numpy()}))
    return {"weights": sum(p.numel() for p in network.parameters()), "eager_fps": round(eager, 1),
            "onnxruntime_fps": round(runtime, 1), "onnxruntime_over_eager": round(runtime / eager, 2)}


def side_by_side(pictures: list[np.ndarray], titles: list[str], path: Path) -> None:
    """The pictures in a row at SIDE pixels high at most, each titled above."""
    tiles = []
    for picture in pictures:
        tile = Image.fromarray(picture).convert("RGB")
        tile.thumbnail((SIDE, SIDE))
        tiles.append(tile)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 4 * len(tiles), max(t.height for t in tiles) + 18),
                      "white")
    draw, x = ImageDraw.Draw(sheet), 0
    for tile, title in zip(tiles, titles, strict=True):
        draw.text((x + 2, 2), title, fill="black")
        sheet.paste(tile, (x, 18))
        x += tile.width + 4
    sheet.save(path)


if __name__ == "__main__":
    main()
