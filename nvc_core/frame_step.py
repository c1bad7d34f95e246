"""The low-delay P frame step (Fig. 1, Sec. III-A): the one place that codes a frame.

Fig. 1, left to right, and where each part lives here:

* **I/P decision** (GOP position): frame t of a GOP of ``gop`` frames is an I-frame when
  t mod gop = 0 (:attr:`FrameStep.frame_type`).
* **I-frame**: X̂_1 = neuro-Intra(X_1); the TUM state is reset.
* **P-frame**: neuro-Motion codes cat(X̂_{t-1}, X_t) (and, flow-guided, the encoder's flow hint) into
  F̂_t, whose PA engine uses the TUM's temporal prior h_{t-1}; the pyramid flow decoder gives the
  MCFs f^0..f^4; the TUM is updated with F̂_t (eq. 7); MS-MCN predicts X̂p_t from X̂_{t-1} and the MCFs;
  neuro-Res codes r_t = X_t − X̂p_t; X̂_t = X̂p_t + r̂_t.
* **Reference frame buffer**: X̂_t rounded to 8 bits (what the decoder outputs) is the next reference.

The entropy coding of every latent goes through a pluggable backend
(:mod:`nvc_core.entropy.latent_codec`): :class:`RangeEncode` (the encoder), :class:`RangeDecode`
(the decoder: no source frame, the symbols come from the payload) or :class:`EstimateOnly` (bits
without a range coder: ``nvc train check``). The same step replays stored motion symbols for the
temporal-prior re-costing (:meth:`FrameStep.replay_motion`). Encoder and decoder therefore run the
same computations on the same tensors; every step runs inside :func:`nvc_core.env.coding_env`.

Two hooks, both outside what the decoder sees: the encoder's choice of the symbols
(:meth:`nvc_core.models.vae.VAEEngine.select_symbols`) and how each latent's entropy parameters are
computed (the :class:`~nvc_core.entropy.latent_codec.LatentCodec` implementations).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from nvc_core.analysis import LatentKey
from nvc_core.bitstream import MAX_GOP, MAX_SIDE
from nvc_core.entropy.latent_codec import EntropyBackend, EstimateOnly, RangeDecode, RangeEncode
from nvc_core.env import coding_env
from nvc_core.errors import NVCError, VideoError
from nvc_core.flow_estimate import flow_tensor, padded_frame_flow
from nvc_core.memory import check_frame_fits
from nvc_core.models.neuro_motion import State
from nvc_core.models.nvc import INTER_LAMBDA_RATIO, NVC, PAD_MULTIPLE
from nvc_core.models.vae import CodedLatents, Symbols, VAEEngine
from nvc_core.motion_rate import MotionRateSearch, check_offset
from nvc_core.refine import check_effort, refine_latents

__all__ = ["FrameStep", "CodedFrame", "FrameType", "EntropyBackend", "RangeEncode", "RangeDecode", "EstimateOnly",
           "check_settings", "padded_size", "pad_frame", "frame_tensor", "to_tensor", "to_uint8"]

FrameType = Literal["I", "P"]
#: The VAE engines that code a frame of each type, in the order their latents enter the payload.
ENGINES: dict[str, tuple[str, ...]] = {"I": ("intra",), "P": ("motion", "residual")}


# -- frame <-> tensor (the one place for padding) ----------------------------------------------------
def padded_size(height: int, width: int) -> tuple[int, int]:
    return -(-height // PAD_MULTIPLE) * PAD_MULTIPLE, -(-width // PAD_MULTIPLE) * PAD_MULTIPLE


def pad_frame(rgb: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8 -> (Hp,Wp,3) uint8, edge pixels replicated up to a multiple of PAD_MULTIPLE."""
    h, w = rgb.shape[:2]
    hp, wp = padded_size(h, w)
    return np.pad(rgb, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")


def frame_tensor(padded: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """A frame from :func:`pad_frame` -> (1,3,Hp,Wp) float in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(padded)).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def to_tensor(rgb: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,Hp,Wp) float in [0,1], replicate-padded to a multiple of PAD_MULTIPLE."""
    return frame_tensor(pad_frame(rgb), device)


def to_uint8(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    """(1,3,Hp,Wp) float -> cropped (H,W,3) uint8."""
    x = x[0, :, :height, :width].clamp(0, 1).mul(255).round().byte()
    return x.permute(1, 2, 0).cpu().numpy()


def check_quality(model: NVC, quality: int, name: str = "quality") -> None:
    """The one check of a rate point against the model's (``name``: how the message calls it)."""
    if not 0 <= quality < model.num_rates:
        raise NVCError(f"{name}: must be in 0..{model.num_rates - 1}, got {quality}")


def check_settings(model: NVC, width: int, height: int, quality: int, gop: int) -> None:
    """The one check of what a frame step can code: frame size, GOP and rate point."""
    check_quality(model, quality)
    if not 1 <= gop <= MAX_GOP:
        raise NVCError(f"gop must be in 1..{MAX_GOP}, got {gop}")
    if not (2 <= width <= MAX_SIDE and 2 <= height <= MAX_SIDE):
        raise NVCError(f"frame size {width}x{height} outside 2x2..{MAX_SIDE}x{MAX_SIDE}")


# -- one frame -----------------------------------------------------------------------------------------
@dataclass
class CodedFrame:
    """What one frame step produced: every coder's latents and decoder output, and the reconstruction."""
    index: int
    frame_type: FrameType
    temporal_prior: bool                      # the motion features were coded with the TUM prior
    coded: dict[str, CodedLatents]            # "intra", or "motion" and "residual"
    reconstruction: np.ndarray                # (H,W,3) uint8: X̂_t, the next reference
    prediction: torch.Tensor | None = None    # (1,3,Hp,Wp) X̂p_t (P)
    residual: torch.Tensor | None = None      # (1,3,Hp,Wp) r_t = X_t − X̂p_t (P, when the source is known)
    motion_offset: int = 0                    # neuro-Motion coded at rate point quality − offset (P)

    @property
    def flows(self) -> list[torch.Tensor]:
        """The MCFs f^0..f^4 (P), (1,2,Hp/2^s,Wp/2^s) each; [] for an I-frame."""
        return self.coded["motion"].decoded if "motion" in self.coded else []

    @property
    def residual_hat(self) -> torch.Tensor | None:
        """r̂_t (1,3,Hp,Wp), the decoded residual (P)."""
        return self.coded["residual"].decoded if "residual" in self.coded else None

    def bit_maps(self) -> dict[LatentKey, np.ndarray]:
        """Bits of every latent element, (C,h,w) float32, under the distribution it is coded with."""
        return {LatentKey.of(name, part): latent.bits()[0].cpu().numpy().astype(np.float32)
                for name, latents in self.coded.items() for part, latent in latents.parts().items()}

    def bits_by_stream(self) -> dict[LatentKey, float]:
        """Bits of every latent (what the range coder spends on it, up to the session's flush)."""
        return {key: float(bits.sum(dtype=np.float64)) for key, bits in self.bit_maps().items()}


class FrameStep:
    """The state of a low-delay P coding run (reference frame buffer, TUM state, GOP position, and the
    encoder's previous source frame for the flow hint) and the step that codes one frame."""

    def __init__(self, model: NVC, width: int, height: int, quality: int, gop: int, threads: int | None = None,
                 effort: int = 0, motion_search: bool = False):
        check_settings(model, width, height, quality, gop)
        check_frame_fits(width, height, *padded_size(height, width), inter=gop > 1)  # before anything that size
        self.model, self.width, self.height, self.quality, self.gop = model, width, height, quality, gop
        self.threads = threads
        self.effort = check_effort(effort)   # encoder-side latent refinement (refine.py), 0 = off
        # the encoder's motion rate decision (motion_rate.py); without it, motion is coded at the quality
        self.motion_search = MotionRateSearch(model, quality) if motion_search else None
        self.device = next(model.parameters()).device
        self.latent_hw: tuple[int, int] = tuple(s // 16 for s in padded_size(height, width))
        self.index = 0
        self.reference: torch.Tensor | None = None        # (1,3,Hp,Wp) X̂_{t-1}
        self.state: State | None = None                    # TUM (h, c), None after an I-frame
        self.previous_source: np.ndarray | None = None     # (Hp,Wp,3) uint8 X_{t-1}, encoder only

    @property
    def frame_type(self) -> FrameType:
        """The type of the next frame: I at the start of every GOP, P otherwise."""
        return "I" if self.index % self.gop == 0 else "P"

    def engines(self, frame_type: FrameType) -> dict[str, VAEEngine]:
        """The VAE engines that code a frame of ``frame_type``, by name, in payload order."""
        return {name: getattr(self.model, name) for name in ENGINES[frame_type]}

    def min_payload_bits(self, frame_type: FrameType) -> float:
        """A lower bound on the payload of a frame of ``frame_type`` at this size (checked before decoding)."""
        return sum(engine.min_bits(self.latent_hw) for engine in self.engines(frame_type).values())

    def code(self, backend: EntropyBackend, source: np.ndarray | None = None, temporal_prior: bool = True,
             motion_offset: int | None = None) -> CodedFrame:
        """Code the next frame through ``backend``: ``source`` (H,W,3) uint8 when encoding or estimating,
        None when decoding. ``temporal_prior``: code the motion features with the TUM prior (P-frames).
        ``motion_offset``: neuro-Motion's rate point is quality − offset (P-frames; the decoder's comes
        from the chunk); None: the encoder's motion rate search decides, or 0 without one."""
        if backend.reads_symbols != (source is None):
            raise ValueError("a decoding backend takes no source frame; the others need one")
        frame_type = self.frame_type
        padded = x = None
        if source is not None:
            if source.shape != (self.height, self.width, 3) or source.dtype != np.uint8:
                raise VideoError(f"frame {self.index} is {source.shape} {source.dtype}, expected "
                                 f"({self.height}, {self.width}, 3) uint8")
            padded = pad_frame(source)
            x = frame_tensor(padded, self.device)                         # (1,3,Hp,Wp)
        with coding_env(self.threads), torch.no_grad():
            m, q = self.model, self.quality
            if frame_type == "I":
                intra = self._code(m.intra, backend, x, None, m.config.lambdas[q])
                self.state = None
                if self.motion_search is not None:
                    self.motion_search.reset()
                frame = CodedFrame(self.index, "I", False, {"intra": intra}, self._reconstruct(intra.decoded))
            else:
                temporal = m.motion.temporal_prior(self.state, temporal_prior)
                em_input = None if x is None else m.motion.encoder_input(self.reference, x, self._flow_hint(padded))
                offset = self._motion_offset(motion_offset, x, em_input)
                motion = self._code(m.motion, backend, em_input, temporal, quality=q - offset)
                self.state = m.motion.coding_state(motion.y.symbols, self.state)
                prediction = m.mcn(self.reference, motion.decoded)             # X̂p_t
                residual = None if x is None else x - prediction            # r_t
                res = self._code(m.residual, backend, residual, None, m.config.lambdas[q] * INTER_LAMBDA_RATIO)
                frame = CodedFrame(self.index, "P", temporal_prior, {"motion": motion, "residual": res},
                                   self._reconstruct(prediction + res.decoded), prediction, residual, offset)
        self.previous_source = padded
        self.index += 1
        return frame

    def replay_motion(self, symbols: Symbols | None, frame_type: FrameType, temporal_prior: bool
                      ) -> CodedLatents | None:
        """Re-estimate the motion latents of a coded frame from its stored symbols (ẑ, ŷ) with the temporal
        prior on or off, advancing the GOP position and the TUM state as :meth:`code` does (the reference
        buffer is not needed: the motion bits do not depend on it). None for an I-frame (no symbols)."""
        if frame_type != self.frame_type:
            raise ValueError(f"frame {self.index} is {frame_type}, but a GOP of {self.gop} makes it {self.frame_type}")
        self.index += 1
        if frame_type == "I":
            self.state = None
            return None
        with coding_env(self.threads), torch.no_grad():
            motion = self.model.motion
            symbols = tuple(s.to(self.device) for s in symbols)
            latents = motion.code_latents(EstimateOnly(), symbols, motion.temporal_prior(self.state, temporal_prior),
                                          self.latent_hw)
            self.state = motion.coding_state(latents.y.symbols, self.state)
        return latents

    # -- parts of a step --------------------------------------------------------------------------------
    def _code(self, engine: VAEEngine, backend: EntropyBackend, x: torch.Tensor | None,
              temporal: torch.Tensor | None, lam: float | None = None, quality: int | None = None) -> CodedLatents:
        """One VAE engine's share of the frame: the encoder picks the symbols of its input ``x``, the
        decoder reads them; either way the backend codes them and Dm decodes them. ``lam``: the engine's
        λ, for an encoder-side refinement of its latents (None: never refined); ``quality``: the engine's
        rate point (default: the step's)."""
        q = self.quality if quality is None else quality
        symbols = None
        if x is not None:
            refined = (refine_latents(engine, x, q, lam, temporal, self.effort)
                       if lam is not None and self.effort else None)
            symbols = engine.select_symbols(x, q, refined)
        return engine.code(backend, symbols, q, temporal, self.latent_hw)

    def _motion_offset(self, given: int | None, x: torch.Tensor | None, em_input: torch.Tensor | None) -> int:
        """The P-frame's motion rate offset: ``given`` (checked), else the search's choice, else 0. The
        search always costs the motion with the temporal prior, so that switching the prior off changes
        the motion bits only, never the decision or the reconstruction."""
        if given is not None:
            check_offset(self.model, self.quality, given)
            return given
        if self.motion_search is None or x is None:
            return 0
        temporal = self.model.motion.temporal_prior(self.state, True)
        return self.motion_search.choose(self.reference, x, em_input, temporal, (self.height, self.width))

    def _flow_hint(self, source: np.ndarray) -> torch.Tensor | None:
        """Flow estimate of the padded source frame against the previous one (flow-guided neuro-Motion),
        over every pixel Em sees (:func:`padded_frame_flow`)."""
        if not self.model.motion.flow_guided:
            return None
        return flow_tensor(padded_frame_flow(self.previous_source, source, self.height, self.width), self.device)

    def _reconstruct(self, x_hat: torch.Tensor) -> np.ndarray:
        """X̂_t (1,3,Hp,Wp) -> 8-bit (H,W,3), which also becomes the reference of the next frame."""
        reconstruction = to_uint8(x_hat, self.height, self.width)
        self.reference = to_tensor(reconstruction, self.device)
        return reconstruction
