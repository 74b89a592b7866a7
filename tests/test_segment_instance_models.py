"""The instance segmentation networks keep ocularis.models.segmenter's contract: output shapes, loss parts, learning
boxes and masks on drawn shapes, and (YOLO-seg) an ONNX file that reproduces PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from ocularis.data.shapes import SHAPES, draw_scene
from ocularis.deploy.formats import export_onnx
from ocularis.models import mask_rcnn, yolo_seg
from ocularis.models.segmenter import InstanceNetwork

CLASSES = len(SHAPES)
NETWORKS = {name: record.build for name, record in {**yolo_seg.RECORDS, **mask_rcnn.RECORDS}.items()}


def scenes(count: int, size: int, seed: int = 0) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """`count` drawn images (normalised as the tasks feed them) with their objects' boxes, classes and masks."""
    rng = np.random.default_rng(seed)
    images, targets = [], []
    for _ in range(count):
        pixels, objects = draw_scene(rng, size, 2)
        images.append(torch.tensor(pixels).permute(2, 0, 1).float() / 255)
        targets.append({"boxes": torch.tensor([o.box for o in objects], dtype=torch.float32),
                        "labels": torch.tensor([o.label for o in objects], dtype=torch.int64),
                        "masks": torch.from_numpy(np.stack([o.mask for o in objects])).to(torch.uint8)})
    return (torch.stack(images) - 0.45) / 0.25, targets


def build(name: str, imgsz: int, targets=None) -> InstanceNetwork:
    torch.manual_seed(0)
    sizes = None if targets is None else torch.cat([t["boxes"][:, 2:] - t["boxes"][:, :2] for t in targets]).numpy()
    return NETWORKS[name](num_classes=CLASSES, in_channels=3, imgsz=imgsz, box_sizes=sizes, seed=0)


def test_the_tables_name_every_builder_with_its_defaults():
    assert set(NETWORKS) == {"yolo_seg", "yolo_seg_s", "maskrcnn_resnet18_fpn"}
    for record in (*yolo_seg.RECORDS.values(), *mask_rcnn.RECORDS.values()):
        assert record.build.__doc__ and record.imgsz and record.lr


@pytest.mark.parametrize("name, detections", [("yolo_seg", 3 * (8 * 8 + 4 * 4 + 2 * 2)),
                                              ("yolo_seg_s", 3 * (8 * 8 + 4 * 4 + 2 * 2)),
                                              ("maskrcnn_resnet18_fpn", 100)])
def test_outputs_follow_the_contract(name, detections):
    images, targets = scenes(2, 64)
    network = build(name, 64).eval()
    with torch.no_grad():
        rows, coefficients, prototypes = network(images)
    k = prototypes.shape[1]
    assert rows.shape == (2, detections, 4 + 1 + CLASSES) and coefficients.shape == (2, detections, k)
    assert prototypes.shape == (2, k, 16, 16)  # H/4 x W/4
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in (rows, coefficients, prototypes))
    assert ((rows[..., 4:] >= 0) & (rows[..., 4:] <= 1)).all()
    assert network.instances and isinstance(network, InstanceNetwork) and network.stride == 32


def test_mask_rcnn_sees_images_at_their_own_size():
    """Trained on imgsz crops, it must see whole images and tiles at the same pixels: torchvision's transform would
    scale a 96 x 128 image to 48 x 64 for imgsz 64."""
    network = build("maskrcnn_resnet18_fpn", 64)
    batch, _ = network.model.transform(list(torch.randn(2, 3, 96, 128)))
    assert batch.tensors.shape[-2:] == (96, 128) and batch.image_sizes == [(96, 128)] * 2


@pytest.mark.parametrize("name, parts", [
    ("yolo_seg", {"box", "obj", "cls", "mask"}),
    ("maskrcnn_resnet18_fpn", {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}),
])
def test_training_losses_are_named_and_finite(name, parts):
    images, targets = scenes(2, 64)
    targets[1] = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
                  "masks": torch.zeros(0, 64, 64, dtype=torch.uint8)}  # an image without objects is allowed
    network = build(name, 64).train()
    losses = network.training_losses(images, targets)
    assert set(losses) == parts and all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    sum(losses.values()).backward()


def train(network: InstanceNetwork, images, targets, steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr)
    network.train()
    history = []
    for _ in range(steps):
        loss = sum(network.training_losses(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


def best_row_mask_iou(network: InstanceNetwork, images, targets, crop: bool) -> list[float]:
    """Per image: the mask IoU between its best-scoring row (sigmoid(coefficients @ prototypes) > 0.5, upsampled to
    the input; optionally cropped to the row's box, as YOLACT evaluates) and the object that row boxes best."""
    network.eval()
    with torch.no_grad():
        rows, coefficients, prototypes = network(images)
    size = images.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(size[0]) + 0.5, torch.arange(size[1]) + 0.5, indexing="ij")
    ious = []
    for index, target in enumerate(targets):
        best = (rows[index, :, 4] * rows[index, :, 5:].max(dim=1).values).argmax()
        logits = torch.einsum("k,khw->hw", coefficients[index, best], prototypes[index])
        mask = F.interpolate(logits[None, None], size=size, mode="bilinear")[0, 0] > 0
        box = rows[index, best, :4]
        if crop:
            mask &= (xs >= box[0]) & (xs <= box[2]) & (ys >= box[1]) & (ys <= box[3])
        truth = target["masks"][box_iou(box[None], target["boxes"]).argmax()].bool()
        ious.append(((mask & truth).sum() / (mask | truth).sum()).item())
    return ious


def test_yolo_seg_learns_boxes_and_masks():
    images, targets = scenes(8, 96)
    network = build("yolo_seg", 96, targets)
    history = train(network, images, targets, steps=80, lr=yolo_seg.RECORDS["yolo_seg"].lr)
    assert np.mean(history[-5:]) < 0.4 * history[0]
    ious = best_row_mask_iou(network, images, targets, crop=True)
    assert np.mean(ious) > 0.7 and np.median(ious) > 0.8, ious  # 0.90 and 0.94 here; untrained, 0.13


def test_mask_rcnn_learns_boxes_and_masks():
    images, targets = scenes(4, 64)
    network = build("maskrcnn_resnet18_fpn", 64)
    history = train(network, images, targets, steps=40, lr=mask_rcnn.RECORDS["maskrcnn_resnet18_fpn"].lr)
    assert np.mean(history[-5:]) < 0.2 * history[0]
    ious = best_row_mask_iou(network, images, targets, crop=False)  # its masks are already 0 outside their box
    assert np.mean(ious) > 0.6, ious  # 0.86 here; untrained, 0.14


def test_yolo_seg_exports_to_onnx_and_onnxruntime_reproduces_it(tmp_path):
    import onnxruntime as ort

    network = build("yolo_seg", 64).eval()
    images, _ = scenes(3, 64, seed=1)
    names = ("rows", "coefficients", "prototypes")
    path = export_onnx(network, (images[:2],), tmp_path / "yolo_seg.onnx", {"model": "yolo_seg"}, output_names=names)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(list(names), {"images": images.numpy()})  # batch 3: the batch axis is dynamic
    with torch.no_grad():
        reference = network(images)
    for name, ours, theirs in zip(names, reference, exported, strict=True):
        assert theirs.shape == tuple(ours.shape), name
        assert np.abs(theirs - ours.numpy()).max() <= 1e-4 * max(1.0, ours.abs().max().item()), name
    assert mask_rcnn.MaskRCNNSegmenter.export_refusal and yolo_seg.YOLOSeg.export_refusal is None
