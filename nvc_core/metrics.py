"""Frame quality metrics: PSNR (RGB and luma) and MS-SSIM, on 8-bit images.

PSNR is ``10*log10(peak**2 / MSE)`` with the MSE taken over every sample (all pixels and all
channels) in float64.  Identical inputs have MSE 0 and give ``float('inf')``.

One convention for a sequence, used by the CLI's ``--stats``, ``nvc eval``, the analyzer and the
benchmarks: :func:`mean_over_frames`, the mean of the per-frame values (per-frame PSNR averaged
over frames, as in the learned-video-coding literature; not the PSNR of the mean MSE).

``psnr_y`` compares the luma of two RGB frames as 8-bit code values (``nvc_core.color.rgb_to_y8``:
the Y plane a Y'CbCr file of them holds, in the source's matrix and range; BT.709 limited range by
default) with peak 255, as is customary for 8-bit video: what ffmpeg measures on the Y planes of the
source and of a written reconstruction.

``ms_ssim`` follows Wang, Simoncelli and Bovik, "Multi-scale structural similarity for image quality
assessment" (2003): Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, data range 255,
5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)::

    MS-SSIM = SSIM_M ** w_M * prod_{j < M} CS_j ** w_j

where ``CS_j`` (contrast-structure) and ``SSIM_M`` (with luminance) are the means of the maps
computed over the "valid" window positions only (no padding).  Between scales the image is
averaged over 2x2 blocks, dropping a trailing odd row / column.  Details of this implementation:

* it is computed on each channel separately and the per-channel values are averaged;
* negative ``CS_j`` / ``SSIM_M`` means (strongly anti-correlated content) are clamped to 0 before
  the fractional powers, so the result is always in [0, 1];
* an image too small for 5 scales uses the largest number ``M`` of scales for which the 11x11 window
  still fits at the coarsest one (``min(H, W) // 2**(M-1) >= 11``), with the first ``M`` weights
  renormalised to sum to 1; an image smaller than 11 pixels uses one scale and the largest odd
  window that fits (same sigma), so any image of at least 1x1 pixels gets a value.
"""

from __future__ import annotations

import math
from typing import Iterable

import cv2
import numpy as np

from nvc_core.color import rgb_to_y8

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0
#: The per-frame metrics, in the order they are printed.
FRAME_METRICS = ("psnr_rgb", "psnr_y", "ms_ssim")


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def mse_to_psnr(mse: float, peak: float = 255.0) -> float:
    """PSNR in dB of a mean squared error; ``inf`` for an MSE of 0."""
    return float("inf") if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two arrays of the same shape (``inf`` when identical)."""
    _check_same_shape(a, b)
    diff = a.astype(np.float64) - b.astype(np.float64)
    return mse_to_psnr(float(np.mean(diff * diff)), peak)


def psnr_y(a: np.ndarray, b: np.ndarray, matrix: str = "bt709", full_range: bool = False) -> float:
    """PSNR in dB between the luma of two RGB uint8 (H, W, 3) frames, peak 255."""
    _check_same_shape(a, b)
    return psnr(rgb_to_y8(a, matrix, full_range), rgb_to_y8(b, matrix, full_range))


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable filtering of (H, W, C) ``x`` by ``g``, keeping only fully covered positions."""
    r = len(g) // 2
    out = cv2.sepFilter2D(x, cv2.CV_64F, g, g).reshape(x.shape)
    return out[r:x.shape[0] - r, r:x.shape[1] - r]


def _ssim_cs(x: np.ndarray, y: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and mean contrast-structure term of (H, W, C) float images."""
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
    var_x = _filter_valid(x * x, g) - mu_x * mu_x
    var_y = _filter_valid(y * y, g) - mu_y * mu_y
    cov = _filter_valid(x * y, g) - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (luminance * cs_map).mean(axis=(0, 1)), cs_map.mean(axis=(0, 1))


def _halve(x: np.ndarray) -> np.ndarray:
    """Mean over 2x2 blocks of (H, W, C) ``x``, dropping a trailing odd row / column."""
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM in [0, 1] between two 8-bit images (H, W) or (H, W, C), averaged over channels."""
    _check_same_shape(a, b)
    x = a.astype(np.float64).reshape(a.shape[0], a.shape[1], -1)
    y = b.astype(np.float64).reshape(x.shape)
    smallest = min(x.shape[:2])
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and smallest // 2 ** scales >= WINDOW_SIZE:
        scales += 1
    window = _gaussian_window(min(WINDOW_SIZE, smallest if smallest % 2 else smallest - 1), WINDOW_SIGMA)
    weights = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])

    result = np.ones(x.shape[2])
    for j, w in enumerate(weights):
        ssim, cs = _ssim_cs(x, y, window)
        last = j == scales - 1
        result *= np.maximum(ssim if last else cs, 0.0) ** w
        if not last:
            x, y = _halve(x), _halve(y)
    return float(result.mean())


def bits_per_pixel(nbytes: int, width: int, height: int, frames: int) -> float:
    """Rate of a coded video of ``nbytes`` bytes: ``8 * nbytes / (width * height * frames)``."""
    return 8.0 * nbytes / (width * height * frames)


def frame_metrics(original: np.ndarray, decoded: np.ndarray, matrix: str = "bt709",
                  full_range: bool = False) -> dict[str, float]:
    """RGB PSNR, Y PSNR (luma of ``matrix`` in the range given) and MS-SSIM of one decoded RGB uint8 frame."""
    return {"psnr_rgb": psnr(original, decoded), "psnr_y": psnr_y(original, decoded, matrix, full_range),
            "ms_ssim": ms_ssim(original, decoded)}


def mean_over_frames(per_frame: Iterable[dict]) -> dict[str, float | None]:
    """The sequence value of each metric: the mean of its per-frame values, skipping frames where it
    is unknown (None); None when no frame has it. A lossless frame (PSNR inf) makes the mean inf."""
    rows = list(per_frame)
    means: dict[str, float | None] = {}
    for name in FRAME_METRICS:
        values = [r[name] for r in rows if r.get(name) is not None]
        means[name] = float(np.mean(values)) if values else None
    return means
