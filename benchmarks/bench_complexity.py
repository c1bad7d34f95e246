"""Complexity of one P-frame and one I-frame: kMAC per pixel and parameters of every network.

Counted with torch's FlopCounterMode (1 MAC = 2 FLOPs) on a 256x256 frame, batch 1, the networks
of the decoder and encoder as coded (entropy models excluded: they run on the latents).
Writes JSON: ``python benchmarks/bench_complexity.py --out benchmarks/results/complexity.json``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.weights import load_model


def kmac_per_pixel(fn, pixels: int) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 2 / pixels / 1e3


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def measure(model: NVC, size: int = 256) -> dict:
    model.eval()
    x = torch.rand(1, 3, size, size)
    ref = torch.rand(1, 3, size, size)
    hint = torch.zeros(1, 2, size, size)
    pixels = size * size
    m = model.motion
    y = m.main_encode(m.encoder_input(ref, x, hint), 0)
    y_hat = torch.round(y)
    flows = m.main_decode(y_hat, 0)
    parts = {
        "motion_encoder": kmac_per_pixel(lambda: m.main_encode(m.encoder_input(ref, x, hint), 0), pixels),
        "motion_hyper": kmac_per_pixel(lambda: m.dh(torch.round(m.eh(y))), pixels),
        "pyramid_flow_decoder": kmac_per_pixel(lambda: m.main_decode(y_hat, 0), pixels),
        "ms_mcn": kmac_per_pixel(lambda: model.mcn(ref, flows), pixels),
        "residual_coder": kmac_per_pixel(lambda: model.residual(x, 0), pixels),
    }
    intra = kmac_per_pixel(lambda: model.intra(x, 0), pixels)
    return {"size": size, "p_frame_kmac_per_pixel": sum(parts.values()), "p_frame_parts": parts,
            "i_frame_kmac_per_pixel": intra,
            "parameters": {name: params(getattr(model, name)) for name in ("intra", "motion", "mcn", "residual")},
            "config": model.config.to_dict()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weights", help="weights file (default: the configuration below, random weights)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--out", default="benchmarks/results/complexity.json")
    args = p.parse_args()
    model = load_model(args.weights) if args.weights else NVC(NVCConfig())
    result = measure(model, args.size)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
