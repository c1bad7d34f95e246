"""Training losses, per sample (B,): rate (bits per pixel), eq. (3) multiscale warping loss, MSE,
and the flow supervision of flow-guided neuro-Motion.

Rate of a likelihood tensor l: R = -log2(l) summed over the sample; bpp divides by H·W of the frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from nvc_core.layers import backward_warp


def bpp(likelihoods: dict[str, torch.Tensor], keys: tuple[str, ...], pixels: int) -> torch.Tensor:
    """Estimated bits per pixel of the listed likelihoods, per sample (B,)."""
    bits = [-torch.log2(likelihoods[k].float()).flatten(1).sum(1) for k in keys]
    return torch.stack(bits).sum(0) / pixels


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x.float() - y.float()).pow(2).flatten(1).mean(1)


def psnr(mse_value: torch.Tensor) -> float:
    return float(10.0 * torch.log10(1.0 / mse_value.mean().clamp_min(1e-10)))


def pyramid(x: torch.Tensor, scales: int) -> list[torch.Tensor]:
    """Multiscale labels / references: average pooling with stride 2, s = 0 (finest) .. scales-1."""
    levels = [x]
    for _ in range(scales - 1):
        levels.append(F.avg_pool2d(levels[-1], 2))
    return levels


def warping_loss(reference: torch.Tensor, current: torch.Tensor, flows: list[torch.Tensor],
                 prediction: torch.Tensor | None = None, alpha: float = 4.0) -> torch.Tensor:
    """Eq. (3): L = Σ_s α_s · D1(X̂_t^s, X_t^s), X̂_t^s = warping(X̂_{t-1}^s, f^s) (eq. 4), α_s = alpha^s.

    D1 is the ℓ1 error summed over the pixels of scale s and divided by the pixel count of scale 0,
    so α_s = 4^s weighs every scale's mean error equally. ``prediction`` (MS-MCN output) replaces
    the warped reference at s = 0 (Steps 2-3). Returns (B,).
    """
    refs, curs = pyramid(reference, len(flows)), pyramid(current, len(flows))
    full = current[0].numel()
    loss = 0.0
    for s, (ref, cur, flow) in enumerate(zip(refs, curs, flows)):
        warped = prediction if (s == 0 and prediction is not None) else backward_warp(ref, flow)
        loss = loss + alpha ** s * (warped.float() - cur.float()).abs().flatten(1).sum(1) / full
    return loss


def flow_supervision(flows: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Σ_s mean |f^s − F_s| with F_s the flow estimate (B,2,H,W, pixels) average-pooled to scale s
    and divided by 2^s (pixels of scale s). Scale-wise means: every scale counts equally. Returns (B,)."""
    loss = 0.0
    for s, (flow, label) in enumerate(zip(flows, pyramid(target, len(flows)))):
        loss = loss + (flow.float() - label.float() / 2 ** s).abs().flatten(1).mean(1)
    return loss


def warp_floor(prediction: torch.Tensor, warped: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """max(0, MSE(X̂p_t, X_t) − MSE(warp(X̂_{t-1}, f^0), X_t)) per sample (B,), the warp term constant:
    zero while the MS-MCN prediction is at least as good as plain warping."""
    return (mse(prediction, current) - mse(warped, current).detach()).clamp_min(0.0)
