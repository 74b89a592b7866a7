"""Large images through a network that takes tiles: cut into overlapping tiles, run, stitch the per-pixel outputs.

Where tiles overlap, each output pixel is a weighted mean of the tiles covering it, the weight falling linearly
towards a tile's inner borders: a convolution sees least context at a tile's edge, so the tile that has the pixel
nearest its centre counts most, and the blend leaves no seam. An image smaller than a tile is padded to one.
"""

from dataclasses import dataclass

import torch


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of `tile` pixels start along a side of `length`, adjacent ones sharing at least `overlap`."""
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]  # the last tile ends at the border rather than running past it


@dataclass
class TileLayout:
    """How one image of `width` x `height` is cut: tile corners (x, y), each tile `tile` pixels wide and
    `tile_height` high (default: square)."""

    width: int
    height: int
    tile: int
    overlap: int
    tile_height: int = 0

    def __post_init__(self):
        self.tile_height = self.tile_height or self.tile

    @staticmethod
    def whole(width: int, height: int, stride: int) -> "TileLayout":
        """One tile covering the image, its sides rounded up to the network's stride."""
        return TileLayout(width, height, -(-width // stride) * stride, 0, -(-height // stride) * stride)

    @property
    def corners(self) -> list[tuple[int, int]]:
        return [(x, y) for y in tile_starts(self.height, self.tile_height, self.overlap)
                for x in tile_starts(self.width, self.tile, self.overlap)]

    @property
    def padded(self) -> tuple[int, int]:
        """(height, width) of the image padded to at least one tile."""
        return max(self.height, self.tile_height), max(self.width, self.tile)

    def cut(self, image: torch.Tensor) -> torch.Tensor:
        """(C, H, W) -> (T, C, tile_height, tile); an image smaller than a tile is zero-padded right and below."""
        channels, height, width = image.shape
        padded = image.new_zeros(channels, *self.padded)
        padded[:, :height, :width] = image
        return torch.stack([padded[:, y:y + self.tile_height, x:x + self.tile] for x, y in self.corners])

    def weights(self) -> torch.Tensor:
        """(tile_height, tile) blending weights: 1 inside, ramping to 1 / (overlap + 1) over `overlap` pixels at
        the edges."""
        ramps = []
        for length in (self.tile_height, self.tile):
            ramp = torch.ones(length)
            width = min(self.overlap, length // 2)
            if width:
                edge = torch.arange(1, width + 1, dtype=torch.float32) / (width + 1)
                ramp[:width], ramp[-width:] = edge, edge.flip(0)
            ramps.append(ramp)
        return ramps[0][:, None] * ramps[1][None, :]


class Stitcher:
    """Accumulates tiles' per-pixel outputs (C, tile, tile) into the whole image's (C, H, W), chunk by chunk, so
    an image of any size needs memory for its output and one chunk of tiles, never all tiles at once."""

    def __init__(self, layout: TileLayout, channels: int, dtype: torch.dtype = torch.float32):
        self.layout = layout
        height, width = layout.padded
        self.total = torch.zeros(channels, height, width, dtype=dtype)
        self.weight = torch.zeros(1, height, width, dtype=dtype)
        self.window = layout.weights().to(dtype)

    def add(self, outputs: torch.Tensor, first: int) -> None:
        """Outputs (n, C, tile_height, tile) of tiles first .. first + n - 1 of the layout."""
        height, width = self.layout.tile_height, self.layout.tile
        for output, (x, y) in zip(outputs, self.layout.corners[first:first + len(outputs)], strict=True):
            self.total[:, y:y + height, x:x + width] += output.to(self.total.dtype) * self.window
            self.weight[:, y:y + height, x:x + width] += self.window

    def result(self) -> torch.Tensor:
        """The blended (C, H, W) output, cut back to the image's own size."""
        return (self.total / self.weight)[:, :self.layout.height, :self.layout.width]
