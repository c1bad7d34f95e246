"""Low-delay P coding of a video into an .nvc bitstream and back (Fig. 1), with analysis records.

The encoder runs exactly the decoder's computations on exactly the tensors the decoder will hold:
every entropy parameter comes from already-coded symbols, the reference frame buffer holds the
8-bit reconstruction, and both sides call :func:`nvc_core.env.set_torch_env`. The decoder checks a
hash of every reconstructed frame.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from nvc_core.analysis import FrameAnalysis
from nvc_core.bitstream import FrameChunk, StreamHeader, frame_hash
from nvc_core.env import set_torch_env
from nvc_core.errors import BitstreamError, Cancelled, NVCError, VideoError
from nvc_core.flow_estimate import estimate_flow, flow_tensor
from nvc_core.metrics import ms_ssim, psnr, psnr_y
from nvc_core.models.neuro_motion import State
from nvc_core.models.nvc import NVC, PAD_MULTIPLE
from nvc_core.models.vae import CodedLatents
from nvc_core.video_io import VideoWriter, open_video

OnFrame = Callable[[FrameAnalysis, int, "int | None"], None]
ShouldStop = Callable[[], bool]


# -- frame <-> tensor (the one place for padding) ----------------------------------------------------
def padded_size(height: int, width: int) -> tuple[int, int]:
    return -(-height // PAD_MULTIPLE) * PAD_MULTIPLE, -(-width // PAD_MULTIPLE) * PAD_MULTIPLE


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,Hp,Wp) float in [0,1], replicate-padded to a multiple of PAD_MULTIPLE."""
    h, w = rgb.shape[:2]
    hp, wp = padded_size(h, w)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    return F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")


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
class _Coder:
    """State shared by encoder and decoder: reference frame buffer and the TUM state."""

    def __init__(self, model: NVC, width: int, height: int, quality: int, gop: int):
        if not 0 <= quality < model.num_rates:
            raise NVCError(f"quality {quality} out of range 0..{model.num_rates - 1}")
        if gop < 1:
            raise NVCError("gop must be at least 1")
        if width < 2 or height < 2:
            raise NVCError(f"frame size {width}x{height} too small (at least 2x2)")
        set_torch_env()
        self.model, self.width, self.height, self.quality, self.gop = model, width, height, quality, gop
        self.device = next(model.parameters()).device
        self.latent_hw = tuple(s // 16 for s in padded_size(height, width))
        self.index = 0
        self.reference: torch.Tensor | None = None
        self.state: State | None = None

    def _frame_type(self) -> str:
        return "I" if self.index % self.gop == 0 else "P"

    def _finish(self, frame_type: str, temporal_prior: bool, coded: dict[str, CodedLatents],
                reconstruction: torch.Tensor, extra: dict) -> FrameAnalysis:
        """Update the reference buffer and build the analysis record."""
        rec = to_uint8(reconstruction, self.height, self.width)
        self.reference = to_tensor(rec, self.device)
        record = FrameAnalysis(index=self.index, frame_type=frame_type, temporal_prior=temporal_prior,
                               height=self.height, width=self.width, reconstruction=rec, **extra)
        for coder, latents in coded.items():
            for part in ("z", "y"):
                key = f"{coder}.{part}"
                record.bit_maps[key] = latents.bit_maps[part]
                record.latents[key] = latents.symbols[part]
                record.bits_estimated_by_stream[key] = float(latents.bit_maps[part].sum(dtype=np.float64))
            for where, mask in latents.attention.items():
                record.attention[f"{coder}.{where}"] = mask
        record.bits_estimated = sum(record.bits_estimated_by_stream.values())
        self.index += 1
        return record

    def _inter_tail(self, motion: CodedLatents) -> tuple[list[torch.Tensor], torch.Tensor]:
        """MCFs -> MS-MCN prediction; TUM update from the decoded motion features."""
        flows = motion.decoded
        prediction = self.model.mcn(self.reference, flows)
        self.state = self.model.motion.update_state(motion.y_hat, self.state)
        return flows, prediction


class VideoEncoder(_Coder):
    def __init__(self, model: NVC, width: int, height: int, quality: int, gop: int, temporal_prior: bool = True,
                 matrix: str = "bt709"):
        super().__init__(model, width, height, quality, gop)
        self.temporal_prior = temporal_prior
        self.matrix = matrix
        self.previous_source: np.ndarray | None = None   # padded, for the flow hint of neuro-Motion

    def _flow_hint(self, source: np.ndarray) -> torch.Tensor | None:
        """Flow estimate of the padded source frame against the previous one (flow-guided neuro-Motion).

        Computed on the frames as padded for coding, so that it covers every pixel Em sees."""
        if not self.model.motion.flow_guided:
            return None
        return flow_tensor(estimate_flow(self.previous_source, source), self.device)

    @torch.no_grad()
    def encode_frame(self, rgb: np.ndarray) -> tuple[bytes, FrameAnalysis]:
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise VideoError(f"frame {self.index} is {rgb.shape} {rgb.dtype}, expected "
                             f"({self.height}, {self.width}, 3) uint8")
        x = to_tensor(rgb, self.device)
        hp, wp = x.shape[-2:]
        source = np.pad(rgb, ((0, hp - self.height), (0, wp - self.width), (0, 0)), mode="edge")
        m = self.model
        frame_type = self._frame_type()
        if frame_type == "I":
            intra = m.intra.compress(x, self.quality)
            self.state = None
            coded, reconstruction, extra = {"intra": intra}, intra.decoded, {}
        else:
            temporal = m.motion.temporal_prior(self.state, self.temporal_prior)
            em_input = m.motion.encoder_input(self.reference, x, self._flow_hint(source))
            motion = m.motion.compress(em_input, self.quality, temporal)
            flows, prediction = self._inter_tail(motion)
            residual = m.residual.compress(x - prediction, self.quality)
            coded = {"motion": motion, "residual": residual}
            reconstruction = prediction + residual.decoded
            h, w = self.height, self.width
            extra = {"prediction": _image(prediction, h, w), "residual": _image(x - prediction, h, w),
                     "residual_hat": _image(residual.decoded, h, w), "flows": _flows(flows, h, w)}
        tp = self.temporal_prior and frame_type == "P"
        record = self._finish(frame_type, tp, coded, reconstruction, extra)
        streams = {f"{c}.{p}": lat.streams[p] for c, lat in coded.items() for p in ("z", "y")}
        chunk = FrameChunk(frame_type, tp, streams, frame_hash(record.reconstruction)).pack()
        record.bits_by_stream = {k: 8 * len(v) for k, v in streams.items()}
        record.bits = 8 * len(chunk)
        record.original = rgb
        record.psnr_rgb = psnr(rgb, record.reconstruction)
        record.psnr_y = psnr_y(rgb, record.reconstruction, self.matrix)
        record.ms_ssim = ms_ssim(rgb, record.reconstruction)
        self.previous_source = source
        return chunk, record


class VideoDecoder(_Coder):
    def __init__(self, model: NVC, header: StreamHeader):
        if header.weights_id != model.weights_id:
            raise BitstreamError(f"bitstream was made with other weights (id {header.weights_id.hex()}, "
                                 f"loaded {model.weights_id.hex()}); pass the same --weights")
        super().__init__(model, header.width, header.height, header.quality, header.gop)

    @torch.no_grad()
    def decode_frame(self, chunk: FrameChunk) -> tuple[np.ndarray, FrameAnalysis]:
        expected = self._frame_type()
        if chunk.frame_type != expected:
            raise BitstreamError(f"corrupt bitstream: frame {self.index} is {chunk.frame_type}, expected {expected}")
        m = self.model
        try:
            if expected == "I":
                intra = m.intra.decompress(chunk.streams_for("intra"), self.latent_hw, self.quality, None, self.device)
                self.state = None
                coded, reconstruction, extra = {"intra": intra}, intra.decoded, {}
            else:
                temporal = m.motion.temporal_prior(self.state, chunk.temporal_prior)
                motion = m.motion.decompress(chunk.streams_for("motion"), self.latent_hw, self.quality,
                                             temporal, self.device)
                flows, prediction = self._inter_tail(motion)
                residual = m.residual.decompress(chunk.streams_for("residual"), self.latent_hw, self.quality,
                                                 None, self.device)
                coded = {"motion": motion, "residual": residual}
                reconstruction = prediction + residual.decoded
                h, w = self.height, self.width
                extra = {"prediction": _image(prediction, h, w), "residual_hat": _image(residual.decoded, h, w),
                         "flows": _flows(flows, h, w)}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # constriction reports bad data as a Rust panic (BaseException)
            raise BitstreamError(f"corrupt bitstream: frame {self.index} cannot be decoded "
                                 f"({str(exc).splitlines()[0][:80]})") from None
        index = self.index
        record = self._finish(expected, chunk.temporal_prior, coded, reconstruction, extra)
        if frame_hash(record.reconstruction) != chunk.recon_hash:
            raise BitstreamError(f"corrupt bitstream: frame {index} does not match the encoder's "
                                 f"reconstruction (hash mismatch)")
        record.bits_by_stream = {k: 8 * len(v) for k, v in chunk.streams.items()}
        record.bits = 8 * chunk.nbytes
        return record.reconstruction, record


# -- whole videos ----------------------------------------------------------------------------------
@dataclass
class CodingResult:
    header: StreamHeader
    records: list[FrameAnalysis]
    file_bytes: int


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def encode_video(input_path: str | os.PathLike, output_path: str | os.PathLike, model: NVC, quality: int = 3,
                 gop: int = 12, frames: int | None = None, temporal_prior: bool = True,
                 recon_path: str | os.PathLike | None = None, size: tuple[int, int] | None = None,
                 matrix: str = "bt709", on_frame: OnFrame | None = None,
                 should_stop: ShouldStop | None = None, keep_analysis: bool = True) -> CodingResult:
    """Encode ``input_path`` into ``output_path`` (atomic: nothing is left behind on failure)."""
    output_path = Path(output_path)
    if frames is not None and frames < 1:
        raise NVCError("--frames must be at least 1")
    with open_video(input_path, size=size, matrix=matrix) as reader:
        total = frames if reader.frame_count is None else min(frames or reader.frame_count, reader.frame_count)
        encoder = VideoEncoder(model, reader.width, reader.height, quality, gop, temporal_prior, matrix)
        fps = Fraction(reader.fps)
        header = StreamHeader(reader.width, reader.height, 0, gop, quality, model.weights_id, matrix,
                              False, fps.numerator, fps.denominator)
        tmp = _temporary(output_path)
        writer = VideoWriter(recon_path, reader.width, reader.height, fps, matrix) if recon_path else None
        records: list[FrameAnalysis] = []
        try:
            with open(tmp, "wb") as f:
                f.write(header.pack())
                for rgb in reader:
                    if frames is not None and len(records) >= frames:
                        break
                    if should_stop is not None and should_stop():
                        raise Cancelled()
                    chunk, record = encoder.encode_frame(rgb)
                    f.write(chunk)
                    if writer:
                        writer.write(record.reconstruction)
                    if on_frame:
                        on_frame(record, len(records) + 1, total)
                    records.append(record if keep_analysis else record.light())
                if not records:
                    raise VideoError(f"{input_path}: no frames to encode")
                header.frame_count = len(records)
                f.seek(0)
                f.write(header.pack())
            if writer:
                writer.close()
            tmp.replace(output_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            if writer:
                writer.abort()
            raise
    return CodingResult(header, records, output_path.stat().st_size)


def decode_video(bitstream_path: str | os.PathLike, model: NVC, output_path: str | os.PathLike | None = None,
                 on_frame: OnFrame | None = None, should_stop: ShouldStop | None = None,
                 keep_analysis: bool = True) -> CodingResult:
    """Decode an .nvc file (checking every frame's hash); optionally write the video atomically."""
    path = Path(bitstream_path)
    if not path.is_file():
        raise BitstreamError(f"{path}: no such file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = StreamHeader.read(f)
        if header.frame_count < 1:
            raise BitstreamError("corrupt bitstream header (no frames)")
        decoder = VideoDecoder(model, header)
        fps = Fraction(header.fps_num, header.fps_den)
        writer = (VideoWriter(output_path, header.width, header.height, fps, header.matrix, header.full_range)
                  if output_path else None)
        records = []
        try:
            for i in range(header.frame_count):
                if should_stop is not None and should_stop():
                    raise Cancelled()
                rgb, record = decoder.decode_frame(FrameChunk.read(f, i))
                if writer:
                    writer.write(rgb)
                if on_frame:
                    on_frame(record, i + 1, header.frame_count)
                records.append(record if keep_analysis else record.light())
            if f.read(1):
                raise BitstreamError("corrupt bitstream: trailing data after the last frame")
            if writer:
                writer.close()
        except BaseException:
            if writer:
                writer.abort()
            raise
    return CodingResult(header, records, size)


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
        bits = motion.pa.bits(y, motion.dh(z), motion.temporal_prior(state, temporal_prior))
        bit_map = bits[0].cpu().numpy().astype(np.float32)
        costs.append(MotionCost(float(bit_map.sum(dtype=np.float64)), bit_map))
        state = motion.update_state(y, state)
    return costs
