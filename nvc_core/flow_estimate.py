"""Encoder-side optical-flow estimate: the flow hint of flow-guided neuro-Motion (beyond the paper).

A classical dense estimator (OpenCV's DIS, medium preset, on grey frames) gives for every pixel p of
the current frame X_t the displacement f(p) with X_t(p) ≈ X_{t-1}(p + f(p)): the backward-warping
convention of eq. (4) and :func:`nvc_core.layers.backward_warp`, so ``backward_warp(X_{t-1}, f) ≈ X_t``.
Only the encoder computes it, from source frames; it never enters the bitstream, and the decoder
(pyramid flow decoder, MS-MCN) does not know it exists.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

#: DIS needs frames of at least this size on each side; smaller frames (from 2x2) are edge-replicated up
#: to it for the estimate, and the flow of the visible part is kept.
MIN_SIDE = 16


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY))


def estimate_flow(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Backward flow of ``current`` into ``previous``, both (H,W,3) uint8 RGB: (H,W,2) float32 (dx, dy) px."""
    h, w = current.shape[:2]
    pad = ((0, max(MIN_SIDE - h, 0)), (0, max(MIN_SIDE - w, 0)))
    current_grey, previous_grey = (np.pad(_grey(f), pad, mode="edge") for f in (current, previous))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(current_grey, previous_grey, None)[:h, :w]


def padded_frame_flow(previous: np.ndarray, current: np.ndarray, height: int, width: int) -> np.ndarray:
    """The hint of frames padded for coding, (Hp,Wp,3) each, whose visible part is ``height`` x ``width``:
    estimated on the visible part only and edge-replicated over the padding, as the frames are. (On
    the replicated rows and columns themselves the estimate is ambiguous along them, and neuro-Motion
    would spend motion bits on that noise: on the 176x144 carphone sample, padded to 192x192, 16 % of
    the motion bits.)"""
    flow = estimate_flow(previous[:height, :width], current[:height, :width])
    hp, wp = current.shape[:2]
    return np.pad(flow, ((0, hp - height), (0, wp - width), (0, 0)), mode="edge")


def clip_flows(clip: np.ndarray) -> np.ndarray:
    """Hints of every P-frame of a clip (T,H,W,3) uint8: (T-1,2,H,W) float32, frame t against t-1."""
    return np.stack([estimate_flow(clip[t - 1], clip[t]).transpose(2, 0, 1) for t in range(1, len(clip))])


def flow_tensor(flow: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H,W,2) flow from :func:`estimate_flow` -> (1,2,H,W) float tensor, pixels."""
    return torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1))).unsqueeze(0).to(device)
