"""The seeds' small networks, written here: the simple CNN of the Keras MNIST example, and LeNet-5."""

from torch import nn

from ocularis.models.network import Network, normalisation


def simple_cnn(*, num_classes: int, in_channels: int) -> Network:
    """conv32-conv64-pool-dropout-dense128-dropout, with batch norm; adaptive pooling accepts any input size."""
    body = nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
        nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        nn.Linear(128 * 16, 128), nn.ReLU(inplace=True), nn.Dropout(0.5),
    )
    mean, std = normalisation(in_channels, imagenet=False)
    return Network(body, nn.Linear(128, num_classes), min_size=8, default_size=32, mean=mean, std=std)


def lenet5(*, num_classes: int, in_channels: int) -> Network:
    """LeCun et al. 1998: two 5x5 conv + pool stages, then 120-84 fully connected (ReLU and max-pool)."""
    body = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(5), nn.Flatten(),
        nn.Linear(16 * 25, 120), nn.ReLU(inplace=True),
        nn.Linear(120, 84), nn.ReLU(inplace=True),
    )
    mean, std = normalisation(in_channels, imagenet=False)
    return Network(body, nn.Linear(84, num_classes), min_size=32, default_size=32, mean=mean, std=std)
