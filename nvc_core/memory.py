"""What coding a frame of a given size needs in memory, checked against the machine before coding.

The networks' activations grow with the frame area; the attention of the non-local blocks is computed
in bounded slices (:data:`nvc_core.layers.nlam.ATTENTION_BUDGET`), so the need is an affine function
of the padded area, measured on the bundled model with ``/usr/bin/time -v``
(``benchmarks/results/memory_4k.json``): :data:`BASE_BYTES` for the interpreter, torch and the
weights, plus :data:`BYTES_PER_PIXEL` per padded pixel, with margin: a 3840x2160 I-frame peaks at
2.32 GiB to encode (about 220 B per pixel over the base), a 1280x720 P-frame at 1.12 GiB (about
600 B; the full-resolution stages of the pyramid flow decoder and MS-MCN are not banded). A frame
whose estimate exceeds the memory available now (``MemAvailable``, or a cgroup limit if lower) is
refused with a one-line error before anything of its size is allocated: a forged stream header
claiming 16384x16384 costs nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

from nvc_core.errors import NVCError

#: Peak resident memory per padded pixel of coding (encode or decode) I-frames only / with P-frames.
BYTES_PER_PIXEL = {"I": 300, "P": 700}
#: Resident memory before the first frame: interpreter, torch, numpy, the model.
BASE_BYTES = 600 * 2**20
GIB = 2**30


def frame_bytes(padded_height: int, padded_width: int, inter: bool) -> int:
    """Estimated peak memory of coding frames padded to ``padded_height`` x ``padded_width``, P-frames
    among them if ``inter``."""
    return BASE_BYTES + BYTES_PER_PIXEL["P" if inter else "I"] * padded_height * padded_width


def available_bytes() -> int | None:
    """Memory this process can still use: MemAvailable, capped by a cgroup v2 limit; None if unknown."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in meminfo.splitlines() if ":" in line)
    if "MemAvailable" not in fields:
        return None
    available = int(fields["MemAvailable"].split()[0]) * 1024
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available + _resident_bytes()


def _resident_bytes() -> int:
    """This process's own resident memory (already counted in the estimate's base)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def check_frame_fits(width: int, height: int, padded_height: int, padded_width: int, inter: bool) -> None:
    """Refuse a frame size whose coding would need more memory than the machine has available."""
    need, have = frame_bytes(padded_height, padded_width, inter), available_bytes()
    if have is not None and need > have:
        raise NVCError(f"frame size {width}x{height} needs about {need / GIB:.1f} GiB of memory to code, "
                       f"more than the {max(have, 0) / GIB:.1f} GiB available")
