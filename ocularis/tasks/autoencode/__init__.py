"""Autoencoders, declared: networks that learn to reproduce images through a narrow code, without labels (seed
002: dense, sparse, deep, convolutional, denoising, sequence-to-sequence LSTM, variational), and the verbs that use
them: reconstruct, denoise, encode, outliers, sample and manifold (ocularis.tasks.autoencode.commands)."""

from ocularis.contract import TaskSpec
from ocularis.tasks.autoencode.config import AutoencodeConfig, AutoencodeOptions

SPEC = TaskSpec("autoencode", "Autoencoders: reconstruct, denoise, encode, spot outliers; VAEs sample and draw "
                "their latent manifold.", AutoencodeConfig, AutoencodeOptions,
                "ocularis.tasks.autoencode.task:AutoEncoder", commands="ocularis.tasks.autoencode.commands",
                models=("dense", "sparse", "deep", "conv", "denoising", "lstm", "vae"), datasets=("digits", "shapes"))

__all__ = ["SPEC", "AutoencodeConfig", "AutoencodeOptions"]
