"""Rate cost of the integer entropy-parameter path (nvc_core/entropy/integer.py) against the float one.

The integer path changes only the entropy parameters, never the symbols or the pixels, so the
comparison is at equal reconstruction: every clip is encoded once per quality (first --frames
frames, GOP 12) to get its symbols and PSNR, then the bits of every latent are computed twice on
the same symbols, under the float parameters (float Dh, PA, ConvLSTM and factorized prior, μ/σ
snapped in float as before) and under the integer ones (what the coder now uses). Both use the same
coding distribution (constriction's QuantizedGaussian with the alphabet folded, the 2^-24 floor).
BD-rate between the two curves (PSNR-RGB) per clip, and the total bit ratio.

    python benchmarks/bench_integer.py [CLIPS...] --frames 6 --out benchmarks/results/integer_path.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvc_core.analysis import Analysis  # noqa: E402
from nvc_core.codec import encode_video  # noqa: E402
from nvc_core.entropy import integer  # noqa: E402
from nvc_core.entropy.conv_lstm import IntegerConvLSTM  # noqa: E402
from nvc_core.entropy.factorized import Z_RANGE  # noqa: E402
from nvc_core.entropy.gaussian import MEAN_STEP, SCALE_LEVELS, SCALE_MAX, SCALE_MIN, coding_bits  # noqa: E402
from nvc_core.entropy.prior_aggregation import IntegerPriorAggregation, anchor_mask  # noqa: E402
from nvc_core.evaluation.bd_rate import bd_rate  # noqa: E402
from nvc_core.evaluation.run import DEFAULT_CLIP_DIR, DEFAULT_CLIPS  # noqa: E402
from nvc_core.weights import load_model  # noqa: E402

CODERS = {"I": ("intra",), "P": ("motion", "residual")}


def _float_snap(mean: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The float snapping the coder used before the integer path."""
    log_step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
    index = torch.round((torch.log(scale.clamp(SCALE_MIN, SCALE_MAX)) - math.log(SCALE_MIN)) / log_step)
    return torch.round(mean / MEAN_STEP) * MEAN_STEP, torch.exp(index * log_step + math.log(SCALE_MIN))


def _float_z_pmf(prior) -> np.ndarray:
    support = torch.arange(-Z_RANGE, Z_RANGE + 1.0).view(1, 1, 1, -1).expand(1, prior.channels, 1, -1)
    pmf = prior(support)[0, :, 0].double().numpy()
    return pmf / pmf.sum(1, keepdims=True)


def _z_bits(pmf: np.ndarray, z: np.ndarray) -> float:
    return float(-np.log2(pmf[np.arange(z.shape[0]).reshape(-1, 1, 1), z + Z_RANGE]).sum())


@torch.no_grad()
def recost(model, records) -> dict[str, float]:
    """Bits of every frame's latents under the float and the integer parameters (same symbols)."""
    bits = {"float": 0.0, "integer": 0.0}
    state_f = state_i = None
    for record in records:
        if record.frame_type == "I":
            state_f = state_i = None
        for name in CODERS[record.frame_type]:
            coder = getattr(model, name)
            z = record.latents[f"{name}.z"]
            y = torch.from_numpy(record.latents[f"{name}.y"]).float().unsqueeze(0)
            zt = torch.from_numpy(z).float().unsqueeze(0)
            lo, hi = int(y.min()), max(int(y.max()), int(y.min()) + 1)
            known = y * anchor_mask(*y.shape[-2:])
            temporal_f = temporal_i = None
            if name == "motion" and record.temporal_prior and state_f is not None:
                temporal_f, temporal_i = state_f[0], state_i[0]
            mean, scale = _float_snap(*coder.pa.parameters_for(known, coder.dh(zt), temporal_f))
            bits["float"] += _z_bits(_float_z_pmf(coder.z_prior), z) + float(coding_bits(y, mean, scale, lo, hi).sum())
            hyper = integer.converted(coder.dh, integer.integer_network)(integer.to_fixed(zt))
            pa = integer.converted(coder.pa, IntegerPriorAggregation)
            mean, scale = pa.parameters_for(known, hyper, temporal_i)
            bits["integer"] += _z_bits(coder.z_prior.table().pmf, z) + float(coding_bits(y, mean, scale, lo, hi).sum())
            if name == "motion":
                state_f = model.motion.update_state(y, state_f)
                state_i = integer.converted(model.motion.tum, IntegerConvLSTM)(y, state_i)
    return bits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, default=[DEFAULT_CLIP_DIR / c for c in DEFAULT_CLIPS])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--qualities", default="0,1,2,3,4,5")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    model = load_model()
    report: dict = {"weights_id": model.weights_id.hex(), "frames": args.frames, "gop": 12, "clips": {}}
    totals = {"float": 0.0, "integer": 0.0}
    for clip in args.clips:
        points = []
        for q in (int(v) for v in args.qualities.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                result = encode_video(clip, Path(tmp) / "s.nvc", model, quality=q, gop=12, frames=args.frames,
                                      analysis=Analysis(metrics=True, maps=True))
            bits = recost(model, result.records)
            psnr = result.summary()["psnr_rgb"]
            points.append({"quality": q, "psnr_rgb": psnr, "file_bits": 8 * result.file_bytes, **bits})
            for k in totals:
                totals[k] += bits[k]
            print(f"{clip.name} q{q}: {psnr:.2f} dB, float {bits['float']:.0f} bits, integer {bits['integer']:.0f} "
                  f"bits ({100 * (bits['integer'] / bits['float'] - 1):+.3f} %)", flush=True)
        dist = [p["psnr_rgb"] for p in points]
        bd = bd_rate([p["float"] for p in points], dist, [p["integer"] for p in points], dist)
        report["clips"][clip.name] = {"points": points, "bd_rate_percent": bd.value}
        print(f"{clip.name}: BD-rate integer vs float {bd.value if bd.value is None else round(bd.value, 3)} %")
    values = [c["bd_rate_percent"] for c in report["clips"].values() if c["bd_rate_percent"] is not None]
    report["mean_bd_rate_percent"] = float(np.mean(values)) if values else None
    report["total_bits_change_percent"] = 100 * (totals["integer"] / totals["float"] - 1)
    print(f"mean BD-rate {report['mean_bd_rate_percent']} %, total bits {report['total_bits_change_percent']:+.3f} %")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
