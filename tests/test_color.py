"""nvc_core.color: known code values, round trips, 4:2:0 plane sizes, chroma siting."""

import numpy as np
import pytest

from nvc_core.color import (rgb_to_y, rgb_to_y8, rgb_to_yuv420, rgb_to_yuv444, ycbcr_to_rgb, yuv420_to_rgb,
                            yuv444_to_rgb)

WHITE, BLACK, RED, GREEN, BLUE = (255, 255, 255), (0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _pixels(*colours):
    return np.array([colours], dtype=np.uint8)


def _random_rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth_rgb(h, w):
    """A smooth colour gradient, representative of natural content for 4:2:0 tests."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                     (xx + yy) * 255 // max(h + w - 2, 1)], axis=-1).astype(np.uint8)


def test_bt709_limited_known_values():
    y, u, v = rgb_to_yuv444(_pixels(WHITE, BLACK, RED, GREEN, BLUE))
    assert y.tolist() == [[235, 16, 63, 173, 32]]
    assert u.tolist() == [[128, 128, 102, 42, 240]]
    assert v.tolist() == [[128, 128, 240, 26, 118]]


def test_bt601_and_full_range_known_values():
    planes = rgb_to_yuv444(_pixels(WHITE, BLACK, RED), matrix="bt601")
    assert [p.tolist() for p in planes] == [[[235, 16, 81]], [[128, 128, 90]], [[128, 128, 240]]]
    planes = rgb_to_yuv444(_pixels(WHITE, BLACK, RED), matrix="bt601", full_range=True)
    assert [p.tolist() for p in planes] == [[[255, 0, 76]], [[128, 128, 85]], [[128, 128, 255]]]


@pytest.mark.parametrize("matrix", ["bt709", "bt601"])
@pytest.mark.parametrize("full_range", [False, True])
def test_yuv444_round_trip_within_two_levels(matrix, full_range):
    rgb = _random_rgb(16, 24)
    back = yuv444_to_rgb(*rgb_to_yuv444(rgb, matrix, full_range), matrix, full_range)
    assert back.dtype == np.uint8 and back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb).max() <= (1 if full_range else 2)


@pytest.mark.parametrize("h, w", [(75, 101), (2, 2), (3, 5)])
def test_yuv420_plane_sizes(h, w):
    rgb = _smooth_rgb(h, w)
    y, u, v = rgb_to_yuv420(rgb)
    assert y.shape == (h, w) and u.shape == v.shape == ((h + 1) // 2, (w + 1) // 2)
    assert all(p.dtype == np.uint8 for p in (y, u, v))
    back = yuv420_to_rgb(y, u, v)
    assert back.shape == rgb.shape and back.dtype == np.uint8


def test_yuv420_round_trip_of_smooth_content():
    rgb = _smooth_rgb(75, 101)
    back = yuv420_to_rgb(*rgb_to_yuv420(rgb))
    assert np.abs(back.astype(int) - rgb).mean() < 1.5


def test_yuv420_flat_colour_is_exact():
    rgb = np.broadcast_to(np.array(RED, np.uint8), (5, 7, 3)).copy()
    y, u, v = rgb_to_yuv420(rgb)
    assert (y == 63).all() and (u == 102).all() and (v == 240).all()
    assert np.array_equal(yuv420_to_rgb(y, u, v), yuv444_to_rgb(*rgb_to_yuv444(rgb)))


def test_yuv420_rejects_wrong_chroma_size():
    y = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError):
        yuv420_to_rgb(y, np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))


def test_rgb_to_y_is_unrounded_luma():
    luma = rgb_to_y(_pixels(WHITE, BLACK, RED))
    assert luma.dtype == np.float64 and luma.shape == (1, 3)
    np.testing.assert_allclose(luma[0], [235.0, 16.0, 16 + 219 * 0.2126])


def test_unknown_matrix():
    with pytest.raises(ValueError, match="bt2020"):
        rgb_to_yuv444(_pixels(WHITE), matrix="bt2020")


def _chroma_ramp(siting):
    """B - Y' of a 2x8 4:2:0 frame upsampled at ``siting``: chroma samples 110, 120, 130, 140 on one row."""
    y = np.full((2, 8), 126, np.uint8)
    u = np.array([[110, 120, 130, 140]], np.uint8)
    rgb = ycbcr_to_rgb(y, u, np.full_like(u, 128), "bt709", True, siting)
    return rgb[0, :, 2].astype(int) - 126  # B - Y' = 1.8556 * (Cb - 128) in full range


@pytest.mark.parametrize("siting, expected_cb", [
    # centred: output 2i, 2i+1 at 3/4 and 1/4 from the chroma samples on either side, edges replicated
    ("center", [110, 112.5, 117.5, 122.5, 127.5, 132.5, 137.5, 140]),
    # left (MPEG-2, H.264): even columns are the chroma samples, odd ones the mean of two
    ("left", [110, 115, 120, 125, 130, 135, 140, 140]),
])
def test_chroma_siting_places_samples(siting, expected_cb):
    b_minus_y = np.array(expected_cb, float) - 128
    assert np.abs(_chroma_ramp(siting) - np.round(1.8556 * b_minus_y)).max() <= 1


def test_ycbcr_422_and_topleft_siting():
    y = np.full((4, 4), 128, np.uint8)
    flat = np.full((4, 2), 90, np.uint8)
    assert ycbcr_to_rgb(y, flat, flat).shape == (4, 4, 3)  # 4:2:2: chroma halved horizontally only
    col = np.array([[60], [200]], np.uint8).repeat(2, axis=1)  # 4:2:0 rows of 60 and 200
    rgb = ycbcr_to_rgb(y, col, np.full_like(col, 128), siting="topleft")
    b = rgb[:, 0, 2].astype(int)
    assert b[0] < b[1] < b[2] and b[2] == b[3]  # co-sited rows 0 and 2; row 1 between; row 3 replicated
    with pytest.raises(ValueError, match="siting"):
        ycbcr_to_rgb(y, flat, flat, siting="bottom")
    with pytest.raises(ValueError, match="do not fit"):
        ycbcr_to_rgb(y, np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8))


def test_rgb_to_y8_is_the_written_y_plane():
    rgb = _random_rgb(6, 10)
    for matrix, full_range in (("bt709", False), ("bt601", True)):
        assert np.array_equal(rgb_to_y8(rgb, matrix, full_range), rgb_to_yuv420(rgb, matrix, full_range)[0])
