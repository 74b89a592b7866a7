"""Semantic and instance segmentation: a class for every pixel (FCN, SegNet, U-Net, DeepLab, PSPNet ...) or a mask
for every object (Mask R-CNN, YOLO-seg), trained, evaluated, predicted tile by tile on images of any size, exported
and served like every task."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2

from ocularis.core.drawing import class_colours, class_map_picture
from ocularis.core.images import resized
from ocularis.core.meta import Pixels
from ocularis.core.plots import plot_image_grid
from ocularis.core.tiling import Stitcher, TileLayout
from ocularis.data.inputs import batches, expand_inputs
from ocularis.data.masks import MaskLabels, MaskTarget, has_background
from ocularis.data.splits import class_mapping
from ocularis.deploy.export import Graph
from ocularis.deploy.outputs import parts, rows
from ocularis.engine.task import Prepared, Task
from ocularis.errors import ConfigError
from ocularis.explain.target import ExplainTarget, box_target, class_target, detection_scores
from ocularis.models.record import ModelRecord
from ocularis.tasks.segment import SPEC
from ocularis.tasks.segment.config import DEFAULT_CONF, SegmentConfig, SegmentOptions
from ocularis.tasks.segment.data import MaskDataset, SegmentData, read_masks, resize_labels
from ocularis.tasks.segment.metrics import PixelCounter, SegmentMetrics, segmentation_metrics
from ocularis.tasks.segment.model import build_segmenter, model_record, segments_objects
from ocularis.tasks.segment.module import SegmentModule
from ocularis.tasks.segment.predict import Masks, decode_objects, paint
from ocularis.tasks.segment.tiles import FLIPS, flipped, merge_tiles, same_objects, unflipped_mean
from ocularis.tasks.segment.weights import class_weights

__all__ = ["Segmenter"]

VAL_CONF = 0.001  # mask AP integrates over every confidence; a high threshold would cut the PR curve short
WHOLE = 1024  # predict(): an image up to this many pixels a side runs in one pass (no overlap computed twice)
OUTPUTS = ("rows", "coefficients", "prototypes")  # an instance network's outputs (ocularis.models.segmenter)


@dataclass(frozen=True)
class SegmentMeta(Pixels):
    """What a saved segmenter holds beyond task, model and config and its pixels."""

    classes: list[str]
    instances: bool
    stride: int


class Segmenter(Task):
    """Train, evaluate and predict with a segmentation network. The constructor only stores options."""

    spec, result_type = SPEC, Masks
    explainable = True
    meta_type = SegmentMeta

    def __init__(self, model: str | None = None, weights: str | None = None, **options: Any):
        super().__init__(model, weights, **options)
        self.class_weights: torch.Tensor | None = None  # --class-weights balanced | median_freq: set by prepare

    @staticmethod
    def build(meta: dict[str, Any]) -> nn.Module:
        return build_segmenter(meta["model"], num_classes=len(meta["classes"]), in_channels=meta["channels"],
                               imgsz=meta["imgsz"])

    # ---- training -------------------------------------------------------------------------------------------
    def prepare(self, config: SegmentConfig) -> Prepared:
        dataset = read_masks(config.data, config)
        record = model_record(config.model)
        config.lr = config.lr or record.lr
        imgsz = config.imgsz or _crop_size(dataset.train, config.resize, record.imgsz)
        network = build_segmenter(config.model, num_classes=len(dataset.classes), in_channels=dataset.channels,
                                  imgsz=imgsz, weights=config.weights, seed=config.seed,
                                  box_sizes=_box_sizes(dataset.train, config.resize) if segments_objects(
                                      config.model) else None)
        if network.instances and not dataset.instances:
            raise ConfigError(f"--model {config.model} segments objects, and --data {config.data} has class maps "
                              "only; give it instance masks (COCO, YOLO-seg, nuclei folders, shapes) or choose a "
                              "semantic model such as unet")
        if imgsz % network.stride:
            raise ConfigError(f"--imgsz {imgsz}: {config.model} takes sides that are multiples of {network.stride}")
        mean, std = _normalisation(record, dataset.channels)
        self.network = network
        self.meta = self._new_meta(config, classes=dataset.classes, channels=dataset.channels, imgsz=imgsz,
                                   mean=mean, std=std, instances=network.instances, stride=network.stride)
        data = SegmentData(dataset, config, imgsz=imgsz, mean=mean, std=std, stride=network.stride)
        self.class_weights = class_weights(config.class_weights, dataset.train, len(dataset.classes), config.resize)
        return Prepared(dataset, data, {"warnings": dataset.warnings})

    def training_module(self, config: SegmentConfig) -> SegmentModule:
        return SegmentModule(self.network, config, self.meta["classes"], self.class_weights,
                             self._validation_objects if self.network.instances else None)

    def after_training(self, prepared: Prepared, best: Path) -> None:
        """An instance model trained without --conf takes the confidence where mask F1 (IoU .5) peaks on the val
        images as its threshold for objects and for the class map drawn from them, saved with it. A fixed 0.25
        misreads young models: a YOLO score is objectness, trained towards the box's IoU, times the class
        probability, so right objects may all score below it (a class map from them then had IoU 0.09 where mask
        AP, which reads every confidence, was 0.42)."""
        if not self.meta["instances"] or self.meta["config"]["conf"] is not None:
            return
        val = prepared.datamodule.dataset("val")
        chosen = self.score(val).values["mask_best_f1_conf"] if len(val) else None
        self.meta["conf"] = DEFAULT_CONF if chosen is None else max(chosen, VAL_CONF)
        prepared.notes["conf"] = {"value": self.meta["conf"], "chosen_on": "val" if chosen is not None else None}
        self.save(best)

    def plot_examples(self, dataset: MaskDataset, path: Path, count: int = 6) -> Path:
        """Image | true class map | predicted class map for the first `count` test images, the maps in the class
        palette (not tinted over the image, whose own colours would mix with them), one legend for all."""
        classes, background = self.meta["classes"], has_background(self.meta["classes"])
        images, titles, present = [], [], set()
        for index in range(min(count, len(dataset))):
            picture, labels = dataset.load(index)
            result = self.segment(picture, dataset.split.image_ids[index], self.default_options())
            images += [np.asarray(picture.convert("RGB")), class_map_picture(labels.semantic, background),
                       class_map_picture(result.semantic, background)]
            objects = f" ({len(result)} objects)" if self.meta["instances"] else ""
            titles += [result.source, "truth", f"predicted{objects}"]
            present |= {int(c) for c in np.unique(labels.semantic)} | {int(c) for c in np.unique(result.semantic)}
        colours = class_colours(len(classes), background)
        legend = {classes[c]: tuple(int(v) for v in colours[c]) for c in sorted(present) if c < len(classes)}
        return plot_image_grid(images, titles, Path(path), columns=6, panel=2.0, legend=legend)

    # ---- evaluation and prediction ----------------------------------------------------------------------------
    def read_data(self, data: str, config: SegmentConfig):
        return read_masks(data, config, training=False, channels=self.meta["channels"])

    def split_dataset(self, masks, chosen: str, config: SegmentConfig, data: str) -> MaskDataset:
        mapping = class_mapping(masks.classes, self.meta["classes"], data)
        if mapping != list(range(len(mapping))):
            split = getattr(masks, chosen)
            split.targets = [_Remapped(target, mapping) for target in split.targets]
        masks.classes = self.meta["classes"]
        return SegmentData(masks, config, imgsz=self.meta["imgsz"], mean=self.meta["mean"], std=self.meta["std"],
                           stride=self.meta["stride"]).dataset(chosen)

    def score(self, dataset: MaskDataset) -> SegmentMetrics:
        """Pixel metrics of the stitched class maps, and mask AP for instance models, in the images' own pixels."""
        counter, found, truths = PixelCounter(len(self.meta["classes"])), [], []
        options = self.default_options()
        if self.meta["instances"]:  # every object for the AP; the class map from those a user would be shown
            options = dataclasses.replace(options, conf=VAL_CONF)
        for index in range(len(dataset)):
            picture, labels = dataset.load(index)
            result = self.segment(picture, dataset.split.image_ids[index], options)
            shown = result.scores >= self.conf
            counter.update(paint(result.masks[shown], result.scores[shown], result.labels[shown],
                                 result.semantic.shape) if self.meta["instances"] else result.semantic,
                           labels.semantic)
            found.append((result.masks, result.scores, result.labels, result.boxes))
            truths.append((labels.masks, labels.labels))
        return segmentation_metrics(counter, self.meta["classes"], (found, truths) if self.meta["instances"]
                                    else None, self.meta["config"]["max_det"])

    @property
    def conf(self) -> float:
        """--conf as trained, else the threshold chosen after training (models saved before that: 0.25)."""
        given = self.meta["config"]["conf"]
        return given if given is not None else self.meta.get("conf", DEFAULT_CONF)

    def default_options(self) -> SegmentOptions:
        config = self.meta["config"]
        return SegmentOptions(conf=self.conf, iou=config["iou"], overlap=config["overlap"])

    def ignored_options(self) -> frozenset[str]:
        return frozenset({"tta"} if self.meta["instances"] else {"conf", "iou", "mask_threshold"})

    def predict(self, inputs: Any, batch: int = 8, **options: Any) -> list[Masks]:
        """Masks for image paths, folders, PIL images or arrays: each image in one pass, or, where it is larger than
        WHOLE pixels a side (or --tile is given), tiled and run `batch` tiles at a time, so any size fits in memory."""
        self._require_network()
        chosen = self.resolve_options(**options)
        return [self.segment(pictures[0], names[0], chosen, batch)
                for names, pictures in batches(expand_inputs(inputs), self.meta["channels"], 1)]

    def segment(self, picture: Image.Image, name: str, options: SegmentOptions, batch: int = 8) -> Masks:
        """One image, whole or `batch` tiles at a time, into its Masks."""
        image, layout = self._tiles(picture, options, whole=True)
        tiles = layout.cut(image)
        run = (lambda chunk: unflipped_mean(self.infer(flipped(chunk)))) if options.tta else self.infer
        chunks = ((start, run(tiles[start:start + batch])) for start in range(0, len(tiles), batch))
        return self._assemble(picture, name, layout, chunks, options)

    def preprocess(self, pictures: list[Image.Image], options: SegmentOptions | None = None) -> torch.Tensor:
        """Every image's tiles (with --tta, then flipped), one after another (postprocess, given the same options,
        knows how many each has)."""
        options = options or self.default_options()
        tiles = [layout.cut(image) for image, layout in (self._tiles(p, options) for p in pictures)]
        return torch.cat([flipped(t) if options.tta else t for t in tiles])

    def postprocess(self, outputs, names: list[str], pictures: list[Image.Image],
                    options: SegmentOptions) -> list[Masks]:
        results, start = [], 0
        for name, picture in zip(names, pictures, strict=True):
            _, layout = self._tiles(picture, options, pixels=False)
            count = len(layout.corners) * (len(FLIPS) if options.tta else 1)
            found = rows(outputs, start, start + count)
            results.append(self._assemble(picture, name, layout, [(0, unflipped_mean(found) if options.tta else found)],
                                          options))
            start += count
        return results

    def sample_inputs(self, data: str | None = None, split: str = "test", count: int | None = None,
                      dataset: MaskDataset | None = None) -> torch.Tensor:
        """Up to `count` tiles (the network's input) from the images of `split`, a few per image."""
        dataset = dataset if dataset is not None else self.dataset(data, split)
        tiles, wanted = [], count or len(dataset)
        for index in range(len(dataset)):
            tiles += list(self.preprocess([dataset.load(index)[0]])[:2])
            if len(tiles) >= wanted:
                break
        return torch.stack(tiles[:wanted])

    def agreement(self, reference, outputs) -> float:
        """Semantic: share of tiles whose class maps agree on 99% of pixels or more. Instance: share of tiles whose
        objects (at the run's conf) have the same classes and boxes (IoU >= 0.9)."""
        if not self.meta["instances"]:
            same = (reference.argmax(1) == outputs.argmax(1)).float().flatten(1).mean(1) >= 0.99
            return same.float().mean().item()
        size, config = (self.meta["imgsz"],) * 2, self.meta["config"]
        decoded = [[decode_objects(*(p[i] for p in parts(o)), size, self.conf, config["iou"], config["max_det"])
                    for i in range(len(parts(o)[0]))] for o in (reference, outputs)]
        return float(np.mean([same_objects(a, b) for a, b in zip(*decoded, strict=True)]))

    def graphs(self, samples: torch.Tensor) -> dict[str, Graph]:
        names = OUTPUTS if self.meta["instances"] else ("logits",)
        return {"network": Graph(self.network, (samples[:2],), output_names=names)}

    def export_refusal(self) -> str | None:
        return self.network.export_refusal if isinstance(self.network, nn.Module) else None

    def explain_inputs(self, pictures: list[Image.Image]) -> torch.Tensor:
        """Each picture resized to one training-size tile (explanations attribute one input per image)."""
        return Task.preprocess(self, pictures)

    def explain_layer(self) -> nn.Module | None:
        return self.network.explained_layer() if isinstance(self.network, nn.Module) else None

    def explain_target(self, outputs, target: str | None = None) -> ExplainTarget:
        """Instance models: each image's best object (of class `target` if given), as a detector's box. Semantic:
        the share of the image's pixels given to `target`, by default the most present foreground class."""
        classes = self.meta["classes"]
        if self.meta["instances"]:
            size = (self.meta["imgsz"],) * 2
            return box_target(parts(outputs)[0], classes[1:], target, _object_scores,
                              lambda row: self.network.explained_layer(row, size))
        shares = _class_shares(outputs)
        foreground = shares.clone()
        if has_background(classes):
            foreground[:, 0] = -1.0  # the background is what is left: explain a class that is there
        return class_target(foreground, classes, target, _class_shares, shares, " of pixels")

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _tiles(self, picture: Image.Image, options: SegmentOptions, pixels: bool = True, whole: bool = False):
        """The network's input for `picture` ((C, H, W) at its own pixels, or --resize's, normalised; None unless
        `pixels`) and how it is tiled: `whole` (one image at a time, no --tile), in one pass where it is at most
        WHOLE pixels a side and the network takes any size, else in tiles of --tile or the model's own."""
        if options.tta and self.meta["instances"]:
            raise ConfigError("--tta averages class maps: it is for semantic models; an instance model's objects "
                              "do not average, so leave it out")
        stride, module = self.meta["stride"], isinstance(self.network, nn.Module)
        tile = -(-(options.tile or self.meta["imgsz"]) // stride) * stride
        if tile != self.meta["imgsz"] and not module:
            raise ConfigError(f"this exported model takes tiles of {self.meta['imgsz']} px; leave out --tile")
        picture = resized(picture, self.meta["config"]["resize"])
        if whole and module and not options.tile and max(picture.size) <= WHOLE:
            layout = TileLayout.whole(picture.width, picture.height, stride)
        else:
            layout = TileLayout(picture.width, picture.height, tile, min(options.overlap, tile // 2))
        if not pixels:
            return None, layout
        mode = "L" if self.meta["channels"] == 1 else "RGB"
        image = v2.functional.to_dtype(v2.functional.to_image(picture.convert(mode)), torch.float32, scale=True)
        return v2.functional.normalize(image, self.meta["mean"], self.meta["std"]), layout

    def _assemble(self, picture: Image.Image, name: str, layout: TileLayout, chunks, options) -> Masks:
        """Tile outputs (chunks of (first tile, outputs)) -> the image's Masks in its own pixels."""
        classes, size = self.meta["classes"], (layout.height, layout.width)
        if not self.meta["instances"]:
            stitcher = Stitcher(layout, len(classes))
            for start, outputs in chunks:
                stitcher.add(outputs.softmax(dim=1), start)
            labels = MaskLabels.from_semantic(stitcher.result().argmax(0).numpy().astype(np.uint8))
            found = None
        else:
            found = merge_tiles(layout, chunks, options, self.meta["config"]["max_det"])
            masks, scores, classes_found, _ = found.as_numpy()
            labels = MaskLabels(paint(masks, scores, classes_found, size), masks, classes_found)
        labels = resize_labels(labels, picture.size)  # back from --resize, if the run resized
        scale = picture.width / layout.width
        boxes = found.boxes.numpy() * scale if found is not None else np.zeros((0, 4), np.float32)
        scores = found.scores.numpy() if found is not None else np.zeros(0, np.float32)
        return Masks(name, labels.semantic, classes, labels.masks, boxes, scores, labels.labels,
                     np.asarray(picture.convert("RGB")))

    def _validation_objects(self, outputs, size) -> list[tuple]:
        """A padded validation batch's raw outputs -> per image (masks, scores, labels) at the padded size."""
        config = self.meta["config"]
        return [decode_objects(*(p[i] for p in parts(outputs)), tuple(size), VAL_CONF, config["iou"],
                               config["max_det"]).as_numpy() for i in range(len(parts(outputs)[0]))]


def _normalisation(record: ModelRecord, channels: int) -> tuple[list[float], list[float]]:
    """The model's own mean and std (ImageNet's for torchvision backbones), else none, for `channels` channels."""
    mean, std = record.mean, record.std
    if mean is None:
        return [0.0] * channels, [1.0] * channels
    if channels == 1:
        return [float(np.mean(mean))], [float(np.mean(std))]
    return list(mean), list(std)


def _box_sizes(split, resize: int | None, limit: int = 200) -> np.ndarray | None:
    """Objects' (w, h) in the network's pixels over up to `limit` training images, for anchor clustering; None for
    data without objects."""
    sizes = []
    for source, target in list(zip(split.sources, split.targets, strict=True))[:limit]:
        if not target.instances:
            return None
        labels = target.decode(_size(source))
        for mask in labels.masks:
            ys, xs = np.nonzero(mask)
            if len(xs):
                sizes.append((xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()))
    if not sizes:
        return None
    scale = resize / max(_size(split.sources[0])) if resize else 1.0
    return np.asarray(sizes, np.float64) * scale


def _crop_size(split, resize: int | None, default: int, sample: int = 50) -> int:
    """The model's own crop size, or less where the images are smaller (a crop padded to twice an image's size
    costs four times as much and teaches nothing more): their largest side, rounded up to 32, a multiple of every
    network's stride."""
    largest = resize or max(max(_size(source)) for source in split.sources[:sample])
    return min(default, -(-largest // 32) * 32)


def _size(source) -> tuple[int, int]:
    if isinstance(source, np.ndarray):
        return source.shape[1], source.shape[0]
    with Image.open(source) as image:
        return image.size


@dataclasses.dataclass
class _Remapped(MaskTarget):
    """Another dataset's annotation in the model's class indices."""

    target: MaskTarget
    mapping: list[int]

    @property
    def instances(self) -> bool:  # type: ignore[override]
        return self.target.instances

    def decode(self, size: tuple[int, int]) -> MaskLabels:
        labels = self.target.decode(size)
        table = np.array([*self.mapping, *range(len(self.mapping), 256)], np.uint8)
        return MaskLabels(table[labels.semantic], labels.masks, table[labels.labels].astype(np.int64))

    def where(self) -> str:
        return self.target.where()


def _object_scores(outputs) -> torch.Tensor:
    """An instance network's rows' scores, as a detector's."""
    return detection_scores(parts(outputs)[0])


def _class_shares(logits: torch.Tensor) -> torch.Tensor:
    """(B, C): the mean probability of each class over the pixels (its expected share of the image)."""
    return logits.float().softmax(dim=1).mean(dim=(2, 3))
