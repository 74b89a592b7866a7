"""Autoencoder networks, each with its record of defaults beside it (seed 002's walk through them); the autoencode
task registers the records by name.

Every one is an `EncoderDecoder`: an `encoder` from images (B, C, S, S) to a flat code (B, D) — for a VAE, the code's
mean and log-variance — and a `decoder` from a code back to images in 0..1. `forward` is the deterministic
reconstruction (a VAE decodes its mean), the one meaning predict, export and the server use; training draws a VAE's
code itself (module.py). The encoder and the decoder are what export writes, as two graphs.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ocularis.errors import ConfigError
from ocularis.models.record import ModelRecord


@dataclass(frozen=True)
class Architecture(ModelRecord):
    """An autoencoder's record: its builder, (channels, size, code_size, width) -> (encoder, decoder), and the
    training defaults that suit it (each an option's default)."""

    code_size: int  # length of the code (conv with a spatial code: 0, the stride-4 feature map is the code)
    noise: str = "none"  # what training corrupts its inputs with: none, gaussian, salt_pepper, masking
    noise_level: float = 0.0
    sparsity: str = "none"  # activity penalty on the code: none, l1, kl
    variational: bool = False
    width: int = 32  # channels of the first convolution / units of the first hidden layer
    multiple: int = 1  # the input side must divide by this


class EncoderDecoder(nn.Module):
    """An encoder and a decoder; `forward` reconstructs (a VAE from its code's mean)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, variational: bool, code_size: int):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.variational, self.code_size = variational, code_size

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The code (a VAE's: its mean)."""
        found = self.encoder(images)
        return found[0] if self.variational else found

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(images))


class ExportedChain:
    """An exported encoder and decoder run one after the other, behind a network's call (what infer runs). A VAE's
    encoder file has two outputs, which its runtime returns as a tuple (ocularis.deploy.outputs): the mean first."""

    def __init__(self, encoder, decoder):
        self.encoder, self.decoder = encoder, decoder

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        found = self.encoder(images)
        return found[0] if isinstance(found, tuple) else found

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(images))

    def to(self, *_, **__) -> "ExportedChain":
        return self

    def eval(self) -> "ExportedChain":
        return self


class Mean(nn.Module):
    """A VAE's encoder: a body, then the code's mean and log-variance (two outputs, so export keeps both)."""

    def __init__(self, body: nn.Module, features: int, code_size: int):
        super().__init__()
        self.body = body
        self.mean, self.log_variance = nn.Linear(features, code_size), nn.Linear(features, code_size)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(images)
        return self.mean(hidden), self.log_variance(hidden)


def _pixels(channels: int, size: int) -> int:
    return channels * size * size


def _dense(channels: int, size: int, code_size: int, width: int, hidden: tuple[int, ...] = (),
           code_activation: nn.Module | None = None) -> tuple[nn.Module, nn.Module]:
    """Fully connected: pixels -> hidden layers -> code -> the hidden layers mirrored -> pixels (sigmoid)."""
    sizes = [_pixels(channels, size), *hidden]
    encoder: list[nn.Module] = [nn.Flatten()]
    for cin, cout in zip(sizes, sizes[1:], strict=False):
        encoder += [nn.Linear(cin, cout), nn.ReLU()]
    encoder += [nn.Linear(sizes[-1], code_size), code_activation or nn.ReLU()]
    back = [code_size, *reversed(hidden)]
    decoder: list[nn.Module] = []
    for cin, cout in zip(back, back[1:], strict=False):
        decoder += [nn.Linear(cin, cout), nn.ReLU()]
    decoder += [nn.Linear(back[-1], sizes[0]), nn.Sigmoid(), nn.Unflatten(1, (channels, size, size))]
    return nn.Sequential(*encoder), nn.Sequential(*decoder)


def build_dense(channels: int, size: int, code_size: int, width: int) -> tuple[nn.Module, nn.Module]:
    """The seed's simplest autoencoder: one fully connected layer each way."""
    return _dense(channels, size, code_size, width)


def build_sparse(channels: int, size: int, code_size: int, width: int) -> tuple[nn.Module, nn.Module]:
    """One layer each way with a sigmoid code (in 0..1, what the KL sparsity target is a share of); training adds
    the activity penalty."""
    return _dense(channels, size, code_size, width, code_activation=nn.Sigmoid())


def build_deep(channels: int, size: int, code_size: int, width: int) -> tuple[nn.Module, nn.Module]:
    """Stacked fully connected layers: 4w, 2w units down to the code, mirrored back."""
    return _dense(channels, size, code_size, width, hidden=(4 * width, 2 * width))


def build_conv(channels: int, size: int, code_size: int, width: int) -> tuple[nn.Module, nn.Module]:
    """Three convolutions (two of stride 2) down to a (2w, S/4, S/4) map, then a linear code of `code_size`
    (0: the map itself, flattened, is the code — what a denoiser wants, every place keeping its own detail);
    transposed convolutions back up."""
    side, maps = size // 4, 2 * width
    flat = maps * side * side
    encoder: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                                nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
                                nn.Conv2d(width, maps, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten()]
    decoder: list[nn.Module] = []
    if code_size:
        encoder.append(nn.Linear(flat, code_size))
        decoder += [nn.Linear(code_size, flat), nn.ReLU()]
    decoder += [nn.Unflatten(1, (maps, side, side)),
                nn.ConvTranspose2d(maps, width, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(width, channels, 3, padding=1), nn.Sigmoid()]
    return nn.Sequential(*encoder), nn.Sequential(*decoder)


class RowEncoder(nn.Module):
    """An image as a sequence of its rows (each row's pixels one step) through an LSTM; its last output, mapped to
    the code, sums up the whole sequence (the seed's sequence-to-sequence autoencoder)."""

    def __init__(self, channels: int, size: int, code_size: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(channels * size, hidden, batch_first=True)
        # not `code`: torch.export's graph modules have a `code` property, and ONNX export fails on the clash
        self.to_code = nn.Linear(hidden, code_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        rows = images.permute(0, 2, 1, 3).flatten(2)  # (B, H, C * W): row by row, every channel of a row together
        outputs, _ = self.lstm(rows)
        return self.to_code(outputs[:, -1])

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        for name in ("weight", "bias"):  # checkpoints written before the layer's rename
            if f"{prefix}code.{name}" in state_dict:
                state_dict[f"{prefix}to_code.{name}"] = state_dict.pop(f"{prefix}code.{name}")
        super()._load_from_state_dict(state_dict, prefix, *args)


class RowDecoder(nn.Module):
    """The code repeated once per row into an LSTM, each step's output mapped to that row's pixels."""

    def __init__(self, channels: int, size: int, code_size: int, hidden: int):
        super().__init__()
        self.channels, self.size = channels, size
        self.lstm = nn.LSTM(code_size, hidden, batch_first=True)
        self.row = nn.Linear(hidden, channels * size)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        steps = code.unsqueeze(1).expand(-1, self.size, -1)
        outputs, _ = self.lstm(steps)
        rows = torch.sigmoid(self.row(outputs))  # (B, H, C * W)
        # -1, not len(code): ONNX export would fix the batch at the example's size
        return rows.reshape(-1, self.size, self.channels, self.size).permute(0, 2, 1, 3)


def build_lstm(channels: int, size: int, code_size: int, width: int) -> tuple[nn.Module, nn.Module]:
    hidden = 4 * width
    return RowEncoder(channels, size, code_size, hidden), RowDecoder(channels, size, code_size, hidden)


def build_vae(channels: int, size: int, code_size: int, width: int) -> tuple[nn.Module, nn.Module]:
    """Kingma & Welling's VAE as the seed builds it: one hidden layer of 8w units, a code's mean and log-variance,
    the decoder mirrored."""
    hidden = 8 * width
    body = nn.Sequential(nn.Flatten(), nn.Linear(_pixels(channels, size), hidden), nn.ReLU())
    decoder = nn.Sequential(nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, _pixels(channels, size)),
                            nn.Sigmoid(), nn.Unflatten(1, (channels, size, size)))
    return Mean(body, hidden, code_size), decoder


GRAPHS = ("encoder", "decoder")  # what export writes of every autoencoder
RECORDS = {
    "dense": Architecture(build_dense, code_size=32, graphs=GRAPHS),
    "sparse": Architecture(build_sparse, code_size=64, sparsity="l1", graphs=GRAPHS),
    "deep": Architecture(build_deep, code_size=32, graphs=GRAPHS),
    "conv": Architecture(build_conv, code_size=32, multiple=4, graphs=GRAPHS),
    "denoising": Architecture(build_conv, code_size=0, noise="gaussian", noise_level=0.5, width=64, multiple=4,
                              graphs=GRAPHS),
    "lstm": Architecture(build_lstm, code_size=32, graphs=GRAPHS),
    "vae": Architecture(build_vae, code_size=2, variational=True, width=16, graphs=GRAPHS),
}


def build_autoencoder(chosen: Architecture, name: str, *, channels: int, size: int, code_size: int | None = None,
                      width: int | None = None) -> EncoderDecoder:
    """Autoencoder `name` (its record `chosen`) for (channels, size, size) images; code size and width default to
    its own."""
    if size % chosen.multiple:
        raise ConfigError(f"--imgsz {size}: a {name} autoencoder's input side must divide by {chosen.multiple}; "
                          f"pass --imgsz {max(chosen.multiple, size - size % chosen.multiple)}")
    code_size = chosen.code_size if code_size is None else code_size
    if code_size < (1 if chosen.build is not build_conv else 0):
        raise ConfigError(f"--code-size {code_size}: a {name} autoencoder needs a code of at least one number")
    encoder, decoder = chosen.build(channels, size, code_size, width or chosen.width)
    found = code_size or 2 * (width or chosen.width) * (size // 4) ** 2
    return EncoderDecoder(encoder, decoder, variational=chosen.variational, code_size=found)
