"""The README's explanation gallery, made with the public API on real photos: every per-image method on a few held-out
images, and the dataset views (t-SNE, filters, robustness), for classifiers trained here from scratch.

    python benchmarks/explain_gallery.py                       # trains both models, writes docs/gallery/
    python benchmarks/explain_gallery.py --hymenoptera runs/classify/resnet18/best.ckpt --faces ...best.ckpt

Prints each model's test accuracy beside its pictures' names: the maps show where *these* models look, and a model
trained from scratch on 245 photos looks at less sensible places than an ImageNet-pretrained one would.
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import ocularis

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
OUT = Path(__file__).resolve().parents[1] / "docs" / "gallery"
METHODS = ("gradcam", "gradcam++", "scorecam", "occlusion", "saliency", "guided_backprop", "integrated_gradients",
           "feature_maps", "deepdream", "fgsm")
CELL = 160  # pixels per picture in the gallery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hymenoptera", help="a trained ants/bees checkpoint (default: train one)")
    parser.add_argument("--faces", help="a trained ORL faces checkpoint (default: train one)")
    parser.add_argument("--epochs", type=int, default=25)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    notes = {}
    with tempfile.TemporaryDirectory() as project:
        bees = args.hymenoptera or train("resnet18", ASSETS / "hymenoptera_data", project, args.epochs, imgsz=112,
                                         augment="heavy", lr=2e-3, weight_decay=0.05)
        faces = args.faces or train("simple_cnn", ASSETS / "att_faces", project, args.epochs, imgsz=64,
                                    val_fraction=0.2, test_fraction=0.2)
        photos = sorted((ASSETS / "hymenoptera_data" / "val").rglob("*.jpg"))[::40][:3]
        portraits = [ASSETS / "att_faces" / f"s{i}" / "10.pgm" for i in (1, 7, 23)]
        for name, checkpoint, images in (("hymenoptera", bees, photos), ("faces", faces, portraits)):
            model = ocularis.load(checkpoint)
            accuracy = model.evaluate().values["accuracy"]
            notes[name] = {"model": model.meta["model"], "test_accuracy": round(accuracy, 3),
                           "trained_on": str(model.meta["config"]["data"]).split("assets/")[-1]}
            gallery(model, [str(p) for p in images], OUT / f"{name}_methods.png")
            for method in ("tsne", "filters", "robustness"):
                report = model.explain_data(method, Path(project) / "explain" / name / method, limit=300)
                for path in report.files:
                    Image.open(path).convert("RGB").save(OUT / f"{name}_{path.name}")
                notes[name][method] = {k: v for k, v in report.numbers.items() if not isinstance(v, list)}
            print(json.dumps({name: notes[name]}), flush=True)
    (OUT / "gallery.json").write_text(json.dumps(notes, indent=1))


def train(model: str, data: Path, project: str, epochs: int, **options) -> Path:
    run = ocularis.Classifier(model=model, progress=False, project=project, **options).fit(str(data), epochs=epochs)
    return run.best


def gallery(model, images: list[str], path: Path) -> None:
    """One row per image: the image, then each method's picture, titled."""
    rows = []
    for method in METHODS:
        rows.append([e.plot() for e in model.explain(method, images)])
    columns = ["input", *METHODS]
    sheet = Image.new("RGB", (CELL * len(columns), (CELL + 16) * len(images) + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(columns):
        draw.text((c * CELL + 4, 2), title, fill="black")
    for r, source in enumerate(images):
        pictures = [np.asarray(Image.open(source).convert("RGB")), *[rows[m][r] for m in range(len(METHODS))]]
        for c, picture in enumerate(pictures):
            tile = Image.fromarray(picture).convert("RGB")
            tile.thumbnail((CELL - 4, CELL - 4))
            sheet.paste(tile, (c * CELL + 2, 16 + r * (CELL + 16)))
        answer = model.explain("gradcam", [source])[0].target
        draw.text((4, 16 + r * (CELL + 16) + CELL - 2), f"model says: {answer}", fill="black")
    sheet.save(path)


if __name__ == "__main__":
    main()
