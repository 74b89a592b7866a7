"""The autoencoders this task offers: every record of ocularis.models.autoencoders, registered by name."""

from ocularis.models.autoencoders import RECORDS, Architecture, EncoderDecoder, build_autoencoder
from ocularis.registry import MODELS

TASK = "autoencode"
for _name, _record in RECORDS.items():
    MODELS.add(_name, _record, task=TASK)


def architecture(name: str) -> Architecture:
    """The record of autoencoder `name`; an unknown name is refused with the known ones."""
    return MODELS.get(name, task=TASK)


def build_network(name: str, *, channels: int, size: int, code_size: int | None = None,
                  width: int | None = None) -> EncoderDecoder:
    """The registered autoencoder `name` for (channels, size, size) images; code size and width default to its own."""
    return build_autoencoder(architecture(name), name, channels=channels, size=size, code_size=code_size,
                             width=width)
