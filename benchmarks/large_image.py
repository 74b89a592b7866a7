"""A large image segmented tile by tile in bounded memory, and checked for seams:

    python benchmarks/large_image.py --model runs/segment/unet/best.ckpt --size 4000 --tile 256 --overlap 64

builds a size x size mosaic of the built-in shapes' test scenes (so every pixel has a known class), predicts it tiled,
and prints the time, the peak resident memory the prediction added (and what the image, its tiles and its per-class
output would take if held at once), and the stitched map's agreement with the ground truth: overall and on the pixels
within 8 px of a tile border, where a seam would show.
"""

import argparse
import resource
import time

import numpy as np

import ocularis
from ocularis.core.tiling import tile_starts
from ocularis.data.segmentation import read_segmentation


def mosaic(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, size, 3) pixels and their (size, size) class map, tiled from the test scenes."""
    test = read_segmentation("shapes", val_fraction=0.15, test_fraction=0.15, seed=0).test
    scene = test.sources[0].shape[0]
    count = -(-size // scene)
    image = np.zeros((count * scene, count * scene, 3), np.uint8)
    truth = np.zeros((count * scene, count * scene), np.uint8)
    for index in range(count * count):
        row, column = divmod(index, count)
        source, target = test.sources[index % len(test)], test.targets[index % len(test)]
        window = np.s_[row * scene:(row + 1) * scene, column * scene:(column + 1) * scene]
        image[window], truth[window] = source, target.decode((scene, scene)).semantic
    return image[:size, :size], truth[:size, :size]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=64)
    args = parser.parse_args()
    segmenter = ocularis.load(args.model)
    image, truth = mosaic(args.size)
    segmenter.predict(image[:args.tile, :args.tile], tile=args.tile)  # warm up: the network's own memory
    before = peak_mb()
    started = time.perf_counter()
    result = segmenter.predict(image, tile=args.tile, overlap=args.overlap)[0]
    seconds = time.perf_counter() - started
    added = peak_mb() - before
    classes = len(segmenter.meta["classes"])
    tiles = len(tile_starts(args.size, args.tile, args.overlap)) ** 2
    at_once = (tiles * 3 * args.tile**2 * 4 + tiles * classes * args.tile**2 * 4) / 2**20
    border = np.zeros_like(truth, bool)
    for start in tile_starts(args.size, args.tile, args.overlap)[1:]:
        for edge in (start, start + args.tile - 1):
            border[:, max(0, edge - 8):edge + 8] = border[max(0, edge - 8):edge + 8, :] = True
    same = result.semantic == truth
    print(f"{args.size} x {args.size} px, {tiles} tiles of {args.tile} px (overlap {args.overlap}): {seconds:.1f} s")
    print(f"peak memory added by predict: {added:.0f} MB (image {image.nbytes / 2**20:.0f} MB; its per-class "
          f"output {classes * args.size**2 * 4 / 2**20:.0f} MB; all tiles and their outputs at once: {at_once:.0f} MB)")
    print(f"pixel accuracy against the truth: {same.mean():.4f} overall, {same[border].mean():.4f} within 8 px of "
          f"a tile border, {same[~border].mean():.4f} elsewhere")


if __name__ == "__main__":
    main()
