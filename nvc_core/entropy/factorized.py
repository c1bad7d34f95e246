"""Learned factorized prior for the hyper-latents ẑ (Ballé et al. 2018, the "EntropyBottleneck").

Each channel has its own non-parametric density, defined through a monotone cumulative function
c(x) = sigmoid(MLP(x)) built from softplus-positive matrices and tanh gates.
P(ẑ) = c(ẑ + ½) − c(ẑ − ½). For coding, each channel's probabilities over the integer support
[-Z_RANGE, Z_RANGE] form a categorical table, computed from the weights when a frame is coded.
Besides ``forward`` (likelihoods for training) it implements the
:class:`~nvc_core.entropy.latent_codec.LatentCodec` interface shared with the prior aggregation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nvc_core.entropy.coder import RangeDecoderSession, RangeEncoderSession, constriction_stream
from nvc_core.entropy.gaussian import CODER_PROBABILITY_MIN, LIKELIHOOD_MIN
from nvc_core.entropy.latent_codec import CodedLatent, Conditions

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
        sign = -torch.sign(lower + upper).detach()
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return p.clamp_min(LIKELIHOOD_MIN).reshape(c, b, h, w).permute(1, 0, 2, 3)

    # -- coding (batch of one): the LatentCodec interface ------------------------------------------
    @torch.no_grad()
    def table(self) -> FactorizedTable:
        """The coding table of every channel: the density at the integers -Z_RANGE..Z_RANGE, normalised.
        Computed from the current parameters on every call (no cache to go stale)."""
        support = torch.arange(-Z_RANGE, Z_RANGE + 1, dtype=torch.float32, device=self.matrices[0].device)
        lik = self(support.view(1, 1, 1, -1).expand(1, self.channels, 1, -1))  # (1, C, 1, S)
        pmf = lik[0, :, 0].double().cpu().numpy()
        return FactorizedTable(pmf / pmf.sum(axis=1, keepdims=True))

    def compress(self, symbols: torch.Tensor, conditions: Conditions, session: RangeEncoderSession) -> CodedLatent:
        """Code integer ẑ (1,C,H,W) in [-Z_RANGE, Z_RANGE], channel by channel."""
        table = self.table()
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
