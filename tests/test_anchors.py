"""x264 / x265 anchors on a few tiny synthetic frames (skipped without ffmpeg)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from nvc_core.evaluation import anchors

pytestmark = pytest.mark.skipif(anchors.ffmpeg_path() is None, reason="ffmpeg not installed")


def _frames(n: int = 4, h: int = 48, w: int = 64) -> list[np.ndarray]:
    """A smooth pattern moving by a few pixels per frame."""
    yy, xx = np.mgrid[0:h, 0:w]
    return [np.stack([(xx * 4 + 3 * t) % 256, (yy * 5 + 2 * t) % 256, (xx + yy) * 2 % 256], axis=-1)
            .astype(np.uint8) for t in range(n)]


@pytest.mark.parametrize("codec", anchors.CODECS)
def test_anchor_codes_and_decodes(tmp_path, codec):
    frames = _frames()
    result = anchors.sweep(frames, Fraction(25), [codec], [23, 38], gop=2, out_dir=tmp_path)
    low, high = result[codec]
    suffix = ".264" if codec == "x264" else ".265"
    assert (tmp_path / f"{codec}_crf23{suffix}").stat().st_size == low.bytes > 0
    assert not (tmp_path / "source.yuv").exists()
    assert low.bpp == pytest.approx(8 * low.bytes / (64 * 48 * 4))
    for p in (low, high):
        assert all(math.isfinite(getattr(p, m)) for m in ("psnr_rgb", "psnr_y", "ms_ssim"))
        assert p.encode_s > 0 and p.decode_s > 0
    assert low.psnr_rgb > high.psnr_rgb and low.bytes > high.bytes
    assert low.to_dict()["crf"] == 23 and "quality" not in low.to_dict()


def test_yuv_round_trip(tmp_path):
    frames = _frames(n=2)
    path = tmp_path / "x.yuv"
    anchors.write_yuv420(frames, path)
    back = anchors.read_yuv420(path.read_bytes(), 64, 48)
    assert len(back) == 2 and back[0].shape == (48, 64, 3)
    assert np.abs(back[0].astype(int) - frames[0]).mean() < 8  # 4:2:0 chroma loss only


def test_odd_size_is_refused(tmp_path):
    with pytest.raises(anchors.AnchorError, match="even"):
        anchors.write_yuv420(_frames(n=1, h=47), tmp_path / "x.yuv")


def test_load_frames_reads_the_first_frames(tmp_path):
    from nvc_core.video_io import VideoWriter

    path = tmp_path / "clip.y4m"
    with VideoWriter(path, 64, 48, Fraction(30)) as w:
        for f in _frames(n=3):
            w.write(f)
    frames, fps, _ = anchors.load_frames(path, 2)
    assert len(frames) == 2 and fps == 30 and frames[0].shape == (48, 64, 3)
