"""Bad bitstreams give one clear error: corruption, truncation, foreign files, other weights, crafted
headers. The fuzz corpus damages the header, the chunk headers and the payloads, with and without
recomputing the CRCs (so that damage reaches the entropy decoder), truncates, swaps and duplicates
chunks: every case must end in a BitstreamError (or, decoding strictly, a DriftError where damage
behind a valid CRC decodes to other pixels), never another exception. (Bytes appended to a payload
under a recomputed CRC are not in the corpus: the range decoder never reads them, and the frame
hashes prove the decoded video right.)"""
from __future__ import annotations

import io
import resource
import zlib

import numpy as np
import pytest
from conftest import moving_frames, write_clip

from nvc_core.bitstream import VERSION, FrameChunk, StreamHeader, header_crc, pack_stream, read_stream, varint
from nvc_core.codec import decode_video, encode_video
from nvc_core.errors import BitstreamError, DriftError, NVCError


@pytest.fixture(scope="module")
def stream(lively_model, tmp_path_factory):
    """I P P I at 40x30 (one 64x64 block: fast to decode many times)."""
    folder = tmp_path_factory.mktemp("bs")
    clip = write_clip(folder / "clip.y4m", moving_frames(40, 30, 4))
    result = encode_video(clip, folder / "ok.nvc", lively_model, quality=3, gop=3)
    return folder / "ok.nvc", result


def _variant(tmp_path, data: bytes, name="bad.nvc"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _parts(path) -> tuple[StreamHeader, list[FrameChunk]]:
    header, chunks = read_stream(path)
    return header, list(chunks)


def _header_bytes(**changes) -> bytes:
    """A header with valid CRC: the fields of the test stream, with ``changes`` (no validation)."""
    fields = dict(width=40, height=30, frame_count=4, gop=3, quality=3, colour=0, fps_num=25, fps_den=1)
    fields.update(changes)
    body = (b"NVCB" + bytes([VERSION]) + varint(fields["width"]) + varint(fields["height"]) + varint(fields["frame_count"])
            + varint(fields["gop"]) + bytes([fields["quality"], fields["colour"]]) + varint(fields["fps_num"])
            + varint(fields["fps_den"]) + changes.get("weights_id", b"\1" * 8))
    return body + header_crc(body)


def _chunk_bytes(chunk: FrameChunk, flags: int | None = None, payload: bytes | None = None) -> bytes:
    """A chunk, optionally with other flags or payload."""
    payload = chunk.payload if payload is None else payload
    if flags is None:
        flags = ("I", "P").index(chunk.frame_type) << 1 | int(chunk.temporal_prior)
    return varint(len(payload) << 2 | flags) + chunk.recon_hash + payload



def test_header_round_trip_and_compact_size():
    h = StreamHeader(100, 75, 7, 12, 3, b"\x01" * 8, "bt601", True, 30000, 1001)
    assert StreamHeader.read(io.BytesIO(h.pack())) == h
    assert len(h.pack()) == 5 + 1 + 1 + 1 + 1 + 2 + 3 + 2 + 8 + 2


@pytest.mark.parametrize("fields, message", [
    (dict(width=16400, height=2), "frame size"), (dict(width=1, height=9), "frame size"),
    (dict(gop=0), "GOP"), (dict(gop=65536), "GOP"), (dict(fps_num=0), "frame rate"),
    (dict(fps_den=2**32), "frame rate"), (dict(frame_count=2**32), "frames"), (dict(quality=256), "quality")])
def test_header_fields_out_of_bounds_are_refused_when_writing(fields, message):
    values = dict(width=100, height=75, frame_count=1, gop=12, quality=3, weights_id=b"\1" * 8)
    values.update(fields)
    with pytest.raises(NVCError, match=message):
        StreamHeader(**values).pack()


@pytest.mark.parametrize("changes, message", [
    (dict(colour=4), "colour byte"), (dict(colour=255), "colour byte"), (dict(width=1), "frame size"),
    (dict(width=16385), "frame size"), (dict(gop=0), "GOP"), (dict(frame_count=0), "no frames"),
    (dict(fps_den=0), "frame rate")])
def test_crafted_headers_with_valid_crc_are_refused(changes, message):
    with pytest.raises(BitstreamError, match=message):
        StreamHeader.read(io.BytesIO(_header_bytes(**changes)))


def test_temporal_prior_flag_on_an_i_frame_is_refused(stream):
    _, chunks = _parts(stream[0])
    with pytest.raises(BitstreamError, match="I-frame with the temporal-prior flag"):
        FrameChunk.read(io.BytesIO(_chunk_bytes(chunks[0], flags=0b01)), 0)


def test_a_p_frames_motion_rate_offset_round_trips_and_is_checked(lively_model, stream, tmp_path):
    """The offset a P-chunk carries is read back as written; one the model cannot code (or crafted
    with valid CRCs beyond the lowest rate point) is a corrupt stream, not a crash."""
    header, chunks = _parts(stream[0])
    p = chunks[1]
    moved = FrameChunk(p.frame_type, p.temporal_prior, p.payload, p.recon_hash, 3)
    assert FrameChunk.read(io.BytesIO(moved.pack()), 1) == moved
    assert moved.nbytes == len(moved.pack()) == p.nbytes
    with pytest.raises(ValueError):
        FrameChunk("I", False, b"", b"\0", 1).pack()
    beyond = header.quality + lively_model.motion.low_rates + 1
    crafted = [c.pack() for c in chunks]
    crafted[1] = FrameChunk(p.frame_type, p.temporal_prior, p.payload, p.recon_hash, beyond).pack()
    with pytest.raises(BitstreamError, match=f"frame 1 has motion rate offset {beyond}, outside"):
        decode_video(_variant(tmp_path, pack_stream(header, crafted)), lively_model)


def test_declared_size_must_fit_the_stream_before_anything_is_allocated(lively_model, stream, tmp_path):
    """A small stream whose header (valid CRC) claims 16384x16384 is refused from its length alone."""
    header, chunks = _parts(stream[0])
    big = _header_bytes(width=16384, height=16384, frame_count=1, gop=3, weights_id=header.weights_id)
    path = _variant(tmp_path, big + chunks[0].pack() + zlib.crc32(chunks[0].pack()).to_bytes(4, "little"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # refused either for its payload (too few bytes for the frame) or, first on a machine with less memory
    # than such a frame needs, for its size: both before anything large is allocated
    with pytest.raises(NVCError, match="too few|needs about"):
        decode_video(path, lively_model)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024   # KiB: < 200 MiB more
    many = _header_bytes(frame_count=10**9, weights_id=header.weights_id)
    with pytest.raises(BitstreamError, match="declares 1000000000 frames"):
        decode_video(_variant(tmp_path, many + chunks[0].pack(), "many.nvc"), lively_model)


def test_corrupted_payload_is_detected(lively_model, stream, tmp_path):
    path, result = stream
    data = bytearray(path.read_bytes())
    header = len(result.header.pack())
    start = header + result.records[0].bits // 8
    end = start + result.records[1].bits // 8
    for i in range(end - 40, end - 20):
        data[i] ^= 0x5A
    out = tmp_path / "dec.y4m"
    with pytest.raises(BitstreamError, match="corrupt"):
        decode_video(_variant(tmp_path, bytes(data)), lively_model, out)
    assert not out.exists() and not any(tmp_path.glob(".dec.y4m*"))


@pytest.mark.parametrize("cut", [3, 20, 60, -1, -200])
def test_truncated_stream_is_detected(lively_model, stream, tmp_path, cut):
    data = stream[0].read_bytes()
    with pytest.raises(BitstreamError, match="truncated|magic|corrupt"):
        decode_video(_variant(tmp_path, data[:cut]), lively_model)


def test_header_damage_and_foreign_files(lively_model, stream, tmp_path):
    data = bytearray(stream[0].read_bytes())
    data[9] ^= 0x01                       # the quality byte (one-byte width, height, count, GOP)
    with pytest.raises(BitstreamError, match="CRC"):
        decode_video(_variant(tmp_path, bytes(data)), lively_model)
    with pytest.raises(BitstreamError, match="magic"):
        decode_video(_variant(tmp_path, b"YUV4MPEG2 W10 H10\n" + bytes(100)), lively_model)
    with pytest.raises(BitstreamError, match="version"):
        decode_video(_variant(tmp_path, b"NVCB\x01" + bytes(40)), lively_model)
    with pytest.raises(BitstreamError, match="no such file"):
        decode_video(tmp_path / "missing.nvc", lively_model)
    with pytest.raises(BitstreamError, match="trailing"):
        decode_video(_variant(tmp_path, stream[0].read_bytes() + b"\0"), lively_model)


def test_other_weights_are_refused(random_model, stream):
    with pytest.raises(BitstreamError, match="other weights"):
        decode_video(stream[0], random_model)


def _fuzz_corpus(path, seed: int = 7) -> list[tuple[str, bytes]]:
    """Damaged variants of a valid stream: (description, bytes)."""
    rng = np.random.default_rng(seed)
    original = path.read_bytes()
    header, chunks = _parts(path)
    head = original[:len(header.pack())]
    packed = [c.pack() for c in chunks]
    corpus = []
    for trial in range(6):                                    # raw flips anywhere after the magic
        data = bytearray(original)
        for pos in rng.integers(4, len(data), size=int(rng.integers(1, 4))):
            data[pos] ^= int(rng.integers(1, 256))
        corpus.append((f"flip {trial}", bytes(data)))
    for field in (dict(width=64), dict(height=60), dict(gop=1), dict(gop=2), dict(frame_count=3),
                  dict(frame_count=5), dict(quality=0), dict(quality=5)):
        corpus.append((f"header {field}", _header_bytes(**field, weights_id=header.weights_id)
                       + _crcs(packed, field.get("gop", header.gop))))
    for i, chunk in enumerate(chunks[:2]):                   # an I-frame and a P-frame
        others = packed[:i], packed[i + 1:]
        for flags in (0b00, 0b10, 0b11):                     # the other frame type, valid CRC
            if flags >> 1 != ("I", "P").index(chunk.frame_type):
                corpus.append((f"chunk {i} flags {flags}",
                               head + _crcs([*others[0], _chunk_bytes(chunk, flags), *others[1]], header.gop)))
        payload = bytearray(chunk.payload)
        for pos in rng.integers(0, len(payload), size=3):    # payload damage behind a valid CRC
            payload[pos] ^= int(rng.integers(1, 256))
        for name, p in (("flipped", bytes(payload)), ("shortened", chunk.payload[:-5]), ("empty", b""),
                        ("zeros", bytes(len(payload)))):
            corpus.append((f"chunk {i} payload {name}",
                           head + _crcs([*others[0], _chunk_bytes(chunk, payload=p), *others[1]], header.gop)))
    # the temporal prior of the second P-frame switched off (the first has none to switch: no state yet)
    corpus.append(("chunk 2 temporal prior off",
                   head + _crcs([packed[0], packed[1], _chunk_bytes(chunks[2], 0b10), packed[3]], header.gop)))
    for name, order in (("swapped P-frames", (0, 2, 1, 3)), ("swapped I-frames", (3, 1, 2, 0)),
                        ("duplicated chunk", (0, 1, 1, 3)), ("missing chunk", (0, 1, 2)),
                        ("extra chunk", (0, 1, 2, 3, 1))):
        corpus.append((name, head + _crcs([packed[k] for k in order], header.gop)))
    for cut in rng.integers(1, len(original), size=6):
        corpus.append((f"truncated at {cut}", original[:cut]))
    return corpus


def _crcs(chunks: list[bytes], gop: int) -> bytes:
    """``chunks`` with a valid CRC after every ``gop`` of them (and after the last)."""
    out = b""
    for start in range(0, len(chunks), gop):
        body = b"".join(chunks[start:start + gop])
        out += body + zlib.crc32(body).to_bytes(4, "little")
    return out


def test_fuzz_corpus_always_gives_a_bitstream_error(lively_model, stream, tmp_path):
    corpus = _fuzz_corpus(stream[0])
    assert len(corpus) > 35
    outcomes = []
    for i, (name, data) in enumerate(corpus):
        try:
            decode_video(_variant(tmp_path, data, f"fuzz{i}.nvc"), lively_model, strict=True)
            outcomes.append(f"{name}: decoded")
        except (BitstreamError, DriftError):
            pass
        except Exception as exc:  # noqa: BLE001 - the point of the test
            outcomes.append(f"{name}: {type(exc).__name__}: {exc}")
    assert outcomes == [], "\n".join(outcomes)
