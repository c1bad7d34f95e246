"""Convolutions and the ResNet residual block of the VAE engine (Fig. 2)."""
from __future__ import annotations

import torch
from torch import nn


def conv(in_ch: int, out_ch: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    """`kernel x kernel` convolution, 'same' padding; stride 2 halves H and W (Fig. 2, "Conv 5x5/2↓")."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)


def deconv(in_ch: int, out_ch: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that doubles H and W exactly (Fig. 2, "Conv 5x5/2↑")."""
    return nn.ConvTranspose2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2,
                              output_padding=stride - 1)


class ResidualBlock(nn.Module):
    """x + conv3x3(ReLU(conv3x3(x))), ReLU activations as in the paper (no GDN)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels, 3, 1), nn.ReLU(inplace=True),
                                  conv(channels, channels, 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def residual_stack(channels: int, blocks: int) -> nn.Sequential:
    """`blocks` cascaded residual blocks (the paper uses 3 per stage)."""
    return nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
