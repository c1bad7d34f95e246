"""Encoder-side latent refinement: a slower encoder, the same decoder and bitstream.

Em's latents are an amortised guess; for one frame the encoder can do better by optimising the
latents themselves for the coder's own objective through the fixed decoder and entropy model
(Yang, Bamler and Mandt, NeurIPS 2020, "Improving inference for neural image compression"; DCVC-DT
refines DCVC-DC's latents the same way). Starting from y = Em(x)·gain_q and z = Eh(y),

    L(y, z) = R(ŷ, ẑ) / pixels + λ · 255² · MSE(Dm(ŷ / gain_q), x),   ŷ = ⌊y⌉, ẑ = ⌊z⌉,

is minimised by Adam over (y, z) with rounding in the forward pass and the identity in the backward
pass (straight-through); R is −log2 of the likelihoods the coder's entropy model gives ŷ (prior
aggregation over Dh(ẑ), and the temporal prior) and ẑ (factorized prior), λ is the coder's training
λ. Every step's forward pass therefore evaluates L at exactly the rounded latents that would be coded,
and the best (y, z) seen — the start included — is returned: refinement never raises the estimated
loss of a frame above Em's own latents. The decoder never knows: it reads ŷ and ẑ as always.

Refined coders: neuro-Intra (x = the frame) and neuro-Res (x = the residual X_t − X̂p_t, whose error
is the P-frame's reconstruction error). neuro-Motion's latents are not refined: their distortion is
only known after MS-MCN and the residual coder.

The encoder effort (``nvc encode --effort E``) picks the number of steps; 0 (the default) is off.
"""
from __future__ import annotations

import torch

from nvc_core.defaults import MAX_EFFORT
from nvc_core.errors import NVCError

from nvc_core.models.vae import VAEEngine

#: Gradient steps per encoder effort level 0..MAX_EFFORT (index = effort); 0 = no refinement.
EFFORT_STEPS = (0, 6, 15, 40)
assert len(EFFORT_STEPS) == MAX_EFFORT + 1
#: Adam step size on the latents, in quantization bins.
LEARNING_RATE = 0.05


def check_effort(effort: int) -> int:
    if not 0 <= effort <= MAX_EFFORT:
        raise NVCError(f"effort must be in 0..{MAX_EFFORT}, got {effort}")
    return effort


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """⌊x⌉ in the forward pass, gradient 1 in the backward pass."""
    return x + (torch.round(x) - x).detach()


def rd_loss(coder: VAEEngine, y: torch.Tensor, z: torch.Tensor, x: torch.Tensor, q: int, lam: float,
            temporal: torch.Tensor | None) -> torch.Tensor:
    """L(y, z) of the module docstring for a batch of one, at the rounded latents."""
    y_hat, z_hat = _round_ste(y), _round_ste(z)
    likelihoods = (coder.pa(y_hat, coder.dh(z_hat), temporal), coder.z_prior(z_hat))
    bits = sum(-torch.log2(l.float()).sum() for l in likelihoods)
    distortion = (coder.main_decode(y_hat, q).float() - x.float()).pow(2).mean()
    return bits / (x.shape[-2] * x.shape[-1]) + lam * 255.0 ** 2 * distortion


def refine_latents(coder: VAEEngine, x: torch.Tensor, q: int, lam: float, temporal: torch.Tensor | None,
                   steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, z) for ``coder.compress(..., latents=...)``: Em's latents of x (1,C,H,W) after ``steps``
    straight-through Adam steps on L, the best seen. The coder's weights are not touched."""
    with torch.no_grad():
        y0 = coder.main_encode(x, q)
        z0 = coder.eh(y0)
    if steps <= 0:
        return y0, z0
    y, z = y0.clone().requires_grad_(True), z0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y, z], lr=LEARNING_RATE)
    best, best_loss = (y0, z0), float("inf")
    with torch.enable_grad():
        for step in range(steps + 1):
            loss = rd_loss(coder, y, z, x, q, lam, temporal)
            if loss.item() < best_loss:
                best, best_loss = (y.detach().clone(), z.detach().clone()), loss.item()
            if step == steps:
                break
            y.grad, z.grad = torch.autograd.grad(loss, [y, z])
            optimizer.step()
    return best
