"""Network: a classifier as body (image -> feature vector) plus a linear head, with freezing by blocks; and
EmbeddingNetwork, the same with a normalised embedding for a head."""

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Network(nn.Module):
    """`body` maps images to (B, D) features, `head` maps features to logits.

    Inputs smaller than `min_size` are upsampled first, so every architecture accepts any image size.
    """

    def __init__(self, body: nn.Module, head: nn.Module, *, min_size: int, default_size: int,
                 mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.body = body
        self.head = head
        self.min_size = min_size
        self.default_size = default_size
        self.mean, self.std = mean, std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        if min(images.shape[-2:]) < self.min_size:
            images = F.interpolate(images, size=(self.min_size, self.min_size), mode="bilinear", align_corners=False)
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def blocks(self) -> list[nn.Module]:
        """The body's stages in forward order (parameterless ones left out); fine-tuning unfreezes from the end."""
        stages = []
        for name, child in self.body.named_children():
            parts = child.children() if name in ("features", "classifier") else [child]
            stages += [part for part in parts if any(True for _ in part.parameters())]
        return stages

    def last_conv_stage(self) -> nn.Module:
        """The body's last stage with a convolution (Grad-CAM's layer): its maps still say where, and every output
        is read from them."""
        return [b for b in self.blocks() if any(isinstance(m, nn.Conv2d) for m in b.modules())][-1]

    def pools_into_linear_head(self) -> bool:
        """CAM's case: the last convolutional stage is pooled straight into a linear head (nothing with weights
        between)."""
        return self.blocks()[-1] is self.last_conv_stage() and isinstance(self.head, nn.Linear)

    def cam_weights(self, outputs: torch.Tensor) -> torch.Tensor | None:
        """The head's weights of output columns `outputs` (B,) where pools_into_linear_head; None otherwise."""
        return self.head.weight.detach()[outputs] if self.pools_into_linear_head() else None

    def freeze(self, trainable_blocks: int) -> None:
        """Freeze the body except its last `trainable_blocks` stages; the head always trains."""
        self.body.requires_grad_(False)
        blocks = self.blocks()
        for block in blocks[len(blocks) - trainable_blocks:] if trainable_blocks > 0 else []:
            block.requires_grad_(True)

    def train(self, mode: bool = True) -> "Network":
        super().train(mode)
        # Frozen batch-norm layers keep their running statistics, as in Keras's trainable=False.
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                params = list(module.parameters(recurse=False))
                if params and not any(p.requires_grad for p in params):
                    module.eval()
        return self


class EmbeddingNetwork(Network):
    """A Network whose head gives an L2-normalised embedding instead of logits: the cosine of two images is the dot
    product of their outputs, in PyTorch and in an exported graph alike."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.features(images)), dim=1)

    @classmethod
    def around(cls, network: Network) -> "EmbeddingNetwork":
        """The same body, its linear head (sized to the embedding) followed by batch norm: centred, the embeddings
        spread over the whole sphere once normalised, instead of the narrow cone a ReLU body's features give, where
        every pair looks alike to a pair or triplet loss."""
        head = nn.Sequential(network.head, nn.BatchNorm1d(network.head.out_features))
        return cls(network.body, head, min_size=network.min_size, default_size=network.default_size,
                   mean=network.mean, std=network.std)


def replace_input_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of `conv` taking `in_channels`; pretrained RGB filters are summed (grey) or averaged and repeated."""
    if conv.in_channels == in_channels:
        return conv
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    conv.groups, conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        weight = conv.weight.sum(dim=1, keepdim=True)
        if in_channels > 1:
            weight = (weight / conv.in_channels).repeat(1, in_channels, 1, 1)
        new.weight.copy_(weight)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def normalisation(in_channels: int, imagenet: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std the model expects: ImageNet's for torchvision families (grey: their channel average)."""
    if not imagenet:
        return (0.5,) * in_channels, (0.5,) * in_channels
    if in_channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    return (sum(IMAGENET_MEAN) / 3,) * in_channels, (sum(IMAGENET_STD) / 3,) * in_channels
