"""One range-coder session per frame (`constriction`'s queue coder, 32-bit words).

Every entropy model of a frame (the factorized priors of ẑ, the alphabet bounds and the Gaussian
passes of ŷ, for each coder in decoding order) appends to the same session, so a frame pays for one
coder flush, not one per sub-stream. Payload layout: the coder's words big-endian with the trailing
zero bytes dropped; the decoder pads them back (a range decoder reads missing words as zero).
:meth:`RangeEncoderSession.finish` seals the session at a point of its final interval with as many trailing
zero bytes as possible: it rounds the last word up and keeps the first candidate that decodes back
to the same symbols (checked by decoding the session again).
"""
from __future__ import annotations

import functools

import numpy as np

from nvc_core.errors import BitstreamError, NVCError

_WORD = np.dtype(">u4")
#: What a model with non-finite parameters makes of a frame: refused before constriction sees it.
NON_FINITE = "the model produced non-finite entropy parameters (broken weights?)"


def finite_parameters(params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """``params`` as flat float64 arrays, refused (one-line :class:`NVCError`) if any value is NaN or infinite."""
    params = tuple(np.ascontiguousarray(p, dtype=np.float64).ravel() for p in params)
    if not all(np.isfinite(p).all() for p in params):
        raise NVCError(f"cannot code this frame: {NON_FINITE}")
    return params


@functools.cache
def constriction_stream():
    """``constriction.stream``, imported on first use: training runs on machines without constriction."""
    import constriction
    return constriction.stream


class RangeEncoderSession:
    """Encoder side of a frame's session; records its calls to check the trimmed seal."""

    def __init__(self):
        self._coder = constriction_stream().queue.RangeEncoder()
        self._calls: list[tuple[np.ndarray, object, tuple[np.ndarray, ...]]] = []

    def encode(self, symbols: np.ndarray, model, *params: np.ndarray) -> None:
        """Append int32 ``symbols`` under ``model`` (a fixed model, or a family with per-symbol ``params``)."""
        if np.asarray(symbols).dtype.kind == "f" and not np.isfinite(symbols).all():
            raise NVCError(f"cannot code this frame: {NON_FINITE}")
        symbols = np.ascontiguousarray(symbols, dtype=np.int32).ravel()
        params = finite_parameters(params)
        self._coder.encode(symbols, model, *params)
        self._calls.append((symbols, model, params))

    def finish(self) -> bytes:
        """The payload: the sealed words with the longest trailing run of zero bytes that still decodes."""
        words = self._coder.get_compressed().astype(np.uint32)
        if len(words) and words[-1] != 0:
            for zero_bytes in (3, 2, 1):
                step = 1 << (8 * zero_bytes)
                last = (int(words[-1]) + step - 1) // step * step
                if last < 2**32 and self._decodes(np.append(words[:-1], np.uint32(last))):
                    words[-1] = last
                    break
        return words.astype(_WORD).tobytes().rstrip(b"\0")

    def _decodes(self, words: np.ndarray) -> bool:
        decoder = constriction_stream().queue.RangeDecoder(words)
        try:
            return all(np.array_equal(decoder.decode(model, *params) if params else decoder.decode(model, len(symbols)),
                                      symbols)
                       for symbols, model, params in self._calls)
        except AssertionError:  # the candidate point lies outside the final interval
            return False


class RangeDecoderSession:
    """Decoder side of a frame's session. Data the models cannot decode raises :class:`BitstreamError`."""

    def __init__(self, payload: bytes):
        padded = payload + bytes(-len(payload) % 4)
        self._coder = constriction_stream().queue.RangeDecoder(np.frombuffer(padded, _WORD).astype(np.uint32))
        self.bits = 8 * len(payload)

    def decode(self, model, *params: np.ndarray, count: int | None = None) -> np.ndarray:
        """``count`` int32 symbols of a fixed ``model``, or one per element of the family's ``params``."""
        args = finite_parameters(params) if params else (count,)
        try:
            return np.asarray(self._coder.decode(model, *args), dtype=np.int32)
        except BaseException as exc:
            # constriction reports undecodable data as AssertionError or as a Rust panic (a BaseException)
            if not isinstance(exc, AssertionError) and type(exc).__name__ != "PanicException":
                raise
            raise BitstreamError(f"corrupt bitstream: {str(exc).splitlines()[0][:80]}") from None
