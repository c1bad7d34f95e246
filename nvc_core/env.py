"""The one place that makes inference deterministic (DCVC's `set_torch_env()` idea).

The entropy parameters are exact integers whatever the kernels (:mod:`nvc_core.entropy.integer`);
what this fixes is the pixel path, so that a decoder on the same machine reproduces the encoder's
reconstruction bit for bit with any thread count. oneDNN (mkldnn) convolutions block their
reductions by thread count (a stream encoded with 1 thread decoded with 2 differed by up to 15
levels); torch's own convolutions (im2col + GEMM) give the same sums with 1 to 4 threads, at about
the same speed on this model. Both encoder and decoder call :func:`set_torch_env` before coding.
"""
from __future__ import annotations

import os

import torch

from nvc_core.errors import NVCError

#: Threads used for coding (any count reproduces the same reconstruction on one machine).
CODING_THREADS = int(os.environ.get("NVC_THREADS", "0")) or min(4, os.cpu_count() or 1)


def set_torch_env(threads: int | None = None) -> None:
    """Deterministic torch flags and a fixed thread count for coding."""
    torch.set_num_threads(threads or CODING_THREADS)
    torch.backends.mkldnn.enabled = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    if hasattr(torch.backends, "cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device, refused with a clear message when unusable."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise NVCError(f"--device {name}: unknown device (use cpu, cuda or cuda:N)") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise NVCError(f"--device {name}: unsupported device type (use cpu, cuda or cuda:N)")
    if not torch.cuda.is_available():
        raise NVCError(f"--device {name}: no CUDA device available to torch")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise NVCError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    return device
