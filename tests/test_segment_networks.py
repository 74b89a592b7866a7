"""The semantic segmentation networks: every builder gives logits at the input's size for grey and RGB images, FCN's
upsampling starts bilinear, SegNet unpools at the max-pooled positions, U-Net and FCN-8s learn real shapes, and the
ONNX files reproduce the networks under ONNX Runtime."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ocularis.data.shapes import SHAPES, draw_scene
from ocularis.deploy.formats import export_onnx
from ocularis.deploy.runtime import OnnxNetwork
from ocularis.models import segmenters, smp_segmenters, torchvision_segmenters
from ocularis.models.segmenter import SemanticNetwork
from ocularis.models.segmenters import SegNet, bilinear_upsampler

MODULES = (segmenters, smp_segmenters, torchvision_segmenters)
RECORDS = {name: record for module in MODULES for name, record in module.RECORDS.items()}
BUILDERS = {name: record.build for name, record in RECORDS.items()}
NAMES = ("fcn32s", "fcn16s", "fcn8s", "segnet", "unet", "unet32", "unet64", "pspnet", "smp_unet", "smp_fpn",
         "smp_deeplabv3plus", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large",
         "fcn_resnet50", "deeplabv3_resnet18")
CLASSES = len(SHAPES) + 1  # the shapes plus background


def shape_batch(count: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Drawn scenes of two shapes, normalised to [-1, 1], and their semantic maps (shape label + 1, 0 background)."""
    rng = np.random.default_rng(seed)
    images, targets = [], []
    for _ in range(count):
        image, objects = draw_scene(rng, size, 2)
        target = np.zeros((size, size), np.int64)
        for obj in objects:
            target[obj.mask] = obj.label + 1
        images.append(image)
        targets.append(target)
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return pixels, torch.from_numpy(np.stack(targets))


def test_records_hold_every_name_with_its_defaults():
    assert set(RECORDS) == set(NAMES)
    for name, record in RECORDS.items():
        assert record.summary and "\n" not in record.build.__doc__.strip(), name
        assert record.imgsz and record.lr, name
        assert len(record.mean) == len(record.std) == 3


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_logits_have_the_input_size(name, channels):
    network = BUILDERS[name](num_classes=4, in_channels=channels).eval()
    assert isinstance(network, SemanticNetwork)
    assert 64 % network.stride == 0 and RECORDS[name].imgsz % network.stride == 0
    images = torch.randn(2, channels, 64, 64)
    with torch.no_grad():
        assert network(images).shape == (2, 4, 64, 64)
        if isinstance(network, torchvision_segmenters.TorchvisionSegmenter):  # the stride is the backbone's
            deepest = list(network.model.backbone(images).values())[-1]  # LR-ASPP's backbone also gives "low"
            assert deepest.shape[-1] == 64 // network.stride


def test_fcn_upsampling_starts_as_bilinear_interpolation():
    scores = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        learned = bilinear_upsampler(3, 8)(scores)
    reference = F.interpolate(scores, scale_factor=8, mode="bilinear", align_corners=False)
    assert learned.shape == reference.shape == (1, 3, 48, 48)
    # Equal wherever the kernel sees no padding (the border half-pixel differs: zeros there vs clamped edges).
    assert torch.allclose(learned[..., 8:-8, 8:-8], reference[..., 8:-8, 8:-8], atol=1e-5)


def test_segnet_unpools_at_the_max_positions():
    network = SegNet(CLASSES)
    features = torch.randn(2, 3, 8, 8)
    pooled, where = network.pool(features)
    unpooled = network.unpool(pooled, where)
    assert torch.equal(unpooled, F.max_unpool2d(pooled, where, 2, 2))
    kept = unpooled != 0
    windows = kept.unfold(2, 2, 2).unfold(3, 2, 2)  # (2, 3, 4, 4, 2, 2): one kept value per 2x2 window
    assert (windows.sum((-1, -2)) == 1).all()
    assert torch.equal(unpooled[kept], features[kept])  # each maximum back where it came from
    assert torch.equal(F.max_pool2d(features, 2), pooled)


@pytest.mark.parametrize(("name", "steps"), [("unet", 60), ("fcn8s", 50)])
def test_network_learns_shapes(name, steps):
    torch.manual_seed(0)
    images, targets = shape_batch(8, 64)
    background = float((targets == 0).float().mean())
    network = BUILDERS[name](num_classes=CLASSES, in_channels=3, width=8)
    optimiser = torch.optim.Adam(network.parameters(), lr=RECORDS[name].lr)
    for _ in range(steps):
        loss = F.cross_entropy(network(images), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        accuracy = float((network.eval()(images).argmax(1) == targets).float().mean())
    # Calling every pixel background scores ~0.77; 0.9 means the network removed over half of those errors
    # (seeds 0-3 reached 0.945-0.958 for U-Net at 60 steps, 0.925-0.938 for FCN-8s at 40).
    assert background < 0.8
    assert accuracy > 0.9, f"{name}: pixel accuracy {accuracy:.3f} (all background: {background:.3f})"


@pytest.mark.parametrize("name", ["fcn8s", "segnet", "unet", "lraspp_mobilenet_v3_large", "pspnet"])
def test_onnx_export_reproduces_the_network(name, tmp_path):
    torch.manual_seed(0)
    network = BUILDERS[name](num_classes=CLASSES, in_channels=3)
    assert network.export_refusal is None
    with torch.no_grad():
        for parameter in network.parameters():
            if not parameter.any():  # FCN's zero-initialised score layers would make every output 0
                parameter.normal_(0, 0.1)
    images, _ = shape_batch(3, 64)
    network.train()(images)  # batch-norm statistics of real pixels, not the initial 0 and 1
    path = export_onnx(network.eval(), (images[:2],), tmp_path / f"{name}.onnx", {"model": name})
    with torch.no_grad():
        reference = network(images)
    exported = OnnxNetwork(path)(images)  # three images through a file traced on two: the batch axis is dynamic
    assert exported.shape == reference.shape == (3, CLASSES, 64, 64)
    assert float((exported - reference).abs().max()) <= 1e-4 * max(1.0, float(reference.abs().max()))
