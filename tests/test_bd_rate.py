"""BD-rate / BD-distortion on synthetic RD curves with a known answer, and degenerate inputs."""

import math

import pytest

from nvc_core.evaluation.bd_rate import bd_distortion, bd_rate, ms_ssim_db

RATES = [0.05, 0.1, 0.2, 0.4]
PSNR = [30.0, 33.0, 36.0, 39.0]


@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_scaled_rates_give_known_bd_rate(method):
    r = bd_rate(RATES, PSNR, [x * 0.8 for x in RATES], PSNR, method)
    assert r.reason is None and r.overlap == pytest.approx(1.0)
    assert r.value == pytest.approx(-20.0, abs=0.5)


def test_identical_curves_give_zero():
    assert bd_rate(RATES, PSNR, RATES, PSNR).value == pytest.approx(0.0, abs=1e-9)
    assert bd_distortion(RATES, PSNR, RATES, PSNR).value == pytest.approx(0.0, abs=1e-9)


def test_shifted_quality_gives_known_bd_psnr():
    assert bd_distortion(RATES, PSNR, RATES, [p + 0.5 for p in PSNR]).value == pytest.approx(0.5, abs=1e-6)


def test_point_order_does_not_matter():
    a = bd_rate(RATES, PSNR, [x * 0.8 for x in RATES], PSNR).value
    b = bd_rate(RATES[::-1], PSNR[::-1], [x * 0.8 for x in RATES][::-1], PSNR[::-1]).value
    assert a == pytest.approx(b)


def test_too_few_points():
    r = bd_rate(RATES, PSNR, [0.1], [33.0])
    assert r.value is None and "at least" in r.reason


def test_invalid_points_are_dropped():
    r = bd_rate(RATES + [0.0], PSNR + [float("inf")], RATES, PSNR)
    assert r.points == (4, 4) and r.value == pytest.approx(0.0, abs=1e-9)


def test_non_overlapping_curves():
    r = bd_rate(RATES, PSNR, RATES, [p + 20 for p in PSNR])
    assert r.value is None and "do not overlap" in r.reason and r.overlap == 0.0


def test_repeated_quality():
    r = bd_rate(RATES, [30.0, 30.0, 36.0, 39.0], RATES, PSNR)
    assert r.value is None and "repeats" in r.reason


def test_ms_ssim_db():
    assert ms_ssim_db(0.99) == pytest.approx(20.0)
    assert ms_ssim_db(1.0) is None and ms_ssim_db(None) is None and ms_ssim_db(math.nan) is None
