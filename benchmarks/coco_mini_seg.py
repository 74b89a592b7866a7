"""ocularis's yolo_seg beside Ultralytics YOLOv8n-seg on COCO-mini's people and animals, both from scratch:

    python benchmarks/coco_mini_seg.py --ultralytics-python ulvenv/bin/python --imgsz 320 --epochs 40 --resize 320

Two classes, person and animal (COCO's animal supercategory merged: 18 of its photos hold one, too few to learn ten
kinds from scratch). The train2017 photos holding either (a seeded tenth kept for validation) train both models;
the val2017 photos holding either are the test images. Every other object in those photos is left out (neither
trained nor scored, as a data set with only these classes would be). The rest is benchmarks/dsb2018.py's: the same
split for both, scored by ocularis's mask and box AP; Ultralytics in its own environment (see that file). Pass
--resize to give ours the pixels Ultralytics' letterbox gives its network.
"""

import json
import random
import sys
import tempfile
from pathlib import Path

from dsb2018 import ASSETS, main  # sibling scripts: run as python benchmarks/coco_mini_seg.py

VAL_SHARE, SEED = 0.1, 0


def people_and_animals(coco_mini: Path, out: Path) -> Path:
    """COCO-mini's photos holding a person or an animal as instances_{train,val,test}.json under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for name in ("train", "val"):
        data = json.loads((coco_mini / "annotations" / f"instances_{name}2017.json").read_text())
        kind = {c["id"]: 1 if c["name"] == "person" else 2 if c["supercategory"] == "animal" else 0
                for c in data["categories"]}
        kept = [{**a, "category_id": kind[a["category_id"]]} for a in data["annotations"] if kind[a["category_id"]]]
        holding = {a["image_id"] for a in kept}
        images = [{**i, "file_name": str(coco_mini / f"{name}2017" / i["file_name"])} for i in data["images"]
                  if i["id"] in holding]
        splits[name] = images, kept
    train_images, train_objects = splits["train"]
    held = set(random.Random(SEED).sample(sorted(i["id"] for i in train_images),
                                          max(1, round(VAL_SHARE * len(train_images)))))
    parts = {"train": ([i for i in train_images if i["id"] not in held], train_objects),
             "val": ([i for i in train_images if i["id"] in held], train_objects), "test": splits["val"]}
    categories = [{"id": 1, "name": "person", "supercategory": ""}, {"id": 2, "name": "animal", "supercategory": ""}]
    for name, (images, objects) in parts.items():
        ids = {i["id"] for i in images}
        (out / f"instances_{name}.json").write_text(json.dumps(
            {"images": images, "annotations": [a for a in objects if a["image_id"] in ids], "categories": categories}))
    return out


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        data = people_and_animals(ASSETS / "coco_mini", Path(folder) / "people_and_animals")
        sys.argv[1:1] = ["--data", str(data), "--models", "yolo_seg", "--project", "runs/coco_mini_seg"]
        main()
