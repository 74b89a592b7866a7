"""Options of metric learning: the shared training options plus the loss, the embedding and the batch's make-up."""

from dataclasses import dataclass

from ocularis.config import PredictOptions, TrainConfig, option

LOSSES = ("contrastive", "triplet", "arcface")


@dataclass
class EmbedConfig(TrainConfig):
    model: str = option("simple_cnn", "the body's architecture (see `ocularis info`); its head becomes the embedding")
    loss: str = option("arcface", "contrastive (Siamese pairs: pull same-class pairs together, push others past the "
                       "margin), triplet (semi-hard triplets, FaceNet) or arcface (additive angular margin)", LOSSES)
    dim: int = option(128, "embedding size", low=2, high=4096)
    margin: float | None = option(None, "the loss's margin (default: contrastive 1.0 and triplet 0.2 in embedding "
                                  "distance, arcface 28.6 degrees)")
    per_class: int = option(4, "images of each class in a batch: batches are P classes x this many", low=2)
    test_per_class: int = option(0, "hold out this many images of every class for testing (0: --test-fraction)")
    val_per_class: int = option(0, "with --test-per-class: hold out this many more of every class for validation "
                                "(0: no validation; the last epoch is kept)")
    far: float = option(0.01, "false-accept rate at which the thresholds are chosen, on identities the network "
                        "never trained on (see --calibration-classes): of their pairs accepted by verify, of their "
                        "photos named as someone else by predict", low=0.0, high=1.0)
    calibration_classes: float = option(0.2, "share of the classes (identities; at least 2) kept out of training and "
                                        "used only to choose the verification and recognition thresholds, so that "
                                        "they hold for strangers; their images still give them a mean vector, so "
                                        "predict can name them. Val identities with no training image count first. "
                                        "Drawn with --seed only while 3 or more classes are left to train on; "
                                        "without any, the thresholds fall back to the val images of the trained "
                                        "classes (lenient with strangers, and the run says so). 0: draw none",
                                        low=0.0, high=0.5)
    faces: bool = option(False, "find the face in every image (Haar cascades) and align it by the eyes before "
                         "embedding, in training and prediction; training images without a face are left out and "
                         "listed")


@dataclass
class EmbedOptions(PredictOptions):
    """Embedding an image takes no options: its vector, and its nearest known class, are the answer."""
