"""Options of segmentation: the shared training options plus what only segmentation has."""

from dataclasses import dataclass

from ocularis.config import PredictOptions, TrainConfig, option

DEFAULT_CONF = 0.25  # Ultralytics' predict default: instance models trained without val images keep it


@dataclass
class SegmentConfig(TrainConfig):
    data: str = option("shapes", "built-in dataset name, image + mask folders, VOC folder, nuclei folder, COCO .json "
                       "with masks or YOLO-seg data.yaml", path=True)
    model: str = option("unet", "segmentation network name (see `ocularis info`)")
    imgsz: int | None = option(None, "training crop and prediction tile size in pixels (default: the model's own)")
    resize: int | None = option(None, "resize every image so its longer side is this many pixels first (default: "
                                "keep the pixels: a network sees objects at the size they are)")
    epochs: int = option(30, "training epochs")
    batch: int = option(8, "images (crops) per batch (per device)")
    lr: float | None = option(None, "peak learning rate (default: the model's own)")
    scheduler: str = option("onecycle", "learning-rate schedule (onecycle: warm-up then cosine, per step)",
                            ("cosine", "onecycle", "step", "none"))
    loss: str = option("ce", "semantic loss: cross-entropy, soft Dice, both summed, or focal", ("ce", "dice", "ce+dice",
                                                                                                 "focal"))
    class_weights: str = option("none", "weigh the loss per class: none, balanced (inverse pixel frequency, mean 1) "
                                "or median_freq (SegNet's median frequency balancing), over every training image",
                                ("none", "balanced", "median_freq"))
    ignore_index: int | None = option(None, "a mask value whose pixels are neither trained nor scored, as 255's are "
                                      "(CamVid's void 11, ADE20K's 0); the classes after it move down one index",
                                      low=0, high=255)
    elastic: float = option(0.0, "share of training crops elastically deformed (the augmentation U-Net relied on)")
    mosaic: float = option(0.0, "share of training crops made of four tiled crops (YOLOv4's mosaic; masks move "
                           "with their pixels)", low=0.0, high=1.0)
    scale: float = option(0.0, "random zoom of training crops, by 1 - scale to 1 + scale, with a shift of up to a "
                          "tenth of the crop (Ultralytics' scale and translate; 0.5 is theirs)", low=0.0, high=0.9)
    fliplr: float | None = option(None, "horizontal (and vertical) flip probability (default: 0.5)")
    conf: float | None = option(None, "instance models: confidence threshold of predictions and of the class map "
                                "drawn from them (default: where mask F1 peaks on the val images after training, "
                                f"{DEFAULT_CONF} without them)", low=0.0, high=1.0)
    iou: float = option(0.5, "instance models: IoU threshold of non-maximum suppression")
    max_det: int = option(1000, "instance models: most objects kept per image (and counted by mask AP: "
                          "crowded images such as nuclei hold hundreds)")
    overlap: int = option(64, "pixels adjacent tiles share when an image is larger than a tile")


@dataclass
class SegmentOptions(PredictOptions):
    conf: float = option(DEFAULT_CONF, "instance models: objects scoring less are dropped (default: the model's "
                         "own, chosen on its val images)", low=0.0, high=1.0)
    iou: float = option(0.5, "instance models: overlapping objects above this box IoU merge", low=0.0, high=1.0)
    mask_threshold: float = option(0.5, "instance models: a pixel belongs to an object above this probability",
                                   low=0.0, high=1.0)
    tile: int = option(0, "tile size in pixels (0: an image up to 1024 px a side in one pass, larger ones in the "
                       "model's own tiles)", low=0, high=4096)
    overlap: int = option(64, "pixels adjacent tiles share; stitching blends them so no seam shows", low=0, high=1024)
    tta: bool = option(False, "semantic models: average the image's predictions with those of its left-right, "
                       "up-down and both flips (test-time augmentation, 4x the time)")
