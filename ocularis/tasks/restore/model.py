"""The restoration networks this task offers: every record of ocularis.models.restorers, registered by name."""

from torch import nn

from ocularis.models.restorers import RECORDS, NetworkKind, build_restorer
from ocularis.registry import MODELS

TASK = "restore"
for _name, _record in RECORDS.items():
    MODELS.add(_name, _record, task=TASK)


def network_kind(name: str) -> NetworkKind:
    """The record of network `name`; an unknown name is refused with the known ones."""
    return MODELS.get(name, task=TASK)


def build_network(name: str, scale: int) -> nn.Module:
    """The untrained network `name` (scale is ignored by inpainting)."""
    return build_restorer(network_kind(name), scale)
