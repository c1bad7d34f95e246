"""The one place that makes inference deterministic (DCVC's `set_torch_env()` idea), as a scoped context.

The entropy parameters are exact integers whatever the kernels (:mod:`nvc_core.entropy.integer`);
what this fixes is the pixel path, so that a decoder on the same machine reproduces the encoder's
reconstruction bit for bit with any thread count. oneDNN (mkldnn) convolutions block their
reductions by thread count (a stream encoded with 1 thread decoded with 2 differed by up to 15
levels); torch's own convolutions (im2col + GEMM) give the same sums with 1 to 4 threads. They
cost more CPU: the three main decoders and MS-MCN of a 176x144 frame took 0.14 s of CPU time instead
of 0.067 s with oneDNN (one thread). Every frame step runs inside :func:`coding_env`, which sets
deterministic kernels and the coding thread count and restores the caller's settings on exit:
coding changes no process-wide torch setting.

Memory (speed only, no effect on any number): with glibc, :func:`coding_env` also asks malloc once
per process to keep freed memory for the next allocation (:func:`keep_freed_memory`). torch's own
convolutions allocate an im2col buffer per call (hundreds of MB at full resolution) and glibc serves
each with a fresh ``mmap``, so every call paid for zeroed pages: a 6-frame 640x272 encode spent 6 of
its 21 CPU seconds in the kernel, 0.8 s with this (peak resident memory 0.81 -> 1.03 GB).
"""
from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from nvc_core.errors import NVCError

#: Default number of threads a frame step runs with: ``NVC_THREADS`` if set, else up to 4 cores.
#: It is a parameter of :func:`coding_env`, not a property of the stream (any count reproduces the
#: same reconstruction on one machine).
CODING_THREADS = int(os.environ.get("NVC_THREADS", "0")) or min(4, os.cpu_count() or 1)


#: glibc mallopt parameters (malloc.h) and the values :func:`keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
#: Free memory at the top of the heap beyond this is still given back to the system.
KEEP_BYTES = 1 << 30
_kept = False


def keep_freed_memory() -> bool:
    """Serve large allocations from the heap (no ``mmap`` per allocation) and keep up to
    :data:`KEEP_BYTES` of freed memory there, so that a buffer freed by one convolution is reused by
    the next without new page faults. Process-wide and permanent (undoing it would hand the memory
    back at the next ``free``); glibc only, a no-op elsewhere. True when the setting is in force."""
    global _kept
    if _kept or not sys.platform.startswith("linux"):
        return _kept
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version                   # glibc (musl's mallopt does nothing)
        _kept = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES))
    except (OSError, AttributeError):
        _kept = False
    return _kept


@contextmanager
def coding_env(threads: int | None = None) -> Iterator[None]:
    """Deterministic torch flags and ``threads`` intra-op threads (default :data:`CODING_THREADS`)
    for the duration of the block; the previous settings are restored afterwards (the malloc setting of
    :func:`keep_freed_memory` is made once and stays)."""
    keep_freed_memory()
    cudnn = torch.backends.cudnn
    saved = (torch.get_num_threads(), torch.backends.mkldnn.enabled, cudnn.deterministic, cudnn.benchmark,
             cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.set_num_threads(threads or CODING_THREADS)
    torch.backends.mkldnn.enabled = False
    cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32 = True, False, False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        (torch.backends.mkldnn.enabled, cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = saved[1:]


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
