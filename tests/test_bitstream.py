"""Bad bitstreams give one clear error: corruption, truncation, foreign files, other weights."""
from __future__ import annotations

import io

import numpy as np

import pytest

from nvc_core.bitstream import FrameChunk, StreamHeader
from nvc_core.codec import decode_video, encode_video
from nvc_core.errors import BitstreamError


@pytest.fixture(scope="module")
def stream(lively_model, small_clip, tmp_path_factory):
    path = tmp_path_factory.mktemp("bs") / "ok.nvc"
    result = encode_video(small_clip, path, lively_model, quality=3, gop=3)
    return path, result


def _variant(tmp_path, data: bytes, name="bad.nvc"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_header_round_trip():
    h = StreamHeader(100, 75, 7, 12, 3, b"\x01" * 8, "bt601", True, 30000, 1001)
    assert StreamHeader.read(io.BytesIO(h.pack())) == h


def test_corrupted_payload_is_detected(lively_model, stream, tmp_path):
    path, result = stream
    data = bytearray(path.read_bytes())
    header = len(result.header.pack())
    # flip bytes in the middle of the second frame's residual payload
    start = header + result.records[0].bits // 8
    end = start + result.records[1].bits // 8
    for i in range(end - 40, end - 20):
        data[i] ^= 0x5A
    out = tmp_path / "dec.y4m"
    with pytest.raises(BitstreamError, match="frame 1"):
        decode_video(_variant(tmp_path, bytes(data)), lively_model, out)
    assert not out.exists() and not any(tmp_path.glob(".dec.y4m*"))


@pytest.mark.parametrize("cut", [3, 20, 60, -1, -200])
def test_truncated_stream_is_detected(lively_model, stream, tmp_path, cut):
    data = stream[0].read_bytes()
    with pytest.raises(BitstreamError, match="truncated|magic|corrupt"):
        decode_video(_variant(tmp_path, data[:cut]), lively_model)


def test_header_damage_and_foreign_files(lively_model, stream, tmp_path):
    data = bytearray(stream[0].read_bytes())
    data[6] ^= 0xFF                       # inside the width field
    with pytest.raises(BitstreamError, match="CRC"):
        decode_video(_variant(tmp_path, bytes(data)), lively_model)
    with pytest.raises(BitstreamError, match="magic"):
        decode_video(_variant(tmp_path, b"YUV4MPEG2 W10 H10\n" + bytes(100)), lively_model)
    with pytest.raises(BitstreamError, match="no such file"):
        decode_video(tmp_path / "missing.nvc", lively_model)
    with pytest.raises(BitstreamError, match="trailing"):
        decode_video(_variant(tmp_path, stream[0].read_bytes() + b"\0"), lively_model)


def test_other_weights_are_refused(random_model, stream):
    with pytest.raises(BitstreamError, match="other weights"):
        decode_video(stream[0], random_model)


def test_chunk_with_wrong_stream_count_is_refused():
    chunk = FrameChunk("I", False, {"intra.z": b"", "intra.y": b""}, b"\0" * 8).pack()
    bad = bytes([0, 0, 3]) + chunk[3:]
    with pytest.raises(BitstreamError, match="sub-streams"):
        FrameChunk.read(io.BytesIO(bad), 0)


def test_random_damage_always_gives_a_bitstream_error(lively_model, stream, tmp_path):
    """Flip random bytes anywhere after the header: every outcome is a BitstreamError, never a crash."""
    rng = np.random.default_rng(7)
    original = stream[0].read_bytes()
    header = len(stream[1].header.pack())
    for trial in range(8):
        data = bytearray(original)
        for pos in rng.integers(header, len(data), size=int(rng.integers(1, 4))):
            data[pos] ^= int(rng.integers(1, 256))
        with pytest.raises(BitstreamError):
            decode_video(_variant(tmp_path, bytes(data), f"fuzz{trial}.nvc"), lively_model)
