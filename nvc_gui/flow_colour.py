"""Optical-flow colour coding in the Middlebury convention (Baker et al., "A Database and Evaluation
Methodology for Optical Flow", IJCV 2011): hue is the flow direction, saturation its magnitude
relative to a maximum; vectors longer than that maximum are darkened."""

import numpy as np

# Number of hues between the primary and secondary colours of the Middlebury wheel.
_SEGMENTS = ((15, (255, 0, 0), (255, 255, 0)),    # red -> yellow
             (6, (255, 255, 0), (0, 255, 0)),     # yellow -> green
             (4, (0, 255, 0), (0, 255, 255)),     # green -> cyan
             (11, (0, 255, 255), (0, 0, 255)),    # cyan -> blue
             (13, (0, 0, 255), (255, 0, 255)),    # blue -> magenta
             (6, (255, 0, 255), (255, 0, 0)))     # magenta -> red


def colour_wheel() -> np.ndarray:
    """The 55 hues of the Middlebury wheel, `(55, 3) float64` in [0, 255]."""
    rows = []
    for count, start, end in _SEGMENTS:
        t = np.arange(count)[:, None] / count
        rows.append((1 - t) * np.array(start) + t * np.array(end))
    return np.concatenate(rows)


_WHEEL = colour_wheel()


def flow_to_colour(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field `(h, w, 2)` of (dx, dy) as RGB `(h, w, 3) uint8`.

    `max_magnitude` is the length that maps to full saturation; by default the largest vector of
    the field (so the field uses the whole wheel)."""
    dx, dy = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    if max_magnitude is None:
        max_magnitude = float(np.hypot(dx, dy).max(initial=0.0))
    scale = max(max_magnitude, 1e-9)
    u, v = dx / scale, dy / scale
    radius = np.hypot(u, v)
    angle = np.arctan2(-v, -u) / np.pi                   # in [-1, 1]
    position = (angle + 1) / 2 * (len(_WHEEL) - 1)       # fractional index into the wheel
    k0 = np.floor(position).astype(int)
    k1 = (k0 + 1) % len(_WHEEL)
    f = (position - k0)[..., None]
    colour = ((1 - f) * _WHEEL[k0] + f * _WHEEL[k1]) / 255
    inside = (radius <= 1)[..., None]
    r = radius[..., None]
    colour = np.where(inside, 1 - r * (1 - colour), colour * 0.75)
    return np.floor(255 * colour).astype(np.uint8)


def wheel_legend(size: int = 65) -> np.ndarray:
    """The colour wheel as an RGB image `(size, size, 3) uint8` (outside the unit disc: white)."""
    c = (np.arange(size) - (size - 1) / 2) / ((size - 1) / 2)
    dx, dy = np.meshgrid(c, c)
    image = flow_to_colour(np.stack([dx, dy], axis=-1), max_magnitude=1.0)
    image[np.hypot(dx, dy) > 1] = 255
    return image
