"""What motion compensation bought in a P-frame: the PSNR against the source frame of three
predictions of it from the previous reconstruction x̂_{t-1},

* the MS-MCN prediction x̂p_t (what the residual coder was given),
* plain backward warping of x̂_{t-1} with the finest compressed flow f^0 (eq. (4) at scale 0),
* zero motion: x̂_{t-1} itself,

and the gains between them in dB. Every prediction is rounded to 8 bits as the reconstruction is
(``nvc_core.frame_step.to_uint8``), and PSNR is :func:`nvc_core.metrics.psnr` (RGB, peak 255).

Pure functions of the analysis records (:class:`~nvc_core.analysis.FrameRecord`): they need the
source frame, the prediction and the flows of the P-frame, and the reconstruction of the frame before.
The encoder stores each P-frame's gain in its record (``FrameRecord.mc_gain``) when the analysis asks
for images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from nvc_core.layers.warp import backward_warp
from nvc_core.metrics import psnr

if TYPE_CHECKING:
    from nvc_core.analysis import FrameRecord


@dataclass(frozen=True)
class MotionCompensationGain:
    """PSNR (dB, RGB) of the three predictions of one P-frame."""

    psnr_prediction: float   # MS-MCN prediction x̂p_t
    psnr_warp: float         # x̂_{t-1} warped with f^0
    psnr_zero: float         # x̂_{t-1} (zero motion)

    @property
    def gain_prediction(self) -> float:
        """dB the MS-MCN prediction gains over zero motion."""
        return self.psnr_prediction - self.psnr_zero

    @property
    def gain_warp(self) -> float:
        """dB plain warping with f^0 gains over zero motion."""
        return self.psnr_warp - self.psnr_zero

    @property
    def gain_mcn(self) -> float:
        """dB the MS-MCN network gains over plain warping with f^0."""
        return self.psnr_prediction - self.psnr_warp


def to_8bit(image: np.ndarray) -> np.ndarray:
    """A float RGB image in [0, 1] rounded to uint8 as the codec rounds its reconstruction."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def warp(previous: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward-warp an RGB uint8 frame `(H, W, 3)` with a flow `(H, W, 2)` of (dx, dy) pixels
    (:func:`nvc_core.layers.warp.backward_warp`: bilinear, border replication); returns uint8."""
    if flow.shape != previous.shape[:2] + (2,):
        raise ValueError(f"flow {flow.shape} does not match the frame {previous.shape}")
    x = torch.from_numpy(np.ascontiguousarray(previous)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    f = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    with torch.no_grad():
        warped = backward_warp(x, f)[0].permute(1, 2, 0).numpy()
    return to_8bit(warped)


def frame_gain(previous: FrameRecord, record: FrameRecord) -> MotionCompensationGain | None:
    """The gain of P-frame `record` predicted from `previous` (the frame before it); None for an
    I-frame or when the record lacks the source frame (a decoded bitstream), the prediction or the
    flows."""
    if (record.frame_type != "P" or record.original is None or record.prediction is None
            or not record.flows or previous.reconstruction is None):
        return None
    original = record.original
    return MotionCompensationGain(psnr_prediction=psnr(original, to_8bit(record.prediction)),
                                  psnr_warp=psnr(original, warp(previous.reconstruction, record.flows[0])),
                                  psnr_zero=psnr(original, previous.reconstruction))

