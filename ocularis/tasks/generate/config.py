"""Options of GAN training and sampling. An option left unset takes the chosen model's own default (the records
beside the builders in ocularis.models.gans)."""

from dataclasses import dataclass

from ocularis.config import GenerateOptions, TrainConfig, option


@dataclass
class GanConfig(TrainConfig):
    data: str = option("digits", "built-in dataset name, a folder of images (class folders for --conditional), or "
                       "a path,label CSV", path=True)
    model: str = option("dcgan", "gan (dense) | dcgan (see `ocularis info`)")
    epochs: int = option(30, "training epochs")
    batch: int = option(64, "images per batch (per device)")
    lr: float | None = option(None, "learning rate of both networks (default: the model's own, 2e-4 as DCGAN's)")
    scheduler: str = option("none", "learning-rate schedule (GANs train at a constant rate)",
                            ("cosine", "onecycle", "step", "none"))
    optimizer: str = option("adam", "optimiser of both networks (Adam with beta1 0.5, as DCGAN's)",
                            ("adamw", "adam", "sgd"))
    weight_decay: float = option(0.0, "weight decay")
    augment: str = option("none", "augmentation preset (a GAN learns to draw what it sees: none by default)",
                          ("none", "light", "heavy"))
    conditional: bool = option(False, "a conditional GAN: draw the class asked for (the data's classes)")
    latent: int | None = option(None, "length of the noise vector (default: the model's own)", low=1)
    width: int | None = option(None, "channels of the narrowest convolution or units of the first dense layer "
                               "(default: the model's own)", low=1)
    categories: int = option(0, "InfoGAN: a categorical code of this many values, learnt without labels (Chen et al. "
                             "2016: 10 on digits finds the digits); 0: none", low=0)
    continuous: int = option(0, "InfoGAN: continuous codes, uniform in -1..1, learnt without labels (a slant, a "
                             "width)", low=0)
    info_weight: float = option(4.0, "InfoGAN: the weight of the mutual-information term (the paper's 1 matched half "
                                "the digits to its categories here, 4 two thirds: benchmarks/infogan_digits.py)",
                                low=0.0)
    loss: str = option("bce", "the adversarial loss: bce (the original, non-saturating) or lsgan (least squares)",
                       ("bce", "lsgan"))
    features: str | None = option(None, "an ocularis classifier checkpoint (best.ckpt) trained on the same kind of "
                                  "images: FID, KID and precision/recall are measured on its features, and a "
                                  "conditional GAN's samples labelled by it; or Inception-v3 weights (torchvision's "
                                  "state dict, .pth): FID's own features (default: raw pixels)", path=True)
    val_fraction: float = option(0.1, "share of the data held out for validation when the data has no val split")
    test_fraction: float = option(0.2, "share held out for scoring when the data has no test split")


@dataclass
class GanOptions(GenerateOptions):
    class_: int | None = option(None, "the class to draw, by index (a conditional GAN; default: class i for "
                                "sample i, in turn)", low=0)
    code: int | None = option(None, "an InfoGAN's category to draw, by index (default: category i for sample i, in "
                              "turn)", low=0)
