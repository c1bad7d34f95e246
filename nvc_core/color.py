"""8-bit RGB <-> Y'CbCr conversion (BT.709 / BT.601, limited or full range, 4:4:4, 4:2:2 and 4:2:0).

Equations.  With ``R, G, B`` in [0, 1] (the uint8 value divided by 255) and the matrix constants
``(Kr, Kb)`` = (0.2126, 0.0722) for BT.709 or (0.299, 0.114) for BT.601::

    Y' = Kr*R + (1 - Kr - Kb)*G + Kb*B                  in [0, 1]
    Pb = (B - Y') / (2*(1 - Kb))                        in [-0.5, 0.5]
    Pr = (R - Y') / (2*(1 - Kr))                        in [-0.5, 0.5]

The 8-bit code values are, for limited ("video", "TV") range::

    Y = 16 + 219*Y'     Cb = 128 + 224*Pb     Cr = 128 + 224*Pr

and for full ("PC", "JPEG") range::

    Y = 255*Y'          Cb = 128 + 255*Pb     Cr = 128 + 255*Pr

The inverse applies the exact inverse matrix to the code values.  Every result is computed in
float64 and rounded once, at the end, to the nearest integer (halves up) and clipped to [0, 255].

4:2:0.  Chroma is computed at full resolution in float, then each plane is averaged over 2x2 blocks
(centred chroma siting, as JPEG / MPEG-1 / Y4M ``C420jpeg``); for an odd width or height the last
column or row is replicated first, so chroma planes are ``ceil(h/2) x ceil(w/2)``.

Subsampled chroma (4:2:0, and 4:2:2: halved horizontally only) is upsampled by 2 along each halved
axis with linear interpolation at the chroma siting (``SITINGS``), edge samples replicated, then
cropped to the luma size:

* ``"center"`` (JPEG, MPEG-1, Y4M ``C420jpeg``): chroma samples midway between two luma samples;
  output weights 3/4 and 1/4 of the two nearest chroma samples;
* ``"left"`` (MPEG-2, H.264, HEVC default; Y4M ``C420mpeg2``): co-sited with the even luma columns
  horizontally (even columns copy the chroma sample, odd ones average two), centred vertically;
* ``"topleft"`` (co-sited on both axes; Y4M ``C420paldv``, whose Cb and Cr rows actually alternate,
  is read this way).

``rgb_to_y`` returns unrounded luma in 8-bit scale (limited range by default); ``rgb_to_y8`` rounds it
to the 8-bit code values a Y'CbCr file holds (the Y plane ``rgb_to_yuv420`` writes), on which Y-PSNR
is computed.
"""

from __future__ import annotations

import numpy as np

# (Kr, Kb) of each supported matrix; the only place the coefficients are defined.
MATRICES: dict[str, tuple[float, float]] = {
    "bt709": (0.2126, 0.0722),
    "bt601": (0.299, 0.114),
}


def _rgb_to_ypbpr_matrix(matrix: str) -> np.ndarray:
    """3x3 matrix taking normalised (R, G, B) to (Y', Pb, Pr)."""
    try:
        kr, kb = MATRICES[matrix]
    except KeyError:
        raise ValueError(f"unknown colour matrix {matrix!r} (expected one of {sorted(MATRICES)})") from None
    kg = 1.0 - kr - kb
    return np.array([
        [kr, kg, kb],
        [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
        [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
    ])


def _range_scale_offset(full_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-component (scale, offset) taking (Y', Pb, Pr) to 8-bit code values."""
    if full_range:
        return np.array([255.0, 255.0, 255.0]), np.array([0.0, 128.0, 128.0])
    return np.array([219.0, 224.0, 224.0]), np.array([16.0, 128.0, 128.0])


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Round to nearest (halves up) and clip to [0, 255]."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")


def _rgb_to_yuv_float(rgb: np.ndarray, matrix: str, full_range: bool) -> np.ndarray:
    """(H, W, 3) RGB uint8 -> (H, W, 3) float64 Y, Cb, Cr code values (unrounded)."""
    _check_rgb(rgb)
    scale, offset = _range_scale_offset(full_range)
    m = _rgb_to_ypbpr_matrix(matrix) * (scale / 255.0)[:, None]
    return rgb.astype(np.float64) @ m.T + offset


def _yuv_float_to_rgb(yuv: np.ndarray, matrix: str, full_range: bool) -> np.ndarray:
    """(H, W, 3) float Y, Cb, Cr code values -> (H, W, 3) RGB uint8."""
    scale, offset = _range_scale_offset(full_range)
    m_inv = np.linalg.inv(_rgb_to_ypbpr_matrix(matrix)) * (255.0 / scale)[None, :]
    return _to_uint8((yuv - offset) @ m_inv.T)


def rgb_to_yuv444(rgb: np.ndarray, matrix: str = "bt709",
                  full_range: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) -> Y, Cb, Cr uint8 planes, each (H, W)."""
    yuv = _to_uint8(_rgb_to_yuv_float(rgb, matrix, full_range))
    return yuv[..., 0].copy(), yuv[..., 1].copy(), yuv[..., 2].copy()


def yuv444_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str = "bt709",
                  full_range: bool = False) -> np.ndarray:
    """Y, Cb, Cr planes, each (H, W) -> RGB uint8 (H, W, 3)."""
    if not (y.shape == u.shape == v.shape and y.ndim == 2):
        raise ValueError(f"4:4:4 planes must share one 2-D shape, got {y.shape}, {u.shape}, {v.shape}")
    return _yuv_float_to_rgb(np.stack([y, u, v], axis=-1).astype(np.float64), matrix, full_range)


def _downsample2(plane: np.ndarray) -> np.ndarray:
    """Mean over 2x2 blocks, replicating the last row / column when the size is odd."""
    h, w = plane.shape
    padded = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
    return padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean(axis=(1, 3))


#: Chroma sitings of subsampled Y'CbCr: name -> co-sited (True) or centred (False) along (rows, columns).
SITINGS: dict[str, tuple[bool, bool]] = {"center": (False, False), "left": (False, True), "topleft": (True, True)}


def _upsample2(plane: np.ndarray, axis: int, cosited: bool) -> np.ndarray:
    """Double ``plane`` along ``axis`` by linear interpolation: chroma sample i sits at output 2i
    (``cosited``) or at 2i + 1/2 (centred: weights 3/4 and 1/4)."""
    n = plane.shape[axis]
    prev = np.take(plane, np.maximum(np.arange(n) - 1, 0), axis=axis)
    nxt = np.take(plane, np.minimum(np.arange(n) + 1, n - 1), axis=axis)
    if cosited:
        even, odd = plane, 0.5 * plane + 0.5 * nxt
    else:
        even, odd = 0.75 * plane + 0.25 * prev, 0.75 * plane + 0.25 * nxt
    return np.stack([even, odd], axis=axis + 1).reshape(
        plane.shape[:axis] + (2 * n,) + plane.shape[axis + 1:])


def rgb_to_yuv420(rgb: np.ndarray, matrix: str = "bt709",
                  full_range: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) -> Y (H, W), Cb and Cr (ceil(H/2), ceil(W/2)) uint8 planes."""
    yuv = _rgb_to_yuv_float(rgb, matrix, full_range)
    return (_to_uint8(yuv[..., 0]), _to_uint8(_downsample2(yuv[..., 1])),
            _to_uint8(_downsample2(yuv[..., 2])))


def ycbcr_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str = "bt709",
                 full_range: bool = False, siting: str = "center") -> np.ndarray:
    """Y (H, W) and Cb, Cr planes of 4:4:4 (H, W), 4:2:2 (H, ceil(W/2)) or 4:2:0 (ceil(H/2), ceil(W/2))
    -> RGB uint8 (H, W, 3); ``siting`` (``SITINGS``) places subsampled chroma."""
    if siting not in SITINGS:
        raise ValueError(f"unknown chroma siting {siting!r} (expected one of {sorted(SITINGS)})")
    h, w = y.shape
    if u.shape != v.shape or u.ndim != 2 or u.shape[0] not in (h, (h + 1) // 2) or u.shape[1] not in (w, (w + 1) // 2):
        raise ValueError(f"chroma planes {u.shape}, {v.shape} do not fit luma {y.shape} "
                         f"(4:4:4, 4:2:2 or 4:2:0 expected)")
    up = []
    for c in (u, v):
        c = c.astype(np.float64)
        for axis, (n, cosited) in enumerate(zip((h, w), SITINGS[siting])):
            if c.shape[axis] != n:
                c = _upsample2(c, axis, cosited)
        up.append(c[:h, :w])
    return _yuv_float_to_rgb(np.stack([y.astype(np.float64), *up], axis=-1), matrix, full_range)


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str = "bt709",
                  full_range: bool = False, siting: str = "center") -> np.ndarray:
    """Y (H, W) and Cb, Cr (ceil(H/2), ceil(W/2)) planes -> RGB uint8 (H, W, 3)."""
    h, w = y.shape
    chroma_shape = ((h + 1) // 2, (w + 1) // 2)
    if u.shape != chroma_shape or v.shape != chroma_shape:
        raise ValueError(f"4:2:0 chroma for luma {y.shape} must be {chroma_shape}, got {u.shape}, {v.shape}")
    return ycbcr_to_rgb(y, u, v, matrix, full_range, siting)


def rgb_to_y(rgb: np.ndarray, matrix: str = "bt709", full_range: bool = False) -> np.ndarray:
    """Unrounded luma of RGB uint8 (H, W, 3) as float64 (H, W), in 8-bit code values."""
    return _rgb_to_yuv_float(rgb, matrix, full_range)[..., 0]


def rgb_to_y8(rgb: np.ndarray, matrix: str = "bt709", full_range: bool = False) -> np.ndarray:
    """Luma of RGB uint8 (H, W, 3) as 8-bit code values, uint8 (H, W): the Y plane of ``rgb_to_yuv420``."""
    return _to_uint8(rgb_to_y(rgb, matrix, full_range))
