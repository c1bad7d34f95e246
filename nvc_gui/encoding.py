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
    gop: int = 0                           # GOP length (of the header for a bitstream)
    fps: Fraction = Fraction(25)
    records: list[FrameAnalysis] = field(default_factory=list)
    total_frames: int | None = None
    bitstreams: dict[bool, Path] = field(default_factory=dict)        # temporal_prior -> .nvc file
    # temporal_prior -> recost_motion's MotionCost (None for I-frames) per frame
    motion_costs: dict[bool, list] = field(default_factory=dict)
    complete: bool = False

    def bitstream_for(self, temporal_prior: bool) -> Path | None:
        """The .nvc file of this clip coded with `temporal_prior` (an opened bitstream is itself),
        None if not written yet."""
        if self.request.is_bitstream:
            return self.request.source
        return self.bitstreams.get(temporal_prior)

    def _toggled_cost(self, index: int, key: str, temporal_prior: bool):
        """The re-costed motion latent of frame `index` when `temporal_prior` is not the coded setting."""
        record = self.records[index]
        if key != "motion.y" or record.frame_type == "I" or temporal_prior == record.temporal_prior:
            return None
        costs = self.motion_costs.get(temporal_prior)
        return costs[index] if costs else None

    def latent_bits(self, index: int, key: str, temporal_prior: bool) -> float | None:
        """Bits of latent `key` ("<coder>.<y|z>") of frame `index`: those in the file, or the
        `recost_motion` estimate for the motion latents under the setting that was not coded."""
        cost = self._toggled_cost(index, key, temporal_prior)
        return cost.bits_y if cost is not None else self.records[index].bits_by_stream.get(key)

    def bit_map(self, index: int, key: str, temporal_prior: bool) -> np.ndarray | None:
        """Bits per latent element `(C, h, w)` of latent `key`, None if the frame has no such latent."""
        cost = self._toggled_cost(index, key, temporal_prior)
        return cost.bit_map_y if cost is not None else self.records[index].bit_maps.get(key)

    def stream_bits(self, index: int, temporal_prior: bool) -> dict[str, float]:
        """Bits of frame `index` by group of sub-streams (`STREAM_GROUPS`, hyper = all z latents)."""
        record = self.records[index]
        groups = dict.fromkeys(STREAM_GROUPS, 0.0)
        for key in record.bits_by_stream:
            coder, latent = key.split(".")
            groups["hyper" if latent == "z" else coder] += self.latent_bits(index, key, temporal_prior)
        groups["framing"] = record.bits - sum(record.bits_by_stream.values())
        return groups

    def frame_bits(self, index: int, temporal_prior: bool) -> float:
        """Bits of frame `index` in the file (motion latents re-costed under the other setting)."""
        return sum(self.stream_bits(index, temporal_prior).values())

    def recosted(self, index: int, temporal_prior: bool):
        """`recost_motion`'s MotionCost of frame `index` (None: I-frame, or not re-costed yet)."""
        costs = self.motion_costs.get(temporal_prior)
        return costs[index] if costs else None

    def bits_saved(self, index: int) -> float | None:
        """Motion bits the temporal prior saves in frame `index`: estimate without minus with."""
        off, on = self.recosted(index, False), self.recosted(index, True)
        return None if off is None or on is None else off.bits_y - on.bits_y

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
