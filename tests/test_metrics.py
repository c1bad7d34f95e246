"""nvc_core.metrics: PSNR known values, MS-SSIM sanity and speed."""

import math
import time

import numpy as np
import pytest

from nvc_core.metrics import mse_to_psnr, ms_ssim, psnr, psnr_y


def _image(h, w, seed=0):
    """Smooth random colour texture (noise blurred by box averaging)."""
    noise = np.random.default_rng(seed).uniform(0, 255, (h + 4, w + 4, 3))
    smooth = sum(noise[i:i + h, j:j + w] for i in range(5) for j in range(5)) / 25
    return np.clip((smooth - 127.5) * 3 + 127.5, 0, 255).astype(np.uint8)


def _add_noise(img, sigma, seed=1):
    noisy = img + np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_psnr_identical_is_inf():
    img = _image(8, 8)
    assert psnr(img, img) == math.inf
    assert psnr_y(img, img) == math.inf


def test_psnr_constant_offset_of_one_level():
    a = np.full((4, 6, 3), 100, np.uint8)
    assert psnr(a, a + 1) == pytest.approx(48.1308, abs=1e-4)
    assert mse_to_psnr(1.0) == pytest.approx(48.1308, abs=1e-4)


def test_psnr_y_sees_only_luma():
    a = np.full((4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[..., 0] += 60  # red +60: luma 101.88 -> 112.84, as 8-bit code values (the Y plane) 102 -> 113
    expected = 10 * math.log10(255 ** 2 / 11 ** 2)
    assert psnr_y(a, b) == pytest.approx(expected)
    b[..., 0] = 101  # red +1 moves luma by 0.18 of a code value: the same Y plane
    assert psnr_y(a, b) == math.inf


def test_shape_mismatch():
    with pytest.raises(ValueError):
        psnr(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8))


def test_ms_ssim_identical_is_one():
    img = _image(64, 80)
    assert ms_ssim(img, img) == pytest.approx(1.0)


def test_ms_ssim_decreases_with_noise():
    img = _image(200, 200)
    scores = [ms_ssim(img, _add_noise(img, sigma)) for sigma in (2, 10, 40)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0


@pytest.mark.parametrize("h, w", [(2, 2), (7, 10), (40, 30), (64, 20)])
def test_ms_ssim_small_images(h, w):
    img = _image(h, w)
    score = ms_ssim(img, _add_noise(img, 10))
    assert 0.0 <= score < 1.0
    assert ms_ssim(img, img) == pytest.approx(1.0)


def test_ms_ssim_grayscale_and_anticorrelated():
    img = _image(48, 48)[..., 0]
    assert ms_ssim(img, img) == pytest.approx(1.0)
    assert 0.0 <= ms_ssim(img, 255 - img) < 0.2


def test_ms_ssim_is_fast():
    img = _image(272, 640)
    noisy = _add_noise(img, 5)
    start = time.perf_counter()
    ms_ssim(img, noisy)
    assert time.perf_counter() - start < 1.0
