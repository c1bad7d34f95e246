"""The one interface of nvc's entropy models (:class:`LatentCodec`) and the three ways a frame step
runs them (:class:`EntropyBackend`): range encode, range decode, estimate only.

CompressAI's ``LatentCodec`` is the anchor: an entropy model turns integer symbols into a bitstream
and back, conditioned on what the decoder already holds. Here the bitstream is the frame's shared
range-coder session (:mod:`nvc_core.entropy.range_coder`), the conditions are typed
(:class:`Conditions`), and every call returns the same typed result (:class:`CodedLatent`): the
symbols and the exact distribution they were (or would be) coded with, so that the bits of every
element follow without a second pass.

Both entropy models implement it: the factorized prior of ẑ
(:class:`~nvc_core.entropy.factorized.FactorizedPrior`, conditioned on nothing) and the prior
aggregation of ŷ (:class:`~nvc_core.entropy.prior_aggregation.PriorAggregation`, conditioned on the
hyperprior and, for motion features, the TUM's temporal prior).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from nvc_core.entropy.range_coder import RangeDecoderSession, RangeEncoderSession


@dataclass(frozen=True)
class Conditions:
    """What a latent is coded given: its shape (C,H,W) and the side information of the decoder."""
    shape: tuple[int, int, int]
    hyper: torch.Tensor | None = None       # (1, k·C, H, W) hyper decoder output (PA)
    temporal: torch.Tensor | None = None    # (1, k·C, H, W) TUM h_{t-1} (PA of motion features); None = zeros


class CodingDistribution(Protocol):
    """The distribution every element of a latent is coded with."""

    def bits(self, symbols: torch.Tensor) -> torch.Tensor:
        """-log2 P per element, (1,C,H,W) float, of ``symbols`` (1,C,H,W) under this distribution."""
        ...


@dataclass(frozen=True)
class CodedLatent:
    """One latent of a frame: its integer symbols (1,C,H,W) float and the distribution they are coded with."""
    symbols: torch.Tensor
    distribution: CodingDistribution

    def bits(self) -> torch.Tensor:
        """-log2 P per element (1,C,H,W): what the range coder spends on each, up to its flush."""
        return self.distribution.bits(self.symbols)


@runtime_checkable
class LatentCodec(Protocol):
    """An entropy model of one latent (batch of one). All three calls return the same
    :class:`CodedLatent`, so an estimate is exactly what the range coder is given."""

    def compress(self, symbols: torch.Tensor, conditions: Conditions, session: RangeEncoderSession) -> CodedLatent:
        """Append the integer ``symbols`` (1,C,H,W) to the frame's session."""
        ...

    def decompress(self, session: RangeDecoderSession, conditions: Conditions) -> CodedLatent:
        """Read a latent of ``conditions.shape`` back from the frame's session."""
        ...

    def estimate(self, symbols: torch.Tensor, conditions: Conditions) -> CodedLatent:
        """The distribution :meth:`compress` would code ``symbols`` with, without coding them."""
        ...


# -- entropy backends of a frame step ----------------------------------------------------------------
class EntropyBackend(Protocol):
    """How a frame step turns its latents into bits: the encoder's symbols go in (``None`` when decoding),
    the coded latent comes out."""

    #: Whether the backend reads the symbols from data (the decoder): the frame step then has no source.
    reads_symbols: bool

    def code(self, codec: LatentCodec, symbols: torch.Tensor | None, conditions: Conditions) -> CodedLatent:
        ...


class RangeEncode:
    """Range-encode every latent of one frame into one session; :meth:`payload` seals it."""
    reads_symbols = False

    def __init__(self):
        self.session = RangeEncoderSession()

    def code(self, codec: LatentCodec, symbols: torch.Tensor | None, conditions: Conditions) -> CodedLatent:
        return codec.compress(symbols, conditions, self.session)

    def payload(self) -> bytes:
        return self.session.finish()


class RangeDecode:
    """Range-decode every latent of one frame from its payload."""
    reads_symbols = True

    def __init__(self, payload: bytes):
        self.session = RangeDecoderSession(payload)

    def code(self, codec: LatentCodec, symbols: torch.Tensor | None, conditions: Conditions) -> CodedLatent:
        return codec.decompress(self.session, conditions)


class EstimateOnly:
    """No range coding: every latent's coding distribution, hence its bits, as the encoder would code it.
    Needs no range coder (runs where ``constriction`` is missing)."""
    reads_symbols = False

    def code(self, codec: LatentCodec, symbols: torch.Tensor | None, conditions: Conditions) -> CodedLatent:
        return codec.estimate(symbols, conditions)
