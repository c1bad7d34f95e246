"""neuro-Intra against JPEG on the Kodak set (image mode): bytes on disk, RGB PSNR, BD-rate.

* ours: each image coded as a one-frame clip (``encode_video``, GOP 1) at every rate point; rate =
  the size of the .nvc file (header included) in bits per pixel; PSNR of the decoded RGB image;
* JPEG: OpenCV's libjpeg, 4:2:0, quality 5..95; rate = size of the .jpg bytes;
* ceiling: per rate point, the PSNR of neuro-Intra's main decoder on the *unquantized* latent,
  Dm(Em(x)·gain_q / gain_q) with no rounding: no amount of bits lets that rate point do better, so
  a ceiling close to the coded PSNR says the transforms, not the entropy model, limit the quality.
* decoder optimum (``--decoder-optimum-steps N``): the PSNR of Dm(v*) where v* minimises
  ‖Dm(v) − x‖² over Dm's whole input, found by N Adam steps from Em(x) (no rounding, no rate): what
  Dm can output for that image whatever an encoder sends it, at any number of bits. Above the ceiling
  is what a better Em could win; above the decoder optimum only a better Dm can go.
Curves are averaged over the images per rate point (mean bpp, mean PSNR), then compared with
:func:`nvc_core.evaluation.bd_rate.bd_rate` (negative = ours needs fewer bits at equal PSNR).
``python benchmarks/bench_intra.py --out benchmarks/results/intra_kodak.json``
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from nvc_core.codec import encode_video
from nvc_core.evaluation.bd_rate import bd_distortion, bd_rate
from nvc_core.frame_step import to_tensor, to_uint8
from nvc_core.metrics import psnr
from nvc_core.weights import load_model

KODAK = Path("../shared/data/eval/kodak")
JPEG_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)


def jpeg_point(rgb: np.ndarray, quality: int) -> tuple[float, float]:
    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality,
                                                     cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                                     cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return 8 * len(data) / (rgb.shape[0] * rgb.shape[1]), psnr(rgb, decoded)


def ours_point(model, image: Path, quality: int, tmp: Path) -> tuple[float, float]:
    clip = tmp / image.stem
    clip.mkdir(exist_ok=True)
    frame = clip / image.name
    if not frame.exists():
        frame.symlink_to(image.resolve())
    result = encode_video(clip, tmp / "out.nvc", model, quality=quality, gop=1)
    rec = result.records[0]
    return 8 * result.file_bytes / (rec.width * rec.height), rec.psnr_rgb


@torch.no_grad()
def ceiling_psnr(model, rgb: np.ndarray, quality: int) -> float:
    """PSNR of neuro-Intra with ŷ left unquantized (see the module docstring)."""
    x = to_tensor(rgb, torch.device("cpu"))
    decoded = model.intra.main_decode(model.intra.main_encode(x, quality), quality)
    return psnr(rgb, to_uint8(decoded, *rgb.shape[:2]))


def decoder_optimum_psnr(model, rgb: np.ndarray, steps: int, lr: float = 0.05) -> float:
    """PSNR of Dm on the input that Adam finds best for ``rgb`` (see the module docstring)."""
    x = to_tensor(rgb, torch.device("cpu"))
    with torch.no_grad():
        v = model.intra.em(x).requires_grad_(True)
    optimizer = torch.optim.Adam([v], lr=lr)
    for _ in range(steps):
        loss = torch.mean((model.intra.dm(v) - x) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return psnr(rgb, to_uint8(model.intra.dm(v), *rgb.shape[:2]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights")
    p.add_argument("--images", nargs="*", help="Kodak file names (default: all 24)")
    p.add_argument("--out", default="benchmarks/results/intra_kodak.json")
    p.add_argument("--decoder-optimum-steps", type=int, default=0,
                   help="also find the decoder optimum with this many Adam steps per image (0: skip)")
    args = p.parse_args()
    images = [KODAK / n for n in args.images] if args.images else sorted(KODAK.glob("kodim*.png"))
    model = load_model(args.weights)
    for param in model.parameters():
        param.requires_grad_(False)
    ours, jpeg, ceiling, optimum = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for image in images:
            rgb = cv2.imread(str(image), cv2.IMREAD_COLOR)[..., ::-1].copy()
            ours.append([ours_point(model, image, q, Path(tmp)) for q in range(model.num_rates)])
            jpeg.append([jpeg_point(rgb, q) for q in JPEG_QUALITIES])
            ceiling.append([ceiling_psnr(model, rgb, q) for q in range(model.num_rates)])
            if args.decoder_optimum_steps:
                optimum.append(decoder_optimum_psnr(model, rgb, args.decoder_optimum_steps))
            print(image.name, "ours", [f"{b:.3f}/{d:.2f}" for b, d in ours[-1]],
                  f"decoder optimum {optimum[-1]:.2f}" if optimum else "", flush=True)
    curve = {name: np.mean(np.array(points), axis=0) for name, points in (("ours", ours), ("jpeg", jpeg))}
    rate = bd_rate(curve["jpeg"][:, 0], curve["jpeg"][:, 1], curve["ours"][:, 0], curve["ours"][:, 1])
    dist = bd_distortion(curve["jpeg"][:, 0], curve["jpeg"][:, 1], curve["ours"][:, 0], curve["ours"][:, 1])
    result = {"images": [i.name for i in images], "weights_id": model.weights_id.hex(),
              "ours": {"quality": list(range(model.num_rates)), "bpp": curve["ours"][:, 0].tolist(),
                       "psnr_rgb": curve["ours"][:, 1].tolist(),
                       "ceiling_psnr_rgb": np.mean(np.array(ceiling), axis=0).tolist(),
                       "decoder_optimum_psnr_rgb": float(np.mean(optimum)) if optimum else None,
                       "decoder_optimum_steps": args.decoder_optimum_steps},
              "jpeg": {"quality": list(JPEG_QUALITIES), "bpp": curve["jpeg"][:, 0].tolist(),
                       "psnr_rgb": curve["jpeg"][:, 1].tolist()},
              "bd_rate_vs_jpeg_percent": rate.to_dict(), "bd_psnr_vs_jpeg_db": dist.to_dict()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("ours", "bd_rate_vs_jpeg_percent", "bd_psnr_vs_jpeg_db")}, indent=1))


if __name__ == "__main__":
    main()
