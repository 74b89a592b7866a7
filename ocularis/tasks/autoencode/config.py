"""Options of autoencoder training: the shared options plus the code, the noise a denoiser learns to undo, the
sparsity and VAE terms, training on patches of large photos, and the outlier threshold's false-alarm rate. An option
left unset takes the chosen model's own default (model.py keeps them beside each builder)."""

from dataclasses import dataclass

from ocularis.config import PredictOptions, TrainConfig, option

NOISES = ("none", "gaussian", "salt_pepper", "masking")  # what noise.corrupt adds (here: the declaration is torch-free)


@dataclass
class AutoencodeConfig(TrainConfig):
    data: str = option("digits", "built-in dataset name, a folder of images (loose or in class folders), or a "
                       "path,label CSV; labels are not needed", path=True)
    model: str = option("conv", "dense | sparse | deep | conv | denoising | lstm | vae (see `ocularis info`)")
    epochs: int = option(20, "training epochs")
    lr: float = option(3e-3, "peak learning rate (these small networks learn fastest near 3e-3)")
    augment: str = option("none", "augmentation preset (an autoencoder reproduces what it sees: none by default)",
                          ("none", "light", "heavy"))
    code_size: int | None = option(None, "length of the code (default: the model's own; conv 0: the feature map)",
                                   low=0)
    width: int | None = option(None, "channels of the first convolution or units per hidden layer (default: the "
                               "model's own)", low=1)
    noise: str = option("auto", "noise added to the inputs while training (auto: the model's own; denoising: "
                        "gaussian, the others none)", ("auto", *NOISES))
    noise_level: float | None = option(None, "Gaussian: standard deviation in pixel units 0..1; salt_pepper, "
                                       "masking: share of pixels hit (default: the model's own)", low=0.0)
    sparsity: str = option("auto", "activity penalty on the code: l1, or kl to a target mean activation (auto: "
                           "sparse l1, the others none)", ("auto", "none", "l1", "kl"))
    sparsity_weight: float = option(1e-3, "weight of the sparsity penalty", low=0.0)
    sparsity_target: float = option(0.05, "kl: the mean activation each code unit is pushed towards", low=1e-4,
                                    high=0.9999)
    beta: float = option(1.0, "VAE: weight of the KL term (beta-VAE)", low=0.0)
    classes: str = option("", "train on these classes only, comma-separated (the normal ones, for outliers); "
                          "default: all")
    patch: int = option(0, "train on random square patches of this side (photos), and reconstruct images patch by "
                        "patch (0: resize each image to --imgsz)", low=0)
    patches_per_image: int = option(8, "--patch: patches drawn from each training image per epoch", low=1)
    false_alarm: float = option(0.05, "share of the clean validation images the outlier threshold flags",
                                low=0.0, high=1.0)


@dataclass
class AutoencodeOptions(PredictOptions):
    """Predicting takes no options: the reconstruction is the answer, its error the outlier score."""
