"""Shared fixtures: small generated clips and fast models (random weights, no training needed)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nvc_core.video_io import VideoWriter
from nvc_core.weights import load_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def moving_frames(width: int, height: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """A textured pattern panning right two pixels a frame, plus noise: real motion, real texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width + 2 * count]
    base = np.stack([128 + 80 * np.sin(xx / 5.0 + c) * np.cos(yy / 7.0 - c) for c in range(3)], -1)
    base = base + rng.normal(0, 12, base.shape)
    return [np.clip(base[:, 2 * i:2 * i + width], 0, 255).astype(np.uint8) for i in range(count)]


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h) as writer:
        for f in frames:
            writer.write(f)
    return path


@pytest.fixture(scope="session")
def random_model():
    return load_model("random")


@pytest.fixture(scope="session")
def lively_model():
    """Random weights with the latent gains raised so that latents are non-zero (random encoders
    output tiny values): every code path, the temporal prior included, then carries real symbols."""
    model = load_model("random")
    with torch.no_grad():
        for coder in (model.intra, model.motion, model.residual):
            coder.log_gain += math.log(32.0)
    return model


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    """100x75 (odd size, not a multiple of 64), 4 frames, .y4m."""
    return write_clip(tmp_path_factory.mktemp("clip") / "moving.y4m", moving_frames(100, 75, 4))


def disk_state(*roots: Path) -> dict:
    """Every path under ``roots`` (folders, or single files) with its content (None for folders)."""
    state = {}
    for root in roots:
        for p in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
            state[str(p)] = p.read_bytes() if p.is_file() else None
    return state


def refusal_failures(main, cases, capfd, *roots: Path) -> list[str]:
    """Each ``(name, argv, text)`` through the CLI's ``main``: a failure unless it exits 2 with one
    ``nvc: error:`` line holding ``text`` and leaves every path under ``roots`` as it was."""
    before = disk_state(*roots)
    capfd.readouterr()
    failures = []
    for name, argv, text in cases:
        code = main(argv)
        err = capfd.readouterr().err.splitlines()
        if code != 2 or len(err) != 1 or not err[0].startswith("nvc: error:") or text not in err[0]:
            failures.append(f"{name}: exit {code}, stderr {err}")
        if disk_state(*roots) != before:
            failures.append(f"{name}: changed the disk")
            before = disk_state(*roots)
    return failures
