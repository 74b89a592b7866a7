"""Inside the network: a layer's feature maps and a convolution's filters as picture grids."""

import numpy as np
import torch

MAX_MAPS = 64  # channels shown per layer


def feature_grid(activation: torch.Tensor, max_maps: int = MAX_MAPS) -> np.ndarray:
    """(K, h, w) activations -> a uint8 grid of the first `max_maps` channels, each scaled to its own range."""
    maps = activation[:max_maps].float()
    low = maps.flatten(1).amin(1)[:, None, None]
    high = maps.flatten(1).amax(1)[:, None, None]
    return picture_grid(((maps - low) / (high - low).clamp(min=1e-8)).numpy())


def filter_grid(weight: torch.Tensor, max_filters: int = MAX_MAPS) -> np.ndarray:
    """(O, I, k, k) convolution weights -> a grid of filters: RGB where the layer reads 3 channels (the first
    layer of a colour network: what it looks for in pixels), else each filter's mean over its input channels."""
    weight = weight[:max_filters].detach().float()
    shown = weight if weight.shape[1] == 3 else weight.mean(dim=1, keepdim=True)
    low, high = shown.amin(), shown.amax()
    return picture_grid(((shown - low) / (high - low).clamp(min=1e-8)).numpy())


def picture_grid(tiles: np.ndarray, columns: int | None = None) -> np.ndarray:
    """(N, h, w) or (N, C, h, w) in [0, 1] -> one uint8 picture, tiles in rows of `columns` (default
    ceil(sqrt(N))), 1 px gaps."""
    if tiles.ndim == 3:
        tiles = tiles[:, None]
    count, channels, h, w = tiles.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    grid = np.ones((rows * (h + 1) + 1, columns * (w + 1) + 1, channels), np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = tile.transpose(1, 2, 0)
    grid = (grid * 255).round().astype(np.uint8)
    return grid[..., 0] if channels == 1 else grid
