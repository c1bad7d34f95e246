"""The VAE engine shared by neuro-Intra, neuro-Motion and neuro-Res (Fig. 2, Sec. III-B).

Main encoder Em: 4 stages of [5x5 stride-2 conv, residual blocks], the last ending in an NLAM.
Hyper encoder Eh: 2 stages, NLAM at its bottleneck. Hyper decoder Dh and main decoder Dm mirror
them, each starting with an NLAM. ẑ is coded with a learned factorized prior, ŷ with the prior
aggregation (PA) engine. Variable rate (goes beyond the paper): a rate index q selects learned
per-channel gains applied to y before quantization and inverse gains applied to ŷ before Dm.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from nvc_core.entropy import integer
from nvc_core.entropy.factorized import Z_RANGE, FactorizedPrior
from nvc_core.entropy.gaussian import SYMBOL_LIMIT
from nvc_core.entropy.latent_codec import CodedLatent, Conditions, EntropyBackend
from nvc_core.entropy.prior_aggregation import PriorAggregation
from nvc_core.layers import LAM, NLAM, conv, deconv
from nvc_core.layers.blocks import residual_stack
from nvc_core.quantization import quantize

#: Builds the cascaded feature-extraction unit of a stage: residual blocks, or LAMs in neuro-Motion.
StageUnit = Callable[[int, int], nn.Module]


def lam_unit(channels: int, blocks: int) -> nn.Module:
    return LAM(channels, blocks)


class MainEncoder(nn.Module):
    """Em: (B,in,H,W) -> y (B,M,H/16,W/16); ``first`` channels at H/2 (default N), N at H/4 and H/8."""

    def __init__(self, in_ch: int, n: int, m: int, blocks: int, unit: StageUnit = residual_stack,
                 first: int | None = None):
        super().__init__()
        first = first or n
        self.net = nn.Sequential(conv(in_ch, first), unit(first, blocks), conv(first, n), unit(n, blocks),
                                 conv(n, n), unit(n, blocks), conv(n, m), NLAM(m, blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MainDecoder(nn.Module):
    """Dm: ŷ (B,M,H/16,W/16) -> (B,out,H,W)."""

    def __init__(self, out_ch: int, n: int, m: int, blocks: int):
        super().__init__()
        self.net = nn.Sequential(NLAM(m, blocks), deconv(m, n), residual_stack(n, blocks),
                                 deconv(n, n), residual_stack(n, blocks), deconv(n, n),
                                 residual_stack(n, blocks), deconv(n, out_ch))

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.net(y_hat)


class HyperEncoder(nn.Module):
    """Eh: y (B,M,h,w) -> z (B,N,h/4,w/4)."""

    def __init__(self, n: int, m: int, blocks: int):
        super().__init__()
        self.net = nn.Sequential(conv(m, n), residual_stack(n, blocks), conv(n, n), NLAM(n, blocks))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


class HyperDecoder(nn.Module):
    """Dh: ẑ (B,N,h/4,w/4) -> hyperprior features (B, hyper_k·M, h, w)."""

    def __init__(self, n: int, m: int, blocks: int, hyper_k: int):
        super().__init__()
        self.hyper_k = hyper_k
        self.net = nn.Sequential(NLAM(n, blocks), deconv(n, n), residual_stack(n, blocks),
                                 deconv(n, hyper_k * m))

    def forward(self, z_hat: torch.Tensor) -> torch.Tensor:
        return self.net(z_hat)


#: What Dm decodes: a frame or a residual (B,3,H,W), or for neuro-Motion the MCFs f^0..f^4.
Decoded = torch.Tensor | list[torch.Tensor]
#: The integer symbols of one engine's share of a frame: ẑ (1,N,h/4,w/4) and ŷ (1,M,h,w), float tensors.
Symbols = tuple[torch.Tensor, torch.Tensor]


@dataclass
class EngineOutput:
    """Training forward pass: the main decoder's output and the likelihoods of ŷ and ẑ."""
    decoded: Decoded
    y_hat: torch.Tensor
    likelihoods: dict[str, torch.Tensor]


@dataclass
class CodedLatents:
    """One engine's share of a frame: ẑ and ŷ as coded (symbols and coding distribution), and what Dm
    decoded from ŷ (None when only the latents were coded: :meth:`VAEEngine.code_latents`)."""
    z: CodedLatent
    y: CodedLatent
    decoded: Decoded | None = None

    def parts(self) -> dict[str, CodedLatent]:
        return {"z": self.z, "y": self.y}


def grow_rate_tables(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every per-rate gain table (R, M) that has fewer rows than ``model``'s extended
    above its top rate point: each new row continues the log-gain step between the last two rows
    (half an octave at initialisation). Rate points are added at the high end only, so rate point q
    of the old table is rate point q of the new one."""
    own = model.state_dict()
    grown = dict(state)
    for name, old in state.items():
        fresh = own.get(name)
        if (name.rpartition(".")[2] in ("log_gain", "log_inv_gain") and fresh is not None
                and old.dim() == 2 and old.shape[1] == fresh.shape[1] and 2 <= old.shape[0] < fresh.shape[0]):
            step = old[-1] - old[-2]
            extra = torch.arange(1, fresh.shape[0] - old.shape[0] + 1, dtype=old.dtype).view(-1, 1)
            grown[name] = torch.cat([old, old[-1] + extra * step])
    return grown


def add_low_rates(table: torch.Tensor, count: int) -> torch.Tensor:
    """A per-rate gain table (R, M) with ``count`` rows added below its first, each continuing the
    log-gain step between the first two rows (lower rates, untrained extrapolation)."""
    step = table[1] - table[0]
    below = torch.arange(count, 0, -1, dtype=table.dtype).view(-1, 1)
    return torch.cat([table[0] - below * step, table])


def align_low_rates(state: dict[str, torch.Tensor], prefix: str, have: int, want: int) -> dict[str, torch.Tensor]:
    """``state`` with the gain tables of the engine under ``prefix`` changed from ``have`` to ``want``
    rate points below rate point 0 (extrapolated, :func:`add_low_rates`, or dropped)."""
    aligned = dict(state)
    for name in (prefix + "log_gain", prefix + "log_inv_gain"):
        if name in state and have != want:
            table = state[name]
            aligned[name] = add_low_rates(table, want - have) if want > have else table[have - want:]
    return aligned


class VAEEngine(nn.Module):
    """Em, Dm, Eh, Dh, factorized prior for ẑ, PA for ŷ, and the per-rate gains.

    Rate points run from ``-low_rates`` to ``num_rates - 1``: the gain tables hold ``low_rates`` rows
    below rate point 0 (neuro-Motion's, for the encoder's per-frame motion rate decision,
    :mod:`nvc_core.motion_rate`; 0 for the other coders)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, n: int, m: int, blocks: int,
                 num_rates: int, temporal_k: int = 0, hyper_k: int = 2, low_rates: int = 0):
        super().__init__()
        self.em, self.dm = encoder, decoder
        self.eh = HyperEncoder(n, m, blocks)
        self.dh = HyperDecoder(n, m, blocks, hyper_k)
        self.z_prior = FactorizedPrior(n)
        self.pa = PriorAggregation(m, hyper_k=hyper_k, temporal_k=temporal_k)
        self.latent_channels, self.low_rates = m, low_rates
        # log-gains spaced half an octave apart, highest rate = gain 1 (learned afterwards)
        steps = torch.arange(low_rates + num_rates, dtype=torch.float32, device="cpu") - (low_rates + num_rates - 1)
        self.log_gain = nn.Parameter((0.5 * steps * np.log(2.0)).view(-1, 1).repeat(1, m))
        self.log_inv_gain = nn.Parameter(-self.log_gain.detach().clone())

    def _gain(self, table: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        return torch.exp(table[q + self.low_rates]).view(-1, self.latent_channels, 1, 1)

    @torch.no_grad()
    def extend_low_rates(self, count: int) -> None:
        """Add ``count`` rate points below the lowest (:func:`add_low_rates`); rate point q stays q."""
        for name in ("log_gain", "log_inv_gain"):
            setattr(self, name, nn.Parameter(add_low_rates(getattr(self, name).detach(), count)))
        self.low_rates += count

    def main_encode(self, x: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        """y = Em(x) scaled by the gains of rate point q (before quantization)."""
        return self.em(x) * self._gain(self.log_gain, q)

    def main_decode(self, y_hat: torch.Tensor, q: int | torch.Tensor) -> Decoded:
        """Dm(ŷ / gains of rate point q): the decoded frame, residual or MCFs."""
        return self.dm(y_hat * self._gain(self.log_inv_gain, q))

    def forward(self, x: torch.Tensor, q: int | torch.Tensor, temporal: torch.Tensor | None = None,
                noisy: bool | None = None) -> EngineOutput:
        """Training / estimation pass: universal quantization when ``noisy`` (default: ``self.training``),
        else rounding, as coded."""
        noisy = self.training if noisy is None else noisy
        y = self.main_encode(x, q)
        z_hat = quantize(self.eh(y), noisy)
        y_hat = quantize(y, noisy)
        likelihoods = {"y": self.pa(y_hat, self.dh(z_hat), temporal), "z": self.z_prior(z_hat)}
        return EngineOutput(self.main_decode(y_hat, q), y_hat, likelihoods)

    # -- coding (batch of one), through a frame step's entropy backend ------------------------------
    @torch.no_grad()
    def select_symbols(self, x: torch.Tensor, q: int, latents: tuple[torch.Tensor, torch.Tensor] | None = None
                       ) -> Symbols:
        """The encoder's choice of the integer latents of ``x`` (1,C,H,W) at rate point q: y and z = Eh(y)
        rounded, within the coded alphabets; ``latents``: the (y, z) to round instead (an encoder-side
        refinement, :mod:`nvc_core.refine`). The decoder never calls this: a different choice changes
        the stream, not the decoder."""
        if latents is None:
            y = self.main_encode(x, q)
            latents = y, self.eh(y)
        y_sym = torch.round(latents[0]).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)
        z_sym = torch.round(latents[1]).clamp(-Z_RANGE, Z_RANGE)
        return z_sym, y_sym

    @torch.no_grad()
    def code_latents(self, backend: EntropyBackend, symbols: Symbols | None, temporal: torch.Tensor | None,
                     latent_hw: tuple[int, int]) -> CodedLatents:
        """ẑ with the factorized prior, then ŷ with the PA given Dh(ẑ) and ``temporal``, through ``backend``
        (``symbols`` None when the backend reads them from a payload). ``latent_hw``: (h, w) of ŷ."""
        h, w = latent_hw
        z_sym, y_sym = symbols if symbols is not None else (None, None)
        z = backend.code(self.z_prior, z_sym, Conditions((self.z_prior.channels, h // 4, w // 4)))
        y = backend.code(self.pa, y_sym, Conditions((self.latent_channels, h, w), self.hyper_features(z.symbols),
                                                     temporal))
        return CodedLatents(z, y)

    @torch.no_grad()
    def code(self, backend: EntropyBackend, symbols: Symbols | None, q: int, temporal: torch.Tensor | None,
             latent_hw: tuple[int, int]) -> CodedLatents:
        """:meth:`code_latents`, then Dm: the frame, residual or MCFs the decoder gets at rate point q."""
        latents = self.code_latents(backend, symbols, temporal, latent_hw)
        latents.decoded = self.main_decode(latents.y.symbols, q)
        return latents

    def hyper_features(self, z_sym: torch.Tensor) -> torch.Tensor:
        """Dh(ẑ) for coding, in integer arithmetic (:mod:`nvc_core.entropy.integer`): (1, k·M, h, w) int64
        at 2^FRAC, the same on every machine."""
        return integer.converted(self.dh, integer.integer_network)(integer.to_fixed(z_sym))

    def min_bits(self, latent_hw: tuple[int, int]) -> float:
        """Lower bound on the bits of this engine's share of a frame whose latent is ``latent_hw``."""
        return self.z_prior.min_bits(latent_hw[0] // 4, latent_hw[1] // 4)

    def attention_modules(self) -> dict[str, nn.Module]:
        """The networks whose first NLAM mask the analyzer shows, by the name it shows them under."""
        return {"main_enc": self.em, "hyper_enc": self.eh, "main_dec": self.dm, "hyper_dec": self.dh}
