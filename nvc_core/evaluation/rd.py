"""One rate-distortion point of one codec on one clip, as stored in ``results.json``.

Every codec (ours and the x264/x265 anchors) is summarised the same way: ``bytes`` is the size of the
coded file, ``bpp = 8 * bytes / (width * height * frames)`` (:func:`nvc_core.metrics.bits_per_pixel`),
and each quality metric is the mean of
its per-frame values (``nvc_core.metrics.mean_over_frames``: per-frame PSNR averaged over frames,
the convention of the learned video coding literature, rather than the PSNR of the mean MSE).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

_CODEC_SPECIFIC = ("quality", "crf", "decode_matches", "frames")


@dataclass
class RDPoint:
    """A coded clip at one setting: ``quality`` (ours) or ``crf`` (anchors)."""

    bytes: int
    bpp: float
    psnr_rgb: float | None
    psnr_y: float | None
    ms_ssim: float | None
    encode_s: float
    decode_s: float | None  # None: the decoder refused the bitstream
    quality: int | None = None
    crf: int | None = None
    decode_matches: bool | None = None  # ours: decoder output == encoder reconstruction
    frames: list[dict] | None = None  # ours: per-frame records

    def to_dict(self) -> dict:
        """JSON-ready dict without the fields that do not apply to this codec."""
        return {k: v for k, v in asdict(self).items() if v is not None or k not in _CODEC_SPECIFIC}
