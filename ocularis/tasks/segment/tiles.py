"""Instance and semantic outputs over tiles: test-time flips and their undoing, objects of every tile merged into
the image's frame, and whether two passes found the same objects (an exported model's agreement)."""

import dataclasses

import torch
from torchvision.ops import batched_nms, box_iou

from ocularis.core.tiling import TileLayout
from ocularis.deploy.outputs import parts
from ocularis.tasks.segment.config import SegmentOptions
from ocularis.tasks.segment.predict import Objects, decode_objects

FLIPS = ((), (-1,), (-2,), (-2, -1))  # --tta: the image as it is, flipped left-right, up-down and both


def flipped(tiles: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) -> (len(FLIPS) T, ...): the tiles as they are, then flipped each way of FLIPS."""
    return torch.cat([tiles.flip(dims) if dims else tiles for dims in FLIPS])


def unflipped_mean(logits: torch.Tensor) -> torch.Tensor:
    """The outputs of flipped(tiles) flipped back and averaged: (len(FLIPS) T, C, H, W) -> (T, C, H, W)."""
    return torch.stack([part.flip(dims) if dims else part
                        for part, dims in zip(logits.chunk(len(FLIPS)), FLIPS, strict=True)]).mean(dim=0)


def merge_tiles(layout: TileLayout, chunks, options: SegmentOptions, max_det: int) -> Objects:
    """Objects of every tile in the image's frame. Each object is kept from the tile whose centre is nearest its box's
    centre (where it is furthest from a cut), then overlapping survivors of neighbouring tiles are suppressed."""
    size, tile = layout.padded, (layout.tile_height, layout.tile)
    if len(layout.corners) == 1:  # one pass over the whole image: nothing to move, nothing to merge
        (_, outputs), = chunks
        found = decode_objects(*(p[0] for p in parts(outputs)), tile, options.conf, options.iou, max_det,
                               options.mask_threshold)
        return Objects(found.boxes, found.scores, found.labels, found.masks[:, :layout.height, :layout.width])
    corners = torch.tensor(layout.corners, dtype=torch.float32)
    centres = corners + torch.tensor([layout.tile, layout.tile_height]) / 2
    kept: list[Objects] = []
    for start, outputs in chunks:
        for offset in range(len(parts(outputs)[0])):
            index = start + offset
            found = decode_objects(*(p[offset] for p in parts(outputs)), tile, options.conf,
                                   options.iou, max_det, options.mask_threshold)
            x, y = layout.corners[index]
            boxes = found.boxes + torch.tensor([x, y, x, y], dtype=torch.float32)
            middle = (boxes[:, :2] + boxes[:, 2:]) / 2
            home = torch.cdist(middle, centres).argmin(dim=1) == index if len(boxes) else torch.zeros(0, dtype=bool)
            masks = torch.zeros(int(home.sum()), *size, dtype=torch.bool)
            masks[:, y:y + tile[0], x:x + tile[1]] = found.masks[home]
            kept.append(Objects(boxes[home], found.scores[home], found.labels[home],
                                masks[:, :layout.height, :layout.width]))
    merged = Objects(*(torch.cat([getattr(k, f.name) for k in kept]) for f in dataclasses.fields(Objects)))
    return merged.select(batched_nms(merged.boxes, merged.scores, merged.labels, options.iou)[:max_det])


def same_objects(a: Objects, b: Objects) -> bool:
    if len(a) != len(b) or not torch.equal(a.labels.sort().values, b.labels.sort().values):
        return False
    if not len(a):
        return True
    overlap = box_iou(a.boxes, b.boxes) * (a.labels[:, None] == b.labels[None, :])
    return bool((overlap.max(dim=1).values >= 0.9).all() and (overlap.max(dim=0).values >= 0.9).all())
