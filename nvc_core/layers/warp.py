"""Backward bilinear warping, eq. (4): X̂_t^s = warping(X̂_{t-1}^s, f^s)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def backward_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` (B,C,H,W) at ``p + flow(p)``; ``flow`` (B,2,H,W) holds (dx, dy) in pixels.

    Bilinear interpolation, border replication outside the frame.
    """
    b, _, h, w = x.shape
    ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1)
    xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w)
    px = xs + flow[:, 0]                                            # (B, H, W)
    py = ys + flow[:, 1]
    grid = torch.stack((2.0 * px / max(w - 1, 1) - 1.0, 2.0 * py / max(h - 1, 1) - 1.0), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
