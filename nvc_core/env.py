"""The one place that makes inference deterministic (DCVC's `set_torch_env()` idea).

Encoder and decoder must compute every entropy parameter from identical tensors with identical
kernels, or the arithmetic decoder desynchronises. Both call :func:`set_torch_env` before coding.
"""
from __future__ import annotations

import os

import torch

from nvc_core.errors import NVCError

#: Threads used for coding. Fixed so that a stream decodes with the same kernels it was encoded with.
CODING_THREADS = int(os.environ.get("NVC_THREADS", "0")) or min(4, os.cpu_count() or 1)


def set_torch_env(threads: int | None = None) -> None:
    """Deterministic torch flags and a fixed thread count for coding."""
    torch.set_num_threads(threads or CODING_THREADS)
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
