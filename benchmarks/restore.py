"""Restoration trained from scratch on this machine: super-resolution on Set5 / Set14 beside bicubic and the
published numbers, ESPCN's speed through ONNX Runtime, and inpainting beside OpenCV's Telea method.

Super-resolution: for each --models x --scales, `ocularis.Restorer` trains on the 200 BSDS500 training photos (random
crops, flips and turns; 10% of the photos held out for validation) for --epochs, then scores Set5 and Set14 on their
given MATLAB-bicubic low-resolution inputs: Y-channel PSNR / SSIM, border shaved by the scale (bicubic of the same
inputs is reproduced to the published 0.01 dB by tests/test_restore.py). Published (assets README): bicubic Set5
33.64 / 30.39 / 28.42, SRCNN 36.66 / 32.75 / 30.49 (x2 / x3 / x4, Dong et al. 2016, trained on ImageNet); ESPCN x3
32.55 (Shi et al. 2016, trained on 91 images).

Speed: the ESPCN x3 model exported to ONNX (float32, any input size) upscales a 480x320 photo (a BSDS500 photo, cut
to that size) to 1440x960, and a 160x107 one to 480x321; frames/s of onnxruntime beside PyTorch eager on the same
input, both in this process, best of --repeats timed runs. (The luma is the network's; the colour upscale is PIL
bicubic, in the whole predict() timed beside.) --speed-only measures a saved model: --model runs/.../best.ckpt.

Inpainting: the masked convolutional autoencoder trained on the same photos (--inpaint-epochs), scored on Set14 with
three 32x32 holes per photo placed by its index: PSNR on the hole pixels and on the whole photo, beside
cv2.inpaint (Telea) on the same holes.

    python benchmarks/restore.py                                     # everything (about 1.7 hours on 2 cores)
    python benchmarks/restore.py --models espcn --inpaint-epochs 0   # ESPCN at x2, x3, x4: 20 minutes
    python benchmarks/restore.py --models srcnn --patches 64 --inpaint-epochs 0   # SRCNN, a quarter of the crops
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image

import ocularis

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
PUBLISHED = {("Set5", "bicubic"): {2: 33.64, 3: 30.39, 4: 28.42}, ("Set14", "bicubic"): {2: 30.22, 3: 27.53, 4: 25.99},
             ("Set5", "srcnn"): {2: 36.66, 3: 32.75, 4: 30.49}, ("Set5", "espcn"): {3: 32.55}}


def train(model: str, data: Path, project: Path, **options) -> tuple[ocularis.Restorer, float]:
    start = time.perf_counter()
    run = ocularis.Restorer(model=model).fit(str(data), project=str(project), progress=False, val_fraction=0.1,
                                              test_fraction=0.0, **options)
    return ocularis.load(run.best), time.perf_counter() - start


def super_resolution(args, project: Path) -> list[dict]:
    rows = []
    for model in args.models.split(","):
        for scale in (int(s) for s in args.scales.split(",")):
            restorer, seconds = train(model, args.data, project, scale=scale, epochs=args.epochs, lr=args.lr,
                                      patches=args.patches, cache="ram", name=f"{model}_x{scale}")
            row = {"model": model, "scale": scale, "train_minutes": seconds / 60, "epochs": args.epochs}
            for name in ("Set5", "Set14"):
                values = restorer.evaluate(str(args.sets / name / f"image_SRF_{scale}")).values
                row |= {f"{name}_psnr": values["psnr"], f"{name}_ssim": values["ssim"],
                        f"{name}_bicubic_psnr": values["bicubic_psnr"], f"{name}_bicubic_ssim": values["bicubic_ssim"]}
            rows.append(row)
            print(f"{model} x{scale}: Set5 {row['Set5_psnr']:.2f} dB (bicubic {row['Set5_bicubic_psnr']:.2f}, "
                  f"published {PUBLISHED.get(('Set5', model), {}).get(scale, '-')}), Set14 {row['Set14_psnr']:.2f} "
                  f"(bicubic {row['Set14_bicubic_psnr']:.2f}); trained {seconds / 60:.1f} min", flush=True)
            if model == "espcn" and scale == 3:
                row["speed"] = speed(restorer, args)
    return rows


def speed(restorer: ocularis.Restorer, args) -> list[dict]:
    """Frames/s of ESPCN x3 on a 480x320 input (-> 1440x960) and on the 160x107 input of a 480x321 output: ONNX
    Runtime against PyTorch eager, same input, same process."""
    photo = Image.open(sorted(args.data.glob("*.jpg"))[0]).convert("RGB").crop((0, 0, 480, 320))
    path = restorer.export("onnx").path
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    through_onnx = ocularis.load(path)  # the same predict() with ONNX Runtime as its back end
    network = restorer.network.eval()

    def best(run) -> float:
        run()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return 1 / min(times)

    found = []
    for picture in (photo, photo.resize((160, 107), Image.BICUBIC)):
        batch = restorer.preprocess([picture])
        with torch.no_grad():
            eager = best(lambda: network(batch))  # noqa: B023 - called at once, inside this iteration
        onnx = best(lambda: session.run(None, {"images": batch.numpy()}))  # noqa: B023
        whole = best(lambda: restorer.predict([picture]))  # noqa: B023
        whole_onnx = best(lambda: through_onnx.predict([picture]))  # noqa: B023
        size = f"{picture.width}x{picture.height}"
        out = f"{picture.width * 3}x{picture.height * 3}"
        found.append({"input": size, "output": out, "onnx_fps": onnx, "torch_fps": eager, "onnx_vs_torch": onnx / eager,
                      "predict_fps_with_colour": whole, "onnx_predict_fps_with_colour": whole_onnx,
                      "threads": torch.get_num_threads()})
        print(f"ESPCN x3 {size} -> {out}: onnxruntime {onnx:.1f} frames/s, PyTorch eager {eager:.1f} "
              f"({onnx / eager:.2f}x); the whole predict() with the bicubic colour {whole:.1f} frames/s "
              f"(with ONNX Runtime: {whole_onnx:.1f})", flush=True)
    return found


def inpainting(args, project: Path) -> dict:
    restorer, seconds = train("inpaint", args.data, project, epochs=args.inpaint_epochs,
                              patches=args.inpaint_patches, name="inpaint")
    values = restorer.evaluate(str(args.sets / "Set14" / "image_SRF_2")).values
    print(f"inpainting Set14, three 32x32 holes each: holes {values['psnr']:.2f} dB (Telea {values['telea_psnr']:.2f}),"
          f" whole photo {values['whole_psnr']:.2f} (Telea {values['telea_whole_psnr']:.2f}); trained "
          f"{seconds / 60:.1f} min", flush=True)
    return {**values, "train_minutes": seconds / 60, "epochs": args.inpaint_epochs}


def table(rows: list[dict]) -> None:
    print("\nY-PSNR (dB) / SSIM, trained from scratch on 200 BSDS500 photos on this CPU")
    print(f"{'model':7} {'scale':>5} {'Set5':>13} {'bicubic':>13} {'published':>9} {'Set14':>13} {'bicubic':>13} "
          f"{'minutes':>7}")
    for r in rows:
        published = PUBLISHED.get(("Set5", r["model"]), {}).get(r["scale"], "-")
        print(f"{r['model']:7} {r['scale']:>5} {r['Set5_psnr']:6.2f}/{r['Set5_ssim']:.4f} "
              f"{r['Set5_bicubic_psnr']:6.2f}/{r['Set5_bicubic_ssim']:.4f} {published!s:>9} "
              f"{r['Set14_psnr']:6.2f}/{r['Set14_ssim']:.4f} {r['Set14_bicubic_psnr']:6.2f}/"
              f"{r['Set14_bicubic_ssim']:.4f} {r['train_minutes']:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ASSETS / "bsds500_train")
    parser.add_argument("--sets", type=Path, default=ASSETS / "super_resolution")
    parser.add_argument("--models", default="espcn,srcnn")
    parser.add_argument("--scales", default="2,3,4")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--patches", type=int, help="random crops per photo per epoch (default: the model's)")
    parser.add_argument("--inpaint-epochs", type=int, default=30, help="0: skip inpainting")
    parser.add_argument("--inpaint-patches", type=int, default=8, help="128-pixel crops per photo per epoch")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("restore_benchmark.json"))
    parser.add_argument("--model", type=Path, help="with --speed-only: an ESPCN x3 checkpoint to time")
    parser.add_argument("--speed-only", action="store_true", help="time --model, train nothing")
    args = parser.parse_args()
    if args.speed_only:
        speed(ocularis.load(args.model), args)
        return
    with tempfile.TemporaryDirectory() as scratch:
        rows = super_resolution(args, Path(scratch)) if args.models else []
        table(rows)
        found = {"super_resolution": rows, "threads": torch.get_num_threads()}
        if args.inpaint_epochs:
            found["inpainting"] = inpainting(args, Path(scratch))
    args.out.write_text(json.dumps(found, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
