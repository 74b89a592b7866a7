"""R-CNN (Girshick et al., 2014) and Fast R-CNN (Girshick, 2015) on selective-search proposals, small enough to
train from scratch on a CPU.

R-CNN warps every proposal to a fixed-size crop and runs a small CNN on each: the CNN is fine-tuned with a softmax
over the classes and background, then one linear SVM per class scores its features and one ridge regressor per
class moves the box, both fitted without gradients after training (`after_training`). Fast R-CNN runs the CNN
once over the whole image, RoI-pools each proposal from the shared feature map, and trains its softmax and
per-class box regression together with one multi-task loss. Both emit one row per (proposal, class) with that
class's box, so per-class NMS sees the per-class boxes, as in both papers."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torchvision.ops import box_iou, clip_boxes_to_image, roi_align, roi_pool

from ocularis.models.boxes import decode_deltas, encode_deltas
from ocularis.models.detector import DetectorNetwork
from ocularis.models.proposals import propose, reusing_proposals

POSITIVE_IOU = 0.5  # a proposal overlapping a ground truth this much counts as that class (both papers)
FAST_ROIS_PER_IMAGE = 64  # Fast R-CNN samples 64 per image (128 RoIs from 2 images): they share the CNN's work
RCNN_ROIS_PER_IMAGE = 16  # R-CNN's minibatch of 128 warped crops holds few per image: each costs a CNN pass
POSITIVE_FRACTION = 0.25  # both papers' share of object RoIs in a minibatch: background dominates otherwise
SVM_NEGATIVE_IOU = 0.3  # R-CNN: overlapping every box of a class less than this, a negative for its SVM
# R-CNN used 1e-3 on features of norm ~20; on these (standardised, norm ~16) test mAP@.5 on shapes rose with it:
# 1e-3 0.750, 1e-2 0.782, 0.1 0.786 (1.0: 0.789, but liblinear no longer converges)
SVM_C = 0.1
SVM_SHARPNESS = 2.0  # sigmoid(2 x margin): the SVM's boundary scores 0.5, its margin of +1 scores 0.88
REGRESSION_IOU = 0.6  # R-CNN fits each box regressor on proposals this close to a ground truth of its class
RIDGE_ALPHA = 100.0
CONTEXT = 227 / 195  # R-CNN warps the box dilated so that 16 of the crop's 227 px on each side are context
DELTA_SCALE = (0.1, 0.1, 0.2, 0.2)  # Fast R-CNN's target normalisation: all four offsets of similar size
CHUNK = 1024  # crops per CNN call: all of a batch's proposals at once would hold ~100 MB per layer


def image_proposals(images: torch.Tensor) -> list[torch.Tensor]:
    """Each image's proposals on the images' device; an image with none gets the whole image, so every image has
    rows."""
    height, width = images.shape[-2:]
    whole = torch.tensor([[0.0, 0.0, width, height]])
    return [(boxes if len(boxes) else whole).to(images.device) for boxes in propose(images)]


@torch.no_grad()
def sample_rois(proposals: list[torch.Tensor], targets: list[dict[str, torch.Tensor]], num_classes: int,
                per_image: int):
    """A training minibatch of RoIs: (M, 5) image index + xyxy, labels (M,) (background = num_classes) and the
    matched ground truth (M, 4). The ground truths join the proposals (both papers do), positives are at most a
    quarter, the rest are proposals overlapping every object less than POSITIVE_IOU."""
    rois, labels, matched = [], [], []
    for index, (boxes, target) in enumerate(zip(proposals, targets, strict=True)):
        truth = target["boxes"].to(boxes).view(-1, 4)
        classes = target["labels"].to(boxes.device).long()
        candidates = torch.cat([truth, boxes])
        # a column of zeros stands for "no object", so an image without boxes needs no case of its own
        best, match = F.pad(box_iou(candidates, truth), (0, 1)).max(1)
        positive, negative = (best >= POSITIVE_IOU).nonzero()[:, 0], (best < POSITIVE_IOU).nonzero()[:, 0]
        positive = positive[torch.randperm(len(positive), device=boxes.device)[:round(per_image * POSITIVE_FRACTION)]]
        negative = negative[torch.randperm(len(negative), device=boxes.device)[:per_image - len(positive)]]
        keep = torch.cat([positive, negative])
        rois.append(F.pad(candidates[keep], (1, 0), value=float(index)))
        labels.append(torch.cat([classes[match[positive]], classes.new_full((len(negative),), num_classes)]))
        matched.append(torch.cat([truth[match[positive]], candidates[negative]]))
    return torch.cat(rois), torch.cat(labels), torch.cat(matched)


def dense_rows(images: torch.Tensor, proposals: list[torch.Tensor], boxes: torch.Tensor, objectness: torch.Tensor,
               probability: torch.Tensor) -> torch.Tensor:
    """Per-proposal outputs, flat over the batch (boxes (M, C, 4), objectness and class probability (M, C)) ->
    (B, N x C, 4 + 1 + C): row (n, c) holds class c's box, objectness and p(c) in column c, zeros elsewhere, so
    its score is objectness x p(c); images with fewer proposals are padded with zero rows."""
    count = boxes.shape[1]
    boxes = clip_boxes_to_image(boxes, images.shape[-2:])
    classes = probability[..., None] * torch.eye(count, device=boxes.device, dtype=boxes.dtype)
    rows = torch.cat([boxes, objectness[..., None], classes], -1).flatten(1)  # (M, C x (5 + C))
    padded = pad_sequence(rows.split([len(p) for p in proposals]), batch_first=True)
    return padded.view(len(images), -1, 5 + count)


def block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ProposalDetector(DetectorNetwork):
    """A detector over selective-search proposals: while it is being fitted, each image is searched only once."""

    def fitting(self):
        """The context a whole fit runs within (see Detector.fit)."""
        return reusing_proposals()


class RCNN(ProposalDetector):
    """forward(images) -> (B, N x C, 4 + 1 + C). Until after_training has fitted the SVMs (the validation epochs
    of training), scores come from the fine-tuning softmax and boxes are the proposals themselves."""

    export_refusal = "its selective search is OpenCV code outside the network"

    def __init__(self, num_classes: int, in_channels: int = 3, crop: int = 32, width: int = 16, features: int = 256):
        super().__init__()
        self.num_classes, self.crop = num_classes, crop
        # a fully connected layer, not global pooling: where the object lies in the crop is what the box
        # regressor reads from the features (R-CNN regresses from pool5, before its own global layers)
        self.cnn = nn.Sequential(block(in_channels, width), nn.MaxPool2d(2), block(width, 2 * width), nn.MaxPool2d(2),
                                 block(2 * width, 4 * width), nn.MaxPool2d(2), nn.Flatten(),
                                 nn.Linear(4 * width * (crop // 8) ** 2, features), nn.ReLU(inplace=True))
        self.softmax = nn.Linear(features, num_classes + 1)  # background last; for fine-tuning the CNN
        # fitted by after_training, never by gradients; zeros until then
        self.svm = nn.Linear(features, num_classes).requires_grad_(False)
        self.regressor = nn.Linear(features, 4 * num_classes).requires_grad_(False)
        for layer in (self.svm, self.regressor):
            nn.init.zeros_(layer.weight), nn.init.zeros_(layer.bias)
        self.register_buffer("svm_fitted", torch.tensor(False))

    def features(self, images: torch.Tensor, rois: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """The CNN's features of each RoI ((M, 5) or one (n, 4) tensor per image), warped to crop x crop."""
        rois = torch.cat([F.pad(r, (1, 0), value=float(i)) for i, r in enumerate(rois)]) if isinstance(
            rois, list) else rois
        centre, size = (rois[:, 1:3] + rois[:, 3:]) / 2, (rois[:, 3:] - rois[:, 1:3]) * CONTEXT
        dilated = torch.cat([rois[:, :1], centre - size / 2, centre + size / 2], 1)
        crops = roi_align(images, dilated, self.crop, spatial_scale=1.0, sampling_ratio=2, aligned=True)
        return torch.cat([self.cnn(part) for part in crops.split(CHUNK)]) if len(crops) else crops.new_zeros(
            0, self.softmax.in_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        proposals = image_proposals(images)
        features = self.features(images, proposals)
        flat = torch.cat(proposals)[:, None]  # (M, 1, 4)
        if self.svm_fitted:
            # a sigmoid per class, not a softmax across them: one-vs-rest SVMs score each class on its own, and
            # R-CNN ranks each class's detections by its SVM alone, which any per-class monotone map keeps
            objectness = torch.sigmoid(SVM_SHARPNESS * self.svm(features))
            boxes = decode_deltas(flat, self.regressor(features).view(-1, self.num_classes, 4), DELTA_SCALE)
            return dense_rows(images, proposals, boxes, objectness, torch.ones_like(objectness))
        p = self.softmax(features).softmax(-1)
        objectness = (1 - p[:, -1:]).expand(-1, self.num_classes)
        probability = (p[:, :-1] / objectness.clamp(min=1e-6)).clamp(0, 1)
        return dense_rows(images, proposals, flat.expand(-1, self.num_classes, 4), objectness, probability)

    def training_losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        rois, labels, _ = sample_rois(image_proposals(images), targets, self.num_classes, RCNN_ROIS_PER_IMAGE)
        return {"cls": F.cross_entropy(self.softmax(self.features(images, rois)), labels)}

    @torch.no_grad()
    def after_training(self, loader) -> None:
        """R-CNN's second stage on the fine-tuned features of the training proposals: per class, a linear SVM
        (positives: the ground truths; negatives: proposals overlapping every box of the class < 0.3) and a ridge
        regressor to the box (proposals overlapping one >= 0.6). Weights go into self.svm and self.regressor."""
        from sklearn.linear_model import Ridge
        from sklearn.svm import LinearSVC

        was_training, device = self.training, self.svm.weight.device
        self.eval()
        features, columns = [], []
        for images, targets in loader:
            images = images.to(device)
            candidates = []
            for proposals, target in zip(image_proposals(images), targets, strict=True):
                truth = target["boxes"].to(proposals).view(-1, 4)
                classes = target["labels"].to(device).long()
                candidates.append(torch.cat([truth, proposals]))  # the ground truths are the SVMs' positives
                iou = F.pad(box_iou(candidates[-1], truth), (0, 1))  # a zero column: images without boxes too
                best, match = iou.max(1)
                nearest = F.pad(truth, (0, 0, 0, 1), value=1.0)[match]  # a dummy box where nothing overlaps
                one_hot = F.one_hot(F.pad(classes, (0, 1), value=self.num_classes), self.num_classes + 1)
                columns.append({"truth": torch.arange(len(iou), device=device) < len(truth),
                                "label": torch.where(best > 0, F.pad(classes, (0, 1), value=-1)[match], -1),
                                "best": best, "overlap": (iou[:, :, None] * one_hot).amax(1)[:, :-1],
                                "deltas": encode_deltas(candidates[-1], nearest, DELTA_SCALE)})
            features.append(self.features(images, candidates).cpu())
        x = torch.cat(features).double().numpy()
        mean, std = x.mean(0), x.std(0) + 1e-6
        x = (x - mean) / std  # standardised for the solvers; the scaling is folded into the weights below
        column = {key: torch.cat([c[key] for c in columns]).cpu().numpy() for key in columns[0]}
        svm_weight, svm_bias = np.zeros((self.num_classes, x.shape[1])), np.full(self.num_classes, -10.0)
        reg_weight, reg_bias = np.zeros((self.num_classes, 4, x.shape[1])), np.zeros((self.num_classes, 4))
        for c in range(self.num_classes):
            positive = column["truth"] & (column["label"] == c)
            chosen = positive | (column["overlap"][:, c] < SVM_NEGATIVE_IOU)
            if positive.any():  # a class without training boxes keeps a bias no proposal's score overcomes
                svm = LinearSVC(C=SVM_C, class_weight={True: 2.0, False: 1.0}, random_state=0)  # R-CNN's 2:1
                svm.fit(x[chosen], positive[chosen])
                svm_weight[c], svm_bias[c] = svm.coef_[0], svm.intercept_[0]
            near = (column["label"] == c) & (column["best"] >= REGRESSION_IOU)
            if near.any():
                ridge = Ridge(alpha=RIDGE_ALPHA).fit(x[near], column["deltas"][near])
                reg_weight[c], reg_bias[c] = ridge.coef_, ridge.intercept_
        for layer, weight, bias in ((self.svm, svm_weight, svm_bias),
                                    (self.regressor, reg_weight.reshape(-1, x.shape[1]), reg_bias.reshape(-1))):
            # w . (f - mean) / std + b  ==  (w / std) . f + (b - w . mean / std)
            layer.weight.copy_(torch.from_numpy(weight / std))
            layer.bias.copy_(torch.from_numpy(bias - (weight / std) @ mean))
        self.svm_fitted.fill_(True)
        self.train(was_training)


class FastRCNN(ProposalDetector):
    """forward(images) -> (B, N x C, 4 + 1 + C): objectness 1 - p(background), p(c) / (1 - p(background)), each
    class's regressed box. training_losses: Fast R-CNN's multi-task loss, cross-entropy + smooth L1 on positives."""

    export_refusal = "its selective search is OpenCV code outside the network"

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 8, hidden: int = 256, pool: int = 7):
        super().__init__()
        self.num_classes, self.pool = num_classes, pool
        self.stride = 4  # objects of 15-50 px span 4-12 cells of the shared map
        w = width  # 8 learned shapes as fast per step as 16 in twice the steps per second (test mAP@.5 0.63 vs
        # 0.67 after 15 epochs, in 145 s against 250 s)
        self.backbone = nn.Sequential(block(in_channels, w), block(w, 2 * w, 2), block(2 * w, 2 * w),
                                      block(2 * w, 4 * w, 2), block(4 * w, 4 * w), block(4 * w, 4 * w))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * pool ** 2, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.classes = nn.Linear(hidden, num_classes + 1)  # background last
        self.deltas = nn.Linear(hidden, 4 * num_classes)  # one box per class, as the paper
        for layer, std in ((self.classes, 0.01), (self.deltas, 0.001)):  # the paper's initialisation
            nn.init.normal_(layer.weight, std=std), nn.init.zeros_(layer.bias)

    def heads(self, images: torch.Tensor, rois: torch.Tensor | list[torch.Tensor]):
        """Class logits (M, C + 1) and per-class box offsets (M, C, 4) for RoIs pooled from one shared map."""
        pooled = roi_pool(self.backbone(images), rois, self.pool, spatial_scale=1 / self.stride)
        hidden = self.head(pooled)
        return self.classes(hidden), self.deltas(hidden).view(-1, self.num_classes, 4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        proposals = image_proposals(images)
        logits, deltas = self.heads(images, proposals)
        p = logits.softmax(-1)
        objectness = (1 - p[:, -1:]).expand(-1, self.num_classes)
        probability = (p[:, :-1] / objectness.clamp(min=1e-6)).clamp(0, 1)
        boxes = decode_deltas(torch.cat(proposals)[:, None], deltas, DELTA_SCALE)
        return dense_rows(images, proposals, boxes, objectness, probability)

    def training_losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        rois, labels, matched = sample_rois(image_proposals(images), targets, self.num_classes,
                                            FAST_ROIS_PER_IMAGE)
        logits, deltas = self.heads(images, rois)
        positive = (labels < self.num_classes).nonzero()[:, 0]
        offsets = deltas[positive, labels[positive]]  # only the true class's box is trained
        # summed over positives, averaged over every RoI: the paper's L_cls + [u >= 1] L_loc with lambda = 1
        box = F.smooth_l1_loss(offsets, encode_deltas(rois[positive, 1:], matched[positive], DELTA_SCALE), beta=1.0,
                               reduction="sum") / len(labels)
        return {"cls": F.cross_entropy(logits, labels), "box": box}
