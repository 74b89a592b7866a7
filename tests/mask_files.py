"""Small segmentation datasets written as real files (PNG/JPEG images and masks) for the data tests."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from ocularis.data.mask_png import voc_palette
from ocularis.data.masks import IGNORE, MaskLabels


def needs(folder: Path):
    return pytest.mark.skipif(not folder.is_dir(), reason=f"no real assets at {folder}")


def save(path: Path, array: np.ndarray, palette: list[int] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(array))
    if palette is not None:
        image.putpalette(palette)
    image.save(path)
    return path


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def decoded(data, image_id: str) -> MaskLabels:
    """The decoded annotation of `image_id`, whichever split it was drawn into."""
    for split in (data.train, data.val, data.test) if hasattr(data, "train") else data.splits.values():
        if image_id in split.image_ids:
            index = split.image_ids.index(image_id)
            source = split.sources[index]
            size = (source.shape[1], source.shape[0]) if isinstance(source, np.ndarray) else Image.open(source).size
            return split.targets[index].decode(size)
    raise KeyError(image_id)


def class_folder(root: Path, count: int = 6) -> np.ndarray:
    """images/*.jpg + masks/*.png class-index masks (3 classes, an ignored top row) + classes.txt; the base mask."""
    semantic = np.zeros((20, 30), np.uint8)
    semantic[2:8, 3:10], semantic[10:18, 12:25], semantic[0] = 1, 2, IGNORE
    for i in range(count):
        save(root / "images" / f"im{i}.jpg", photo(20, 30, i))
        save(root / "masks" / f"im{i}.png", np.roll(semantic, i, axis=1))
    (root / "classes.txt").write_text("background\nroad\ncar\n")
    return semantic


def write_nuclei(root: Path, empty: bool = True) -> list[list[np.ndarray]]:
    """Two DSB image folders (RGBA images, one PNG per nucleus; one all-black mask) and one without masks/."""
    nuclei = []
    for number, centres in enumerate([[(5, 5), (15, 8), (9, 16)], [(6, 12), (16, 16)]]):
        image_id = f"{number:064x}"
        rgba = np.dstack([photo(22, 24, number), np.full((22, 24), 255, np.uint8)])
        save(root / image_id / "images" / f"{image_id}.png", rgba)
        masks = []
        for k, (x, y) in enumerate(centres):
            mask = np.zeros((22, 24), np.uint8)
            cv2.circle(mask, (x, y), 3, 255, -1)
            save(root / image_id / "masks" / f"m{k}.png", mask)
            masks.append(mask > 0)
        if empty and number == 0:
            save(root / image_id / "masks" / "zz_deleted.png", np.zeros((22, 24), np.uint8))
        nuclei.append(masks)
    save(root / "unlabelled" / "images" / "unlabelled.png", photo(22, 24))
    return nuclei


CAMVID = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
          "Bicyclist"]
VOID = 11  # CamVid's unlabelled pixels: the value after its 11 classes


def camvid_folder(root: Path, counts: dict[str, int] | None = None) -> dict[str, list[np.ndarray]]:
    """train/ val/ test/ folders of images + class-index masks laid out as CamVid's: values 0..10 its classes (0 is
    Sky, not a background), 11 void in a vertical band; each class a colour (plus noise) in the image, so a tiny
    network learns it. classes.txt names the 11 classes only, as CamVid's class list does. Returns each split's
    masks."""
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (VOID + 1, 3))
    masks: dict[str, list[np.ndarray]] = {}
    for split, count in (counts or {"train": 8, "val": 2, "test": 2}).items():
        masks[split] = []
        for index in range(count):
            blocks = np.append(rng.permutation(VOID), rng.integers(0, VOID)).reshape(3, 4)  # every class in each
            mask = np.kron(blocks, np.ones((8, 8), np.int64)).astype(np.uint8)  # 24 x 32
            mask[:, 13 + index % 4:17 + index % 4] = VOID
            image = np.clip(colours[mask] + rng.integers(-20, 21, (*mask.shape, 3)), 0, 255).astype(np.uint8)
            save(root / split / "images" / f"{split}{index}.png", image)
            save(root / split / "masks" / f"{split}{index}.png", mask)
            masks[split].append(mask)
    (root / "classes.txt").write_text("".join(f"{name}\n" for name in CAMVID))
    return masks


def write_voc(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Four VOC images (train 3, val 1): class masks with 255 borders and object-id masks; returns them by id."""
    written = {}
    for i in range(4):
        stem = f"2007_00000{i}"
        classes, objects = np.zeros((24, 32), np.uint8), np.zeros((24, 32), np.uint8)
        classes[3:10, 4:12], objects[3:10, 4:12] = 15, 1  # a person
        classes[12:20, 10 + i:26], objects[12:20, 10 + i:26] = 12, 2  # a dog
        classes[2, 3:13] = objects[2, 3:13] = IGNORE  # the border VOC draws round an object
        save(root / "JPEGImages" / f"{stem}.jpg", photo(24, 32, i))
        save(root / "SegmentationClass" / f"{stem}.png", classes, voc_palette())
        save(root / "SegmentationObject" / f"{stem}.png", objects, voc_palette())
        written[stem] = classes, objects
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("".join(f"{s}\n" for s in list(written)[:3]))
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text(f"{list(written)[3]}\n")
    return written


def uncompressed(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE counts: runs over the column-major pixels, starting with a run of zeros."""
    counts, value = [0], 0
    for pixel in mask.flatten(order="F").tolist():
        if pixel != value:
            counts.append(0)
            value = pixel
        counts[-1] += 1
    return counts


def write_coco(root: Path) -> Path:
    """Two images; a two-part polygon, an uncompressed RLE, a compressed RLE and a compressed crowd; sparse category
    ids (3, 7)."""
    for name in ("a.png", "b.png"):
        save(root / "images" / name, photo(30, 40))
    disk, block = np.zeros((30, 40), np.uint8), np.zeros((30, 40), np.uint8)
    cv2.circle(disk, (25, 12), 6, 1, -1)
    block[20:28, 2:15] = 1
    crowd = np.zeros((30, 40), np.uint8)
    crowd[0:5, 20:40] = 1
    compressed = coco_mask.encode(np.asfortranarray(block))
    crowd_rle = coco_mask.encode(np.asfortranarray(crowd))
    annotations = [
        {"image_id": 1, "category_id": 7, "segmentation": [[2, 2, 12, 2, 12, 9, 2, 9], [30.5, 20, 38, 20, 34, 29]]},
        {"image_id": 1, "category_id": 3, "segmentation": {"size": [30, 40], "counts": uncompressed(disk)}},
        {"image_id": 2, "category_id": 3, "segmentation": {"size": [30, 40], "counts": compressed["counts"].decode()}},
        {"image_id": 2, "category_id": 7, "iscrowd": 1,
         "segmentation": {"size": [30, 40], "counts": crowd_rle["counts"].decode()}}]
    for number, annotation in enumerate(annotations, start=1):
        annotation.update(id=number, area=1.0, bbox=[0, 0, 1, 1], iscrowd=annotation.get("iscrowd", 0))
    document = {"images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30},
                           {"id": 2, "file_name": "b.png", "width": 40, "height": 30}],
                "annotations": annotations, "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}]}
    (root / "train.json").write_text(json.dumps(document))
    return root / "train.json"
