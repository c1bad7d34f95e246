"""One rate-distortion point of one codec on one clip, as stored in ``results.json``.

Every codec (ours and the x264/x265 anchors) is summarised the same way: ``bytes`` is the size of the
coded file, ``bpp = 8 * bytes / (width * height * frames)``, and each quality metric is the mean of
its per-frame values (per-frame PSNR averaged over frames, the convention of the learned video
coding literature, rather than the PSNR of the mean MSE).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from nvc_core.metrics import ms_ssim, psnr, psnr_y

#: Quality metrics reported for every point, in the order they are printed.
METRICS = ("psnr_rgb", "psnr_y", "ms_ssim")


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


def bits_per_pixel(nbytes: int, width: int, height: int, frames: int) -> float:
    return 8.0 * nbytes / (width * height * frames)


def frame_metrics(original: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    """RGB PSNR, Y PSNR and MS-SSIM of one decoded RGB uint8 frame."""
    return {"psnr_rgb": psnr(original, decoded), "psnr_y": psnr_y(original, decoded),
            "ms_ssim": ms_ssim(original, decoded)}


def mean_metrics(per_frame: Iterable[dict]) -> dict[str, float | None]:
    """Mean of each metric over frames, skipping frames where it is unknown (None)."""
    rows = list(per_frame)
    means: dict[str, float | None] = {}
    for name in METRICS:
        values = [r[name] for r in rows if r.get(name) is not None]
        means[name] = float(np.mean(values)) if values else None
    return means
