"""What the analyzer shows: a coding request and the records nvc_core returned for it.

The GUI computes no bits: it only picks, per frame and sub-stream, which nvc_core number to show,
the actual bits of the file, or the estimate of `recost_motion` when the temporal prior is toggled."""

from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path

import numpy as np

from nvc_core.analysis import FrameAnalysis

BITSTREAM_SUFFIX = ".nvc"
STREAM_GROUPS = ("intra", "motion", "residual", "hyper", "framing")   # stacking order of the bit plot


@dataclass(frozen=True)
class CodingRequest:
    """One run of the codec: encode `source` with these settings, or decode it if it is a bitstream."""

    source: Path
    quality: int
    gop: int
    frames: int | None            # None: the whole clip
    temporal_prior: bool
    weights: str                  # "" = bundled weights
    device: str
    size: tuple[int, int] | None = None   # (width, height) of a raw .yuv

    @property
    def is_bitstream(self) -> bool:
        return self.source.suffix == BITSTREAM_SUFFIX

    @property
    def cache_key(self) -> tuple:
        """Requests with equal keys give the same reconstructions. The temporal prior is not part of
        it: it changes only the motion bits, which `recost_motion` gives for both settings."""
        if self.is_bitstream:
            return (self.source, self.weights, self.device)
        return (self.source, self.size, self.quality, self.gop, self.frames, self.weights, self.device)


@dataclass
class Encoding:
    """The records of one coded clip and everything derived from them by nvc_core."""

    request: CodingRequest
    quality: int = 0                       # rate point (of the header for a bitstream)
    fps: Fraction = Fraction(25)
    records: list[FrameAnalysis] = field(default_factory=list)
    total_frames: int | None = None
    bitstreams: dict[bool, Path] = field(default_factory=dict)        # temporal_prior -> .nvc file
    motion_costs: dict[bool, list] = field(default_factory=dict)      # temporal_prior -> MotionCost|None per frame
    complete: bool = False

    @property
    def has_original(self) -> bool:
        return bool(self.records) and self.records[0].original is not None

    def _cost(self, index: int, temporal_prior: bool):
        """The re-costed motion latents of frame `index`, when they differ from what was coded."""
        record = self.records[index]
        if record.frame_type == "I" or temporal_prior == record.temporal_prior:
            return None
        costs = self.motion_costs.get(temporal_prior)
        return costs[index] if costs else None

    def can_show_prior(self, temporal_prior: bool) -> bool:
        """Whether the bits under `temporal_prior` are known (coded that way, or re-costed)."""
        return temporal_prior in self.motion_costs or all(
            r.temporal_prior == temporal_prior or r.frame_type == "I" for r in self.records)

    def stream_bits(self, index: int, temporal_prior: bool) -> dict[str, float]:
        """Bits of frame `index` by group of sub-streams (`STREAM_GROUPS`): the file's bits, except the
        motion latents under a temporal-prior setting other than the coded one (their estimate)."""
        record = self.records[index]
        by_stream = dict(record.bits_by_stream)
        cost = self._cost(index, temporal_prior)
        if cost is not None:
            by_stream["motion.y"] = cost.bits_y
        groups = dict.fromkeys(STREAM_GROUPS, 0.0)
        for key, bits in by_stream.items():
            coder, latent = key.split(".")
            groups["hyper" if latent == "z" else coder] += bits
        groups["framing"] = record.bits - sum(record.bits_by_stream.values())
        return groups

    def frame_bits(self, index: int, temporal_prior: bool) -> float:
        """Bits of frame `index` in the file (with the motion latents re-costed if toggled)."""
        return sum(self.stream_bits(index, temporal_prior).values())

    def bit_map(self, index: int, key: str, temporal_prior: bool) -> np.ndarray | None:
        """Bits per latent element `(C, h, w)` of latent `key` ("<coder>.<y|z>"), None if absent."""
        cost = self._cost(index, temporal_prior) if key == "motion.y" else None
        if cost is not None:
            return cost.bit_map_y
        return self.records[index].bit_maps.get(key)

    def bits_saved_map(self, index: int) -> np.ndarray | None:
        """Motion bits saved by the temporal prior per position `(h, w)`: tp off minus tp on."""
        off, on = self.bit_map(index, "motion.y", False), self.bit_map(index, "motion.y", True)
        if off is None or not self.can_show_prior(False) or not self.can_show_prior(True):
            return None
        return off.sum(axis=0) - on.sum(axis=0)

    def motion_bits(self, temporal_prior: bool) -> list[float | None]:
        """Bits of the motion latents per frame under `temporal_prior` (None for I-frames)."""
        return [None if r.frame_type == "I" else self.stream_bits(i, temporal_prior)["motion"]
                for i, r in enumerate(self.records)]

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
