"""Check trained weights without range coding (``nvc train check``): runs where constriction is missing.

One clip at one rate point, coded as the codec codes it: through the codec's frame step
(:class:`~nvc_core.frame_step.FrameStep`: frame 1 intra, then P-frames from the 8-bit reconstruction,
the encoder's flow hint, the temporal prior on) with the estimate-only entropy backend instead of the
range coder. Per frame: the rate estimate bpp = −Σ log2 P(ŷ, ẑ) / pixels under the distributions the
range coder would use (a stream's payload is this plus its flush), RGB PSNR of the MS-MCN prediction
(P-frames) and of the reconstruction on the frame without its padding, and the training loss
λ·255²·MSE + bpp (λ_inter = λ · ``inter_lambda_ratio`` for P-frames). The bits of real streams come
from ``nvc encode`` / ``nvc eval``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nvc_core.defaults import DEFAULT_QUALITY
from nvc_core.errors import NVCError
from nvc_core.resources import SAMPLE_CLIP as DEFAULT_CLIP
from nvc_core.train.config import StageSettings


def check_weights(weights: str | Path, clip: str | Path = DEFAULT_CLIP, quality: int = DEFAULT_QUALITY,
                  frames: int = 8, device: str = "cpu",
                  inter_lambda_ratio: float = StageSettings.inter_lambda_ratio) -> dict:
    from nvc_core.env import resolve_device
    from nvc_core.frame_step import EstimateOnly, FrameStep, check_quality, to_uint8
    from nvc_core.metrics import psnr
    from nvc_core.video_io import open_video
    from nvc_core.weights import load_model

    model = load_model(weights, resolve_device(device))
    check_quality(model, quality, "argument --quality")
    if frames < 1:
        raise NVCError(f"argument --frames: must be at least 1, got {frames}")
    with open_video(clip) as video:
        sources = video.read(frames)
    h, w = sources[0].shape[:2]
    lam = model.config.lambdas[quality]
    step = FrameStep(model, w, h, quality, gop=max(len(sources), 1))
    rows = []
    for t, rgb in enumerate(sources):
        frame = step.code(EstimateOnly(), rgb, temporal_prior=True)
        rate = sum(frame.bits_by_stream().values()) / (h * w)
        mse = float(np.mean((frame.reconstruction.astype(np.float64) - rgb) ** 2)) / 255.0 ** 2
        lam_t = lam if frame.frame_type == "I" else lam * inter_lambda_ratio
        prediction = frame.prediction
        rows.append({"frame": t, "type": frame.frame_type, "bpp": rate, "psnr": psnr(rgb, frame.reconstruction),
                     "psnr_prediction": psnr(rgb, to_uint8(prediction, h, w)) if prediction is not None else None,
                     "loss": lam_t * 255.0 ** 2 * mse + rate})
    p_frames = [r for r in rows if r["type"] == "P"]
    mean = (lambda key: float(np.mean([r[key] for r in p_frames]))) if p_frames else (lambda key: None)
    return {"weights": str(weights), "clip": str(clip), "size": f"{w}x{h}", "frames": len(rows),
            "quality": quality, "device": device, "weights_name": model.meta.get("name"),
            "intra": {k: rows[0][k] for k in ("bpp", "psnr", "loss")},
            "p_mean": {k: mean(k) for k in ("bpp", "psnr", "psnr_prediction", "loss")}, "per_frame": rows}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("check", help="estimated bpp / PSNR / loss of weights on one clip (no range coder)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="weights file (.pt)")
    p.add_argument("--clip", default=str(DEFAULT_CLIP), help="video (default: the bundled sample)")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, help="rate point (default: %(default)s)")
    p.add_argument("--frames", type=int, default=8, help="frames from the start (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--json", help="write the result here")
    p.set_defaults(func=run_check)
    return p


def run_check(args: argparse.Namespace) -> int:
    result = check_weights(args.weights, args.clip, args.quality, args.frames, args.device)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    i, p = result["intra"], result["p_mean"]
    print(f"nvc train check: {args.weights} on {Path(args.clip).name} ({result['size']}, {result['frames']} frames, "
          f"quality {args.quality}): I {i['bpp']:.3f} bpp {i['psnr']:.2f} dB" +
          (f"; P {p['bpp']:.3f} bpp, prediction {p['psnr_prediction']:.2f} dB, reconstruction {p['psnr']:.2f} dB, "
           f"loss {p['loss']:.3f}" if p["bpp"] is not None else ""))
    return 0
