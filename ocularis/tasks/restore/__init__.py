"""Restoration, declared: super-resolution (SRCNN, ESPCN's sub-pixel convolution) and inpainting (a masked
convolutional autoencoder), trained on the user's photos and scored beside bicubic interpolation and OpenCV."""

from ocularis.contract import TaskSpec
from ocularis.tasks.restore.config import RestoreConfig, RestoreOptions

SPEC = TaskSpec("restore", "Restoration: super-resolution (SRCNN, ESPCN) and inpainting, trained on your photos.",
                RestoreConfig, RestoreOptions, "ocularis.tasks.restore.task:Restorer",
                commands="ocularis.tasks.restore.commands", models=("espcn", "srcnn", "inpaint"),
                datasets=())

__all__ = ["SPEC", "RestoreConfig", "RestoreOptions"]
