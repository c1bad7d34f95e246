"""Low-delay P coding of a video into an .nvc bitstream and back (Fig. 1), with analysis records.

The encoder runs exactly the decoder's computations on exactly the tensors the decoder will hold:
every entropy parameter comes from already-coded symbols, the reference frame buffer holds the
8-bit reconstruction, and both sides call :func:`nvc_core.env.set_torch_env`. Every entropy parameter
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
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from nvc_core.analysis import Analysis, FrameAnalysis
from nvc_core.bitstream import (MAX_GOP, MAX_SIDE, FrameChunk, StreamHeader, frame_hash, iter_chunks, open_stream,
                                 pack_stream)
from nvc_core.defaults import DEFAULT_GOP, DEFAULT_QUALITY
from nvc_core.entropy.coder import FrameDecoder, FrameEncoder
from nvc_core.env import set_torch_env
from nvc_core.errors import BitstreamError, Cancelled, DriftError, NVCError, VideoError
from nvc_core.evaluation.rd import bits_per_pixel
from nvc_core.flow_estimate import flow_tensor, padded_frame_flow
from nvc_core.layers.nlam import record_masks
from nvc_core.metrics import frame_metrics, mean_over_frames
from nvc_core.models.neuro_motion import State
from nvc_core.models.nvc import NVC, PAD_MULTIPLE
from nvc_core.models.vae import CodedLatents
from nvc_core.outputs import PendingFile, check_outputs, publish
from nvc_core.video_io import VideoWriter, open_video

OnFrame = Callable[[FrameAnalysis, int, "int | None"], None]
ShouldStop = Callable[[], bool]


# -- frame <-> tensor (the one place for padding) ----------------------------------------------------
def padded_size(height: int, width: int) -> tuple[int, int]:
    return -(-height // PAD_MULTIPLE) * PAD_MULTIPLE, -(-width // PAD_MULTIPLE) * PAD_MULTIPLE


def pad_frame(rgb: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8 -> (Hp,Wp,3) uint8, edge pixels replicated up to a multiple of PAD_MULTIPLE."""
    h, w = rgb.shape[:2]
    hp, wp = padded_size(h, w)
    return np.pad(rgb, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")


def frame_tensor(padded: np.ndarray, device: torch.device) -> torch.Tensor:
    """A frame from :func:`pad_frame` -> (1,3,Hp,Wp) float in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(padded)).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,Hp,Wp) float in [0,1], replicate-padded to a multiple of PAD_MULTIPLE."""
    return frame_tensor(pad_frame(rgb), device)


def to_uint8(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    """(1,3,Hp,Wp) float -> cropped (H,W,3) uint8."""
    x = x[0, :, :height, :width].clamp(0, 1).mul(255).round().byte()
    return x.permute(1, 2, 0).cpu().numpy()


def _image(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    return x[0, :, :height, :width].permute(1, 2, 0).float().cpu().numpy()


def _flows(flows: list[torch.Tensor], height: int, width: int) -> list[np.ndarray]:
    """MCFs cropped to the frame at each scale: (h_s, w_s, 2)."""
    return [f[0, :, : -(-height // 2 ** s), : -(-width // 2 ** s)].permute(1, 2, 0).cpu().numpy()
            for s, f in enumerate(flows)]


# -- one frame -----------------------------------------------------------------------------------------
#: Slack, in bits, of the check that a frame's payload can hold the latents its size needs.
_MIN_BITS_SLACK = 64


class _Coder:
    """State shared by encoder and decoder: reference frame buffer, TUM state, analysis request."""

    def __init__(self, model: NVC, width: int, height: int, quality: int, gop: int, analysis: Analysis):
        if not 0 <= quality < model.num_rates:
            raise NVCError(f"quality {quality} out of range 0..{model.num_rates - 1}")
        if not 1 <= gop <= MAX_GOP:
            raise NVCError(f"gop must be in 1..{MAX_GOP}, got {gop}")
        if not (2 <= width <= MAX_SIDE and 2 <= height <= MAX_SIDE):
            raise NVCError(f"frame size {width}x{height} outside 2x2..{MAX_SIDE}x{MAX_SIDE}")
        set_torch_env()
        self.model, self.width, self.height, self.quality, self.gop = model, width, height, quality, gop
        self.analysis = analysis
        self.device = next(model.parameters()).device
        self.latent_hw = tuple(s // 16 for s in padded_size(height, width))
        self.index = 0
        self.reference: torch.Tensor | None = None
        self.state: State | None = None

    def _frame_type(self) -> str:
        return "I" if self.index % self.gop == 0 else "P"

    def _coders(self, frame_type: str) -> tuple[str, ...]:
        return ("intra",) if frame_type == "I" else ("motion", "residual")

    def _attention(self, frame_type: str):
        """Records the NLAM masks of this frame's coders when the analysis asks for them."""
        if not self.analysis.attention:
            return nullcontext({})
        return record_masks({f"{name}.{where}": module for name in self._coders(frame_type)
                             for where, module in getattr(self.model, name).attention_modules().items()})

    def _inter_tail(self, motion: CodedLatents) -> tuple[list[torch.Tensor], torch.Tensor]:
        """MCFs -> MS-MCN prediction; TUM update from the decoded motion features."""
        flows = motion.decoded
        prediction = self.model.mcn(self.reference, flows)
        self.state = self.model.motion.coding_state(motion.y_hat, self.state)
        return flows, prediction

    def _finish(self, frame_type: str, temporal_prior: bool, coded: dict[str, CodedLatents],
                reconstruction: np.ndarray, chunk_bytes: int, attention: dict[str, np.ndarray],
                images: dict) -> FrameAnalysis:
        """Update the reference buffer; the record holds what the analysis asked for."""
        self.reference = to_tensor(reconstruction, self.device)
        record = FrameAnalysis(index=self.index, frame_type=frame_type, temporal_prior=temporal_prior,
                               height=self.height, width=self.width, reconstruction=reconstruction,
                               bits=8 * chunk_bytes, attention=attention)
        a = self.analysis
        if a.bits or a.maps:
            for name, latents in coded.items():
                maps = getattr(self.model, name).bit_maps(latents)
                symbols = {"z": latents.z_hat, "y": latents.y_hat}
                for part in ("z", "y"):
                    key = f"{name}.{part}"
                    record.bits_by_stream[key] = float(maps[part].sum(dtype=np.float64))
                    if a.maps:
                        record.bit_maps[key] = maps[part]
                        record.latents[key] = symbols[part][0].cpu().numpy().astype(np.int32)
            record.bits_estimated = sum(record.bits_by_stream.values())
        if a.images:
            h, w = self.height, self.width
            for key, value in images.items():
                setattr(record, key, _flows(value, h, w) if key == "flows" else _image(value, h, w))
        self.index += 1
        return record


class VideoEncoder(_Coder):
    def __init__(self, model: NVC, width: int, height: int, quality: int, gop: int, temporal_prior: bool = True,
                 matrix: str = "bt709", analysis: Analysis = Analysis.FULL):
        super().__init__(model, width, height, quality, gop, analysis)
        self.temporal_prior = temporal_prior
        self.matrix = matrix
        self.previous_source: np.ndarray | None = None   # padded, for the flow hint of neuro-Motion

    def _flow_hint(self, source: np.ndarray) -> torch.Tensor | None:
        """Flow estimate of the padded source frame against the previous one (flow-guided neuro-Motion),
        over every pixel Em sees (:func:`padded_frame_flow`)."""
        if not self.model.motion.flow_guided:
            return None
        return flow_tensor(padded_frame_flow(self.previous_source, source, self.height, self.width), self.device)

    @torch.no_grad()
    def encode_frame(self, rgb: np.ndarray) -> tuple[bytes, FrameAnalysis]:
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise VideoError(f"frame {self.index} is {rgb.shape} {rgb.dtype}, expected "
                             f"({self.height}, {self.width}, 3) uint8")
        source = pad_frame(rgb)
        x = frame_tensor(source, self.device)
        m = self.model
        frame_type = self._frame_type()
        coder = FrameEncoder()
        with self._attention(frame_type) as attention:
            if frame_type == "I":
                intra = m.intra.compress(x, self.quality, None, coder)
                self.state = None
                coded, reconstruction, images = {"intra": intra}, intra.decoded, {}
            else:
                temporal = m.motion.temporal_prior(self.state, self.temporal_prior)
                em_input = m.motion.encoder_input(self.reference, x, self._flow_hint(source))
                motion = m.motion.compress(em_input, self.quality, temporal, coder)
                flows, prediction = self._inter_tail(motion)
                residual_input = x - prediction
                residual = m.residual.compress(residual_input, self.quality, None, coder)
                coded = {"motion": motion, "residual": residual}
                reconstruction = prediction + residual.decoded
                images = {"prediction": prediction, "residual": residual_input,
                          "residual_hat": residual.decoded, "flows": flows}
        tp = self.temporal_prior and frame_type == "P"
        rec = to_uint8(reconstruction, self.height, self.width)
        chunk = FrameChunk(frame_type, tp, coder.finish(), frame_hash(rec)).pack()
        record = self._finish(frame_type, tp, coded, rec, len(chunk), attention, images)
        if self.analysis.images:
            record.original = rgb
        if self.analysis.metrics:
            for key, value in frame_metrics(rgb, rec, self.matrix).items():
                setattr(record, key, value)
        self.previous_source = source
        return chunk, record


class VideoDecoder(_Coder):
    def __init__(self, model: NVC, header: StreamHeader, analysis: Analysis = Analysis.FULL, strict: bool = False):
        if header.weights_id != model.weights_id:
            raise BitstreamError(f"bitstream was made with other weights (id {header.weights_id.hex()}, "
                                 f"loaded {model.weights_id.hex()}); pass the same --weights")
        super().__init__(model, header.width, header.height, header.quality, header.gop, analysis)
        self.strict = strict

    @torch.no_grad()
    def decode_frame(self, chunk: FrameChunk) -> tuple[np.ndarray, FrameAnalysis]:
        expected = self._frame_type()
        if chunk.frame_type != expected:
            raise BitstreamError(f"corrupt bitstream: frame {self.index} is {chunk.frame_type}, expected {expected}")
        m = self.model
        needed = sum(getattr(m, name).min_bits(self.latent_hw) for name in self._coders(expected))
        if 8 * len(chunk.payload) + _MIN_BITS_SLACK < needed:
            raise BitstreamError(f"corrupt bitstream: frame {self.index} holds {len(chunk.payload)} bytes, too few "
                                 f"for a {self.width}x{self.height} frame (at least {needed / 8:.0f} bytes)")
        coder = FrameDecoder(chunk.payload)
        try:
            with self._attention(expected) as attention:
                if expected == "I":
                    intra = m.intra.decompress(coder, self.latent_hw, self.quality, None, self.device)
                    self.state = None
                    coded, reconstruction, images = {"intra": intra}, intra.decoded, {}
                else:
                    temporal = m.motion.temporal_prior(self.state, chunk.temporal_prior)
                    motion = m.motion.decompress(coder, self.latent_hw, self.quality, temporal, self.device)
                    flows, prediction = self._inter_tail(motion)
                    residual = m.residual.decompress(coder, self.latent_hw, self.quality, None, self.device)
                    coded = {"motion": motion, "residual": residual}
                    reconstruction = prediction + residual.decoded
                    images = {"prediction": prediction, "residual_hat": residual.decoded, "flows": flows}
        except BitstreamError as exc:  # what corrupt data raises; anything else is a bug and surfaces as is
            raise BitstreamError(f"frame {self.index}: {exc}") from None
        rec = to_uint8(reconstruction, self.height, self.width)
        matches = frame_hash(rec) == chunk.recon_hash
        if not matches and self.strict:
            raise DriftError(f"frame {self.index} differs from the encoder's reconstruction (--strict)")
        record = self._finish(expected, chunk.temporal_prior, coded, rec, chunk.nbytes, attention, images)
        record.matches_encoder = matches
        return rec, record


# -- whole videos ----------------------------------------------------------------------------------
@dataclass
class CodingResult:
    header: StreamHeader
    records: list[FrameAnalysis]
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
                 should_stop: ShouldStop | None = None) -> CodingResult:
    """Encode ``input_path`` into ``output_path``, with the reconstruction (``recon_path``) and STATS.json
    (``stats_path``) if asked: all or nothing, every output path checked before coding."""
    check_outputs([input_path], [output_path, recon_path, stats_path])
    if frames is not None and frames < 1:
        raise NVCError("--frames must be at least 1")
    if stats_path is not None:
        analysis = replace(analysis, metrics=True, bits=True)
    with open_video(input_path, size=size, matrix=matrix) as reader:
        total = frames if reader.frame_count is None else min(frames or reader.frame_count, reader.frame_count)
        fps = Fraction(reader.fps)
        header = StreamHeader(reader.width, reader.height, 0, gop, quality, model.weights_id, matrix,
                              False, fps.numerator, fps.denominator)
        header.check()
        encoder = VideoEncoder(model, reader.width, reader.height, quality, gop, temporal_prior, matrix, analysis)
        stream = PendingFile(output_path)
        writer = stats = None
        try:
            writer = VideoWriter(recon_path, reader.width, reader.height, fps, matrix) if recon_path else None
            stats = PendingFile(stats_path) if stats_path else None
            chunks: list[bytes] = []
            records: list[FrameAnalysis] = []
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
    check_outputs([bitstream_path], [output_path, stats_path])
    if stats_path is not None:
        analysis = replace(analysis, bits=True)
    path = Path(bitstream_path)
    if not path.is_file():
        raise BitstreamError(f"{path}: no such file")
    with open(path, "rb") as f:
        header = open_stream(f)
        decoder = VideoDecoder(model, header, analysis, strict)
        fps = Fraction(header.fps_num, header.fps_den)
        writer = stats = None
        try:
            writer = (VideoWriter(output_path, header.width, header.height, fps, header.matrix, header.full_range)
                      if output_path else None)
            stats = PendingFile(stats_path) if stats_path else None
            records = []
            for i, chunk in enumerate(iter_chunks(f, header)):
                if should_stop is not None and should_stop():
                    raise Cancelled()
                rgb, record = decoder.decode_frame(chunk)
                if writer:
                    writer.write(rgb)
                if on_frame:
                    on_frame(record, i + 1, header.frame_count)
                records.append(record if analysis.images else record.light())
            result = CodingResult(header, records, f.tell())
            if stats:
                stats.write(result.stats_json())
            publish([writer, stats])
        except BaseException:
            _abort([writer, stats])
            raise
    return result


# -- live temporal-prior toggle ----------------------------------------------------------------------
@dataclass
class MotionCost:
    bits_y: float
    bit_map_y: np.ndarray          # (C,h,w) bits per motion-feature element


@torch.no_grad()
def recost_motion(model: NVC, records: list[FrameAnalysis], quality: int, temporal_prior: bool
                  ) -> list[MotionCost | None]:
    """Estimated motion-feature bits of every P-frame with the temporal prior on or off.

    Runs only the motion entropy model (hyper decoder, PA, TUM) on the stored symbols; the
    reconstruction is unaffected by the switch. ``records`` must start at an I-frame.
    """
    set_torch_env()
    device = next(model.parameters()).device
    motion = model.motion
    state: State | None = None
    costs: list[MotionCost | None] = []
    for record in records:
        if record.frame_type == "I":
            state = None
            costs.append(None)
            continue
        y = torch.from_numpy(record.latents["motion.y"]).float().unsqueeze(0).to(device)
        z = torch.from_numpy(record.latents["motion.z"]).float().unsqueeze(0).to(device)
        bits = motion.pa.bits(y, motion.hyper_features(z), motion.temporal_prior(state, temporal_prior))
        bit_map = bits[0].cpu().numpy().astype(np.float32)
        costs.append(MotionCost(float(bit_map.sum(dtype=np.float64)), bit_map))
        state = motion.coding_state(y, state)
    return costs
