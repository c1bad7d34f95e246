"""Learned factorized prior for the hyper-latents ẑ (Ballé et al. 2018, the "EntropyBottleneck").

Each channel has its own non-parametric density, defined through a monotone cumulative function
c(x) = sigmoid(MLP(x)) built from softplus-positive matrices and tanh gates.
P(ẑ) = c(ẑ + ½) − c(ẑ − ½). For coding, each channel's probabilities over the integer support
[-Z_RANGE, Z_RANGE] form a categorical table.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nvc_core.entropy.gaussian import LIKELIHOOD_MIN

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

    def likelihood(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Per-element probability of ``z_hat`` (B,C,H,W)."""
        b, c, h, w = z_hat.shape
        x = z_hat.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self._logits_cumulative(x - 0.5)
        upper = self._logits_cumulative(x + 0.5)
        sign = -torch.sign(lower + upper).detach()
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return p.clamp_min(LIKELIHOOD_MIN).reshape(c, b, h, w).permute(1, 0, 2, 3)

    @torch.no_grad()
    def pmf_table(self) -> np.ndarray:
        """(C, 2*Z_RANGE+1) float64 probabilities of the symbols -Z_RANGE..Z_RANGE, per channel."""
        c = self.matrices[0].shape[0]
        support = torch.arange(-Z_RANGE, Z_RANGE + 1, dtype=torch.float32, device=self.matrices[0].device)
        lik = self.likelihood(support.view(1, 1, 1, -1).expand(1, c, 1, -1))  # (1, C, 1, S)
        table = lik[0, :, 0].double().cpu().numpy()
        return table / table.sum(axis=1, keepdims=True)

    @torch.no_grad()
    def encode(self, z_sym: torch.Tensor, table: np.ndarray) -> tuple[bytes, np.ndarray]:
        """Code integer ``z_sym`` (1,C,H,W) in [-Z_RANGE, Z_RANGE]; returns bytes and bits per element."""
        import constriction   # range coding only: training runs without it
        symbols, probs = self._flatten(z_sym, table)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(symbols, constriction.stream.model.Categorical(perfect=False), probs)
        return encoder.get_compressed().astype("<u4").tobytes(), self.bits(z_sym, table)

    @staticmethod
    def bits(z_sym: torch.Tensor, table: np.ndarray) -> np.ndarray:
        """-log2 P(ẑ) per element (C,H,W) under the coding table."""
        symbols = z_sym[0].cpu().numpy().astype(np.int64) + Z_RANGE        # (C,H,W)
        channel = np.arange(symbols.shape[0]).reshape(-1, 1, 1)
        return (-np.log2(table[channel, symbols])).astype(np.float32)

    def decode(self, data: bytes, shape: tuple[int, int, int], table: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`: int32 symbols of ``shape`` (C,H,W)."""
        import constriction   # range coding only: training runs without it
        if len(data) % 4:
            raise ValueError("malformed hyper-latent sub-stream")
        c, h, w = shape
        probs = np.repeat(table, h * w, axis=0)
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
        symbols = decoder.decode(constriction.stream.model.Categorical(perfect=False), probs)
        return (np.asarray(symbols, dtype=np.int32) - Z_RANGE).reshape(shape)

    @staticmethod
    def _flatten(z_sym: torch.Tensor, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = z_sym.shape[2:]
        symbols = (z_sym[0].cpu().numpy().astype(np.int32) + Z_RANGE).reshape(-1)
        return symbols, np.repeat(table, h * w, axis=0)
