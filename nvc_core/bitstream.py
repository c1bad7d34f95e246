"""The .nvc bitstream (documented in docs/bitstream.md): a header, then one chunk per frame, and
after the last chunk of every GOP the CRC-32 of that GOP's chunks.

Integers are unsigned LEB128 varints unless said otherwise. CRC-32s catch damage to the header and
to every GOP; a one-byte hash of every reconstructed frame lets the decoder detect drift (a decoder
whose floating-point arithmetic differs from the encoder's: reported, not refused). A chunk's
payload is the frame's one range-coder session (:mod:`nvc_core.entropy.range_coder`). No numpy or torch
here: ``nvc info`` and the CLI's start-up stay light.
"""
from __future__ import annotations

import binascii
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterator

from nvc_core.errors import BitstreamError, NVCError

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"NVCB"
VERSION = 4
MAX_SIDE = 16384
MAX_GOP = 65535
MAX_U32 = 2**32 - 1
MAX_QUALITY = 255
MATRICES = ("bt709", "bt601")
FRAME_TYPES = ("I", "P")
HASH_BYTES = 1
CRC_BYTES = 4
HEADER_CRC_BYTES = 2
_VARINT_MAX_BYTES = 5
# smallest chunk: a one-byte varint and the hash (an empty payload)
MIN_CHUNK_BYTES = 1 + HASH_BYTES


def varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, low bits first, high bit set on every byte but the last."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(f: BinaryIO, where: str) -> tuple[int, bytes]:
    """(value, its bytes) of a varint read from ``f``."""
    raw = bytearray()
    while True:
        byte = f.read(1)
        if not byte:
            raise BitstreamError(f"bitstream truncated in {where}")
        raw += byte
        if not byte[0] & 0x80:
            break
        if len(raw) == _VARINT_MAX_BYTES:
            raise BitstreamError(f"corrupt bitstream: malformed number in {where}")
    return sum((b & 0x7F) << (7 * i) for i, b in enumerate(raw)), bytes(raw)


@dataclass
class StreamHeader:
    width: int
    height: int
    frame_count: int
    gop: int
    quality: int
    weights_id: bytes
    matrix: str = "bt709"
    full_range: bool = False
    fps_num: int = 25
    fps_den: int = 1

    def problem(self) -> str | None:
        """What makes these values unrepresentable or invalid in a header, or None."""
        if not (2 <= self.width <= MAX_SIDE and 2 <= self.height <= MAX_SIDE):
            return f"frame size {self.width}x{self.height} outside 2x2..{MAX_SIDE}x{MAX_SIDE}"
        if not 1 <= self.gop <= MAX_GOP:
            return f"GOP {self.gop} outside 1..{MAX_GOP}"
        if not 0 <= self.quality <= MAX_QUALITY:
            return f"quality {self.quality} outside 0..{MAX_QUALITY}"
        if not (1 <= self.fps_num <= MAX_U32 and 1 <= self.fps_den <= MAX_U32):
            return f"frame rate {self.fps_num}/{self.fps_den} outside 1..{MAX_U32} for numerator and denominator"
        if not 0 <= self.frame_count <= MAX_U32:
            return f"{self.frame_count} frames, more than {MAX_U32}"
        if self.matrix not in MATRICES or len(self.weights_id) != 8:
            return "unknown colour matrix or weights identifier"
        return None

    def check(self) -> None:
        """Refuse (before coding) values a header cannot hold."""
        problem = self.problem()
        if problem:
            raise NVCError(f"cannot code this video: {problem}")

    def pack(self) -> bytes:
        self.check()
        colour = MATRICES.index(self.matrix) | int(self.full_range) << 1
        body = (MAGIC + bytes([VERSION]) + varint(self.width) + varint(self.height) + varint(self.frame_count)
                + varint(self.gop) + bytes([self.quality, colour]) + varint(self.fps_num) + varint(self.fps_den)
                + self.weights_id)
        return body + header_crc(body)

    @classmethod
    def read(cls, f: BinaryIO) -> "StreamHeader":
        if f.read(4) != MAGIC:
            raise BitstreamError("not an .nvc bitstream (bad magic)")
        version = f.read(1)
        if not version:
            raise BitstreamError("bitstream truncated inside the header")
        if version[0] != VERSION:
            raise BitstreamError(f"unsupported bitstream version {version[0]} (this decoder reads {VERSION})")
        body = bytearray(MAGIC + version)
        fields = []
        for _ in range(4):  # width, height, frame count, GOP
            value, raw = _read_varint(f, "the header")
            fields.append(value)
            body += raw
        quality_colour = f.read(2)
        body += quality_colour
        for _ in range(2):  # frame rate numerator, denominator
            value, raw = _read_varint(f, "the header")
            fields.append(value)
            body += raw
        weights_id = f.read(8)
        crc = f.read(HEADER_CRC_BYTES)
        if len(quality_colour) < 2 or len(weights_id) < 8 or len(crc) < HEADER_CRC_BYTES:
            raise BitstreamError("bitstream truncated inside the header")
        body += weights_id
        if crc != header_crc(bytes(body)):
            raise BitstreamError("corrupt bitstream header (CRC mismatch)")
        quality, colour = quality_colour
        width, height, count, gop, fps_num, fps_den = fields
        if colour > 3 or (colour & 1) >= len(MATRICES):
            raise BitstreamError(f"corrupt bitstream header (colour byte {colour})")
        header = cls(width, height, count, gop, quality, weights_id, MATRICES[colour & 1], bool(colour & 2),
                     fps_num, fps_den)
        problem = header.problem() or ("no frames" if count < 1 else None)
        if problem:
            raise BitstreamError(f"corrupt bitstream header ({problem})")
        return header


@dataclass
class FrameChunk:
    frame_type: str
    temporal_prior: bool
    payload: bytes
    recon_hash: bytes
    motion_offset: int = 0      # P: neuro-Motion coded at rate point quality − motion_offset

    def _framing(self) -> bytes:
        flags = FRAME_TYPES.index(self.frame_type) << 1 | int(self.temporal_prior)
        offset = varint(self.motion_offset) if self.frame_type == "P" else b""
        return varint(len(self.payload) << 2 | flags) + offset + self.recon_hash

    def pack(self) -> bytes:
        if self.motion_offset < 0 or (self.motion_offset and self.frame_type == "I"):
            raise ValueError(f"motion offset {self.motion_offset} for a {self.frame_type}-frame")
        return self._framing() + self.payload

    @classmethod
    def read(cls, f: BinaryIO, index: int) -> "FrameChunk":
        where = f"frame {index}"
        value, _ = _read_varint(f, where)
        length, kind, temporal_prior = value >> 2, value >> 1 & 1, bool(value & 1)
        frame_type = FRAME_TYPES[kind]
        if temporal_prior and frame_type == "I":
            raise BitstreamError(f"corrupt bitstream: {where} is an I-frame with the temporal-prior flag")
        motion_offset = _read_varint(f, where)[0] if frame_type == "P" else 0
        recon_hash = _read_exact(f, HASH_BYTES, where)
        if length > _remaining(f):
            raise BitstreamError(f"bitstream truncated in {where}")
        return cls(frame_type, temporal_prior, _read_exact(f, length, where), recon_hash, motion_offset)

    @property
    def nbytes(self) -> int:
        """Size of the packed chunk: framing plus payload (the GOP's CRC is not part of any chunk)."""
        return len(self._framing()) + len(self.payload)


def header_crc(body: bytes) -> bytes:
    """CRC-16/CCITT (initial value 0xFFFF) of the header's bytes, little-endian."""
    return binascii.crc_hqx(body, 0xFFFF).to_bytes(HEADER_CRC_BYTES, "little")


def frame_hash(rgb: np.ndarray) -> bytes:
    """Hash of a reconstructed frame (H,W,3) uint8 (its bytes in C order), checked by the decoder."""
    return hashlib.blake2b(rgb.tobytes(), digest_size=HASH_BYTES).digest()


def gop_ends(frame_count: int, gop: int) -> list[int]:
    """Indices of the frames after whose chunk a GOP's CRC follows: every GOP's last frame."""
    return sorted({*range(gop - 1, frame_count, gop), frame_count - 1})


def pack_stream(header: StreamHeader, chunks: list[bytes]) -> bytes:
    """The whole file: the header, the packed chunks, the CRC-32 of each GOP's chunks after them."""
    header.frame_count = len(chunks)
    parts = [header.pack()]
    start = 0
    for end in gop_ends(len(chunks), header.gop):
        body = b"".join(chunks[start:end + 1])
        parts += [body, zlib.crc32(body).to_bytes(CRC_BYTES, "little")]
        start = end + 1
    return b"".join(parts)


def open_stream(f: BinaryIO) -> StreamHeader:
    """Read the header of an open .nvc file and check that the frame count it declares fits in the
    rest of the file (before anything is allocated for the frames)."""
    header = StreamHeader.read(f)
    room = _remaining(f)
    gops = -(-header.frame_count // header.gop)
    if header.frame_count * MIN_CHUNK_BYTES + gops * CRC_BYTES > room:
        raise BitstreamError(f"corrupt bitstream: the header declares {header.frame_count} frames, "
                             f"more than the {room} bytes after it can hold")
    return header


def iter_chunks(f: BinaryIO, header: StreamHeader) -> Iterator[FrameChunk]:
    """The frame chunks of an open stream after its header, checking each GOP's CRC when its last
    chunk has been read (before that chunk is yielded) and that the file ends after the last GOP."""
    ends = set(gop_ends(header.frame_count, header.gop))
    start, body = 0, bytearray()
    for i in range(header.frame_count):
        position = f.tell()
        chunk = FrameChunk.read(f, i)
        end = f.tell()
        f.seek(position)
        body += f.read(end - position)
        if i in ends:
            crc = _read_exact(f, CRC_BYTES, f"the CRC of frames {start}-{i}")
            if int.from_bytes(crc, "little") != zlib.crc32(body):
                raise BitstreamError(f"corrupt bitstream: frames {start}-{i} fail their CRC")
            start, body = i + 1, bytearray()
        yield chunk
    if f.read(1):
        raise BitstreamError("corrupt bitstream: trailing data after the last frame")


def read_stream(path: str | os.PathLike) -> tuple[StreamHeader, Iterator[FrameChunk]]:
    """The header of an .nvc file and an iterator over its frame chunks (the file must end after them)."""
    path = Path(path)
    if not path.is_file():
        raise BitstreamError(f"{path}: no such file")
    f = open(path, "rb")
    try:
        header = open_stream(f)
    except BaseException:
        f.close()
        raise

    def chunks() -> Iterator[FrameChunk]:
        with f:
            yield from iter_chunks(f, header)

    return header, chunks()


def _remaining(f: BinaryIO) -> int:
    """Bytes between the position of ``f`` and its end."""
    position = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(position)
    return end - position


def _read_exact(f: BinaryIO, n: int, where: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise BitstreamError(f"bitstream truncated in {where}")
    return data
