"""Image-folder reader: root/<class>/*.jpg, optionally under train/ val/ test/ split folders."""

from pathlib import Path

from ocularis.core.images import IMAGE_EXTENSIONS, list_images
from ocularis.data.labelled import LabelledImages, Split, split_off, split_three
from ocularis.errors import DataError

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def read_folder(root: str | Path, *, val_fraction: float, test_fraction: float, seed: int) -> LabelledImages:
    """Read a class-per-folder dataset; a missing val/test split is drawn from train with `seed`."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; pass a folder of class sub-folders or a dataset name")
    splits = {SPLIT_NAMES[d.name.lower()]: d for d in _subfolders(root) if d.name.lower() in SPLIT_NAMES}
    if "train" not in splits:
        if splits:
            raise DataError(f"{root} has {', '.join(sorted(splits))} folders but no train/ folder; add train/<class>/")
        classes, everything = _read_classes(root, None)
        train, val, test = split_three(everything, val_fraction, test_fraction, seed)
        return LabelledImages(classes, train, val, test)
    classes, train = _read_classes(splits["train"], None)
    val = _read_classes(splits["val"], classes)[1] if "val" in splits else None
    test = _read_classes(splits["test"], classes)[1] if "test" in splits else None
    if val is None:
        train, val = split_off(train, val_fraction, seed, "validation")
    test_is_val = test is None
    return LabelledImages(classes, train, val, val if test is None else test, test_is_val=test_is_val)


def has_loose_images(folder: Path) -> bool:
    """Images lie directly in `folder` and no sub-folder holds classes (what an unlabelled image folder looks like)."""
    return not _subfolders(folder) and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir())


def read_loose(root: str | Path, *, val_fraction: float, test_fraction: float, seed: int) -> LabelledImages:
    """A folder of loose images as one class named after the folder, split with `seed` (for tasks without labels)."""
    root = Path(root)
    everything = Split([str(p) for p in list_images(root)])
    everything.targets = [(0,)] * len(everything.sources)
    train, val, test = split_three(everything, val_fraction, test_fraction, seed)
    return LabelledImages([root.name or "images"], train, val, test)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _read_classes(folder: Path, known: list[str] | None) -> tuple[list[str], Split]:
    class_dirs = _subfolders(folder)
    if not class_dirs:
        loose = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
        hint = " (images lie loose in it)" if loose else ""
        raise DataError(f"data folder {folder} has no class sub-folders{hint}; put each class's images in "
                        f"{folder}/<class name>/")
    classes = known or [d.name for d in class_dirs]
    split = Split()
    for class_dir in class_dirs:
        if class_dir.name not in classes:
            raise DataError(f"class folder {class_dir} is not a training class ({', '.join(classes)}); "
                            "rename it or add it to train/")
        images = list_images(class_dir)
        if not images:
            raise DataError(f"class folder {class_dir} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                            "add images or remove the folder")
        index = classes.index(class_dir.name)
        split.sources += [str(p) for p in images]
        split.targets += [(index,)] * len(images)
    return classes, split
