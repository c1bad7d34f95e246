"""Encoder-side latent refinement: a slower encoder, the same decoder and bitstream.

Em's latents are an amortised guess; for one frame the encoder can do better by optimising the
latents themselves for the coder's own objective through the fixed decoder and entropy model
(Yang, Bamler and Mandt, NeurIPS 2020, "Improving inference for neural image compression"; DCVC-DT
refines DCVC-DC's latents the same way). Starting from y = Em(x)·gain_q and z = Eh(y), the loss

    L(ŷ, ẑ) = R(ŷ, ẑ) / pixels + λ · 255² · MSE(Dm(ŷ / gain_q), x)

is what the encoder minimises: R is −log2 of the likelihoods the coder's entropy model gives ŷ (prior
aggregation over Dh(ẑ), and the temporal prior) and ẑ (factorized prior), λ is the coder's training
λ (λ_intra·INTER_LAMBDA_RATIO for neuro-Res, :mod:`nvc_core.models.nvc`).

Rounding has no useful gradient, so (y, z) are optimised by Adam on a continuous relaxation of it,
stochastic Gumbel annealing (SGA, Yang et al.): each element becomes a random mixture of ⌊y⌋ and ⌈y⌉,
weighted by a Gumbel-softmax over −atanh(distance)/τ, whose temperature τ is annealed geometrically
from ``TEMPERATURE[0]`` (a soft blend, gradients everywhere) to ``TEMPERATURE[1]`` (nearly the rounded
value). Straight-through rounding, the method tried first, moves every element by the full Adam step
from the first step on and flips roundings that had nothing to gain: on the bundled weights it raised
the rounded loss at every step size tried (0.005-0.2 bins) within 10-40 steps, where SGA lowers it.

Only rounded latents are coded, so L is evaluated at the rounded (ŷ, ẑ) at the start and at
``CHECKS`` points along the way (the last step included), and the best of those is returned:
refinement never raises the estimated loss of a frame above Em's own latents (with ẑ made codeable,
below). The decoder never knows: it reads ŷ and ẑ as always.

ẑ is coded with the factorized prior's integer table (:mod:`nvc_core.entropy.factorized`), in which
trained channels give most of −Z_RANGE..Z_RANGE probability zero (the float prior only clamps them to
a tiny likelihood). A ẑ on such a symbol still decodes (the range coder gives every symbol one
quantum) but costs ~24 bits and shows infinite bits in the analysis, so refined z is kept within each
channel's range of coded symbols during the optimisation and every rounded candidate is moved to its
channel's nearest symbol of non-zero probability before it is evaluated (:func:`codeable_z`).

Refined coders: neuro-Intra (x = the frame) and neuro-Res (x = the residual X_t − X̂p_t, whose error
is the P-frame's reconstruction error). neuro-Motion's latents are not refined: their distortion is
only known after MS-MCN and the residual coder.

The encoder effort (``nvc encode --effort E``) picks the number of steps and the step size; 0 (the
default) is off. The Gumbel noise comes from a generator seeded per call, so an encode is repeatable.
"""
from __future__ import annotations

import torch

from nvc_core.defaults import MAX_EFFORT
from nvc_core.entropy.factorized import Z_RANGE
from nvc_core.errors import NVCError

from nvc_core.models.vae import VAEEngine

#: Adam steps per encoder effort level 0..MAX_EFFORT (index = effort); 0 = no refinement.
EFFORT_STEPS = (0, 20, 50, 100)
#: Adam step size on the latents, in quantization bins, per effort level (more steps, smaller steps).
EFFORT_LEARNING_RATE = (0.0, 0.02, 0.015, 0.01)
assert len(EFFORT_STEPS) == len(EFFORT_LEARNING_RATE) == MAX_EFFORT + 1
#: SGA temperature at the first and the last step (annealed geometrically in between).
TEMPERATURE = (0.5, 0.05)
#: Rounded evaluations of L along the way (besides the start); the last step is always one.
CHECKS = 4
#: Seed of the Gumbel noise (a generator of its own: the global random state is left alone).
SEED = 0


def check_effort(effort: int) -> int:
    if not 0 <= effort <= MAX_EFFORT:
        raise NVCError(f"effort must be in 0..{MAX_EFFORT}, got {effort}")
    return effort


def sga_round(v: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Stochastic Gumbel annealing's relaxed rounding of ``v``: ⌊v⌋ + w, w ∈ (0, 1) the ⌈v⌉ weight of a
    Gumbel-softmax at temperature ``tau`` over the logits −atanh(v − ⌊v⌋)/τ and −atanh(⌈v⌉ − v)/τ
    (``generator`` None: the noise-free softmax). Differentiable in v; → ⌊v⌉ as τ → 0."""
    floor = torch.floor(v).detach()
    r = (v - floor).clamp(1e-5, 1 - 1e-5)
    logits = torch.stack([-torch.atanh(r), -torch.atanh(1 - r)]) / tau
    if generator is not None:
        u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).clamp(1e-10, 1 - 1e-10)
        logits = logits - torch.log(-torch.log(u.to(logits.device)))
    return floor + torch.softmax(logits / tau, dim=0)[1]


class _CodeableZ:
    """Each channel's coded ẑ symbols of non-zero probability under the factorized prior's table."""

    def __init__(self, coder: VAEEngine, like: torch.Tensor):
        pmf = torch.from_numpy(coder.z_prior.table().pmf)                       # (C, S)
        support = torch.arange(-Z_RANGE, Z_RANGE + 1, dtype=torch.float64)
        allowed = pmf > 0
        # nearest allowed symbol of every symbol s (ties: the smaller magnitude), per channel
        distance = (support.view(1, -1, 1) - support.view(1, 1, -1)).abs() + 1e-3 * support.abs().view(1, 1, -1)
        distance = distance.expand(pmf.shape[0], -1, -1).masked_fill(~allowed.unsqueeze(1), float("inf"))
        self.nearest = support[distance.argmin(-1)].to(like)                   # (C, S)
        big = torch.tensor(float(Z_RANGE + 1))
        self.lo = torch.where(allowed, support, big).min(1).values.to(like).view(1, -1, 1, 1)
        self.hi = torch.where(allowed, support, -big).max(1).values.to(like).view(1, -1, 1, 1)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """⌊z⌉ moved to its channel's nearest symbol of non-zero probability (1,C,h,w)."""
        index = (torch.round(z).clamp(-Z_RANGE, Z_RANGE) + Z_RANGE).long()
        c = z.shape[1]
        return torch.gather(self.nearest, 1, index.view(c, -1)).view_as(z)


def codeable_z(coder: VAEEngine, z: torch.Tensor) -> torch.Tensor:
    """⌊z⌉ (1,C,h,w) with every element on a symbol the coder's ẑ table gives non-zero probability:
    the nearest one in its channel."""
    return _CodeableZ(coder, z)(z)


def rd_loss(coder: VAEEngine, y_hat: torch.Tensor, z_hat: torch.Tensor, x: torch.Tensor, q: int, lam: float,
            temporal: torch.Tensor | None) -> torch.Tensor:
    """L of the module docstring for a batch of one, at the given (rounded or relaxed) latents."""
    likelihoods = (coder.pa(y_hat, coder.dh(z_hat), temporal), coder.z_prior(z_hat))
    bits = sum(-torch.log2(l.float()).sum() for l in likelihoods)
    distortion = (coder.main_decode(y_hat, q).float() - x.float()).pow(2).mean()
    return bits / (x.shape[-2] * x.shape[-1]) + lam * 255.0 ** 2 * distortion


def refine_latents(coder: VAEEngine, x: torch.Tensor, q: int, lam: float, temporal: torch.Tensor | None,
                   effort: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, z) for ``coder.select_symbols(x, q, latents)``: Em's latents of x (1,C,H,W) refined at encoder
    effort ``effort`` (module docstring), the best rounded point seen; effort 0 returns Em's own.
    The coder's weights are not touched."""
    steps, lr = EFFORT_STEPS[check_effort(effort)], EFFORT_LEARNING_RATE[effort]
    with torch.no_grad():
        y0 = coder.main_encode(x, q)
        z0 = coder.eh(y0)
    if steps <= 0:
        return y0, z0
    codeable = _CodeableZ(coder, z0)

    def rounded_loss(y: torch.Tensor, z: torch.Tensor) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:
        point = torch.round(y).detach(), codeable(z.detach())
        with torch.no_grad():
            return rd_loss(coder, *point, x, q, lam, temporal).item(), point

    best_loss, best = rounded_loss(y0, z0)
    y = y0.clone().requires_grad_(True)
    z = torch.minimum(torch.maximum(z0, codeable.lo - 0.5), codeable.hi + 0.5).requires_grad_(True)
    optimizer = torch.optim.Adam([y, z], lr=lr)
    generator = torch.Generator().manual_seed(SEED)
    checks = {round(steps * (i + 1) / CHECKS) for i in range(CHECKS)}
    with torch.enable_grad():
        for step in range(1, steps + 1):
            tau = TEMPERATURE[0] * (TEMPERATURE[1] / TEMPERATURE[0]) ** ((step - 1) / max(steps - 1, 1))
            loss = rd_loss(coder, sga_round(y, tau, generator), sga_round(z, tau, generator), x, q, lam, temporal)
            y.grad, z.grad = torch.autograd.grad(loss, [y, z])
            optimizer.step()
            with torch.no_grad():                    # z stays within its channel's coded symbols
                z.copy_(torch.minimum(torch.maximum(z, codeable.lo - 0.5), codeable.hi + 0.5))
            if step in checks:
                candidate_loss, candidate = rounded_loss(y, z)
                if candidate_loss < best_loss:
                    best_loss, best = candidate_loss, candidate
    return best
