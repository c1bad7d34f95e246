"""Learned factorized prior for the hyper-latents ẑ (Ballé et al. 2018, the "EntropyBottleneck").

Each channel has its own non-parametric density, defined through a monotone cumulative function
c(x) = sigmoid(MLP(x)) built from softplus-positive matrices and tanh gates.
P(ẑ) = c(ẑ + ½) − c(ẑ − ½). For coding, each channel's probabilities over the integer support
[-Z_RANGE, Z_RANGE] form a categorical table. The coding tables are computed by the same network in
integer arithmetic (:mod:`nvc_core.entropy.integer`): softplus of the matrices and tanh of the gates
are evaluated exactly with :mod:`decimal`, the network runs in fixed point, and the probabilities are
exact ratios of integers, so every machine builds the same tables.
Besides ``forward`` (likelihoods for training) it implements the
:class:`~nvc_core.entropy.latent_codec.LatentCodec` interface shared with the prior aggregation.
"""
from __future__ import annotations

import decimal
import hashlib
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nvc_core.entropy import integer
from nvc_core.entropy.range_coder import (NON_FINITE, RangeDecoderSession, RangeEncoderSession, constriction_stream,
                                         finite_parameters)
from nvc_core.entropy.gaussian import CODER_PROBABILITY_MIN, LIKELIHOOD_MIN
from nvc_core.entropy.latent_codec import CodedLatent, Conditions
from nvc_core.errors import NVCError

Z_RANGE = 48


class FactorizedPrior(nn.Module):
    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = float(np.log(np.expm1(1.0 / scale / dims[i + 1])))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, dims[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        self._table: tuple[bytes, FactorizedTable] | None = None     # (digest of the parameters, table)

    def _logits_cumulative(self, x: torch.Tensor) -> torch.Tensor:
        # x: (C, 1, N) -> (C, 1, N)
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(matrix), x) + bias
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    @property
    def channels(self) -> int:
        return self.matrices[0].shape[0]

    def forward(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Training/estimation: per-element probability of ``z_hat`` (B,C,H,W)."""
        b, c, h, w = z_hat.shape
        x = z_hat.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self._logits_cumulative(x - 0.5)
        upper = self._logits_cumulative(x + 0.5)
        sign = torch.where(lower + upper > 0, -1, 1).detach()
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return p.clamp_min(LIKELIHOOD_MIN).reshape(c, b, h, w).permute(1, 0, 2, 3)

    # -- coding (batch of one): the LatentCodec interface ------------------------------------------
    @torch.no_grad()
    def table(self) -> FactorizedTable:
        """The coding table of every channel. Building it takes a while (exact arithmetic), so the last
        one is kept with a digest of the parameter values it was built from, and rebuilt when they differ."""
        digest = hashlib.blake2b(digest_size=16)
        for parameter in self.parameters():
            digest.update(parameter.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        key = digest.digest()
        if self._table is None or self._table[0] != key:
            pmf = finite_parameters((self._integer_pmf(),))[0].reshape(self.channels, -1)
            self._table = (key, FactorizedTable(pmf))
        return self._table[1]

    def _integer_pmf(self) -> np.ndarray:
        """(C, S) probabilities of the support, P = |c(ẑ + ½) − c(ẑ − ½)| computed in integers (on the
        tail that avoids cancellation, as in :meth:`forward`), normalised per channel."""
        support = torch.arange(-Z_RANGE, Z_RANGE + 1, dtype=torch.int64)
        half = 1 << (integer.FRAC - 1)
        x = torch.cat([integer.to_fixed(support) - half, integer.to_fixed(support) + half])
        x = x.view(1, 1, -1).expand(self.channels, 1, -1)               # (C, 1, 2S)
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            c, d_out, d_in = matrix.shape
            weight, shift = integer.quantize_weights(_exactly(matrix, "softplus").view(c * d_out, d_in))
            acc = (weight.view(c, d_out, d_in, 1) * x.unsqueeze(1)).sum(2)  # (C, d_out, 2S), int64
            acc += integer.quantize_bias(bias.view(-1), shift).view(c, d_out, 1)
            x = integer.shift_round(acc, shift.view(c, d_out, 1))
            if i < len(self.factors):
                gate = torch.round(_exactly(self.factors[i], "tanh") * (1 << integer.GATE_FRAC)).long()
                x = x + integer.shift_round(gate * integer.tanh(x), 2 * integer.GATE_FRAC - integer.FRAC)
        lower, upper = x[:, 0].chunk(2, dim=-1)                          # (C, S) logits at 2^FRAC
        sign = torch.where(lower + upper > 0, -1, 1)
        p = (integer.sigmoid(sign * upper, integer.CDF_FRAC) - integer.sigmoid(sign * lower, integer.CDF_FRAC)).abs()
        return (p.double() / p.sum(1, keepdim=True).double()).numpy()

    def compress(self, symbols: torch.Tensor, conditions: Conditions, session: RangeEncoderSession) -> CodedLatent:
        """Code integer ẑ (1,C,H,W) in [-Z_RANGE, Z_RANGE], channel by channel."""
        table = self.table()
        if not torch.isfinite(symbols).all():
            raise NVCError(f"cannot code this frame: {NON_FINITE}")
        rows = symbols[0].cpu().numpy().astype(np.int32).reshape(self.channels, -1) + Z_RANGE
        for channel, model in zip(rows, table.models()):
            session.encode(channel, model)
        return CodedLatent(symbols, table)

    def decompress(self, session: RangeDecoderSession, conditions: Conditions) -> CodedLatent:
        """Inverse of :meth:`compress`: integer ẑ of ``conditions.shape`` (C,H,W) as a (1,C,H,W) float tensor
        (on the device of ``conditions.hyper`` if given, else on the CPU)."""
        c, h, w = conditions.shape
        table = self.table()
        rows = np.stack([session.decode(model, count=h * w) for model in table.models()])
        symbols = torch.from_numpy((rows - Z_RANGE).reshape(1, c, h, w).astype(np.float32))
        return CodedLatent(symbols.to(self.matrices[0].device), table)

    def estimate(self, symbols: torch.Tensor, conditions: Conditions) -> CodedLatent:
        return CodedLatent(symbols, self.table())

    def min_bits(self, height: int, width: int) -> float:
        """A lower bound on the bits any ẑ of (C, height, width) costs: every element at its channel's
        mode. A sub-stream shorter than this cannot hold that size (checked before decoding)."""
        return float(self.table().mode_bits().sum()) * height * width


def _exactly(values: torch.Tensor, function: str) -> torch.Tensor:
    """softplus or tanh of every element, computed with :mod:`decimal` and rounded once to float64."""
    ctx = decimal.Context(prec=40)
    fn = {"softplus": lambda v: ctx.ln(ctx.add(1, ctx.exp(v))),
          "tanh": lambda v: ctx.divide(ctx.subtract(1, ctx.exp(-2 * v)), ctx.add(1, ctx.exp(-2 * v)))}[function]
    flat = values.detach().to("cpu", torch.float64).flatten().tolist()
    return torch.tensor([float(fn(Decimal(v))) for v in flat], dtype=torch.float64).view(values.shape)


@dataclass(frozen=True)
class FactorizedTable:
    """The coding distribution of ẑ: one categorical table per channel over -Z_RANGE..Z_RANGE."""
    pmf: np.ndarray                 # (C, S) float64

    def models(self) -> list:
        """One constriction Categorical per channel (built on use: estimates need no range coder)."""
        return [constriction_stream().model.Categorical(p, perfect=False) for p in self.pmf]

    def bits(self, symbols: torch.Tensor) -> torch.Tensor:
        """-log2 P per element (1,C,H,W) float32 of integer ẑ (1,C,H,W) under the table."""
        index = symbols[0].cpu().numpy().astype(np.int64) + Z_RANGE          # (C,H,W)
        channel = np.arange(index.shape[0]).reshape(-1, 1, 1)
        bits = (-np.log2(self.pmf[channel, index])).astype(np.float32)
        return torch.from_numpy(bits).unsqueeze(0).to(symbols.device)

    def mode_bits(self) -> np.ndarray:
        """(C,) -log2 of the largest coded probability of each channel: constriction gives every symbol
        at least one 2^-24 quantum, so the mode gets at most this much more."""
        return -np.log2(np.minimum(self.pmf.max(axis=1) + self.pmf.shape[1] * CODER_PROBABILITY_MIN, 1.0))
