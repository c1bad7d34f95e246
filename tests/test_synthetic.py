"""Synthetic motion: the ground-truth flow reproduces each frame from the previous one by warping."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from nvc_core.layers import backward_warp
from nvc_core.train.synthetic import make_clip


def smooth_photo(seed: int, size: int = 400) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, (size // 16, size // 16, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def test_known_motion_is_recovered_by_warping():
    for seed in range(3):
        clip = make_clip(smooth_photo(seed), 96, 4, np.random.default_rng(seed))
        frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255
        flows = torch.from_numpy(clip.flows).permute(0, 3, 1, 2)
        error = (backward_warp(frames[:-1], flows) - frames[1:]).abs().mean(1)
        visible = torch.from_numpy(clip.visible)
        assert clip.frames.shape == (4, 96, 96, 3) and clip.flows.shape == (3, 96, 96, 2)
        assert float(error[visible].mean()) < 0.02
        assert float((frames[1:] - frames[:-1]).abs().mean()) > 0.02        # there is motion to recover
        assert 0.5 < float(visible.float().mean()) < 1.0                    # and some occlusion


def test_clips_are_reproducible():
    a = make_clip(smooth_photo(0), 64, 3, np.random.default_rng(7))
    b = make_clip(smooth_photo(0), 64, 3, np.random.default_rng(7))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.flows, b.flows)
