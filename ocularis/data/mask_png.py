"""Mask PNGs into class indices and objects: class maps (classes.txt / classes.yaml, names or colours), class-index
and colour masks, object-id masks. Shared by the image + mask folders, VOC and the DSB nuclei readers.

A class mask's values are class indices (greyscale or palette PNG; 255 = ignore), or, with a colour map, its colours
are. An object-id mask gives object k the pixels of value k (0: none); its class is the one most of those pixels have
in the class mask.

A class map's entries are the mask values in order: line k of classes.txt (entry k of a classes.yaml list, key or
value k of {index: name} / {name: index}, colour k of {name: [r, g, b]}) names value k. An entry named `ignore`
marks its value as unlabelled (CamVid's void: twelve lines, the twelfth `ignore`), and so does a classes.yaml key
`ignore: N` beside `names:` (or --ignore-index N, `with_ignore`): that value decodes as IGNORE, no loss and no metric
counts it, and the classes after it move down one index (ADE20K's `ignore` first: values 1..150 are classes 0..149).
Class 0 may be any class (CamVid's Sky); only where it is named `background` is it drawn and scored as background.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, UnidentifiedImageError

from ocularis.data.boxes import Size
from ocularis.data.masks import IGNORE, MaskLabels, MaskTarget
from ocularis.errors import DataError, LabelError

CLASS_FILES = ("classes.txt", "classes.yaml", "classes.yml")
IGNORED = "ignore"  # a class map entry of this name marks its mask value as unlabelled
UNNAMED = -1  # in ClassMap.table(): a mask value no entry names


@dataclass
class ClassMap:
    """How mask pixels become class indices, and where that rule comes from (for messages)."""

    names: list[str]  # the classes in index order (the ignored value's entry is not one)
    source: str
    colours: dict[int, int] | None = None  # packed 0xRRGGBB -> mask value (read through table(), as an index is)
    colour_required: bool = False  # every mask must be a colour image (RGB or palette) read through `colours`
    binary: bool = False  # 255 is class 1: black-and-white {0, 255} masks
    ignore: int | None = None  # a mask value besides 255 that marks unlabelled pixels (decoded as IGNORE)

    def values(self) -> list[int]:
        """The mask value of each class: 0, 1, 2 ... with the ignored value skipped."""
        return [v for v in range(IGNORE) if v != self.ignore][:len(self.names)]

    def table(self) -> np.ndarray:
        """(256,) int16: mask value -> class index, IGNORE, or UNNAMED where no entry names the value."""
        table = np.full(256, UNNAMED, np.int16)
        if self.binary:
            table[[0, 1, IGNORE]] = 0, 1, 1
        else:
            table[self.values()] = np.arange(len(self.names))
            table[IGNORE] = IGNORE
        if self.ignore is not None:
            table[self.ignore] = IGNORE
        return table

    def described(self) -> str:
        """The values this map reads, for messages: '0..10, 11 = ignore, or 255 = ignore'."""
        values = self.values()
        named = f"{values[0]}..{values[-1]}" if values else "none"
        return named + (f", {self.ignore} = ignore" if self.ignore is not None else "") + f", or {IGNORE} = ignore"


@dataclass
class IndexMaskTarget(MaskTarget):
    """A class mask PNG, and optionally an object-id PNG of the same image."""

    mask: Path
    image: str
    classes: ClassMap
    objects: Path | None = None
    border: int | None = None  # the object-id value of unlabelled borders (VOC's 255), not an object
    instances: bool = False

    def __post_init__(self) -> None:
        self.instances = self.objects is not None

    def decode(self, size: Size) -> MaskLabels:
        semantic = class_indices(self.mask, size, self.classes, self.image)
        if self.objects is None:
            return MaskLabels.from_semantic(semantic)
        masks, labels = objects_from_ids(self.objects, self.mask, size, semantic, self.border, self.image)
        return MaskLabels(semantic, masks, labels)

    def class_map(self, size: Size) -> np.ndarray:
        return class_indices(self.mask, size, self.classes, self.image)

    def where(self) -> str:
        return str(self.mask)


def open_mask(path: Path, size: Size, image: str) -> Image.Image:
    """The decoded mask file, refused by name where it is unreadable or not the size of its image."""
    try:
        with Image.open(path) as mask:
            mask.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise LabelError(f"{path}: cannot be read as an image ({str(error).splitlines()[0]}); re-export the mask as "
                         "PNG") from None
    if mask.size != tuple(size):
        raise LabelError(f"{path}: the mask is {mask.size[0]} x {mask.size[1]} px but its image {image} is "
                         f"{size[0]} x {size[1]} px; save the mask at its image's size")
    return mask


def class_indices(path: Path, size: Size, classes: ClassMap, image: str) -> np.ndarray:
    """The (H, W) uint8 class map of a mask file: its values, or its colours read through the colour map."""
    mask = open_mask(path, size, image)
    if classes.colours is not None and (classes.colour_required or mask.mode in ("RGB", "RGBA")):
        return _by_colour(mask, path, classes)
    values = np.asarray(mask)
    if values.ndim != 2:
        raise LabelError(f"{path}: a {mask.mode} colour mask, but {classes.source} gives no colours; add a "
                         "classes.yaml mapping each class name to its [r, g, b], or save class-index masks")
    return _by_index(values, path, classes)


def _by_index(values: np.ndarray, path: Path, classes: ClassMap) -> np.ndarray:
    values = values.astype(np.int64)
    outside = (values < 0) | (values > IGNORE)  # 16-bit masks
    mapped = classes.table()[np.where(outside, 0, values)]
    wrong = outside | (mapped == UNNAMED)
    if wrong.any():
        y, x = np.argwhere(wrong)[0]
        if classes.binary:
            raise LabelError(f"{path}: value {values[y, x]} at x={x} y={y} in a black-and-white mask (0 and 255 only, "
                             f"as {classes.source}); fix the mask or add a classes.txt")
        raise LabelError(f"{path}: value {values[y, x]} at x={x} y={y} is not a class of {classes.source} "
                         f"({classes.described()}); fix the mask or name the value there (a line '{IGNORED}', or "
                         f"--ignore-index {values[y, x]}, where it marks unlabelled pixels)")
    return mapped.astype(np.uint8)


def _by_colour(mask: Image.Image, path: Path, classes: ClassMap) -> np.ndarray:
    if mask.mode not in ("RGB", "RGBA", "P") or (mask.mode == "P" and mask.getpalette() is None):
        raise LabelError(f"{path}: a mask in mode {mask.mode} without a palette, but {classes.source} maps colours to "
                         "classes; save the masks as RGB or palette PNGs, or give class indices with a classes.txt")
    rgb = np.asarray(mask.convert("RGB"), dtype=np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    keys = np.array(sorted(classes.colours), dtype=np.uint32)
    indices = classes.table()[[classes.colours[k] for k in keys.tolist()]]
    at = np.clip(np.searchsorted(keys, packed), 0, len(keys) - 1)
    unknown = (keys[at] != packed) | (indices[at] == UNNAMED)
    if unknown.any():
        y, x = np.argwhere(unknown)[0]
        colour = int(packed[y, x])
        raise LabelError(f"{path}: colour ({colour >> 16}, {colour >> 8 & 255}, {colour & 255}) at x={x} y={y} is "
                         f"not in {classes.source}; add it to the colour map or fix the mask")
    return indices[at].astype(np.uint8)


def objects_from_ids(path: Path, class_mask: Path, size: Size, semantic: np.ndarray, border: int | None,
                     image: str) -> tuple[np.ndarray, np.ndarray]:
    """One boolean mask per object id of an object-id PNG, labelled with the class most of its pixels have."""
    ids_image = open_mask(path, size, image)
    ids = np.asarray(ids_image).astype(np.int64)
    if ids.ndim != 2:
        raise LabelError(f"{path}: a {ids_image.mode} colour image; an object-id mask is greyscale or palette "
                         "(value k = object k, 0 = none)")
    table = np.bincount((ids * 256 + semantic).ravel(), minlength=(int(ids.max(initial=0)) + 1) * 256).reshape(-1, 256)
    present = [k for k in np.flatnonzero(table.sum(1)).tolist() if k not in (0, border)]
    labels = []
    for k in present:
        votes = table[k, 1:IGNORE]
        if not votes.any():
            raise LabelError(f"{path}: object {k} lies only on background or ignored pixels of {class_mask}; give "
                             "it its class there or delete the object")
        labels.append(int(votes.argmax()) + 1)
    masks = ids[None] == np.array(present, dtype=np.int64).reshape(-1, 1, 1)
    return masks, np.array(labels, dtype=np.int64)


def read_class_map(root: Path) -> ClassMap | None:
    """The classes.txt or classes.yaml in `root`, or None. Entry k names mask value k; an entry named `ignore` (or a
    classes.yaml key `ignore: N` beside `names:`) marks the value whose pixels are unlabelled."""
    files = [root / name for name in CLASS_FILES if (root / name).is_file()]
    if len(files) > 1:
        raise DataError(f"{root}: holds both {files[0].name} and {files[1].name}; keep one class map")
    if not files:
        return None
    file = files[0]
    if file.suffix == ".txt":
        return _checked(file, [line.strip() for line in file.read_text().splitlines() if line.strip()])
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise DataError(f"{file}: not valid YAML ({getattr(error, 'problem', error)}); fix the syntax") from None
    if isinstance(data, dict) and "names" in data:
        ignore = data.get("ignore")
        if ignore is not None and (type(ignore) is not int or not 0 <= ignore <= IGNORE):
            raise DataError(f"{file}: ignore: {ignore!r}; give the mask value (0..{IGNORE}) of unlabelled pixels")
        classes = _class_map(file, data["names"])
        return with_ignore(classes, ignore, f"{file}'s ignore: {ignore}")
    return _class_map(file, data)


def _class_map(file: Path, data) -> ClassMap:
    if isinstance(data, list):
        return _checked(file, [str(name) for name in data])
    if isinstance(data, dict) and data and all(_is_colour(v) for v in data.values()):
        classes = _checked(file, [str(name) for name in data])
        colours: dict[int, int] = {}
        for index, (name, (r, g, b)) in enumerate(data.items()):
            if (packed := r << 16 | g << 8 | b) in colours:
                raise DataError(f"{file}: {name} has the colour [{r}, {g}, {b}] of {list(data)[colours[packed]]}; "
                                "give each class its own colour")
            colours[packed] = index
        return dataclasses.replace(classes, colours=colours, colour_required=True)
    if isinstance(data, dict) and data and all(isinstance(k, int) for k in data):
        return _indexed(file, {int(k): str(v) for k, v in data.items()})
    if isinstance(data, dict) and data and all(isinstance(v, int) for v in data.values()):
        return _indexed(file, {int(v): str(k) for k, v in data.items()})
    raise DataError(f"{file}: expected a list of class names, {{name: index}} or {{name: [r, g, b]}}")


def _is_colour(value) -> bool:
    return isinstance(value, list) and len(value) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in value)


def _indexed(file: Path, names: dict[int, str]) -> ClassMap:
    if sorted(names) != list(range(len(names))):
        raise DataError(f"{file}: class indices must be 0..{len(names) - 1} with none missing; found {sorted(names)}")
    return _checked(file, [names[i] for i in range(len(names))])


def _checked(file: Path, entries: list[str]) -> ClassMap:
    """The class map of `entries` (entry k names mask value k); an entry named `ignore` is the unlabelled value."""
    ignored = [index for index, name in enumerate(entries) if name.strip().lower() == IGNORED]
    if len(ignored) > 1:
        raise DataError(f"{file}: values {ignored[0]} and {ignored[1]} are both named '{IGNORED}'; one value marks "
                        f"unlabelled pixels (besides {IGNORE}, which always does)")
    names = [name for index, name in enumerate(entries) if index not in ignored]
    if not names:
        raise DataError(f"{file}: names no class; list one class name a line, mask value 0 first")
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DataError(f"{file}: class {twice!r} is listed twice; give each class one entry")
    if len(entries) > IGNORE:
        raise DataError(f"{file}: {len(entries)} entries; class masks hold values 0..{IGNORE - 1} ({IGNORE} means "
                        "ignore)")
    return ClassMap(names, str(file), ignore=ignored[0] if ignored else None)


def with_ignore(classes: ClassMap, value: int | None, given: str = "--ignore-index") -> ClassMap:
    """`classes` with mask value `value` unlabelled (--ignore-index): its pixels decode as IGNORE and, where the map
    names that value, the name is no class (the classes after it move down one index). None or 255: as it is."""
    if value is None or value == IGNORE or value == classes.ignore:
        return classes
    if classes.ignore is not None:
        raise DataError(f"{classes.source} marks value {classes.ignore} as '{IGNORED}' and {given} says {value}; "
                        "give one")
    names = [name for index, name in enumerate(classes.names) if index != value or classes.binary]
    if not names:
        raise DataError(f"{given}: value {value} is the only class of {classes.source}; ignore another value")
    return dataclasses.replace(classes, names=names, ignore=value)


def voc_palette() -> list[int]:
    """Pascal VOC's 256 colours (its bit-interleaving colour map), flat r, g, b: class masks a viewer shows."""
    palette = []
    for index in range(256):
        r = g = b = 0
        for bit in range(8):
            r |= (index >> 3 * bit & 1) << 7 - bit
            g |= (index >> 3 * bit + 1 & 1) << 7 - bit
            b |= (index >> 3 * bit + 2 & 1) << 7 - bit
        palette += [r, g, b]
    return palette
