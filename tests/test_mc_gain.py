"""nvc_core.mc_gain: PSNR of the MS-MCN prediction, of plain warping with f^0 and of zero motion."""

import numpy as np
import pytest

from nvc_core.analysis import Analysis, FrameRecord
from nvc_core.codec import encode_video
from nvc_core.mc_gain import frame_gain, to_8bit, warp
from nvc_core.metrics import psnr

H, W, SHIFT = 24, 40, 3


def _texture() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W + SHIFT]
    return np.stack([128 + 100 * np.sin(xx / 3.0 + c) * np.cos(yy / 5.0) for c in range(3)], -1).astype(np.uint8)


def _records(prediction: np.ndarray) -> tuple[FrameRecord, FrameRecord]:
    """The previous reconstruction, and a P-frame whose source is it moved SHIFT px to the left,
    with f^0 = (+SHIFT, 0) everywhere (backward warping samples at x + SHIFT)."""
    texture = _texture()
    previous = FrameRecord(index=0, frame_type="I", temporal_prior=False, height=H, width=W,
                           reconstruction=np.ascontiguousarray(texture[:, :W]))
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = SHIFT
    current = FrameRecord(index=1, frame_type="P", temporal_prior=True, height=H, width=W,
                          reconstruction=prediction, original=np.ascontiguousarray(texture[:, SHIFT:]),
                          prediction=prediction.astype(np.float32) / 255.0, flows=[flow])
    return previous, current


def test_warping_with_the_true_flow_beats_zero_motion():
    texture = _texture()
    previous, current = _records(np.full((H, W, 3), 128, np.uint8))
    warped = warp(previous.reconstruction, current.flows[0])
    # inside the frame the warp is exact; the last SHIFT columns replicate the border
    assert np.array_equal(warped[:, :W - SHIFT], texture[:, SHIFT:W])
    gain = frame_gain(previous, current)
    assert gain.psnr_warp == pytest.approx(psnr(current.original, warped))
    assert gain.psnr_zero == pytest.approx(psnr(current.original, previous.reconstruction))
    assert gain.psnr_prediction == pytest.approx(psnr(current.original, np.full((H, W, 3), 128, np.uint8)))
    assert gain.gain_warp > 10.0
    assert gain.gain_warp == pytest.approx(gain.psnr_warp - gain.psnr_zero)
    assert gain.gain_prediction == pytest.approx(gain.psnr_prediction - gain.psnr_zero)
    assert gain.gain_mcn == pytest.approx(gain.psnr_prediction - gain.psnr_warp)
    assert gain.gain_mcn < 0            # a flat grey "prediction" is worse than warping


def test_prediction_is_rounded_to_8_bits_like_the_reconstruction():
    assert to_8bit(np.array([[[-0.1, 0.5, 1.2]]], np.float32)).tolist() == [[[0, 128, 255]]]
    texture = _texture()
    previous, current = _records(np.ascontiguousarray(texture[:, SHIFT:]))
    assert frame_gain(previous, current).psnr_prediction == float("inf")


def test_frames_without_what_the_gain_needs_have_none():
    previous, current = _records(np.zeros((H, W, 3), np.uint8))
    assert frame_gain(previous, current) is not None
    current.original = None                         # a decoded bitstream has no source frame
    assert frame_gain(previous, current) is None
    assert frame_gain(current, previous) is None    # an I-frame


def test_flow_must_match_the_frame():
    with pytest.raises(ValueError):
        warp(np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 2), np.float32))


def test_the_encoder_keeps_each_p_frames_gain_in_its_record(lively_model, small_clip, tmp_path):
    records = encode_video(small_clip, tmp_path / "o.nvc", lively_model, quality=3, gop=3).records
    assert [r.mc_gain is None for r in records] == [True, False, False, True]
    assert records[1].mc_gain == frame_gain(records[0], records[1])
    stats = encode_video(small_clip, tmp_path / "s.nvc", lively_model, quality=3, gop=3, analysis=Analysis.STATS)
    assert all(r.mc_gain is None for r in stats.records)      # only computed when images are asked for
