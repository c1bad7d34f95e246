"""What a coding call computes besides the bitstream (:class:`Analysis`, a request), the per-frame
record it produces (:class:`FrameRecord`, plain numpy arrays; docs/api.md), and the typed names of a
frame's latents (:class:`LatentKey`).

A plain encode or decode computes only what it writes; the analyzer asks for everything
(``Analysis.FULL``), ``--stats`` and the evaluation for the numbers (``Analysis.STATS``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:     # no torch at import: the analyzer's windows import this module before any model
    from nvc_core.mc_gain import MotionCompensationGain


class LatentKey(StrEnum):
    """A latent of a frame: one VAE engine's ẑ or ŷ. A member is its string ("motion.y"), which is how it
    appears in STATS.json and equals the plain string as a dictionary key."""
    INTRA_Z = "intra.z"
    INTRA_Y = "intra.y"
    MOTION_Z = "motion.z"
    MOTION_Y = "motion.y"
    RESIDUAL_Z = "residual.z"
    RESIDUAL_Y = "residual.y"

    @classmethod
    def of(cls, engine: str, part: str) -> "LatentKey":
        """The key of latent ``part`` ("z" or "y") of the engine named ``engine`` ("intra", "motion", "residual")."""
        return cls(f"{engine}.{part}")

    @property
    def engine(self) -> str:
        """The VAE engine: "intra", "motion" or "residual"."""
        return self.value.partition(".")[0]

    @property
    def part(self) -> str:
        """The latent: "z" (hyper-latent) or "y"."""
        return self.value.partition(".")[2]


@dataclass(frozen=True)
class Analysis:
    metrics: bool = False    # PSNR, PSNR-Y, MS-SSIM of every frame (encoder: it has the source)
    bits: bool = False       # estimated bits of every sub-stream (from the coded parameters: no extra pass)
    maps: bool = False       # bits per latent element and the latent symbols (bit-map views, recost_motion)
    images: bool = False     # original, prediction, residuals, flows; records keep their reconstruction
    attention: bool = False  # NLAM masks of every coder

    NONE: ClassVar["Analysis"]
    STATS: ClassVar["Analysis"]
    FULL: ClassVar["Analysis"]


Analysis.NONE = Analysis()
Analysis.STATS = Analysis(metrics=True, bits=True)
Analysis.FULL = Analysis(metrics=True, bits=True, maps=True, images=True, attention=True)


@dataclass
class FrameRecord:
    index: int
    frame_type: str                                   # "I" or "P"
    temporal_prior: bool
    height: int
    width: int
    reconstruction: np.ndarray | None                 # (H,W,3) uint8
    motion_offset: int = 0                            # P: neuro-Motion at rate point quality − offset
    original: np.ndarray | None = None                # (H,W,3) uint8, None when decoding
    prediction: np.ndarray | None = None              # (H,W,3) float32, MS-MCN output (P)
    residual: np.ndarray | None = None                # (H,W,3) float32, x - x̂p before coding (encoder, P)
    residual_hat: np.ndarray | None = None            # (H,W,3) float32, decoded residual (P)
    flows: list[np.ndarray] = field(default_factory=list)          # 5 x (h_s,w_s,2), s=0 finest (P)
    attention: dict[str, np.ndarray] = field(default_factory=dict)  # "<coder>.<main|hyper>_<enc|dec>" -> (h,w)
    bit_maps: dict[LatentKey, np.ndarray] = field(default_factory=dict)   # (C,h,w) bits per element
    latents: dict[LatentKey, np.ndarray] = field(default_factory=dict)    # (C,h,w) int32 symbols
    bits_by_stream: dict[LatentKey, float] = field(default_factory=dict)  # estimated bits of each latent
    bits: int = 0                                     # whole chunk in the file, framing included
    bits_estimated: float = 0.0                       # sum of bits_by_stream
    matches_encoder: bool | None = None               # decoding: hash of the reconstruction equals the encoder's
    psnr_rgb: float | None = None
    psnr_y: float | None = None
    ms_ssim: float | None = None
    mc_gain: MotionCompensationGain | None = None     # what motion compensation bought (encoder, P, images)

    def stats(self) -> dict:
        """The per-frame entry of STATS.json."""
        return {"index": self.index, "type": self.frame_type, "temporal_prior": self.temporal_prior,
                "motion_offset": self.motion_offset, "bits": self.bits, "bits_estimated": round(self.bits_estimated, 3),
                "bits_by_stream": {str(k): round(v, 3) for k, v in self.bits_by_stream.items()},
                "psnr_rgb": self.psnr_rgb, "psnr_y": self.psnr_y, "ms_ssim": self.ms_ssim}

    def light(self) -> "FrameRecord":
        """A copy without the images and maps (keeps the numbers and the latents)."""
        return replace(self, reconstruction=None, original=None, prediction=None, residual=None,
                       residual_hat=None, flows=[], attention={}, bit_maps={})
