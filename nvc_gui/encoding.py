"""What the analyzer shows: a coding request and the records nvc_core returned for it.

The GUI computes no bits: it only picks which nvc_core number to show. Two kinds of bits never mix:
the bits of a frame in the file (`FrameRecord.bits`), and estimates (the sub-stream estimates of
the record, the bit maps, and `recost_motion`'s motion bits with the temporal prior on and off, which
are compared with each other only)."""

from dataclasses import dataclass, field, fields
from enum import Enum
from fractions import Fraction
from pathlib import Path

import numpy as np

from nvc_core.analysis import FrameRecord

BITSTREAM_SUFFIX = ".nvc"
# stacking order of the bit plot; "other" = bits in the file minus the estimated sub-streams
# (framing, range-coder overhead)
STREAM_GROUPS = ("intra", "motion", "residual", "hyper", "other")


@dataclass(frozen=True)
class CodingRequest:
    """One run of the codec: encode `source` with these settings, or decode it if it is a bitstream
    (`reference`: the source video of the bitstream, for PSNR)."""

    source: Path
    quality: int
    gop: int
    frames: int | None            # None: the whole clip
    temporal_prior: bool
    weights: str                  # "" = bundled weights
    device: str
    size: tuple[int, int] | None = None   # (width, height) of a raw .yuv (of `reference` for a bitstream)
    reference: Path | None = None

    @property
    def is_bitstream(self) -> bool:
        return self.source.suffix == BITSTREAM_SUFFIX

    @property
    def cache_key(self) -> tuple:
        """Requests with equal keys give the same reconstructions. The temporal prior is not part of
        it: it changes only the motion bits, which `recost_motion` gives for both settings."""
        if self.is_bitstream:
            return (self.source, self.reference, self.size, self.weights, self.device)
        return (self.source, self.size, self.quality, self.gop, self.frames, self.weights, self.device)


@dataclass(frozen=True)
class ClassicalRequest:
    """Code the frames nvc coded with a classical coder (`nvc_core.evaluation.classical`): at `crf`,
    or at the CRF that matches `target_bits` (the size of nvc's bitstream of the clip)."""

    source: Path                  # the video (a bitstream's reference video)
    size: tuple[int, int] | None
    frames: int                   # the frames nvc coded
    gop: int
    codec: str                    # "x264" or "x265"
    crf: float | None
    target_bits: int | None
    matrix: str = "bt709"

    @property
    def key(self) -> tuple:
        """How the clip keeps the result: (codec, CRF) or (codec, "nvc's bits")."""
        return (self.codec, MATCH_NVC if self.crf is None else self.crf)

    @property
    def cache_key(self) -> tuple:
        return ("classical", self.source, self.size, self.frames, self.gop, self.key, self.target_bits)


MATCH_NVC = "nvc's bits"


class Status(Enum):
    CODING = "coding"            # queued or being coded
    COMPLETE = "complete"
    CANCELLED = "cancelled"      # stopped by the user: the records coded so far stay usable
    FAILED = "failed"


@dataclass
class Encoding:
    """The records of one coded clip and everything derived from them by nvc_core."""

    request: CodingRequest
    quality: int = 0                       # rate point (of the header for a bitstream)
    gop: int = 0                           # GOP length (of the header for a bitstream)
    fps: Fraction = Fraction(25)
    records: list[FrameRecord] = field(default_factory=list)
    gains: list = field(default_factory=list)     # nvc_core.mc_gain.frame_gain per record (None: I-frame)
    total_frames: int | None = None
    bitstreams: dict[bool, Path] = field(default_factory=dict)        # temporal_prior -> .nvc file
    # temporal_prior -> recost_motion's MotionCost (None for I-frames) per frame
    motion_costs: dict[bool, list] = field(default_factory=dict)
    status: Status = Status.CODING
    matrix: str = "bt709"                  # Y'CbCr matrix of the stream (nvc_core.color)
    # ClassicalRequest.key -> nvc_core.evaluation.classical.ClassicalClip of the same frames
    classical: dict[tuple, object] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.status is Status.COMPLETE

    def coded_prior(self) -> bool:
        """The temporal-prior setting the clip's P-frames were coded with (the request's if none)."""
        return next((r.temporal_prior for r in self.records if r.frame_type == "P"), self.request.temporal_prior)

    def bitstream_for(self, temporal_prior: bool) -> Path | None:
        """The .nvc file of this clip coded with `temporal_prior` (an opened bitstream is itself),
        None if not written yet."""
        if self.request.is_bitstream:
            return self.request.source
        return self.bitstreams.get(temporal_prior)

    def add_frame(self, record: FrameRecord, gain, total: int | None) -> None:
        """A newly coded frame (and its motion-compensation gain)."""
        self.records.append(record)
        self.gains.append(gain)
        self.total_frames = total

    def frame_bits(self, index: int) -> int:
        """Bits of frame `index` in the file."""
        return self.records[index].bits

    def stream_bits(self, index: int) -> dict[str, float]:
        """Bits of frame `index` by group of sub-streams (`STREAM_GROUPS`, hyper = all z latents):
        nvc_core's estimates, and "other" = the rest of the frame's bits in the file."""
        record = self.records[index]
        groups = dict.fromkeys(STREAM_GROUPS, 0.0)
        for key, bits in record.bits_by_stream.items():
            coder, latent = key.split(".")
            groups["hyper" if latent == "z" else coder] += bits
        groups["other"] = record.bits - sum(record.bits_by_stream.values())
        return groups

    def recosted(self, index: int, temporal_prior: bool):
        """`recost_motion`'s MotionCost of frame `index` (None: I-frame, or not re-costed yet)."""
        costs = self.motion_costs.get(temporal_prior)
        return costs[index] if costs else None

    def motion_estimate(self, index: int, temporal_prior: bool) -> float | None:
        """Estimated bits of the motion latent ŷ of frame `index` with the temporal prior on or off."""
        cost = self.recosted(index, temporal_prior)
        return None if cost is None else cost.bits_y

    def bits_saved(self, index: int) -> float | None:
        """Motion bits the temporal prior saves in frame `index`: estimate without minus with."""
        off, on = self.motion_estimate(index, False), self.motion_estimate(index, True)
        return None if off is None or on is None else off - on

    def bit_map(self, index: int, key: str, temporal_prior: bool) -> np.ndarray | None:
        """Estimated bits per latent element `(C, h, w)` of latent `key` ("<coder>.<y|z>"), None if
        the frame has no such latent. The motion ŷ map is `recost_motion`'s under `temporal_prior`
        (the record's own map until the clip is re-costed, for the setting it was coded with)."""
        record = self.records[index]
        if key == "motion.y" and record.frame_type == "P":
            cost = self.recosted(index, temporal_prior)
            if cost is not None:
                return cost.bit_map_y
            if temporal_prior != record.temporal_prior:
                return None
        return record.bit_maps.get(key)

    def bits_saved_map(self, index: int) -> np.ndarray | None:
        """Motion bits saved per position `(h, w)`: estimate without minus with, summed over channels."""
        off, on = self.recosted(index, False), self.recosted(index, True)
        return None if off is None or on is None else off.bit_map_y.sum(axis=0) - on.bit_map_y.sum(axis=0)

    def nbytes(self) -> int:
        """Memory held by the records (what the frame cache limits)."""
        return sum(_nbytes(getattr(r, f.name)) for r in self.records for f in fields(r))


def _nbytes(value) -> int:
    """Bytes of the numpy arrays inside `value` (arrays, lists and dicts of them)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 0
