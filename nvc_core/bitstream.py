"""The .nvc bitstream (documented in docs/bitstream.md): a header, then one chunk per frame.

Integers are unsigned LEB128 varints unless said otherwise. CRC-32s catch damage to the header and
to every chunk; a hash of every reconstructed frame lets the decoder detect drift (a decoder whose
arithmetic differs). A chunk's payload is the frame's one range-coder session
(:mod:`nvc_core.entropy.range_coder`). No numpy or torch here: ``nvc info`` and the CLI's start-up stay light.
"""
from __future__ import annotations

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
VERSION = 2
MAX_SIDE = 16384
MAX_GOP = 65535
MAX_U32 = 2**32 - 1
MAX_QUALITY = 255
MATRICES = ("bt709", "bt601")
FRAME_TYPES = ("I", "P")
HASH_BYTES = 8
CRC_BYTES = 4
_VARINT_MAX_BYTES = 5
# smallest chunk: a one-byte varint, the hash and the CRC (an empty payload)
MIN_CHUNK_BYTES = 1 + HASH_BYTES + CRC_BYTES


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
        return body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")

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
        crc = f.read(CRC_BYTES)
        if len(quality_colour) < 2 or len(weights_id) < 8 or len(crc) < CRC_BYTES:
            raise BitstreamError("bitstream truncated inside the header")
        body += weights_id
        if int.from_bytes(crc, "little") != zlib.crc32(body):
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

    def pack(self) -> bytes:
        flags = FRAME_TYPES.index(self.frame_type) << 1 | int(self.temporal_prior)
        body = varint(len(self.payload) << 2 | flags) + self.recon_hash + self.payload
        return body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")

    @classmethod
    def read(cls, f: BinaryIO, index: int) -> "FrameChunk":
        where = f"frame {index}"
        value, raw = _read_varint(f, where)
        length, kind, temporal_prior = value >> 2, value >> 1 & 1, bool(value & 1)
        frame_type = FRAME_TYPES[kind]
        if temporal_prior and frame_type == "I":
            raise BitstreamError(f"corrupt bitstream: {where} is an I-frame with the temporal-prior flag")
        recon_hash = _read_exact(f, HASH_BYTES, where)
        if length > _remaining(f):
            raise BitstreamError(f"bitstream truncated in {where}")
        payload = _read_exact(f, length, where)
        crc = _read_exact(f, CRC_BYTES, where)
        if int.from_bytes(crc, "little") != zlib.crc32(raw + recon_hash + payload):
            raise BitstreamError(f"corrupt bitstream: {where} fails its CRC")
        return cls(frame_type, temporal_prior, payload, recon_hash)

    @property
    def nbytes(self) -> int:
        """Size of the packed chunk: framing plus payload."""
        return len(varint(len(self.payload) << 2)) + HASH_BYTES + len(self.payload) + CRC_BYTES


def frame_hash(rgb: np.ndarray) -> bytes:
    """Hash of a reconstructed frame (H,W,3) uint8 (its bytes in C order), checked by the decoder."""
    return hashlib.blake2b(rgb.tobytes(), digest_size=HASH_BYTES).digest()


def open_stream(f: BinaryIO) -> StreamHeader:
    """Read the header of an open .nvc file and check that the frame count it declares fits in the
    rest of the file (before anything is allocated for the frames)."""
    header = StreamHeader.read(f)
    room = _remaining(f)
    if header.frame_count > room // MIN_CHUNK_BYTES:
        raise BitstreamError(f"corrupt bitstream: the header declares {header.frame_count} frames, "
                             f"more than the {room} bytes after it can hold")
    return header


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
            for i in range(header.frame_count):
                yield FrameChunk.read(f, i)
            if f.read(1):
                raise BitstreamError("corrupt bitstream: trailing data after the last frame")

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
