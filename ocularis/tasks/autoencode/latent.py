"""A VAE's latent space, as seed 002 draws it: new images decoded from codes drawn from the prior, the manifold
(a grid of codes at the unit Gaussian's quantiles in the first two latent dimensions, the others at 0, each decoded),
and the codes of labelled images scattered by class (the first two dimensions, or a PCA of more)."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ocularis.core.image_result import Images
from ocularis.core.plots import plot_image_grid, plot_scatter
from ocularis.errors import ConfigError
from ocularis.tasks.autoencode.data import ImageSet
from ocularis.tasks.autoencode.predict import to_uint8


def require_variational(task, verb: str) -> None:
    task._require_network()
    if not task.variational:
        raise ConfigError(f"{verb} needs a variational autoencoder (train one with --model vae); "
                          f"{task.source or 'this model'} is a {task.meta['model']} autoencoder")


def sample(task, count: int = 64, seed: int = 0) -> list[Images]:
    """`count` new images decoded from codes drawn from the VAE's prior, N(0, I)."""
    require_variational(task, "sample")
    codes = torch.randn(count, task.meta["code_size"], generator=torch.Generator().manual_seed(seed))
    return [Images(f"sample{i}", to_uint8(image), None, {}) for i, image in enumerate(task.decode(codes))]


def manifold_codes(code_size: int, side: int) -> torch.Tensor:
    """(side * side, D) codes: the first two dimensions on a grid at the Gaussian's 5th..95th percentiles (the
    seed's ppf grid, so each cell holds equal prior mass), the rest 0; rows run top to bottom as z[1] falls."""
    quantiles = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, side))
    codes = torch.zeros(side * side, code_size)
    for row, y in enumerate(quantiles.flip(0)):
        for column, x in enumerate(quantiles):
            codes[row * side + column, 0] = x
            if code_size > 1:
                codes[row * side + column, 1] = y
    return codes


def manifold(task, path: Path, side: int = 15) -> Path:
    """manifold.png: a side x side grid of images decoded across the latent plane."""
    require_variational(task, "manifold")
    images = task.decode(manifold_codes(task.meta["code_size"], side))
    images = torch.nn.functional.pad(images, (0, 1, 0, 1), value=0.3)  # a grey line between cells
    channels, height, width = images.shape[1:]
    sheet = images.reshape(side, side, channels, height, width).permute(2, 0, 3, 1, 4)
    picture = to_uint8(sheet.reshape(channels, side * height, side * width))
    scale = max(1, 600 // picture.shape[0])  # 8 px digits drawn large enough to see
    enlarged = np.kron(picture, np.ones((scale, scale) + (1,) * (picture.ndim - 2), np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(enlarged).save(path)
    return path


def latent_scatter(task, dataset: ImageSet, path: Path, limit: int = 2000) -> Path:
    """latent.png: the codes (means) of up to `limit` images, coloured by their class."""
    require_variational(task, "the latent scatter")
    codes = []
    for images, _ in DataLoader(dataset, batch_size=256):
        codes.append(task.encode(images))
        if sum(len(c) for c in codes) >= limit:
            break
    points = torch.cat(codes)[:limit].numpy()
    labels = dataset.label_names()[:len(points)]
    if points.shape[1] > 2:
        from sklearn.decomposition import PCA

        points = PCA(n_components=2, random_state=0).fit_transform(points)
    elif points.shape[1] == 1:
        points = np.concatenate([points, np.zeros_like(points)], axis=1)
    return plot_scatter(points, labels, path, title="latent codes by class")


def sample_sheet(results: list[Images], path: Path) -> Path:
    """The samples as one grid picture."""
    return plot_image_grid([r.image for r in results], [r.source for r in results], path)
