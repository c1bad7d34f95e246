"""Encoder-side latent refinement (:mod:`nvc_core.refine`): BD-rate and encode time per effort level.

Every clip is coded at every quality with every effort (``encode_video(..., effort=E)``, real
bitstreams, decoded and checked against the encoder's reconstruction as ``nvc eval`` does:
``nvc_core.evaluation.run.code_ours``); the BD-rate (PSNR-RGB and PSNR-Y, the project's
``report.bd_rates``) of each effort > 0 is against effort 0 on the same clip, frames and qualities.

The clip's first encode (untimed, one frame) builds the coding tables; the efforts are interleaved per
quality so that a change of the machine's load hits them alike; the 1-minute load average is sampled
after every encode. ``NVC_THREADS=1`` for comparable timings.

``NVC_THREADS=1 python benchmarks/bench_refine.py ../shared/data/eval/video/bikes.mp4
../shared/data/eval/video/carphone_pristine.mp4 --frames 3 --qualities 1,2,3,4
--out benchmarks/results/refine_bikes_carphone.json``
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from nvc_core.defaults import DEFAULT_GOP, MAX_EFFORT
from nvc_core.evaluation import report
from nvc_core.evaluation.run import Variant, clip_name, code_ours
from nvc_core.refine import EFFORT_LEARNING_RATE, EFFORT_STEPS
from nvc_core.weights import load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="+", type=Path)
    p.add_argument("--weights")
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--qualities", default="1,2,3,4")
    p.add_argument("--efforts", default=",".join(str(e) for e in range(MAX_EFFORT + 1)))
    p.add_argument("--gop", type=int, default=DEFAULT_GOP)
    p.add_argument("--out")
    args = p.parse_args()
    qualities = [int(q) for q in args.qualities.split(",")]
    efforts = [int(e) for e in args.efforts.split(",")]
    model = load_model(args.weights)
    clips: dict[str, dict] = {}
    began = time.time()
    load = os.getloadavg()[0]
    loads = [load]
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            # untimed warm-up: the first encode builds the coding tables every later one reuses
            code_ours(clip, Path(tmp), model, Variant("nvc", True), qualities[0], args.gop, 1, 0)
            points: dict[int, list] = {effort: [] for effort in efforts}
            for q in qualities:             # efforts interleaved, so a change of load hits them alike
                for effort in efforts:
                    pt = code_ours(clip, Path(tmp), model, Variant("nvc", True), q, args.gop, args.frames, effort)
                    assert pt.decode_matches, "decoder output differs from the encoder's"
                    points[effort].append(pt)
                    loads.append(os.getloadavg()[0])
                    print(clip_name(clip), f"q{q} effort{effort}", round(pt.bpp, 4), round(pt.psnr_rgb, 2),
                          round(pt.encode_s, 1), flush=True)
            clips[clip_name(clip)] = {"codecs": {f"effort{effort}": [{k: v for k, v in pt.to_dict().items()
                                                                      if k != "frames"} for pt in pts]
                                                 for effort, pts in points.items()}}
    summary = {}
    for effort in efforts[1:]:
        bd = report.bd_rates(clips, f"effort{effort}")["vs"][f"effort{efforts[0]}"]
        summary[f"effort{effort}"] = {
            "steps": EFFORT_STEPS[effort], "learning_rate": EFFORT_LEARNING_RATE[effort],
            "bd_rate_psnr_rgb_percent": {c: v["bd_rate"]["value"] for c, v in bd["psnr_rgb"]["clips"].items()},
            "bd_rate_psnr_y_percent": {c: v["bd_rate"]["value"] for c, v in bd["psnr_y"]["clips"].items()},
            "encode_time_ratio": {c: sum(p["encode_s"] for p in e["codecs"][f"effort{effort}"]) /
                                  sum(p["encode_s"] for p in e["codecs"][f"effort{efforts[0]}"])
                                  for c, e in clips.items()}}
    result = {"weights_id": model.weights_id.hex(), "frames": args.frames, "gop": args.gop,
              "qualities": qualities, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "nvc_threads": os.environ.get("NVC_THREADS"), "wall_s": time.time() - began,
              "load_average_1min": {"before": load, "mean": sum(loads) / len(loads), "max": max(loads)},
              "summary": summary, "clips": clips}
    text = json.dumps(result, indent=1)
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
