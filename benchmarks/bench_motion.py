"""What motion compensation buys, per P-frame, and what the motion costs.

For every P-frame of a clip coded with the given weights (``encode_video``, keeping the analysis):
  * PSNR (RGB) of the MS-MCN prediction, of the previous reconstruction warped with the decoded f^0,
    and of the zero-motion prediction (the previous reconstruction itself), and the gains between
    them (:mod:`nvc_core.mc_gain`);
  * mean |f^0| of the decoded flow, and its end-point error against the encoder's flow estimate on
    the source frames (:func:`nvc_core.flow_estimate.estimate_flow`, DIS) and against zero motion;
  * bits of every sub-stream (motion.y, motion.z, residual.y, residual.z), actual in the file;
  * the same clip coded with the temporal prior off: motion bits saved by the prior, and whether the
    reconstructions are identical (they must be).
``python benchmarks/bench_motion.py ../shared/data/eval/video/bikes.mp4 --frames 8 --quality 3
--out benchmarks/results/motion_bikes.json``
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from nvc_core.codec import encode_video
from nvc_core.flow_estimate import estimate_flow
from nvc_core.weights import load_model


def p_frame_measures(records) -> list[dict]:
    rows = []
    for prev, rec in zip(records, records[1:]):
        gain = rec.mc_gain
        if gain is None:
            continue
        f0 = rec.flows[0]
        estimate = estimate_flow(prev.original, rec.original)
        rows.append({"index": rec.index,
                     "psnr_prediction": gain.psnr_prediction, "psnr_warp_f0": gain.psnr_warp,
                     "psnr_zero_motion": gain.psnr_zero, "psnr_reconstruction": rec.psnr_rgb,
                     "gain_over_zero_motion_db": gain.gain_prediction, "gain_mcn_over_warp_db": gain.gain_mcn,
                     "mean_abs_f0_px": float(np.linalg.norm(f0, axis=-1).mean()),
                     "mean_abs_estimate_px": float(np.linalg.norm(estimate, axis=-1).mean()),
                     "epe_f0_vs_estimate_px": float(np.linalg.norm(f0 - estimate, axis=-1).mean()),
                     "bits_by_stream": dict(rec.bits_by_stream), "bits": rec.bits})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip")
    p.add_argument("--weights")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--quality", type=int, default=3)
    p.add_argument("--gop", type=int, default=12)
    p.add_argument("--out")
    args = p.parse_args()
    model = load_model(args.weights)
    coded = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tp in (True, False):
            coded[tp] = encode_video(args.clip, Path(tmp) / f"tp{int(tp)}.nvc", model, quality=args.quality,
                                     gop=args.gop, frames=args.frames, temporal_prior=tp)
    rows = p_frame_measures(coded[True].records)
    motion_bits = {tp: sum(r.bits_by_stream.get(k, 0) for r in coded[tp].records for k in ("motion.y", "motion.z"))
                   for tp in (True, False)}
    same = all(np.array_equal(a.reconstruction, b.reconstruction)
               for a, b in zip(coded[True].records, coded[False].records))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if isinstance(rows[0][k], float)}
    streams = {k: float(np.mean([r["bits_by_stream"].get(k, 0) for r in rows]))
               for k in ("motion.y", "motion.z", "residual.y", "residual.z")}
    result = {"clip": args.clip, "frames": args.frames, "quality": args.quality, "gop": args.gop,
              "weights_id": model.weights_id.hex(), "p_frames": rows, "mean_over_p_frames": mean,
              "mean_bits_per_p_frame": streams,
              "temporal_prior": {"motion_bits_on": motion_bits[True], "motion_bits_off": motion_bits[False],
                                 "saving_percent": 100.0 * (1 - motion_bits[True] / max(motion_bits[False], 1)),
                                 "reconstruction_identical": same},
              "file_bytes": {"on": coded[True].file_bytes, "off": coded[False].file_bytes}}
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(json.dumps({k: result[k] for k in ("mean_over_p_frames", "mean_bits_per_p_frame", "temporal_prior")},
                     indent=1))


if __name__ == "__main__":
    main()
