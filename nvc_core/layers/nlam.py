"""Non-local attention module (NLAM) and local attention module (LAM), Sec. III-C and Fig. 2.

NLAM (from NLAIC): ``y = x + trunk(x) * mask(x)`` where the mask branch is a non-local block followed
by residual blocks, a 1x1 conv and a sigmoid. The mask (values in [0, 1], same shape as ``x``) is the
attention map the analyzer shows; it is recorded only on request, inside :func:`record_masks`
(the modules keep no state between passes).
LAM is the same with the non-local block removed: its mask sees only local features (footnote 4).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn

from nvc_core.layers.blocks import residual_stack


#: Most attention weights (query rows x key positions) held at once. Up to this many (HW)^2, the whole
#: (HW, HW) map is computed in one product (1920x1088 frames and below at the y bottleneck: streams
#: made before the bound are unchanged); above it, in slices of whole query rows, so that a 4K frame's
#: 32640^2 map (4.3 GB) is never held: the same softmax per row, in at most 2^26 floats (256 MiB).
ATTENTION_BUDGET = 2**26


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block: every position attends to every other position."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 2, 1)
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)          # (B, HW, C/2)
        phi = self.phi(x).flatten(2)                              # (B, C/2, HW)
        g = self.g(x).flatten(2).transpose(1, 2)                  # (B, HW, C/2)
        y = _attend(theta, phi, g).transpose(1, 2).reshape(b, -1, h, w)  # (B, C/2, H, W)
        return x + self.out(y)


def _attend(theta: torch.Tensor, phi: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """softmax(θ φ) g for θ (B,HW,C'), φ (B,C',HW), g (B,HW,C') -> (B,HW,C'), in slices of query rows
    when (HW)^2 exceeds ``ATTENTION_BUDGET``."""
    positions = phi.shape[-1]
    if positions * positions <= ATTENTION_BUDGET:
        return torch.softmax(theta @ phi, dim=-1) @ g             # (B, HW, HW) map at once
    rows = max(ATTENTION_BUDGET // positions, 1)
    return torch.cat([torch.softmax(theta[:, i:i + rows] @ phi, dim=-1) @ g
                      for i in range(0, theta.shape[1], rows)], dim=1)


class _AttentionModule(nn.Module):
    """x + trunk(x) * sigmoid(mask_branch(x))."""

    def __init__(self, channels: int, blocks: int, non_local: bool):
        super().__init__()
        self.trunk = residual_stack(channels, blocks)
        head = [NonLocalBlock(channels)] if non_local else []
        self.mask_branch = nn.Sequential(*head, residual_stack(channels, blocks),
                                         nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.trunk(x) * torch.sigmoid(self.mask_branch(x))


class NLAM(_AttentionModule):
    """Non-local attention module, used at the bottlenecks of the main and hyper coders."""

    def __init__(self, channels: int, blocks: int = 3):
        super().__init__(channels, blocks, non_local=True)


class LAM(_AttentionModule):
    """Local attention module, replaces the residual blocks of neuro-Motion."""

    def __init__(self, channels: int, blocks: int = 3):
        super().__init__(channels, blocks, non_local=False)


@contextmanager
def record_masks(modules: dict[str, nn.Module]) -> Iterator[dict[str, np.ndarray]]:
    """While the block runs, record the channel-mean mask (h, w) in [0, 1] of the first NLAM inside each
    of ``modules`` (name -> module), for the first sample of the batch, into the dict it yields."""
    masks: dict[str, np.ndarray] = {}

    def hook(name: str):
        def record(_module, _inputs, logits: torch.Tensor) -> None:
            masks[name] = torch.sigmoid(logits[0].detach()).mean(0).float().cpu().numpy()
        return record

    handles = []
    for name, module in modules.items():
        nlam = next((m for m in module.modules() if isinstance(m, NLAM)), None)
        if nlam is not None:
            handles.append(nlam.mask_branch.register_forward_hook(hook(name)))
    try:
        yield masks
    finally:
        for handle in handles:
            handle.remove()
