"""x264 / x265 anchors through ffmpeg, in the low-delay setting the codec is compared against.

Setting (as in the reference numbers of ``../shared/data/README.md``): preset ``medium``, no
B-frames, a fixed GOP of ``gop`` frames (an IDR every ``gop`` frames, scene-cut detection off,
closed GOPs), constant rate factor swept over ``crfs``; one encoder thread so that results do not
depend on the machine's core count (frame threading changes x264/x265 decisions), which also makes
``encode_s`` a single-thread time.

Colour path. The anchors see exactly the RGB frames our codec sees: the source is read with
``nvc_core.video_io.open_video``, converted to 4:2:0 with ``nvc_core.color.rgb_to_yuv420`` in the
clip's own Y'CbCr (matrix and range of the reader, as our codec's stream header records them) and
piped to ffmpeg as raw ``yuv420p``. The decoded stream comes back from ffmpeg as raw ``yuv420p`` and
is converted to RGB with ``nvc_core.color.yuv420_to_rgb``, so ffmpeg's own colour conversion is never
used and both directions match ours. Metrics (``nvc_core.metrics``, PSNR-Y on the same luma as our
codec's) are computed on RGB against the same source frames as for our codec.

Rate. Streams are written as raw elementary streams (``.264`` / ``.265``): ``bytes`` is the file
size, parameter sets included, with no container overhead. SEI messages are removed (ffmpeg's
``filter_units`` bitstream filter): x264 and x265 write their version and full option string as an
SEI (about 0.6 and 2.4 kB), which decoders ignore and which would dominate the rate of short clips.

x264/x265 need even frame sizes in 4:2:0; an odd size raises :class:`AnchorError`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from nvc_core.color import rgb_to_yuv420, yuv420_to_rgb
from nvc_core.errors import NVCError
from nvc_core.evaluation.rd import RDPoint
from nvc_core.metrics import bits_per_pixel, frame_metrics, mean_over_frames
from nvc_core.video_io import open_video

DEFAULT_CRFS = (18, 23, 28, 33, 38)
PRESET = "medium"


class AnchorError(NVCError):
    """ffmpeg is missing, or it failed on an anchor encode or decode."""


@dataclass(frozen=True)
class _Codec:
    encoder: str
    stream_format: str  # ffmpeg muxer / demuxer of the raw elementary stream
    suffix: str
    sei_nal_types: str  # NAL unit types of SEI messages, dropped from the stream


_CODECS = {"x264": _Codec("libx264", "h264", ".264", "6"), "x265": _Codec("libx265", "hevc", ".265", "39|40")}
CODECS = tuple(_CODECS)


def ffmpeg_path() -> str | None:
    """The ffmpeg executable on PATH, or None."""
    return shutil.which("ffmpeg")


@dataclass(frozen=True)
class Colour:
    """The Y'CbCr of a clip (``VideoReader.matrix``, ``full_range``)."""

    matrix: str = "bt709"
    full_range: bool = False


def load_frames(path: str | Path, frames: int | None = None) -> tuple[list[np.ndarray], Fraction, Colour]:
    """The first `frames` RGB frames of a video (all when None), its frame rate and its Y'CbCr."""
    with open_video(path) as reader:
        return reader.read(frames), reader.fps, Colour(reader.matrix, reader.full_range)


def write_yuv420(frames: list[np.ndarray], path: Path, matrix: str = "bt709", full_range: bool = False) -> None:
    """Raw planar yuv420p (BT.709 limited range by default, via nvc_core.color) of RGB uint8 frames."""
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise AnchorError(f"x264/x265 anchors need an even frame size in 4:2:0, got {w}x{h}")
    with open(path, "wb") as f:
        for rgb in frames:
            for plane in rgb_to_yuv420(rgb, matrix, full_range):
                f.write(plane.tobytes())


def read_yuv420(data: bytes, width: int, height: int, matrix: str = "bt709",
                full_range: bool = False) -> list[np.ndarray]:
    """RGB uint8 frames from raw yuv420p bytes (even width and height)."""
    luma, chroma = width * height, (width // 2) * (height // 2)
    size = luma + 2 * chroma
    if len(data) % size:
        raise AnchorError(f"decoded yuv420p has {len(data)} bytes, not a multiple of a {width}x{height} frame")
    buf = np.frombuffer(data, dtype=np.uint8)
    frames = []
    for start in range(0, len(data), size):
        y = buf[start:start + luma].reshape(height, width)
        u = buf[start + luma:start + luma + chroma].reshape(height // 2, width // 2)
        v = buf[start + luma + chroma:start + size].reshape(height // 2, width // 2)
        frames.append(yuv420_to_rgb(y, u, v, matrix, full_range))
    return frames


def _encoder_args(codec: str, crf: int, gop: int) -> list[str]:
    """ffmpeg output options of the low-delay, fixed-GOP, single-thread setting."""
    common = ["-c:v", _CODECS[codec].encoder, "-preset", PRESET, "-crf", str(crf)]
    if codec == "x264":
        return common + ["-bf", "0", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
                         "-threads", "1"]
    params = (f"bframes=0:keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0"
              ":pools=1:frame-threads=1:log-level=error")
    return common + ["-x265-params", params]


def _run_ffmpeg(args: list[str], what: str, tool: str = "ffmpeg") -> tuple[bytes, float]:
    """Run ffmpeg (or ffprobe); return its stdout and the wall time. Raise AnchorError on failure."""
    exe = shutil.which(tool)
    if exe is None:
        raise AnchorError(f"{tool} not found on PATH: install ffmpeg (with libx264/libx265) or use --anchors none")
    start = time.perf_counter()
    options = ["-hide_banner", "-v", "error"] + (["-nostdin", "-y"] if tool == "ffmpeg" else [])
    proc = subprocess.run([exe, *options, *args], capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        last = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise AnchorError(f"{tool} failed on {what}: {last[0]}")
    return proc.stdout, elapsed


def encode_stream(source_yuv: Path, size: tuple[int, int], fps: Fraction, codec: str, crf: float, gop: int,
                  stream: Path) -> float:
    """Encode raw yuv420p `source_yuv` of `size` (width, height) with one anchor at one CRF into the
    elementary stream `stream` (SEI removed); returns the encoding's wall time."""
    if codec not in _CODECS:
        raise ValueError(f"unknown anchor {codec!r} (expected one of {CODECS})")
    spec = _CODECS[codec]
    w, h = size
    _, encode_s = _run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", str(fps),
                               "-i", str(source_yuv), *_encoder_args(codec, crf, gop),
                               "-bsf:v", f"filter_units=remove_types={spec.sei_nal_types}",
                               "-f", spec.stream_format, str(stream)], f"{codec} CRF {crf} encode")
    return encode_s


def decode_stream(stream: Path, codec: str, size: tuple[int, int], matrix: str = "bt709",
                  full_range: bool = False) -> tuple[list[np.ndarray], float]:
    """The RGB frames of an anchor's elementary stream, and the decoding's wall time."""
    raw, decode_s = _run_ffmpeg(["-f", _CODECS[codec].stream_format, "-i", str(stream), "-fps_mode", "passthrough",
                                 "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], f"{codec} decode of {stream.name}")
    return read_yuv420(raw, *size, matrix, full_range), decode_s


def stream_path(out_dir: Path, codec: str, crf: float) -> Path:
    return out_dir / f"{codec}_crf{crf}{_CODECS[codec].suffix}"


def code_anchor(source_yuv: Path, frames: list[np.ndarray], fps: Fraction, codec: str, crf: int,
                gop: int, out_dir: Path, colour: Colour = Colour()) -> RDPoint:
    """Encode `source_yuv` (the yuv420p of `frames`) with one anchor at one CRF, decode, measure."""
    if codec not in _CODECS:
        raise ValueError(f"unknown anchor {codec!r} (expected one of {CODECS})")
    h, w = frames[0].shape[:2]
    stream = stream_path(out_dir, codec, crf)
    encode_s = encode_stream(source_yuv, (w, h), fps, codec, crf, gop, stream)
    decoded, decode_s = decode_stream(stream, codec, (w, h), colour.matrix, colour.full_range)
    if len(decoded) != len(frames):
        raise AnchorError(f"{codec} CRF {crf}: decoded {len(decoded)} frames, expected {len(frames)}")
    nbytes = stream.stat().st_size
    means = mean_over_frames(frame_metrics(o, d, colour.matrix, colour.full_range) for o, d in zip(frames, decoded))
    return RDPoint(bytes=nbytes, bpp=bits_per_pixel(nbytes, w, h, len(frames)), encode_s=encode_s,
                   decode_s=decode_s, crf=crf, **means)


def sweep(frames: list[np.ndarray], fps: Fraction, codecs: list[str], crfs: list[int], gop: int,
          out_dir: Path, colour: Colour = Colour()) -> dict[str, list[RDPoint]]:
    """Every anchor codec at every CRF on one clip (in its Y'CbCr ``colour``); streams are kept in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    source = out_dir / "source.yuv"
    write_yuv420(frames, source, colour.matrix, colour.full_range)
    try:
        return {codec: [code_anchor(source, frames, fps, codec, crf, gop, out_dir, colour) for crf in crfs]
                for codec in codecs}
    finally:
        source.unlink()
