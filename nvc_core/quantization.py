"""Quantization, eq. (2): universal quantization in training, plain rounding at inference."""
from __future__ import annotations

import torch


def quantize(x: torch.Tensor, training: bool) -> torch.Tensor:
    """x̂ = round(x + u) - u with u ~ U(-1/2, 1/2) and gradient 1 (training); round(x) otherwise."""
    if not training:
        return torch.round(x)
    u = torch.empty_like(x).uniform_(-0.5, 0.5)
    return x + (torch.round(x + u) - u - x).detach()
