"""Prior aggregation (PA) entropy model, Fig. 6 and eq. (6).

For every element of a quantized latent ŷ (B,C,H,W) the PA engine predicts a Gaussian (μ, σ) from
  * the hyperprior: the hyper decoder output, ``hyper_k`` features per element (B, k·C, H, W),
  * the spatial prior: a masked 5x5x5 3D convolution over (channel, height, width) whose kernel is
    shared by all channels (footnote 3), giving ``context_k`` features per element,
  * for motion features only, the temporal prior h_{t-1} of the TUM's ConvLSTM (``temporal_k``
    features per element); zeros when the temporal prior is switched off,
concatenated and fused by the STHAM, a stack of 1x1x1 convolutions, into (μ, σ).
Training uses the float network; coding (compress, decompress, bits) uses the same network in
integer arithmetic (:class:`IntegerPriorAggregation`), whose ``hyper`` and ``temporal`` inputs are
the integer hyper decoder output and ConvLSTM state, so every machine derives the same (μ, σ).

Parallel decoding (goes beyond the paper): the spatial context is a checkerboard. Anchor positions
((h + w) even) are coded first with the context set to zero; then every other position is coded in
one pass with a context computed from the anchors only (all channels, 3D kernel restricted to anchor
offsets). Two parallel passes per latent instead of C·H·W serial steps. ``context="serial"`` gives
the paper's raster-order masked 3D context, for measuring what the checkerboard costs in rate
(likelihoods only; it is never used to code a stream).

Besides ``forward`` (likelihoods for training) it implements the
:class:`~nvc_core.entropy.latent_codec.LatentCodec` interface shared with the factorized prior.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nvc_core.entropy import integer
from nvc_core.entropy.range_coder import RangeDecoderSession, RangeEncoderSession
from nvc_core.entropy.gaussian import (SCALE_MIN, bounds_model, coding_bits, gaussian_family, gaussian_likelihood,
                                       snap_fixed, symbol_range)
from nvc_core.entropy.latent_codec import CodedLatent, Conditions
from nvc_core.errors import BitstreamError


def anchor_mask(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(1,1,H,W) float mask, 1 at checkerboard anchors ((h + w) even)."""
    h = torch.arange(height, device=device).view(-1, 1)
    w = torch.arange(width, device=device).view(1, -1)
    return ((h + w) % 2 == 0).float().view(1, 1, height, width)


class MaskedConv3d(nn.Conv3d):
    """5x5x5 convolution over (C,H,W) with one input feature, kernel shared by all channels.

    ``mode="checkerboard"``: taps at spatial offsets with odd |dh|+|dw| (the anchors around a
    non-anchor), every channel offset. ``mode="serial"``: raster-causal taps (earlier channels, or the
    same channel at earlier positions).
    """

    def __init__(self, out_features: int, kernel: int = 5, mode: str = "checkerboard"):
        super().__init__(1, out_features, kernel, padding=kernel // 2)
        r = kernel // 2
        d = torch.arange(kernel, device="cpu") - r     # on the CPU also where the model is built on the meta device
        dc, dh, dw = torch.meshgrid(d, d, d, indexing="ij")
        if mode == "checkerboard":
            mask = (dh + dw).abs() % 2 == 1
        elif mode == "serial":
            mask = (dc < 0) | ((dc == 0) & ((dh < 0) | ((dh == 0) & (dw < 0))))
        else:
            raise ValueError(f"unknown context mode {mode!r}")
        self.register_buffer("mask", mask.float().view(1, 1, kernel, kernel, kernel))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        # (B,C,H,W) -> (B,1,C,H,W) -> (B,k,C,H,W)
        return F.conv3d(y.unsqueeze(1), self.weight * self.mask, self.bias, padding=self.padding)


class STHAM(nn.Module):
    """Spatio-temporal-hyper aggregation module: stacked 1x1x1 convs -> (μ, σ) per element."""

    def __init__(self, in_features: int, hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Conv3d(in_features, hidden, 1), nn.ReLU(inplace=True),
                                 nn.Conv3d(hidden, hidden // 2, 1), nn.ReLU(inplace=True),
                                 nn.Conv3d(hidden // 2, 2, 1))

    def forward(self, priors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(priors)                                      # (B,2,C,H,W)
        return out[:, 0], F.softplus(out[:, 1]) + SCALE_MIN


class PriorAggregation(nn.Module):
    def __init__(self, channels: int, hyper_k: int = 2, temporal_k: int = 0, context_k: int = 8,
                 context: str = "checkerboard"):
        super().__init__()
        self.channels, self.hyper_k, self.temporal_k = channels, hyper_k, temporal_k
        self.context_mode = context
        self.context = MaskedConv3d(context_k, mode=context)
        self.stham = STHAM(hyper_k + context_k + temporal_k)

    # -- parameters ---------------------------------------------------------------------------
    def _priors(self, context: torch.Tensor, hyper: torch.Tensor, temporal: torch.Tensor | None) -> torch.Tensor:
        b, _, h, w = hyper.shape
        parts = [hyper.view(b, self.hyper_k, self.channels, h, w), context]
        if self.temporal_k:
            if temporal is None:
                temporal = hyper.new_zeros(b, self.temporal_k * self.channels, h, w)
            parts.append(temporal.view(b, self.temporal_k, self.channels, h, w))
        return torch.cat(parts, dim=1)                              # (B, k_total, C, H, W)

    def parameters_for(self, y_known: torch.Tensor, hyper: torch.Tensor, temporal: torch.Tensor | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, σ) for every element given the known part of ŷ (non-anchors zeroed in coding)."""
        context = self.context(y_known)
        if self.context_mode == "checkerboard":
            h, w = y_known.shape[-2:]
            context = context * (1.0 - anchor_mask(h, w, y_known.device)).unsqueeze(2)
        return self.stham(self._priors(context, hyper, temporal))

    def forward(self, y_hat: torch.Tensor, hyper: torch.Tensor, temporal: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Training/estimation: likelihood of every element of ``y_hat`` (B,C,H,W)."""
        mean, scale = self.parameters_for(y_hat, hyper, temporal)
        return gaussian_likelihood(y_hat, mean, scale)

    # -- coding (batch of one): the LatentCodec interface, in integers (nvc_core.entropy.integer) --
    def integer(self) -> IntegerPriorAggregation:
        """This PA engine in integer arithmetic (converted from the current weights, cached)."""
        return integer.converted(self, IntegerPriorAggregation)

    @torch.no_grad()
    def compress(self, symbols: torch.Tensor, conditions: Conditions, session: RangeEncoderSession) -> CodedLatent:
        """Code integer ŷ (1,C,H,W): its alphabet bounds, then two checkerboard passes."""
        hyper, temporal = conditions.hyper, conditions.temporal
        anchors = anchor_mask(*symbols.shape[-2:], symbols.device).bool().expand_as(symbols)
        lo, hi = symbol_range(symbols)
        session.encode(np.array([lo, hi]), bounds_model())
        family = gaussian_family(lo, hi)
        known = torch.zeros_like(symbols)
        coded_mean = coded_scale = torch.zeros(symbols.shape, dtype=torch.float64, device=symbols.device)
        for select in (anchors, ~anchors):
            mean, scale = self.integer().parameters_for(known, hyper, temporal)
            session.encode(symbols[select].cpu().numpy(), family, mean[select].cpu().numpy(),
                           scale[select].cpu().numpy())
            coded_mean = torch.where(select, mean, coded_mean)
            coded_scale = torch.where(select, scale, coded_scale)
            known = torch.where(select, symbols, known)
        return CodedLatent(symbols, CodingParameters(coded_mean, coded_scale, lo, hi))

    @torch.no_grad()
    def decompress(self, session: RangeDecoderSession, conditions: Conditions) -> CodedLatent:
        """Inverse of :meth:`compress`: integer ŷ (1,C,H,W) as a float tensor, with its parameters."""
        hyper, temporal = conditions.hyper, conditions.temporal
        lo, hi = (int(v) for v in session.decode(bounds_model(), count=2))
        if lo >= hi:
            raise BitstreamError("corrupt bitstream: empty latent alphabet")
        family = gaussian_family(lo, hi)
        b, _, h, w = hyper.shape
        shape = (b, self.channels, h, w)
        anchors = anchor_mask(h, w, hyper.device).bool().expand(shape)
        known = torch.zeros(shape, device=hyper.device)
        coded_mean = coded_scale = torch.zeros(shape, dtype=torch.float64, device=hyper.device)
        for select in (anchors, ~anchors):
            mean, scale = self.integer().parameters_for(known, hyper, temporal)
            sym = session.decode(family, mean[select].cpu().numpy(), scale[select].cpu().numpy())
            known[select] = torch.from_numpy(sym.astype(np.float32)).to(known.device)
            coded_mean = torch.where(select, mean, coded_mean)
            coded_scale = torch.where(select, scale, coded_scale)
        return CodedLatent(known, CodingParameters(coded_mean, coded_scale, lo, hi))

    @torch.no_grad()
    def estimate(self, symbols: torch.Tensor, conditions: Conditions) -> CodedLatent:
        """The parameters :meth:`compress` codes ``symbols`` with, in one pass and without coding.

        Anchor parameters do not depend on the known part (their context is zero), so one pass with
        the anchors known gives the parameters of both passes.
        """
        anchors = anchor_mask(*symbols.shape[-2:], symbols.device)
        mean, scale = self.integer().parameters_for(symbols * anchors, conditions.hyper, conditions.temporal)
        return CodedLatent(symbols, CodingParameters(mean, scale, *symbol_range(symbols)))


class IntegerPriorAggregation:
    """The PA engine in integer arithmetic (:mod:`nvc_core.entropy.integer`), for coding: the
    checkerboard context as a sum over its taps in int64, the STHAM as exact matrix products, and
    (μ, σ) snapped from its integer outputs."""

    def __init__(self, pa: PriorAggregation):
        if pa.context_mode != "checkerboard":
            raise ValueError("only the checkerboard context codes streams")
        self.channels, self.hyper_k, self.temporal_k = pa.channels, pa.hyper_k, pa.temporal_k
        mask = pa.context.mask[0, 0].bool()                            # (5,5,5)
        self.taps = mask.nonzero().tolist()                            # (dc, dh, dw) kernel indices
        self.radius = pa.context.weight.shape[-1] // 2
        self.context_weight, self.context_shift = integer.quantize_weights(pa.context.weight[:, 0][:, mask])
        self.context_bias = integer.quantize_bias(pa.context.bias, self.context_shift)
        self.stham = integer.integer_network(pa.stham.net, linear=True)

    def parameters_for(self, known: torch.Tensor, hyper: torch.Tensor, temporal: torch.Tensor | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Coding (μ, σ) (1,C,H,W) float64 from the known symbols (1,C,H,W) (zeros where not yet
        decoded), the integer hyper features (1,k·C,H,W) and temporal prior (1,k'·C,H,W) or None."""
        if hyper.dtype != torch.int64 or (temporal is not None and temporal.dtype != torch.int64):
            raise TypeError("the integer PA takes the integer hyper features and temporal prior")
        _, c, h, w = known.shape
        r = self.radius
        padded = F.pad(integer.to_fixed(known[0]), (r, r, r, r, r, r))  # (C+2r, H+2r, W+2r)
        weight = self.context_weight.to(known.device)
        acc = self.context_bias.to(known.device).view(-1, 1, 1, 1).expand(-1, c, h, w).clone()
        for t, (dc, dh, dw) in enumerate(self.taps):
            acc += weight[:, t].view(-1, 1, 1, 1) * padded[dc:dc + c, dh:dh + h, dw:dw + w]
        context = integer.shift_round(acc, self.context_shift.to(known.device).view(-1, 1, 1, 1))
        context = context * (1 - anchor_mask(h, w, known.device).long())   # (k, C, H, W)
        parts = [hyper.view(self.hyper_k, c, h, w), context]
        if self.temporal_k:
            parts.append(temporal.view(self.temporal_k, c, h, w) if temporal is not None
                         else hyper.new_zeros(self.temporal_k, c, h, w))
        x = torch.cat(parts).flatten(1)                                 # (k_total, C·H·W)
        x = self.stham(x)                                               # (2, C·H·W)
        mean, scale = snap_fixed(x[0], x[1], integer.FRAC)
        return mean.view(1, c, h, w), scale.view(1, c, h, w)


@dataclass(frozen=True)
class CodingParameters:
    """The coding distribution of ŷ: the snapped (μ, σ) of every element (1,C,H,W) and the alphabet [lo, hi]."""
    mean: torch.Tensor
    scale: torch.Tensor
    lo: int
    hi: int

    def bits(self, y_sym: torch.Tensor) -> torch.Tensor:
        """-log2 P per element (1,C,H,W) under these parameters."""
        return coding_bits(y_sym, self.mean, self.scale, self.lo, self.hi)


__all__ = ["PriorAggregation", "STHAM", "MaskedConv3d", "CodingParameters", "anchor_mask"]
