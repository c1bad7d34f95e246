"""nvc_core.evaluation.classical: x264/x265 beside nvc frame by frame (skipped without ffmpeg)."""

import shutil
from fractions import Fraction

import numpy as np
import pytest

from nvc_core.errors import Cancelled
from nvc_core.evaluation import anchors
from nvc_core.evaluation.classical import code_classical
from nvc_core.metrics import psnr, psnr_y

pytestmark = pytest.mark.skipif(anchors.ffmpeg_path() is None or shutil.which("ffprobe") is None,
                                reason="ffmpeg/ffprobe not installed")


def _frames(n: int = 6, h: int = 48, w: int = 64) -> list[np.ndarray]:
    """Texture moving by a few pixels per frame, with noise (so that the rate depends on the CRF)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w + 4 * n]
    base = np.stack([128 + 90 * np.sin(xx / 4.0 + c) * np.cos(yy / 5.0 - c) for c in range(3)], -1)
    base = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(base[:, 4 * t:4 * t + w]) for t in range(n)]


@pytest.mark.parametrize("codec", anchors.CODECS)
def test_per_frame_bits_types_and_metrics(codec):
    frames = _frames()
    clip = code_classical(frames, Fraction(25), codec, gop=3, crf=28)
    assert [f.frame_type for f in clip.frames] == ["I", "P", "P", "I", "P", "P"]     # low-delay P, GOP 3
    assert sum(f.bits for f in clip.frames) == clip.bits                  # the packets make the file
    assert clip.frames[0].bits > clip.frames[1].bits
    for frame, source in zip(clip.frames, frames):
        assert frame.reconstruction.shape == source.shape
        assert frame.psnr_rgb == pytest.approx(psnr(source, frame.reconstruction))
        assert frame.psnr_y == pytest.approx(psnr_y(source, frame.reconstruction))
    assert clip.crf == 28 and clip.encodes == 1 and clip.target_bits is None


def test_rate_match_lands_near_the_target():
    frames = _frames()
    reference = code_classical(frames, Fraction(25), "x264", gop=3, crf=30)
    matched = code_classical(frames, Fraction(25), "x264", gop=3, target_bits=reference.bits)
    assert matched.target_bits == reference.bits and 1 < matched.encodes <= 7
    assert abs(matched.bits - reference.bits) <= 0.1 * reference.bits
    assert "nvc: " in matched.describe() and "encodes to match" in matched.describe()


def test_stops_between_encodes_and_refuses_bad_requests():
    frames = _frames(n=2)
    with pytest.raises(Cancelled):
        code_classical(frames, Fraction(25), "x264", gop=2, target_bits=1000, should_stop=lambda: True)
    with pytest.raises(ValueError):
        code_classical(frames, Fraction(25), "x264", gop=2)
    with pytest.raises(ValueError):
        code_classical(frames, Fraction(25), "vp9", gop=2, crf=30)
