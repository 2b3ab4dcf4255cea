"""Encoders f(x): image batch (B, 3, H, W) -> representation (B, feature_dim). Each has a ``feature_dim`` attribute.

- ``SmallCNN``: three conv blocks, for CPU runs (about 800 images/s of SimCLR training on 2 cores at 32x32).
- ``cifar_resnet``: ResNet-18/50 adapted to 32x32 inputs as in SimCLR's CIFAR experiments: a 3x3 stride-1 stem and
  no max-pool, so the last stage still sees 4x4 instead of 1x1.
- ``imagenet_resnet``: the standard torchvision ResNets (7x7 stem + max-pool) for 96 px (STL-10) and larger.
"""
from __future__ import annotations

import torch
from torch import nn
import torchvision

ENCODERS = ("small_cnn", "resnet18", "resnet50", "resnet18_imagenet", "resnet50_imagenet")


def conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU blocks (widths w, 2w, 4w; max-pool after the first two), global average pool.

    (B, 3, H, W) -> (B, 4w). ``features`` are the conv blocks, so attention maps can be read from them.
    """

    def __init__(self, width: int = 32, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            conv_block(in_channels, width, pool=True),
            conv_block(width, 2 * width, pool=True),
            conv_block(2 * width, 4 * width, pool=False),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = 4 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def _strip_classifier(net: nn.Module) -> nn.Module:
    net.feature_dim = net.fc.in_features
    net.fc = nn.Identity()
    return net


def cifar_resnet(depth: int = 18) -> nn.Module:
    """ResNet-18 or -50 for 32x32 images: conv1 is 3x3 stride 1 and the max-pool is removed. Output (B, 512 or 2048)."""
    factory = {18: torchvision.models.resnet18, 50: torchvision.models.resnet50}
    if depth not in factory:
        raise ValueError(f"depth must be 18 or 50, got {depth}")
    net = factory[depth](weights=None)
    net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return _strip_classifier(net)


def imagenet_resnet(depth: int = 18) -> nn.Module:
    """The standard torchvision ResNet (random init, never downloads weights) without its classifier."""
    factory = {18: torchvision.models.resnet18, 50: torchvision.models.resnet50}
    if depth not in factory:
        raise ValueError(f"depth must be 18 or 50, got {depth}")
    return _strip_classifier(factory[depth](weights=None))


def build_encoder(name: str, width: int = 32, in_channels: int = 3) -> nn.Module:
    """An encoder by name (see ``ENCODERS``). width: SmallCNN's (the ResNets have the papers' fixed widths);
    in_channels: 1 for methods that read one lightness channel (only SmallCNN has a one-channel variant)."""
    if name == "small_cnn":
        return SmallCNN(width, in_channels=in_channels)
    if in_channels != 3:
        raise ValueError(f"only small_cnn has a {in_channels}-channel variant, not {name!r}")
    if name in ("resnet18", "resnet50"):
        return cifar_resnet(int(name[6:]))
    if name in ("resnet18_imagenet", "resnet50_imagenet"):
        return imagenet_resnet(int(name[6:8]))
    raise ValueError(f"unknown encoder {name!r}; choose from {', '.join(ENCODERS)}")
