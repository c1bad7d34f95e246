"""Codec speed and memory: frames per second, peak memory and time per module, per frame size and device.

    python benchmarks/bench_codec.py --out benchmarks/results/codec.json
    python benchmarks/bench_codec.py --sizes 176x144 --devices cpu --frames 4 --analysis full

Each (device, size) runs in a fresh subprocess (``--worker``), so that its peak resident set size
(``resource.getrusage(...).ru_maxrss``) is its own; on CUDA the peak allocated GPU memory is also
reported. Input is synthetic: smooth sinusoidal texture moving 2 px right and 1 px down per frame.
The worker codes ``frames`` frames with one GOP (an I-frame, then P-frames) frame by frame with
``VideoEncoder`` / ``VideoDecoder``, after one warm-up I+P pair at the same size, computing what
``--analysis`` asks for besides the bitstream (default ``none``: what ``nvc encode`` / ``nvc decode``
compute; ``stats``: with ``--stats``; ``full``: what the analyzer asks for):

1. a plain pass gives seconds per I- and P-frame and frames per second (mean over the pass);
2. a second, instrumented pass gives the time per module, *exclusive* (time in a nested category
   counts only there):

   * ``intra``, ``motion``, ``mcn``, ``residual``: inside a forward call of any submodule of
     ``model.intra`` / ``.motion`` (flow decoder, temporal prior, its entropy-model networks) /
     ``.mcn`` / ``.residual`` (forward hooks);
   * ``entropy coding``: the range coder (``RangeEncoderSession.encode / finish``, ``RangeDecoderSession.decode``),
     the factorized prior's tables and the snapping of the Gaussian parameters, found by name and
     wrapped in the worker process only;
   * ``metrics``: the PSNR / MS-SSIM the encoder computes when the analysis asks for them;
   * ``other``: the rest of the frame time (tensor conversion, padding, hashing, framing, glue).

   On CUDA the instrumented pass synchronises at every category change, so its module times add up
   to its wall time; the plain pass is the one to quote for speed.

Wall-clock times depend on what else runs on the machine: the output records the 1-minute load
average before and after the run next to ``os.cpu_count()``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from nvc_core import codec
from nvc_core.analysis import Analysis
from nvc_core.bitstream import FrameChunk, StreamHeader
from nvc_core.codec import VideoDecoder, VideoEncoder
from nvc_core.entropy import prior_aggregation
from nvc_core.entropy.range_coder import RangeDecoderSession, RangeEncoderSession
from nvc_core.entropy.factorized import FactorizedPrior
from nvc_core.weights import load_model
from timing import PartTimer, time_calls

SIZES = ("176x144", "640x272", "1280x720")
MODULES = ("intra", "motion", "mcn", "residual")
ANALYSES = {"none": Analysis.NONE, "stats": Analysis.STATS, "full": Analysis.FULL}
ENTROPY_CODING = ((RangeEncoderSession, ("encode", "finish")), (RangeDecoderSession, ("decode",)),
                  (FactorizedPrior, ("table",)), (prior_aggregation, ("snap_fixed",)))
METRICS = (codec, ("frame_metrics",))


def synthetic_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """Smooth texture (sums of sinusoids, a different phase per channel) moving by (2, 1) px per frame."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for t in range(count):
        x, y = xx - 2 * t, yy - t
        channels = [128 + 50 * np.sin(x / 17 + c) * np.cos(y / 23 - c) + 30 * np.sin((x + y) / 7 + 2 * c)
                    for c in range(3)]
        frames.append(np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8))
    return frames


def instrument(model: torch.nn.Module, timer: PartTimer) -> None:
    """Hook the four coders' submodules and wrap the entropy-coding and metric functions."""
    for name in MODULES:
        for module in getattr(model, name).modules():
            module.register_forward_pre_hook(lambda *_, n=name: timer.enter(n))
            module.register_forward_hook(lambda *_: timer.leave())

    for owner, attrs in ENTROPY_CODING:
        for attr in attrs:
            time_calls(owner, attr, timer, "entropy coding")
    for attr in METRICS[1]:
        time_calls(METRICS[0], attr, timer, "metrics")


def _code(model, frames: list[np.ndarray], quality: int, analysis: Analysis, sync: Callable[[], None],
          timer: PartTimer | None) -> dict[str, list]:
    """Encode then decode `frames` as one GOP; per frame: type, seconds, and categories if timed."""
    h, w = frames[0].shape[:2]
    encoder = VideoEncoder(model, w, h, quality, gop=len(frames), analysis=analysis)
    log: dict[str, list] = {"encode": [], "decode": []}
    chunks = []
    for rgb in frames:
        sync()
        start = time.perf_counter()
        chunk, record = encoder.encode_frame(rgb)
        sync()
        log["encode"].append((record.frame_type, time.perf_counter() - start, timer.take()["wall"] if timer else None))
        chunks.append(chunk)
    decoder = VideoDecoder(model, StreamHeader(w, h, len(frames), len(frames), quality, model.weights_id), analysis)
    for i, chunk in enumerate(chunks):
        parsed = FrameChunk.read(io.BytesIO(chunk), i)
        sync()
        start = time.perf_counter()
        _, record = decoder.decode_frame(parsed)
        sync()
        log["decode"].append((record.frame_type, time.perf_counter() - start, timer.take()["wall"] if timer else None))
    return log


def _summary(plain: list, timed: list) -> dict:
    """fps and mean seconds per I/P frame (plain pass); mean seconds per category per frame type."""
    out: dict = {"fps": len(plain) / sum(s for _, s, _ in plain), "seconds_per_frame": {}, "modules_s": {}}
    for ftype in ("I", "P"):
        plain_s = [s for t, s, _ in plain if t == ftype]
        rows = [(s, cats) for t, s, cats in timed if t == ftype]
        if not plain_s:
            continue
        out["seconds_per_frame"][ftype] = float(np.mean(plain_s))
        cats = {c: float(np.mean([r.get(c, 0.0) for _, r in rows]))
                for c in (*MODULES, "entropy coding", "metrics")}
        cats["other"] = float(np.mean([s for s, _ in rows])) - sum(cats.values())
        out["modules_s"][ftype] = cats
    return out


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(size: str, device: str, frames: int, quality: int, weights: str | None, analysis: str) -> dict:
    """Benchmark one size on one device in this process; returns the JSON-ready record."""
    w, h = (int(v) for v in size.split("x"))
    request = ANALYSES[analysis]
    model = load_model(weights, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rss_loaded = _max_rss_mib()
    clip = synthetic_frames(w, h, frames)
    _code(model, clip[:2], quality, request, sync, None)  # warm-up
    plain = _code(model, clip, quality, request, sync, None)
    timer = PartTimer(sync)
    instrument(model, timer)
    timed = _code(model, clip, quality, request, sync, timer)
    record = {"size": size, "device": device, "frames": frames, "quality": quality, "analysis": analysis,
              "weights_id": model.weights_id.hex(), "torch_threads": torch.get_num_threads(),
              "encode": _summary(plain["encode"], timed["encode"]),
              "decode": _summary(plain["decode"], timed["decode"]),
              "peak_rss_mib": _max_rss_mib(), "rss_after_model_load_mib": rss_loaded}
    if device.startswith("cuda"):
        record["cuda_peak_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        record["gpu"] = torch.cuda.get_device_name()
    return record


def _run_worker(size: str, device: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--sizes", size, "--devices", device,
           "--frames", str(args.frames), "--quality", str(args.quality), "--analysis", args.analysis]
    if args.weights:
        cmd += ["--weights", args.weights]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"size": size, "device": device, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _print_row(r: dict) -> None:
    if "error" in r:
        print(f"{r['device']:<5} {r['size']:>9}  error: {r['error']}")
        return
    enc, dec = r["encode"], r["decode"]
    p_mod = enc["modules_s"].get("P", enc["modules_s"]["I"])
    mods = " ".join(f"{k}={v * 1000:.0f}ms" for k, v in p_mod.items())
    print(f"{r['device']:<5} {r['size']:>9}  enc {enc['fps']:6.2f} fps  dec {dec['fps']:6.2f} fps  "
          f"peak RSS {r['peak_rss_mib']:6.0f} MiB  | encode P-frame: {mods}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="WxH list (default %(default)s)")
    parser.add_argument("--devices", default=None, help="cpu,cuda (default: cpu, and cuda when available)")
    parser.add_argument("--frames", type=int, default=3, help="frames per pass: 1 I + P-frames (default 3)")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--weights", default=None, help="weights .pt or 'random' (default: bundled)")
    parser.add_argument("--analysis", choices=tuple(ANALYSES), default="none",
                        help="what is computed besides the bitstream (default %(default)s: plain nvc encode/decode)")
    parser.add_argument("--out", type=Path, default=None, help="JSON output file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.worker:
        print(json.dumps(worker(args.sizes, devices[0], args.frames, args.quality, args.weights, args.analysis)))
        return
    load_before = os.getloadavg()[0]
    results = []
    for device in devices:
        for size in args.sizes.split(","):
            results.append(_run_worker(size, device, args))
            _print_row(results[-1])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"machine": platform.machine(), "torch": torch.__version__,
                "python": platform.python_version(), "cpu_count": os.cpu_count(),
                "loadavg_1min_before": load_before, "loadavg_1min_after": os.getloadavg()[0]}
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))


if __name__ == "__main__":
    main()
