"""Low-delay P coding of a video into an .nvc bitstream and back (Fig. 1), with analysis records.

Every frame goes through :class:`~nvc_core.frame_step.FrameStep`: the encoder with a range-encoding
backend, the decoder with a range-decoding one, so both run the same computations on the same tensors
(every entropy parameter from already-coded symbols, the reference frame buffer holding the 8-bit
reconstruction, torch settings scoped by :func:`nvc_core.env.coding_env`). Every entropy parameter
is computed in integers (:mod:`nvc_core.entropy.integer`), so the symbols decode identically on any
machine; the pixels are float computations, so the decoder compares a hash of every reconstructed
frame with the encoder's and reports the frames that differ (drift), or refuses them when strict.

Besides the bitstream and the reconstruction, a coding call computes only what its
:class:`~nvc_core.analysis.Analysis` request asks for (metrics, estimated bits, bit maps, images,
NLAM masks). The whole-video functions write their outputs all or nothing
(:mod:`nvc_core.outputs`).
"""
from __future__ import annotations

import json
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Callable

import numpy as np
import torch

from nvc_core.analysis import Analysis, FrameRecord, LatentKey
from nvc_core.bitstream import FrameChunk, StreamHeader, frame_hash, pack_stream, read_stream
from nvc_core.defaults import DEFAULT_GOP, DEFAULT_QUALITY
from nvc_core.errors import BitstreamError, Cancelled, DriftError, NVCError, VideoError
from nvc_core.frame_step import CodedFrame, FrameStep, FrameType, RangeDecode, RangeEncode
from nvc_core.layers.nlam import record_masks
from nvc_core.mc_gain import frame_gain
from nvc_core.metrics import bits_per_pixel, frame_metrics, mean_over_frames
from nvc_core.models.nvc import NVC
from nvc_core.motion_rate import offsets
from nvc_core.outputs import PendingFile, check_outputs, publish
from nvc_core.video_io import VideoWriter, open_video

OnFrame = Callable[[FrameRecord, int, "int | None"], None]
ShouldStop = Callable[[], bool]

#: Slack, in bits, of the check that a frame's payload can hold the latents its size needs.
_MIN_BITS_SLACK = 64


# -- one frame's analysis record -----------------------------------------------------------------------
def _image(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    return x[0, :, :height, :width].permute(1, 2, 0).float().cpu().numpy()


def _flows(flows: list[torch.Tensor], height: int, width: int) -> list[np.ndarray]:
    """MCFs cropped to the frame at each scale: (h_s, w_s, 2)."""
    return [f[0, :, : -(-height // 2 ** s), : -(-width // 2 ** s)].permute(1, 2, 0).cpu().numpy()
            for s, f in enumerate(flows)]


def _attention(step: FrameStep, frame_type: FrameType, analysis: Analysis):
    """Records the NLAM masks of the frame's VAE engines when the analysis asks for them."""
    if not analysis.attention:
        return nullcontext({})
    return record_masks({f"{name}.{where}": module for name, engine in step.engines(frame_type).items()
                         for where, module in engine.attention_modules().items()})


def _record(step: FrameStep, frame: CodedFrame, analysis: Analysis, chunk_bytes: int,
            attention: dict[str, np.ndarray]) -> FrameRecord:
    """The analysis record of a coded frame: what ``analysis`` asks for."""
    h, w = step.height, step.width
    record = FrameRecord(index=frame.index, frame_type=frame.frame_type, temporal_prior=frame.temporal_prior,
                         motion_offset=frame.motion_offset,
                         height=h, width=w, reconstruction=frame.reconstruction, bits=8 * chunk_bytes,
                         attention=attention)
    if analysis.bits or analysis.maps:
        maps = frame.bit_maps()
        record.bits_by_stream = {key: float(bits.sum(dtype=np.float64)) for key, bits in maps.items()}
        record.bits_estimated = sum(record.bits_by_stream.values())
        if analysis.maps:
            record.bit_maps = maps
            record.latents = {LatentKey.of(name, part): latent.symbols[0].cpu().numpy().astype(np.int32)
                              for name, latents in frame.coded.items()
                              for part, latent in latents.parts().items()}
    if analysis.images and frame.frame_type == "P":
        record.prediction = _image(frame.prediction, h, w)
        record.residual = None if frame.residual is None else _image(frame.residual, h, w)
        record.residual_hat = _image(frame.residual_hat, h, w)
        record.flows = _flows(frame.flows, h, w)
    return record


class VideoEncoder:
    """Encodes frames one by one into packed frame chunks (range-encode backend of the frame step)."""

    def __init__(self, model: NVC, width: int, height: int, quality: int, gop: int, temporal_prior: bool = True,
                 matrix: str = "bt709", analysis: Analysis = Analysis.FULL, threads: int | None = None,
                 effort: int = 0, full_range: bool = False, motion_search: bool = True):
        self.step = FrameStep(model, width, height, quality, gop, threads, effort, motion_search)
        self.temporal_prior, self.matrix, self.analysis = temporal_prior, matrix, analysis
        self.full_range = full_range  # with ``matrix``: the source's Y'CbCr, for PSNR-Y
        self._previous: FrameRecord | None = None     # the record of the frame before (analysis.images)

    def encode_frame(self, rgb: np.ndarray) -> tuple[bytes, FrameRecord]:
        backend = RangeEncode()
        with _attention(self.step, self.step.frame_type, self.analysis) as attention:
            frame = self.step.code(backend, rgb, self.temporal_prior)
        chunk = FrameChunk(frame.frame_type, frame.temporal_prior, backend.payload(),
                           frame_hash(frame.reconstruction), frame.motion_offset).pack()
        record = _record(self.step, frame, self.analysis, len(chunk), attention)
        if self.analysis.images:
            record.original = rgb
            record.mc_gain = None if self._previous is None else frame_gain(self._previous, record)
            self._previous = record
        if self.analysis.metrics:
            for key, value in frame_metrics(rgb, frame.reconstruction, self.matrix, self.full_range).items():
                setattr(record, key, value)
        return chunk, record


class VideoDecoder:
    """Decodes frame chunks one by one (range-decode backend of the frame step), comparing each frame's
    hash with the encoder's: a record says whether it matched; ``strict`` refuses a mismatch."""

    def __init__(self, model: NVC, header: StreamHeader, analysis: Analysis = Analysis.FULL,
                 threads: int | None = None, strict: bool = False):
        if header.weights_id != model.weights_id:
            raise BitstreamError(f"bitstream was made with other weights (id {header.weights_id.hex()}, "
                                 f"loaded {model.weights_id.hex()}); pass the same --weights")
        self.step = FrameStep(model, header.width, header.height, header.quality, header.gop, threads)
        self.analysis = analysis
        self.strict = strict

    def decode_frame(self, chunk: FrameChunk) -> tuple[np.ndarray, FrameRecord]:
        step = self.step
        expected = step.frame_type
        if chunk.frame_type != expected:
            raise BitstreamError(f"corrupt bitstream: frame {step.index} is {chunk.frame_type}, expected {expected}")
        if chunk.motion_offset not in offsets(step.model, step.quality):
            raise BitstreamError(f"corrupt bitstream: frame {step.index} has motion rate offset {chunk.motion_offset}, "
                                 f"outside 0..{offsets(step.model, step.quality)[-1]} at quality {step.quality}")
        needed = step.min_payload_bits(expected)
        if 8 * len(chunk.payload) + _MIN_BITS_SLACK < needed:
            raise BitstreamError(f"corrupt bitstream: frame {step.index} holds {len(chunk.payload)} bytes, too few "
                                 f"for a {step.width}x{step.height} frame (at least {needed / 8:.0f} bytes)")
        try:
            with _attention(step, expected, self.analysis) as attention:
                frame = step.code(RangeDecode(chunk.payload), None, chunk.temporal_prior, chunk.motion_offset)
        except BitstreamError as exc:  # what corrupt data raises; anything else is a bug and surfaces as is
            raise BitstreamError(f"frame {step.index}: {exc}") from None
        matches = frame_hash(frame.reconstruction) == chunk.recon_hash
        if not matches and self.strict:
            raise DriftError(f"frame {frame.index} differs from the encoder's reconstruction (--strict)")
        record = _record(step, frame, self.analysis, chunk.nbytes, attention)
        record.matches_encoder = matches
        return frame.reconstruction, record


# -- whole videos ----------------------------------------------------------------------------------
@dataclass
class CodingResult:
    header: StreamHeader
    records: list[FrameRecord]
    file_bytes: int

    @property
    def drifted_frames(self) -> list[int]:
        """Frames whose reconstruction differs from the encoder's (decoding only; see ``drift_warning``)."""
        return [r.index for r in self.records if r.matches_encoder is False]

    def drift_warning(self) -> str | None:
        """The warning for frames that drifted, or None: the stream is intact (its CRCs hold), but this
        machine's floating-point arithmetic reconstructs those frames differently from the encoder's."""
        frames = self.drifted_frames
        if not frames:
            return None
        shown = ", ".join(map(str, frames[:20])) + (", ..." if len(frames) > 20 else "")
        return (f"{len(frames)} of {len(self.records)} frames differ from the encoder's reconstruction "
                f"(frames {shown}): this machine's arithmetic differs from the encoder's; the symbols decoded "
                f"exactly, the pixels may drift slightly (--strict makes this an error)")

    def summary(self) -> dict:
        """Size, rate and (when the frames were measured) the sequence metrics: means over frames."""
        h = self.header
        summary = {"width": h.width, "height": h.height, "frames": len(self.records),
                   "bpp": bits_per_pixel(self.file_bytes, h.width, h.height, len(self.records)),
                   "file_bytes": self.file_bytes}
        return {**summary, **mean_over_frames(r.stats() for r in self.records)}

    def stats_json(self) -> bytes:
        """STATS.json: every frame's record and the summary (a lossless frame's PSNR is written as null)."""
        stats = {"frames": [r.stats() for r in self.records], "summary": self.summary()}
        return json.dumps(_finite(stats), indent=1, allow_nan=False).encode()


def _finite(value):
    """JSON has no infinity: infinite values are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _abort(outputs) -> None:
    for output in outputs:
        if output is not None:
            output.abort()


def encode_video(input_path: str | os.PathLike, output_path: str | os.PathLike, model: NVC,
                 quality: int = DEFAULT_QUALITY, gop: int = DEFAULT_GOP, frames: int | None = None,
                 temporal_prior: bool = True, recon_path: str | os.PathLike | None = None,
                 stats_path: str | os.PathLike | None = None, size: tuple[int, int] | None = None,
                 matrix: str = "bt709", analysis: Analysis = Analysis.FULL, on_frame: OnFrame | None = None,
                 should_stop: ShouldStop | None = None, effort: int = 0, motion_search: bool = True) -> CodingResult:
    """Encode ``input_path`` into ``output_path``, with the reconstruction (``recon_path``) and STATS.json
    (``stats_path``) if asked: all or nothing, every output path checked before coding. ``effort``:
    encoder-side latent refinement (:mod:`nvc_core.refine`; 0 = off), a slower encoder, the same decoder.
    ``motion_search``: pick neuro-Motion's rate point per P-frame (:mod:`nvc_core.motion_rate`); off, the
    motion is coded at ``quality`` (a faster encoder)."""
    check_outputs([input_path], [output_path, recon_path, stats_path], videos=[recon_path])
    if frames is not None and frames < 1:
        raise NVCError("--frames must be at least 1")
    if stats_path is not None:
        analysis = replace(analysis, metrics=True, bits=True)
    with open_video(input_path, size=size, matrix=matrix) as reader:
        total = frames if reader.frame_count is None else min(frames or reader.frame_count, reader.frame_count)
        fps = Fraction(reader.fps)
        # the source's own Y'CbCr (a container's tags, else ``matrix``) for the header, PSNR-Y and --recon
        header = StreamHeader(reader.width, reader.height, 0, gop, quality, model.weights_id, reader.matrix,
                              reader.full_range, fps.numerator, fps.denominator)
        encoder = VideoEncoder(model, reader.width, reader.height, quality, gop, temporal_prior, reader.matrix,
                               analysis, effort=effort, full_range=reader.full_range, motion_search=motion_search)
        header.check()
        stream = PendingFile(output_path)
        writer = stats = None
        try:
            writer = (VideoWriter(recon_path, reader.width, reader.height, fps, reader.matrix, reader.full_range)
                      if recon_path else None)
            stats = PendingFile(stats_path) if stats_path else None
            chunks: list[bytes] = []
            records: list[FrameRecord] = []
            for rgb in reader:
                if frames is not None and len(records) >= frames:
                    break
                if should_stop is not None and should_stop():
                    raise Cancelled()
                chunk, record = encoder.encode_frame(rgb)
                chunks.append(chunk)
                if writer:
                    writer.write(record.reconstruction)
                if on_frame:
                    on_frame(record, len(records) + 1, total)
                records.append(record if analysis.images else record.light())
            if not records:
                raise VideoError(f"{input_path}: no frames to encode")
            data = pack_stream(header, chunks)
            stream.write(data)
            result = CodingResult(header, records, len(data))
            if stats:
                stats.write(result.stats_json())
            publish([stream, writer, stats])
        except BaseException:
            _abort([stream, writer, stats])
            raise
    return result


def decode_video(bitstream_path: str | os.PathLike, model: NVC, output_path: str | os.PathLike | None = None,
                 stats_path: str | os.PathLike | None = None, analysis: Analysis = Analysis.FULL,
                 on_frame: OnFrame | None = None, should_stop: ShouldStop | None = None,
                 strict: bool = False) -> CodingResult:
    """Decode an .nvc file; optionally write the video and STATS.json, all or nothing. Every frame's
    hash is compared with the encoder's: frames that differ are listed in the result
    (:meth:`CodingResult.drift_warning`), or refused with :class:`DriftError` when ``strict``."""
    check_outputs([bitstream_path], [output_path, stats_path], videos=[output_path])
    if stats_path is not None:
        analysis = replace(analysis, bits=True)
    header, chunks = read_stream(bitstream_path)
    writer = stats = None
    try:
        decoder = VideoDecoder(model, header, analysis, strict=strict)
        writer = (VideoWriter(output_path, header.width, header.height, Fraction(header.fps_num, header.fps_den),
                              header.matrix, header.full_range) if output_path else None)
        stats = PendingFile(stats_path) if stats_path else None
        records = []
        for i, chunk in enumerate(chunks):          # ends with the check that nothing follows the last frame
            if should_stop is not None and should_stop():
                raise Cancelled()
            rgb, record = decoder.decode_frame(chunk)
            if writer:
                writer.write(rgb)
            if on_frame:
                on_frame(record, i + 1, header.frame_count)
            records.append(record if analysis.images else record.light())
        result = CodingResult(header, records, os.path.getsize(bitstream_path))
        if stats:
            stats.write(result.stats_json())
        publish([writer, stats])
    except BaseException:
        _abort([writer, stats])
        raise
    finally:
        chunks.close()
    return result


# -- live temporal-prior toggle ----------------------------------------------------------------------
@dataclass
class MotionCost:
    bits_y: float
    bit_map_y: np.ndarray          # (C,h,w) bits per motion-feature element


def recost_motion(model: NVC, records: list[FrameRecord], quality: int, temporal_prior: bool
                  ) -> list[MotionCost | None]:
    """Estimated motion-feature bits of every P-frame with the temporal prior on or off.

    Replays the stored motion symbols through a frame step (:meth:`FrameStep.replay_motion`: only the
    motion entropy model and the TUM run); the reconstruction is unaffected by the switch.
    ``records`` must start at an I-frame and keep their latents (``Analysis.maps``).
    """
    if not records:
        return []
    first = records[0]
    # every GOP length at least as long as the records gives the same I/P decisions
    gop = next((r.index - first.index for r in records[1:] if r.frame_type == "I"), len(records))
    step = FrameStep(model, first.width, first.height, quality, gop)
    costs: list[MotionCost | None] = []
    for record in records:
        symbols = None
        if record.frame_type == "P":
            symbols = tuple(torch.from_numpy(record.latents[key]).float().unsqueeze(0)
                            for key in (LatentKey.MOTION_Z, LatentKey.MOTION_Y))
        latents = step.replay_motion(symbols, record.frame_type, temporal_prior)
        if latents is None:
            costs.append(None)
            continue
        bit_map = latents.y.bits()[0].cpu().numpy().astype(np.float32)
        costs.append(MotionCost(float(bit_map.sum(dtype=np.float64)), bit_map))
    return costs
