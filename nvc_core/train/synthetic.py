"""Synthetic motion with known ground truth (FlyingChairs-style), made from still photos.

A clip of T frames (S x S) is rendered from one photo:
  * the background moves with a global camera motion A (pan + zoom + rotation about the frame centre),
  * 1-3 elliptical layers cut from other places of the same photo move with their own motions B_k and
    are composited on top of it in order (later layers occlude earlier ones).
Motions are constant per step, so a point at p in frame t came from A·p (background) or B_k·p
(layer k) in frame t-1. That gives the exact backward flow of every frame: frame_t(p) ≈
frame_{t-1}(p + flow_t(p)), i.e. ``backward_warp(frame_{t-1}, flow_t) ≈ frame_t`` wherever the
point is visible in frame t-1 (not occluded by another layer, not outside the frame).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Largest motion per step, as a fraction of the clip size (translation), or absolute (zoom, degrees).
CAMERA_SHIFT, LAYER_SHIFT = 0.04, 0.07
MAX_ZOOM, MAX_ROTATION = 0.03, 2.0
#: Photo pixels per clip pixel (sampling the photo at a random scale).
SCALE_RANGE = (0.8, 1.6)


@dataclass
class SyntheticClip:
    frames: np.ndarray   # (T,S,S,3) uint8 RGB
    flows: np.ndarray    # (T-1,S,S,2) float32: backward flow of frame t+1 into frame t, (dx,dy) px
    visible: np.ndarray  # (T-1,S,S) bool: the point of frame t+1 is visible in frame t


def _motion(rng: np.random.Generator, size: int, shift: float) -> np.ndarray:
    """3x3 map from frame-t coordinates to frame-(t-1) coordinates: p -> c + z·R(θ)(p - c) + d."""
    c = (size - 1) / 2
    z = np.exp(rng.uniform(-MAX_ZOOM, MAX_ZOOM))
    th = np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    d = rng.uniform(-shift * size, shift * size, 2)
    rot = z * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    m = np.eye(3)
    m[:2, :2] = rot
    m[:2, 2] = c - rot @ np.array([c, c]) + d
    return m


def _placement(rng: np.random.Generator, photo_hw: tuple[int, int], size: int) -> np.ndarray:
    """3x3 map from frame-0 coordinates to photo coordinates (random place, scale, orientation)."""
    s = rng.uniform(*SCALE_RANGE)
    th = rng.uniform(-np.pi, np.pi) * 0.1
    h, w = photo_hw
    margin = 0.75 * size * s
    cx, cy = rng.uniform(margin, max(margin, w - margin)), rng.uniform(margin, max(margin, h - margin))
    rot = s * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    m = np.eye(3)
    m[:2, :2] = rot
    m[:2, 2] = np.array([cx, cy]) - rot @ np.full(2, (size - 1) / 2)
    return m


def _apply(m: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine map to (...,2) coordinates."""
    return grid @ m[:2, :2].T + m[:2, 2]


def _ellipse(rng: np.random.Generator, size: int):
    """Indicator of a random ellipse inside the frame, as a function of (...,2) coordinates."""
    centre = rng.uniform(0.2 * size, 0.8 * size, 2)
    radii = rng.uniform(0.12 * size, 0.3 * size, 2)
    th = rng.uniform(0, np.pi)
    axes = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
    return lambda pts: ((((pts - centre) @ axes.T) / radii) ** 2).sum(-1) <= 1.0


def _sample(photo: np.ndarray, coords: np.ndarray) -> np.ndarray:
    return cv2.remap(photo, coords[..., 0].astype(np.float32), coords[..., 1].astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def make_clip(photo: np.ndarray, size: int, frames: int, rng: np.random.Generator,
              max_layers: int = 3) -> SyntheticClip:
    """Render ``frames`` frames of ``size`` x ``size`` from ``photo`` (H,W,3) uint8."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    grid = np.stack([xs, ys], -1)                                        # (S,S,2) pixel (x, y)
    steps = [_motion(rng, size, CAMERA_SHIFT)]                           # background first
    places = [_placement(rng, photo.shape[:2], size)]
    shapes = [lambda pts: np.ones(pts.shape[:-1], bool)]
    for _ in range(rng.integers(1, max_layers + 1)):
        steps.append(_motion(rng, size, LAYER_SHIFT))
        places.append(_placement(rng, photo.shape[:2], size))
        shapes.append(_ellipse(rng, size))

    out, labels = [], []
    to_origin = [np.eye(3) for _ in steps]                               # frame-t -> frame-0 coords
    for t in range(frames):
        frame = np.zeros((size, size, 3), np.uint8)
        label = np.zeros((size, size), np.int64)
        for k, (place, shape) in enumerate(zip(places, shapes)):
            origin = _apply(to_origin[k], grid)
            inside = shape(origin)
            frame[inside] = _sample(photo, _apply(place, origin))[inside]
            label[inside] = k
        out.append(frame)
        labels.append(label)
        to_origin = [o @ s for o, s in zip(to_origin, steps)]
    flows, visible = zip(*(_flow(grid, steps, labels[t - 1], labels[t]) for t in range(1, frames)))
    return SyntheticClip(np.stack(out), np.stack(flows).astype(np.float32), np.stack(visible))


def _flow(grid: np.ndarray, steps: list[np.ndarray], prev_label: np.ndarray, label: np.ndarray):
    """Backward flow of one frame and the mask of points visible in the previous frame.

    A point is visible when all four bilinear taps around its source position lie inside the frame
    and show the same layer in the previous frame.
    """
    size = grid.shape[0]
    source = np.zeros_like(grid)
    for k, step in enumerate(steps):
        own = label == k
        source[own] = _apply(step, grid[own])
    visible = np.ones(label.shape, bool)
    for fx in (np.floor, np.ceil):
        for fy in (np.floor, np.ceil):
            x, y = fx(source[..., 0]).astype(np.int64), fy(source[..., 1]).astype(np.int64)
            inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
            visible &= inside & (prev_label[y.clip(0, size - 1), x.clip(0, size - 1)] == label)
    return source - grid, visible
