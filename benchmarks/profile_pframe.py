"""Where a P-frame's time goes: encode then decode a clip as ``nvc encode`` / ``nvc decode`` do, with a
timer on every part of the frame step.

    NVC_THREADS=1 python benchmarks/profile_pframe.py /work/shared/data/eval/video/bikes.mp4 --frames 6 \\
        --quality 3 --out benchmarks/results/profile_pframe_bikes.json

The whole path of the CLI runs (:func:`nvc_core.codec.encode_video`, then :func:`decode_video` of the
stream just written, plain analysis, bundled weights unless ``--weights``). Each part is charged its
*exclusive* time (time in a nested part counts only there), on two clocks: wall and the main thread's
CPU time (``time.thread_time``; with ``NVC_THREADS=1`` torch computes on the calling thread, so on a
shared machine the CPU column is the one that does not grow with other processes' load). Parts:

* forward hooks on the networks: neuro-Motion Em / Eh / pyramid flow decoder (its Dm), MS-MCN,
  neuro-Res Em / Eh / Dm, neuro-Intra;
* wrapped functions: the integer hyper decoder (``VAEEngine.hyper_features``, per engine), the integer
  PA context + STHAM (``IntegerPriorAggregation.parameters_for``, with the snapping of μ, σ), the integer
  TUM (``NeuroMotion.coding_state``), range coding (``RangeEncoderSession.encode / finish``,
  ``RangeDecoderSession.decode``, the factorized tables), the encoder's flow estimate;
* ``other``: the rest of the frame step (padding, tensor conversion, quantization, hashing, framing).

Outside the frame steps: start-up (imports, model load) and I/O (reading the video, writing the stream
and the decoded video) per process phase. The JSON holds the mean per P-frame and the totals.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

_START = (time.perf_counter(), time.process_time())
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from nvc_core import codec, frame_step  # noqa: E402
from nvc_core.analysis import Analysis  # noqa: E402
from nvc_core.entropy.factorized import FactorizedPrior  # noqa: E402
from nvc_core.entropy.prior_aggregation import IntegerPriorAggregation  # noqa: E402
from nvc_core.entropy.range_coder import RangeDecoderSession, RangeEncoderSession  # noqa: E402
from nvc_core.env import CODING_THREADS  # noqa: E402
from nvc_core.weights import load_model  # noqa: E402
from timing import PartTimer, time_calls  # noqa: E402

NETWORKS = (("motion.em", "neuro-Motion Em"), ("motion.eh", "neuro-Motion Eh"),
            ("motion.dm", "pyramid flow decoder"), ("mcn", "MS-MCN"), ("residual.em", "neuro-Res Em"),
            ("residual.eh", "neuro-Res Eh"), ("residual.dm", "neuro-Res Dm"), ("intra", "neuro-Intra"))


def instrument(model: torch.nn.Module, clock: PartTimer, frames: list[dict]) -> None:
    for path, part in NETWORKS:
        net = model.get_submodule(path)
        net.register_forward_pre_hook(lambda *_, p=part: clock.enter(p))
        net.register_forward_hook(lambda *_: clock.leave())
    for name in ("motion", "residual"):
        time_calls(getattr(model, name), "hyper_features", clock, "integer hyper decoder Dh")
    time_calls(model.motion, "coding_state", clock, "integer TUM (ConvLSTM)")
    time_calls(IntegerPriorAggregation, "parameters_for", clock, "integer PA context + STHAM")
    for owner, attrs in ((RangeEncoderSession, ("encode", "finish")), (RangeDecoderSession, ("decode",)),
                         (FactorizedPrior, ("table",))):
        for attr in attrs:
            time_calls(owner, attr, clock, "range coding")
    time_calls(frame_step, "padded_frame_flow", clock, "flow estimate")

    def per_frame(owner, attr: str, direction: str) -> None:
        original = getattr(owner, attr)

        def timed(self, *args, **kwargs):
            clock.take()
            clock.enter("other")
            try:
                result = original(self, *args, **kwargs)
            finally:
                clock.leave()
            frames.append({"direction": direction, "type": result[1].frame_type, **clock.take()})
            return result

        setattr(owner, attr, timed)

    per_frame(codec.VideoEncoder, "encode_frame", "encode")
    per_frame(codec.VideoDecoder, "decode_frame", "decode")


def _mean_p(frames: list[dict], direction: str) -> dict:
    chosen = [f for f in frames if f["direction"] == direction and f["type"] == "P"]
    out: dict = {"frames": len(chosen)}
    for clock in ("wall", "cpu"):
        parts: dict[str, float] = defaultdict(float)
        for f in chosen:
            for part, seconds in f[clock].items():
                parts[part] += seconds / len(chosen)
        out[clock] = dict(sorted(parts.items(), key=lambda kv: -kv[1]))
        out[clock + "_total"] = sum(parts.values())
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input")
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--quality", type=int, default=3)
    p.add_argument("--weights", default=None)
    p.add_argument("--out", default=None, help="JSON file")
    args = p.parse_args()

    load = (time.perf_counter(), time.process_time())
    model = load_model(args.weights)
    phases = {"imports": (load[0] - _START[0], load[1] - _START[1])}
    start = (time.perf_counter(), time.process_time())
    phases["model load"] = (start[0] - load[0], start[1] - load[1])
    clock, frames = PartTimer(), []
    instrument(model, clock, frames)
    with tempfile.TemporaryDirectory() as tmp:
        stream, decoded = Path(tmp) / "p.nvc", Path(tmp) / "d.y4m"
        t0 = (time.perf_counter(), time.process_time())
        result = codec.encode_video(args.input, stream, model, quality=args.quality, frames=args.frames,
                                    analysis=Analysis.NONE)
        t1 = (time.perf_counter(), time.process_time())
        decode = codec.decode_video(stream, model, decoded, analysis=Analysis.NONE)
        t2 = (time.perf_counter(), time.process_time())
    if decode.drift_warning():
        print(f"warning: {decode.drift_warning()}", file=sys.stderr)
    for name, (a, b), direction in (("encode", (t0, t1), "encode"), ("decode", (t1, t2), "decode")):
        in_frames = [sum(f[c].values()) for f in frames if f["direction"] == direction for c in ("wall",)]
        phases[name + " frames"] = (sum(in_frames), None)
        phases[name + " I/O and glue"] = (b[0] - a[0] - sum(in_frames), None)
    report = {
        "input": args.input, "frames": args.frames, "quality": args.quality, "bytes": result.file_bytes,
        "threads": CODING_THREADS, "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(), "cpu_count": os.cpu_count(),
        "p_frame": {"encode": _mean_p(frames, "encode"), "decode": _mean_p(frames, "decode")},
        "process_phases_s": {k: {"wall": w, "cpu": c} for k, (w, c) in phases.items()},
        "per_frame": frames,
    }
    for direction in ("encode", "decode"):
        r = report["p_frame"][direction]
        print(f"P-frame {direction} (mean of {r['frames']}): {r['wall_total']:.3f} s wall, {r['cpu_total']:.3f} s CPU")
        for part, seconds in r["cpu"].items():
            print(f"  {part:30s} {seconds:7.3f} s CPU {100 * seconds / r['cpu_total']:5.1f} %   "
                  f"{r['wall'].get(part, 0):7.3f} s wall")
    for k, (w, c) in phases.items():
        print(f"{k:24s} {w:7.3f} s wall" + ("" if c is None else f" {c:7.3f} s CPU"))
    print(f"load average {report['load_average']}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
