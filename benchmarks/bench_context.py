"""Rate cost of the parallel (checkerboard) spatial context against the paper's serial masked context.

    python benchmarks/bench_context.py --out benchmarks/results/context.json [--weights PATH]

Both contexts use the same 5x5x5 channel-shared 3D kernel and the same STHAM; only the mask differs
(``nvc_core/entropy/prior_aggregation.py``): the serial mask is raster-causal over (c, h, w) and needs
C·H·W sequential decoding steps, the checkerboard needs two passes. A third head without any spatial
context (hyperprior only) is the reference for what context modelling buys at all.

Protocol: the neuro-Intra analysis transforms of the given weights are frozen; each of the three PA
heads starts from the same initialisation and is trained for the same number of steps on the
latents of random crops of the training photos (``../shared/data/train/photos``, quality chosen at
random per step), then the estimated bits (−log2 p summed, no coding) are measured on the latents of
the Kodak images (``../shared/data/eval/kodak``) at every rate point.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from nvc_core.entropy.prior_aggregation import PriorAggregation
from nvc_core.frame_step import to_tensor
from nvc_core.weights import load_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODES = ("serial", "checkerboard", "none")


class _NoContext(PriorAggregation):
    """Hyperprior only: the spatial context features are zero everywhere."""

    def parameters_for(self, y_known, hyper, temporal):
        b, c, h, w = y_known.shape
        context = y_known.new_zeros(b, self.context.out_channels, c, h, w)
        return self.stham(self._priors(context, hyper, temporal))


def _head(mode: str, channels: int, seed: int) -> PriorAggregation:
    torch.manual_seed(seed)
    return _NoContext(channels) if mode == "none" else PriorAggregation(channels, context=mode)


def _read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@torch.no_grad()
def _latents(model, image: np.ndarray, q: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ŷ, hyperprior features) of neuro-Intra for one image at rate point q."""
    coder = model.intra
    y = coder.main_encode(to_tensor(image, torch.device("cpu")), q)
    return torch.round(y), coder.dh(torch.round(coder.eh(y)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--kodak", type=int, default=24, help="number of Kodak images to measure on")
    ap.add_argument("--out", default="benchmarks/results/context.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.weights)
    channels = model.config.latent_channels
    photos = sorted((DATA / "train" / "photos").glob("*.png"))
    train_images = [_read(p) for p in photos[:24]]
    rng = random.Random(0)
    heads = {mode: _head(mode, channels, seed=0) for mode in MODES}
    optims = {mode: torch.optim.Adam(h.parameters(), lr=1e-3) for mode, h in heads.items()}
    start = time.time()
    for step in range(args.steps):
        img = rng.choice(train_images)
        y0, x0 = rng.randrange(img.shape[0] - args.crop), rng.randrange(img.shape[1] - args.crop)
        y_hat, hyper = _latents(model, img[y0:y0 + args.crop, x0:x0 + args.crop], rng.randrange(model.num_rates))
        for mode, head in heads.items():
            loss = -torch.log2(head(y_hat, hyper)).sum() / args.crop ** 2
            optims[mode].zero_grad()
            loss.backward()
            optims[mode].step()
    train_s = time.time() - start
    kodak = sorted((DATA / "eval" / "kodak").glob("*.png"))[: args.kodak]
    bits = {mode: [0.0] * model.num_rates for mode in MODES}
    pixels = 0
    with torch.no_grad():
        for path in kodak:
            img = _read(path)
            pixels += img.shape[0] * img.shape[1]
            for q in range(model.num_rates):
                y_hat, hyper = _latents(model, img, q)
                for mode, head in heads.items():
                    bits[mode][q] += float(-torch.log2(head(y_hat, hyper)).sum())
    bpp = {mode: [b / pixels for b in v] for mode, v in bits.items()}
    total = {mode: sum(v) for mode, v in bits.items()}
    result = {
        "weights": str(args.weights or "bundled"), "steps": args.steps, "crop": args.crop,
        "train_seconds": round(train_s, 1), "kodak_images": len(kodak),
        "latent_bpp_by_quality": bpp,
        "checkerboard_vs_serial_percent": 100 * (total["checkerboard"] / total["serial"] - 1),
        "no_context_vs_serial_percent": 100 * (total["none"] / total["serial"] - 1),
        "checkerboard_vs_serial_percent_by_quality": [
            100 * (c / s - 1) for c, s in zip(bits["checkerboard"], bits["serial"])],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
