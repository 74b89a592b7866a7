"""A DCGAN trained from scratch on the ORL faces (400 photos of 40 people, 64 px grey), scored by FID, KID and
precision/recall on the features of a small classifier trained on the same faces (there are no Inception weights
offline: the numbers compare only with other images scored by the same classifier, through `ocularis generate score`).

The floor and the ceiling, measured in the same process on the same features: held-out real faces against the
training faces (what a perfect generator would score), and the generator after one epoch. Prints each, the training
time and the training images per second.

    python benchmarks/gan_faces.py                       # 150 epochs: about 12 minutes on two cores
    python benchmarks/gan_faces.py --epochs 30 --out runs/gan_faces
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import ocularis
from ocularis.uses.fidelity import image_fidelity

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
ORL = ASSETS / "att_faces"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--judge-epochs", type=int, default=30)
    parser.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        project = Path(args.out or temporary)
        judge = ocularis.Classifier(model="simple_cnn", imgsz=64, progress=False, project=str(project)).fit(
            str(ORL), epochs=args.judge_epochs, val_fraction=0.2, test_fraction=0.2)
        print(f"judge: simple_cnn on ORL, test accuracy {judge.metrics.values['accuracy']:.3f}", flush=True)
        gan = ocularis.Generator(model="dcgan", imgsz=64, progress=False, project=str(project),
                                 features=str(judge.best))
        untrained = _untrained_fidelity(gan, judge.best, project)
        start = time.perf_counter()
        run = gan.fit(str(ORL), epochs=args.epochs)
        seconds = time.perf_counter() - start
        trained = run.metrics.fidelity
        model = ocularis.load(judge.best)
        held_out = [str(p) for p in model.dataset(split="test").split.sources]
        training = [str(p) for p in model.dataset(split="train").split.sources]
        floor = image_fidelity(model, training, held_out)
        images = len(gan.dataset(split="train")) * args.epochs  # the GAN's own training split, every epoch
        report = {"epochs": args.epochs, "seconds": round(seconds, 1), "train_images_per_s": round(images / seconds, 1),
                  "trained": trained.to_json(), "one_epoch": untrained.to_json(), "real_floor": floor.to_json(),
                  "run": str(run.dir)}
        print(f"DCGAN 64 px, {args.epochs} epochs in {seconds / 60:.1f} min ({images / seconds:.0f} images/s)")
        for name, found in (("trained", trained), ("after 1 epoch", untrained), ("held-out real", floor)):
            print(f"{name:>14}: {found}")
        print(json.dumps(report))


def _untrained_fidelity(gan, judge: Path, project: Path):
    """The generator after a single epoch (a handful of steps): its samples against the held-out faces, on the
    same features."""
    fresh = ocularis.Generator(model="dcgan", imgsz=64, progress=False, project=str(project / "untrained"),
                               features=str(judge))
    fresh.fit(str(ORL), epochs=1)
    samples = [Image.fromarray(r.image) for r in fresh.predict(count=80, seed=0)]
    model = ocularis.load(judge)
    held_out = [str(p) for p in model.dataset(split="test").split.sources]
    return image_fidelity(model, held_out, [np.asarray(s) for s in samples])


if __name__ == "__main__":
    main()
