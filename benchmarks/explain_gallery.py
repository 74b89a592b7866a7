"""The README's explanation gallery, made with the public API on real photos: every per-image method on a few held-out
images, and the dataset views (t-SNE, filters, robustness), for classifiers trained here from scratch; and a detector
trained from scratch on COCO128 explaining each box it finds in COCO photos it never saw (coco_mini's val2017).

    python benchmarks/explain_gallery.py                       # trains the three models, writes docs/gallery/
    python benchmarks/explain_gallery.py --hymenoptera runs/classify/resnet18/best.ckpt --faces ...best.ckpt \
        --detector runs/detect/yolo_s/best.ckpt
    python benchmarks/explain_gallery.py --parts faces         # redraws one gallery, keeps the others

Prints each model's test accuracy (the detector's val mAP) beside its pictures' names: the maps show where *these*
models look, and a model trained from scratch on 245 photos looks at less sensible places than an ImageNet-pretrained
one would.
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
DETECTOR_METHODS = ("gradcam", "scorecam", "occlusion")
CELL = 160  # pixels per picture in the gallery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hymenoptera", help="a trained ants/bees checkpoint (default: train one)")
    parser.add_argument("--faces", help="a trained ORL faces checkpoint (default: train one)")
    parser.add_argument("--detector", help="a trained COCO128 detector checkpoint (default: train one)")
    parser.add_argument("--epochs", type=int, default=25, help="the ants/bees classifier's training epochs")
    parser.add_argument("--faces-epochs", type=int, default=60, help="the faces classifier's (8 steps an epoch)")
    parser.add_argument("--parts", default="hymenoptera,faces,coco", help="which galleries to draw (the others and "
                        "their numbers in gallery.json are kept)")
    parser.add_argument("--detector-epochs", type=int, default=80)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    notes = json.loads((OUT / "gallery.json").read_text()) if (OUT / "gallery.json").is_file() else {}
    with tempfile.TemporaryDirectory() as project:
        classifiers = []
        if "hymenoptera" in parts:
            bees = args.hymenoptera or train("resnet18", ASSETS / "hymenoptera_data", project, args.epochs,
                                             imgsz=112, augment="heavy", lr=2e-3, weight_decay=0.05)
            classifiers.append(("hymenoptera", bees, sorted((ASSETS / "hymenoptera_data" / "val").rglob("*.jpg"))[
                ::40][:3]))
        if "faces" in parts:
            faces = args.faces or train("simple_cnn", ASSETS / "att_faces", project, args.faces_epochs, imgsz=64,
                                        val_fraction=0.2, test_fraction=0.2)
            classifiers.append(("faces", faces, [ASSETS / "att_faces" / f"s{i}" / "10.pgm" for i in (1, 7, 23)]))
        for name, checkpoint, images in classifiers:
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
        if "coco" in parts:
            detector = args.detector or ocularis.Detector(
                model="yolo_s", imgsz=320, mosaic=1.0, progress=False, project=project).fit(
                str(ASSETS / "coco128" / "coco128.yaml"), epochs=args.detector_epochs, val_fraction=0.2,
                test_fraction=0.0).best
            notes["coco"] = detector_gallery(ocularis.load(detector), OUT / "coco_boxes.png")
            print(json.dumps({"coco": notes["coco"]}), flush=True)
    (OUT / "gallery.json").write_text(json.dumps(notes, indent=1))


def train(model: str, data: Path, project: str, epochs: int, **options) -> Path:
    run = ocularis.Classifier(model=model, progress=False, project=project, **options).fit(str(data), epochs=epochs)
    return run.best


def gallery(model, images: list[str], path: Path) -> None:
    """One row per image: the image, then each method's picture, titled."""
    found = {method: [e.plot() for e in model.explain(method, images)] for method in METHODS}
    rows = [[np.asarray(Image.open(source).convert("RGB")), *[found[m][r] for m in METHODS]]
            for r, source in enumerate(images)]
    captions = [f"model says: {e.target}" for e in model.explain("gradcam", images)]
    contact_sheet(rows, ["input", *METHODS], captions, path)


def detector_gallery(model, path: Path, photos: int = 4) -> dict:
    """One row per COCO photo (the `photos` where the detector is surest): its best box explained by Grad-CAM,
    Score-CAM and occlusion. (`--target all` explains every box above the run's confidence; this detector, trained
    from scratch on 102 photos, has none to offer.)"""
    candidates = [str(p) for p in sorted((ASSETS / "coco_mini" / "val2017").glob("*.jpg"))]
    best = model.explain("gradcam", candidates)
    order = np.argsort([-float(e.target.split()[-1]) for e in best], kind="stable")[:photos]
    chosen = [candidates[i] for i in order]
    found = {m: model.explain(m, chosen) for m in DETECTOR_METHODS}
    rows = [[np.asarray(Image.open(photo).convert("RGB")), *[found[m][r].plot() for m in DETECTOR_METHODS]]
            for r, photo in enumerate(chosen)]
    contact_sheet(rows, ["input", *DETECTOR_METHODS], [f"best box: {e.target}" for e in found["gradcam"]], path)
    return {"model": model.meta["model"], "trained_on": "coco128 (from scratch, 102 photos)",
            "val_mAP50": round(model.evaluate(split="val").values["mAP50"], 3),
            "detections_above_0.1_in_coco_mini_val": sum(len(model.predict(p, conf=0.1)[0]) for p in candidates),
            "gradcam_mass_in_box": round(float(np.mean([e.numbers["mass_in_box"] for e in found["gradcam"]])), 3),
            "photos": [Path(p).name for p in chosen]}


def contact_sheet(rows: list[list[np.ndarray]], titles: list[str], captions: list[str], path: Path) -> None:
    """Pictures in a grid of CELL-pixel tiles, a title over each column and a caption under each row."""
    sheet = Image.new("RGB", (CELL * max(map(len, rows)), (CELL + 16) * len(rows) + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(titles):
        draw.text((c * CELL + 4, 2), title, fill="black")
    for r, (pictures, caption) in enumerate(zip(rows, captions, strict=True)):
        for c, picture in enumerate(pictures):
            tile = Image.fromarray(picture).convert("RGB")
            scale = (CELL - 4) / max(tile.size)  # small inputs enlarged like the pictures made of them
            tile = tile.resize((round(tile.width * scale), round(tile.height * scale)), Image.Resampling.LANCZOS)
            sheet.paste(tile, (c * CELL + 2, 16 + r * (CELL + 16)))
        draw.text((4, 16 + r * (CELL + 16) + CELL - 2), caption, fill="black")
    sheet.save(path)


if __name__ == "__main__":
    main()
