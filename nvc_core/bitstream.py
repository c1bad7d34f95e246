"""The .nvc bitstream (documented in docs/bitstream.md): a header, then one chunk per frame.

All integers little-endian. CRC-32s catch damage to the header and to every frame's payload; a hash
of every reconstructed frame lets the decoder detect drift (a decoder whose arithmetic differs).
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from nvc_core.errors import BitstreamError

MAGIC = b"NVCB"
VERSION = 1
MAX_SIDE = 16384
MATRICES = ("bt709", "bt601")
STREAM_NAMES = {"I": ("intra.z", "intra.y"),
                "P": ("motion.z", "motion.y", "residual.z", "residual.y")}
FRAME_TYPES = ("I", "P")
HASH_BYTES = 8

# magic, version, width, height, frame count, gop, quality, matrix, full range, fps num, fps den, weights id
_HEADER = struct.Struct("<4sBHHIHBBBII8s")
_CRC = struct.Struct("<I")
# frame type, flags (bit 0: temporal prior), number of sub-streams
_CHUNK = struct.Struct("<BBB")
_LENGTH = struct.Struct("<I")


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

    def pack(self) -> bytes:
        body = _HEADER.pack(MAGIC, VERSION, self.width, self.height, self.frame_count, self.gop,
                            self.quality, MATRICES.index(self.matrix), int(self.full_range),
                            self.fps_num, self.fps_den, self.weights_id)
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def read(cls, f: BinaryIO) -> "StreamHeader":
        body = f.read(_HEADER.size)
        if len(body) < 4 or body[:4] != MAGIC:
            raise BitstreamError("not an .nvc bitstream (bad magic)")
        crc = f.read(_CRC.size)
        if len(body) < _HEADER.size or len(crc) < _CRC.size:
            raise BitstreamError("bitstream truncated inside the header")
        (_, version, width, height, count, gop, quality, matrix, full_range,
         fps_num, fps_den, weights_id) = _HEADER.unpack(body)
        if version != VERSION:
            raise BitstreamError(f"unsupported bitstream version {version} (this decoder reads {VERSION})")
        if _CRC.unpack(crc)[0] != zlib.crc32(body):
            raise BitstreamError("corrupt bitstream header (CRC mismatch)")
        if not (2 <= width <= MAX_SIDE and 2 <= height <= MAX_SIDE and gop >= 1 and matrix < len(MATRICES)
                and fps_num > 0 and fps_den > 0):
            raise BitstreamError("corrupt bitstream header (invalid values)")
        return cls(width, height, count, gop, quality, weights_id, MATRICES[matrix], bool(full_range),
                   fps_num, fps_den)


@dataclass
class FrameChunk:
    frame_type: str
    temporal_prior: bool
    streams: dict[str, bytes]
    recon_hash: bytes

    def pack(self) -> bytes:
        payloads = [self.streams[name] for name in STREAM_NAMES[self.frame_type]]
        head = _CHUNK.pack(FRAME_TYPES.index(self.frame_type), int(self.temporal_prior), len(payloads))
        lengths = b"".join(_LENGTH.pack(len(p)) for p in payloads)
        body = b"".join(payloads)
        return head + lengths + self.recon_hash + _CRC.pack(zlib.crc32(body)) + body

    @classmethod
    def read(cls, f: BinaryIO, index: int) -> "FrameChunk":
        head = _read_exact(f, _CHUNK.size, index)
        kind, flags, count = _CHUNK.unpack(head)
        if kind >= len(FRAME_TYPES) or flags > 1:
            raise BitstreamError(f"corrupt bitstream: frame {index} has an invalid chunk header")
        frame_type = FRAME_TYPES[kind]
        names = STREAM_NAMES[frame_type]
        if count != len(names):
            raise BitstreamError(f"corrupt bitstream: frame {index} has {count} sub-streams, expected {len(names)}")
        lengths = [_LENGTH.unpack(_read_exact(f, _LENGTH.size, index))[0] for _ in names]
        recon_hash = _read_exact(f, HASH_BYTES, index)
        (crc,) = _CRC.unpack(_read_exact(f, _CRC.size, index))
        streams = {name: _read_exact(f, n, index) for name, n in zip(names, lengths)}
        if zlib.crc32(b"".join(streams.values())) != crc:
            raise BitstreamError(f"corrupt bitstream: frame {index} payload fails its CRC")
        return cls(frame_type, bool(flags & 1), streams, recon_hash)

    @property
    def nbytes(self) -> int:
        """Size of the packed chunk: framing plus payloads."""
        return self.overhead_bytes(self.frame_type) + sum(len(v) for v in self.streams.values())

    def streams_for(self, coder: str) -> dict[str, bytes]:
        """The z and y sub-streams of one coder ("intra", "motion", "residual")."""
        return {part: self.streams[f"{coder}.{part}"] for part in ("z", "y")}

    @staticmethod
    def overhead_bytes(frame_type: str) -> int:
        """Framing bytes of a chunk besides its payloads."""
        return _CHUNK.size + _LENGTH.size * len(STREAM_NAMES[frame_type]) + HASH_BYTES + _CRC.size


def frame_hash(rgb: np.ndarray) -> bytes:
    """Hash of a reconstructed frame (H,W,3) uint8, checked by the decoder."""
    return hashlib.blake2b(np.ascontiguousarray(rgb).tobytes(), digest_size=HASH_BYTES).digest()


def _read_exact(f: BinaryIO, n: int, index: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise BitstreamError(f"bitstream truncated in frame {index}")
    return data
