"""A classical coder beside nvc, frame by frame: the clip coded with an anchor of ``nvc eval``
(x264 or x265 through ffmpeg, preset medium, low-delay P, the same GOP; ``anchors.py``) at a CRF
given, or at the CRF whose stream is closest in size to a target (the bits nvc spent on the clip),
then decoded and measured per frame.

Per frame: the frame type and the size of its packet in the elementary stream as ffprobe reports
them (the packets add up to the stream file, parameter sets included), the reconstruction, and
``nvc_core.metrics`` against the source frame, with the stream's colour matrix.

Rate matching bisects the CRF (x264 and x265 take fractional CRFs) over ``CRF_RANGE`` for at most
``MAX_SEARCH`` encodes and keeps the encode closest to the target; a stream's size falls as the CRF
rises.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from nvc_core.errors import Cancelled
from nvc_core.evaluation.anchors import (AnchorError, _CODECS, _run_ffmpeg, decode_stream, encode_stream,
                                         stream_path, write_yuv420)
from nvc_core.metrics import frame_metrics

CRF_RANGE = (0.0, 51.0)
MAX_SEARCH = 7          # encodes of a rate match: the CRF to about 0.4, the size to a few per cent


@dataclass
class ClassicalFrame:
    index: int
    frame_type: str               # "I", "P" (ffprobe's pict_type)
    bits: int                     # the frame's packet in the elementary stream
    psnr_rgb: float
    psnr_y: float
    ms_ssim: float
    reconstruction: np.ndarray    # (H,W,3) uint8


@dataclass
class ClassicalClip:
    codec: str                    # "x264" or "x265"
    crf: float
    bits: int                     # the stream file, in bits
    target_bits: int | None       # what the CRF was matched to (None: CRF given)
    encodes: int                  # encodes run (1, or the rate match's search)
    frames: list[ClassicalFrame]

    def describe(self) -> str:
        """"x264 CRF 27.6: 123456 bits (target 120000, 6 encodes)"."""
        text = f"{self.codec} CRF {self.crf:.4g}: {self.bits} bits"
        if self.target_bits is not None:
            text += f" (nvc: {self.target_bits} bits; {self.encodes} encodes to match)"
        return text


def frame_sizes(stream: Path, codec: str) -> list[tuple[str, int]]:
    """(frame type, packet bytes) of every frame of an anchor's elementary stream, from ffprobe."""
    out, _ = _run_ffmpeg(["-f", _CODECS[codec].stream_format, "-i", str(stream), "-show_frames",
                          "-show_entries", "frame=pict_type,pkt_size", "-of", "json"],
                         f"{codec} frame sizes of {stream.name}", tool="ffprobe")
    return [(f["pict_type"], int(f["pkt_size"])) for f in json.loads(out)["frames"]]


def code_classical(frames: list[np.ndarray], fps: Fraction, codec: str, gop: int, crf: float | None = None,
                   target_bits: int | None = None, matrix: str = "bt709", full_range: bool = False,
                   should_stop: Callable[[], bool] = lambda: False) -> ClassicalClip:
    """Code RGB `frames` with `codec` at `crf`, or at the CRF matching `target_bits` (one of the two);
    decode and measure every frame. `should_stop` is asked between encodes (raises Cancelled)."""
    if (crf is None) == (target_bits is None):
        raise ValueError("give either a CRF or a target size in bits")
    if codec not in _CODECS:
        raise ValueError(f"unknown classical coder {codec!r} (expected one of {tuple(_CODECS)})")
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="nvc-classical-") as folder:
        out_dir = Path(folder)
        source = out_dir / "source.yuv"
        write_yuv420(frames, source, matrix, full_range)

        def encode(value: float) -> Path:
            if should_stop():
                raise Cancelled()
            stream = stream_path(out_dir, codec, round(value, 3))
            encode_stream(source, (w, h), fps, codec, round(value, 3), gop, stream)
            return stream

        if target_bits is None:
            chosen, encodes = round(crf, 3), 1
            stream = encode(chosen)
        else:
            chosen, stream, encodes = _match_rate(encode, target_bits)
        decoded, _ = decode_stream(stream, codec, (w, h), matrix, full_range)
        sizes = frame_sizes(stream, codec)
        if not len(decoded) == len(sizes) == len(frames):
            raise AnchorError(f"{codec}: decoded {len(decoded)} frames ({len(sizes)} packets), "
                              f"expected {len(frames)}")
        coded = [ClassicalFrame(i, kind, 8 * nbytes, reconstruction=rec, **frame_metrics(src, rec, matrix))
                 for i, ((kind, nbytes), src, rec) in enumerate(zip(sizes, frames, decoded))]
        return ClassicalClip(codec, chosen, 8 * stream.stat().st_size, target_bits, encodes, coded)


def _match_rate(encode: Callable[[float], Path], target_bits: int) -> tuple[float, Path, int]:
    """Bisect the CRF for the stream closest to `target_bits`: (CRF, stream, encodes run)."""
    low, high = CRF_RANGE
    best: tuple[float, float, Path] | None = None     # (|size − target|, crf, stream)
    encodes = 0
    while encodes < MAX_SEARCH:
        crf = round((low + high) / 2, 3)
        stream = encode(crf)
        encodes += 1
        bits = 8 * stream.stat().st_size
        if best is None or abs(bits - target_bits) < best[0]:
            best = (abs(bits - target_bits), crf, stream)
        if bits == target_bits:
            break
        low, high = (crf, high) if bits > target_bits else (low, crf)
    return best[1], best[2], encodes
