"""Quantized Gaussian entropy model: likelihoods for training, range coding with `constriction`.

Every latent element ŷ is an integer modelled as N(mean, scale) integrated over [ŷ-1/2, ŷ+1/2].
For coding, means and scales are snapped to fixed grids: means to 1/64, scales to a 64-level
log-spaced table. The snapping takes the PA engine's integer outputs (:mod:`nvc_core.entropy.integer`):
the mean is rounded in integers, and the scale index is the number of integer thresholds the
pre-softplus output reaches, so no logarithm is taken. The thresholds and the 64 scale values are
computed once with :mod:`decimal`, the same on every platform.
"""
from __future__ import annotations

import decimal
import functools
import math
from decimal import Decimal

import numpy as np
import torch

from nvc_core.entropy.range_coder import NON_FINITE, constriction_stream
from nvc_core.errors import NVCError

SCALE_MIN = 0.11
SCALE_MAX = 64.0
SCALE_LEVELS = 64
MEAN_STEP = 1.0 / 64
SYMBOL_LIMIT = 30000
LIKELIHOOD_MIN = 1e-9
#: constriction's default models use 24-bit fixed-point probabilities; no symbol gets less than this.
CODER_PROBABILITY_MIN = 2.0 ** -24


def gaussian_likelihood(y_hat: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """P(ŷ) = Φ((ŷ - μ + ½)/σ) − Φ((ŷ − μ − ½)/σ), computed on the lower tail for accuracy."""
    scale = scale.clamp_min(SCALE_MIN)
    v = (y_hat - mean).abs()
    return (_cdf((0.5 - v) / scale) - _cdf((-0.5 - v) / scale)).clamp_min(LIKELIHOOD_MIN)


def _cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


def symbol_range(symbols: torch.Tensor) -> tuple[int, int]:
    """Alphabet [lo, hi] of one coded latent: its min and max (at least two symbols for constriction)."""
    if not torch.isfinite(symbols).all():
        raise NVCError(f"cannot code this frame: {NON_FINITE}")
    lo = int(symbols.min().item())
    return lo, max(int(symbols.max().item()), lo + 1)


def coding_bits(symbols: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """-log2 P per element under the coding distribution of `constriction`'s QuantizedGaussian(lo, hi):
    the tails beyond the alphabet fold into its edge symbols, and no symbol gets less than the
    coder's probability floor. Computed in float64 on the tail that avoids cancellation."""
    s, mu, sigma = symbols.double(), mean.double(), scale.double()
    lower_edge = (s - 0.5 - mu) / sigma
    upper_edge = (s + 0.5 - mu) / sigma
    below = torch.where(s <= lo, torch.zeros_like(s), _cdf(lower_edge))     # P(Y < s - ½)
    above = torch.where(s >= hi, torch.zeros_like(s), _cdf(-upper_edge))    # P(Y > s + ½)
    left = torch.where(s <= lo, torch.ones_like(s), _cdf(-lower_edge))      # P(Y > s - ½)
    right = torch.where(s >= hi, torch.ones_like(s), _cdf(upper_edge))      # P(Y < s + ½)
    p = torch.where(s >= mu, left - above, right - below)
    return -torch.log2(p.clamp(CODER_PROBABILITY_MIN, 1.0))


@functools.cache
def _scale_grid(frac: int) -> tuple[np.ndarray, torch.Tensor]:
    """The coded scales SCALE_MIN·e^(i·step), i = 0..SCALE_LEVELS-1 (float64), and the integer
    thresholds t_i (at 2^frac) of the pre-softplus output o: index = #{i : o >= t_i}, the nearest
    level of σ = softplus(o) + SCALE_MIN on the log grid."""
    ctx = decimal.Context(prec=40)
    low = Decimal(repr(SCALE_MIN))
    step = ctx.divide(ctx.subtract(ctx.ln(Decimal(repr(SCALE_MAX))), ctx.ln(low)), SCALE_LEVELS - 1)
    scales = np.array([float(ctx.multiply(low, ctx.exp(i * step))) for i in range(SCALE_LEVELS)])
    thresholds = []
    for i in range(1, SCALE_LEVELS):
        softplus = ctx.subtract(ctx.multiply(low, ctx.exp((i - Decimal("0.5")) * step)), low)
        o = ctx.ln(ctx.subtract(ctx.exp(softplus), 1))                     # softplus^-1
        thresholds.append(int(ctx.multiply(o, 2 ** frac).to_integral_value(rounding=decimal.ROUND_CEILING)))
    return scales, torch.tensor(thresholds, dtype=torch.int64)


def snap_fixed(mean: torch.Tensor, scale_logit: torch.Tensor, frac: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Coding (μ, σ) from the PA engine's integer outputs at 2^frac: μ rounded to MEAN_STEP (ties up)
    and σ = softplus(o) + SCALE_MIN snapped to its log grid. Both float64, exact grid values."""
    step = frac - round(-math.log2(MEAN_STEP))
    mean_q = torch.div(mean + (1 << (step - 1)), 1 << step, rounding_mode="floor").double() * MEAN_STEP
    scales, thresholds = _scale_grid(frac)
    index = torch.bucketize(scale_logit, thresholds.to(scale_logit.device), right=True)
    return mean_q, torch.from_numpy(scales).to(scale_logit.device)[index]


def gaussian_family(lo: int, hi: int):
    """constriction's QuantizedGaussian over the alphabet [lo, hi] (means and scales given per symbol)."""
    return constriction_stream().model.QuantizedGaussian(lo, hi)


@functools.cache
def bounds_model():
    """Model of the alphabet bounds (lo, hi) of a latent, coded in the frame's session before its symbols."""
    return constriction_stream().model.QuantizedLaplace(-SYMBOL_LIMIT, SYMBOL_LIMIT + 1, 0.0, 2.0)
