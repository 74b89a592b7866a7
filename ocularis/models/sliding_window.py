"""The naive detector: a small CNN classifies fixed-size windows slid over a scale space of the image (an image
pyramid, one level per window shape), background included as a class; a box-regression head nudges each window
onto the object it holds ("sliding window + regression"). Every window is classified on its own, with none of the
shared computation later detectors bring, which is what makes it slow. NMS is left to the task's postprocess."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, roi_align

from ocularis.models.boxes import decode_deltas, encode_deltas
from ocularis.models.detector import DetectorNetwork

WINDOW_SHAPES = 4  # pyramid levels; fixed, so a checkpoint's window shapes always fit the buffer
POSITIVE_IOU, NEGATIVE_IOU = 0.45, 0.3  # windows in between are neither: ambiguous crops only blur the classifier
JITTERS_PER_BOX = 8  # positives are few (1-4 objects an image): each is seen in several framings
JITTER_SHIFT, JITTER_SCALE = 0.2, 1.3  # up to a fifth of the box off centre, up to 1.3 times larger or smaller a side
WINDOWS_PER_IMAGE, POSITIVE_FRACTION = 64, 0.25  # Fast R-CNN's mini-batch: 3 background windows per object window
RANDOM_PER_IMAGE = 96  # background candidates drawn per image, more than a mini-batch needs
DELTA_SCALE = (0.1, 0.1, 0.2, 0.2)  # R-CNN's normalisation of box offsets, so all four are of similar size


def default_windows(imgsz: int) -> torch.Tensor:
    """Square windows from a sixth to a half of the image, evenly spaced in scale."""
    sides = np.geomspace(imgsz / 6, imgsz / 2, WINDOW_SHAPES)
    return torch.tensor(np.stack([sides, sides], 1), dtype=torch.float32)


def fit_windows(box_sizes: np.ndarray | None, imgsz: int, seed: int = 0) -> torch.Tensor:
    """Window (w, h) by k-means on the training boxes' log sizes, so the scales are spread as the objects' are."""
    if box_sizes is None or len(box_sizes) < WINDOW_SHAPES:
        return default_windows(imgsz)
    from sklearn.cluster import KMeans

    logs = np.log(np.clip(box_sizes, 2, imgsz))
    centres = np.exp(KMeans(n_clusters=WINDOW_SHAPES, n_init=10, random_state=seed).fit(logs).cluster_centers_)
    return torch.tensor(centres[np.argsort(centres.prod(axis=1))], dtype=torch.float32)


def stage(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv + BN + ReLU, then halve the resolution."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2))


class WindowClassifier(nn.Module):
    """(M, C, patch, patch) crops -> class logits (M, num_classes + 1, background last) and box offsets (M, 4)."""

    def __init__(self, num_classes: int, in_channels: int, patch: int, width: int, hidden: int = 128):
        super().__init__()
        self.features = nn.Sequential(stage(in_channels, width), stage(width, 2 * width), stage(2 * width, 4 * width),
                                      nn.Flatten())
        # a fully connected layer, not global pooling: where the object sits in the window is what regression needs
        self.hidden = nn.Sequential(nn.Linear(4 * width * (patch // 8) ** 2, hidden), nn.ReLU(inplace=True))
        self.classes = nn.Linear(hidden, num_classes + 1)
        self.offsets = nn.Linear(hidden, 4)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.hidden(self.features(crops))
        return self.classes(hidden), self.offsets(hidden)


class SlidingWindow(DetectorNetwork):
    """forward(images) -> (B, N, 4 + 1 + C): every window of every pyramid level, its box refined, objectness
    1 - p(background), class probabilities p(c) / (1 - p(background)). training_losses(images, targets) -> the
    window classifier's cross-entropy and its box regression on sampled windows."""

    def __init__(self, num_classes: int, windows: torch.Tensor, imgsz: int, in_channels: int = 3, patch: int = 16,
                 stride: int = 8, width: int = 16):
        super().__init__()
        self.num_classes, self.imgsz, self.patch, self.stride = num_classes, imgsz, patch, stride
        self.register_buffer("windows", windows.clone().float())  # (WINDOW_SHAPES, 2) w h pixels; saved
        self.classifier = WindowClassifier(num_classes, in_channels, patch, width)
        self._plan()
        # loaded weights bring their own window shapes: the pyramid is planned again from them
        self.register_load_state_dict_post_hook(lambda module, _: module._plan())

    def _plan(self) -> None:
        """Each window shape's pyramid level: the image is resized so that shape becomes patch x patch, to a size
        the stride tiles exactly; `grid` holds every window's box in input pixels, in the order forward emits them."""
        self.levels: list[tuple[int, int]] = []
        boxes = []
        for w, h in self.windows.tolist():
            steps = [max(0, round((self.imgsz * self.patch / side - self.patch) / self.stride)) for side in (h, w)]
            size = [self.patch + self.stride * s for s in steps]
            self.levels.append((size[0], size[1]))
            step_y, step_x = (self.imgsz / s for s in size)  # input pixels per resized pixel
            ys = torch.arange(0, size[0] - self.patch + 1, self.stride) * step_y
            xs = torch.arange(0, size[1] - self.patch + 1, self.stride) * step_x
            y0, x0 = torch.meshgrid(ys, xs, indexing="ij")
            boxes.append(torch.stack([x0, y0, x0 + self.patch * step_x, y0 + self.patch * step_y], -1).view(-1, 4))
        self.register_buffer("grid", torch.cat(boxes).to(self.windows.device), persistent=False)

    def crops(self, images: torch.Tensor) -> torch.Tensor:
        """The scale space and the slide: (B, N, C, patch, patch), one crop per row of `grid`."""
        b, c = images.shape[:2]
        levels = []
        for size in self.levels:
            # bilinear without antialiasing samples as roi_align(aligned=True, sampling_ratio=1) in training does
            scaled = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
            windows = scaled.unfold(2, self.patch, self.stride).unfold(3, self.patch, self.stride)
            levels.append(windows.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c, self.patch, self.patch))
        return torch.cat(levels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        crops = self.crops(images)
        logits, deltas = self.classifier(crops.flatten(0, 1))
        n = len(self.grid)
        probs = logits.view(-1, n, self.num_classes + 1).softmax(-1)
        objectness = 1 - probs[..., -1:]
        classes = (probs[..., :-1] / objectness.clamp(min=1e-6)).clamp(0, 1)
        # the (N, 4) grid of windows broadcasts over the batch
        boxes = decode_deltas(self.grid, deltas.view(-1, n, 4), DELTA_SCALE).clamp(0, self.imgsz)
        return torch.cat([boxes, objectness, classes], -1)

    def training_losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        windows, labels, matched = self.sample_windows(images, targets)
        crops = roi_align(images, windows, self.patch, spatial_scale=1.0, sampling_ratio=1, aligned=True)
        logits, deltas = self.classifier(crops)
        positive = labels < self.num_classes
        offsets = encode_deltas(windows[positive, 1:], matched[positive], DELTA_SCALE)
        box = F.smooth_l1_loss(deltas[positive], offsets, beta=1 / 9, reduction="sum") / max(int(positive.sum()), 1)
        return {"cls": F.cross_entropy(logits, labels), "box": box}

    @torch.no_grad()
    def sample_windows(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]):
        """WINDOWS_PER_IMAGE training windows an image, at most POSITIVE_FRACTION of them positive (Fast R-CNN's
        mini-batch): (M, 5) batch index + xyxy, label (background = num_classes) and matched box (M, 4). Positives are
        the ground truths jittered (as a pyramid's windows miss them by up to a stride and a scale step), negatives
        random windows of the pyramid's shapes overlapping every object less than NEGATIVE_IOU."""
        device, size, batch = images.device, images.shape[-1], len(images)
        truth = torch.cat([t["boxes"].to(device).float().view(-1, 4) for t in targets])
        labels = torch.cat([t["labels"].to(device).long() for t in targets])
        owner = torch.cat([torch.full((len(t["labels"]),), i, device=device) for i, t in enumerate(targets)])
        candidates = torch.cat([self._jitter(truth.repeat(JITTERS_PER_BOX, 1), size),
                                self._random_windows(RANDOM_PER_IMAGE * batch, size, device)])
        image = torch.cat([owner.repeat(JITTERS_PER_BOX),
                           torch.arange(batch, device=device).repeat_interleave(RANDOM_PER_IMAGE)])
        # a column of zeros stands for "no object", so a batch without boxes needs no case of its own
        overlap = F.pad(box_iou(candidates, truth) * (image[:, None] == owner[None]), (0, 1))
        best, match = overlap.max(1)
        total = WINDOWS_PER_IMAGE * batch
        positive = (best >= POSITIVE_IOU).nonzero().squeeze(1)
        positive = positive[torch.randperm(len(positive), device=device)[:int(POSITIVE_FRACTION * total)]]
        negative = (best < NEGATIVE_IOU).nonzero().squeeze(1)
        # always the same number of windows: each new input shape leaves oneDNN kernels cached (GBs over an epoch)
        needed = total - len(positive)
        if len(negative) >= needed:
            negative = negative[torch.randperm(len(negative), device=device)[:needed]]
        elif len(negative):  # objects crowd every image: some background windows are used twice
            negative = negative[torch.randint(len(negative), (needed,), device=device)]
        keep = torch.cat([positive, negative])
        window_labels = F.pad(labels, (0, 1), value=self.num_classes)[match[keep]]
        window_labels[len(positive):] = self.num_classes
        windows = torch.cat([image[keep, None].float(), candidates[keep]], 1)
        return windows, window_labels, F.pad(truth, (0, 0, 0, 1), value=1.0)[match[keep]]

    def _jitter(self, boxes: torch.Tensor, size: int) -> torch.Tensor:
        """Boxes moved by up to JITTER_SHIFT of their size and rescaled by up to JITTER_SCALE per side; the first
        copy of each is kept as it is."""
        wh = boxes[:, 2:] - boxes[:, :2]
        centre = boxes[:, :2] + wh / 2 + (torch.rand_like(wh) * 2 - 1) * JITTER_SHIFT * wh
        wh = wh * torch.exp((torch.rand_like(wh) * 2 - 1) * math.log(JITTER_SCALE))
        jittered = torch.cat([centre - wh / 2, centre + wh / 2], 1).clamp(0, size)
        jittered[:len(boxes) // JITTERS_PER_BOX] = boxes[:len(boxes) // JITTERS_PER_BOX]
        return jittered

    def _random_windows(self, count: int, size: int, device: torch.device) -> torch.Tensor:
        """Windows of the pyramid's shapes, a little rescaled, anywhere in the image."""
        shapes = self.windows[torch.randint(len(self.windows), (count,), device=device)]
        wh = (shapes * torch.empty(count, 1, device=device).uniform_(0.7, 1.4)).clamp(max=size)
        corner = torch.rand(count, 2, device=device) * (size - wh)
        return torch.cat([corner, corner + wh], 1)
