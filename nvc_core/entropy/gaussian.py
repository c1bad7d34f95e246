"""Quantized Gaussian entropy model: likelihoods for training, range coding with `constriction`.

Every latent element ŷ is an integer modelled as N(mean, scale) integrated over [ŷ-1/2, ŷ+1/2].
For coding, means and scales are snapped to fixed grids (means to 1/64, scales to a 64-level
log-spaced table) so that encoder and decoder agree on them even if their floating-point
arithmetic differs in the last bits.
"""
from __future__ import annotations

import functools
import math

import torch

from nvc_core.entropy.coder import NON_FINITE, constriction_stream
from nvc_core.errors import NVCError

SCALE_MIN = 0.11
SCALE_MAX = 64.0
SCALE_LEVELS = 64
MEAN_STEP = 1.0 / 64
SYMBOL_LIMIT = 30000
LIKELIHOOD_MIN = 1e-9
#: constriction's default models use 24-bit fixed-point probabilities; no symbol gets less than this.
CODER_PROBABILITY_MIN = 2.0 ** -24
_LOG_STEP = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)


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


def snap_parameters(mean: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Snap (mean, scale) to the coding grids (see module docstring)."""
    mean_q = torch.round(mean / MEAN_STEP) * MEAN_STEP
    index = torch.round((torch.log(scale.clamp(SCALE_MIN, SCALE_MAX)) - math.log(SCALE_MIN)) / _LOG_STEP)
    scale_q = torch.exp(index * _LOG_STEP + math.log(SCALE_MIN))
    return mean_q, scale_q


def gaussian_family(lo: int, hi: int):
    """constriction's QuantizedGaussian over the alphabet [lo, hi] (means and scales given per symbol)."""
    return constriction_stream().model.QuantizedGaussian(lo, hi)


@functools.cache
def bounds_model():
    """Model of the alphabet bounds (lo, hi) of a latent, coded in the frame's session before its symbols."""
    return constriction_stream().model.QuantizedLaplace(-SYMBOL_LIMIT, SYMBOL_LIMIT + 1, 0.0, 2.0)
