"""Bjontegaard deltas (BD-rate, BD-distortion) between two rate-distortion curves.

Thin wrapper over the maintained `bjontegaard` package (Herglotz et al., FAU) that never raises on
degenerate input: when a delta cannot be computed it returns ``value=None`` and a one-line ``reason``
(too few points, repeated values, non-overlapping curves), so that one bad curve does not stop an
evaluation run.

Conventions:
* BD-rate is in percent: the average rate change of *test* relative to *anchor* at equal quality
  (negative = test saves bits). BD-distortion is in the metric's unit (dB for PSNR), positive = better.
* Integration runs over the overlap of the two curves only (as in the package); ``overlap`` is that
  interval's share of the union interval (1.0 = the curves span the same range).
* Interpolation is piecewise cubic: ``akima`` (the package's default, VCEG-recommended) or ``pchip``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

METHODS = ("akima", "pchip")
MIN_POINTS = 2  # akima falls back to linear interpolation with 2 points; 4+ is the usual practice


@dataclass
class BDResult:
    """One Bjontegaard delta. ``value`` is None when it cannot be computed; ``reason`` says why."""

    value: float | None
    reason: str | None = None
    overlap: float | None = None
    points: tuple[int, int] = (0, 0)  # (anchor, test) points used

    def to_dict(self) -> dict:
        return asdict(self)


def _clean(rate: Sequence[float], dist: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Drop points with a non-finite value or a non-positive rate (log scale)."""
    r = np.asarray(rate, dtype=np.float64)
    d = np.asarray(dist, dtype=np.float64)
    if r.shape != d.shape or r.ndim != 1:
        raise ValueError(f"rate and distortion must be 1-D and of equal length, got {r.shape} and {d.shape}")
    keep = np.isfinite(r) & np.isfinite(d) & (r > 0)
    return r[keep], d[keep]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the union interval of `a` and `b` that both cover (0 when disjoint)."""
    union = max(a.max(), b.max()) - min(a.min(), b.min())
    inter = min(a.max(), b.max()) - max(a.min(), b.min())
    return max(inter, 0.0) / union if union > 0 else 0.0


def _delta(kind: str, rate_anchor, dist_anchor, rate_test, dist_test, method: str) -> BDResult:
    """Shared checks, then `bd.bd_rate` (kind "rate") or `bd.bd_psnr` (kind "dist").

    The integration variable ("x") is the quality for BD-rate and log10(rate) for BD-distortion.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    curves = {"anchor": _clean(rate_anchor, dist_anchor), "test": _clean(rate_test, dist_test)}
    points = (len(curves["anchor"][0]), len(curves["test"][0]))
    if min(points) < MIN_POINTS:
        return BDResult(None, f"need at least {MIN_POINTS} valid points per curve, got {points}", points=points)
    axis = "quality" if kind == "rate" else "rate"
    xs = {}
    for name, (r, d) in curves.items():
        x = d if kind == "rate" else np.log10(r)
        if len(np.unique(x)) != len(x):
            return BDResult(None, f"{name} curve repeats a {axis} value", points=points)
        order = np.argsort(x)  # the interpolators need strictly increasing x
        curves[name], xs[name] = (r[order], d[order]), x[order]
    overlap = _overlap(xs["anchor"], xs["test"])
    if overlap == 0.0:
        ranges = ", ".join(f"{n} {x.min():.4g}..{x.max():.4g}" for n, x in xs.items())
        return BDResult(None, f"curves do not overlap in {axis} ({ranges})", overlap=0.0, points=points)
    import bjontegaard as bd   # here: `nvc train` runs on machines without it (the CLI imports this module)
    fn = bd.bd_rate if kind == "rate" else bd.bd_psnr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the overlap is reported in the result instead
        value = float(fn(*curves["anchor"], *curves["test"], method,
                         require_matching_points=False, min_overlap=0.0))
    if not math.isfinite(value):
        return BDResult(None, "interpolation gave a non-finite value", overlap=overlap, points=points)
    return BDResult(value, overlap=overlap, points=points)


def bd_rate(rate_anchor: Sequence[float], dist_anchor: Sequence[float],
            rate_test: Sequence[float], dist_test: Sequence[float], method: str = "akima") -> BDResult:
    """BD-rate in percent of `test` against `anchor`; distortion is a quality (higher = better)."""
    return _delta("rate", rate_anchor, dist_anchor, rate_test, dist_test, method)


def bd_distortion(rate_anchor: Sequence[float], dist_anchor: Sequence[float],
                  rate_test: Sequence[float], dist_test: Sequence[float], method: str = "akima") -> BDResult:
    """BD-distortion (BD-PSNR for PSNR) of `test` against `anchor`, in the quality's unit."""
    return _delta("dist", rate_anchor, dist_anchor, rate_test, dist_test, method)


def ms_ssim_db(value: float | None) -> float | None:
    """MS-SSIM on a dB scale, -10 log10(1 - MS-SSIM): the usual axis for BD on MS-SSIM."""
    if value is None or not math.isfinite(value) or value >= 1.0:
        return None
    return -10.0 * math.log10(1.0 - value)
