"""Cross-device check of .nvc streams: one command for a machine with a GPU (under 3 minutes).

    python tools/gpu_check.py --out gpu_check.json            # DEVICE=cuda by default

1. Encodes a clip on the CPU and decodes it on DEVICE; encodes it on DEVICE and decodes it on the
   CPU. For each direction: the fraction of latent symbols the decoder got equal to the encoder's
   (the integer entropy path makes this 1.0, or the decoder would have desynchronised), the frames
   whose reconstruction hash differs (drift, reported as a warning), and the PSNR of the decoder's
   reconstruction against the encoder's.
2. Encode and decode speed on DEVICE at --speed-size (1920x1080 by default) over a few frames of a
   generated moving pattern (the first frame, which warms the kernels up, is not timed).

``DEVICE=cpu`` (or ``--device cpu``) runs the same on the CPU (the test suite does, tiny).
Prints a summary and writes every number to --out (JSON).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvc_core.analysis import Analysis  # noqa: E402
from nvc_core.codec import decode_video, encode_video  # noqa: E402
from nvc_core.errors import BitstreamError  # noqa: E402
from nvc_core.video_io import VideoWriter  # noqa: E402
from nvc_core.resources import SAMPLE_CLIP  # noqa: E402
from nvc_core.weights import load_model  # noqa: E402



def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _code(clip: Path, folder: Path, name: str, encoder, decoder, args) -> dict:
    """Encode ``clip`` with ``encoder``, decode with ``decoder``; compare symbols and reconstructions."""
    stream = folder / f"{name}.nvc"
    encoded: list = []
    encode_video(clip, stream, encoder, quality=args.quality, gop=args.gop, frames=args.frames,
                 analysis=Analysis(maps=True), on_frame=lambda r, *_: encoded.append(r))
    decoded: list = []
    report = {"frames": len(encoded), "stream_bytes": stream.stat().st_size}
    try:
        result = decode_video(stream, decoder, analysis=Analysis(maps=True), on_frame=lambda r, *_: decoded.append(r))
    except BitstreamError as exc:               # symbols desynchronised: the integer path failed
        return {**report, "decoded": False, "error": str(exc), "symbol_agreement": 0.0}
    equal = total = 0
    for e, d in zip(encoded, decoded):
        for key, symbols in e.latents.items():
            equal += int(np.sum(symbols == d.latents[key]))
            total += symbols.size
    psnr = [_psnr(e.reconstruction, d.reconstruction) for e, d in zip(encoded, decoded)]
    return {**report, "decoded": True, "symbol_agreement": equal / total, "drifted_frames": result.drifted_frames,
            "identical_frames": sum(p == math.inf for p in psnr),
            "psnr_vs_encoder_db": [None if p == math.inf else p for p in psnr]}   # None: identical


def _moving_clip(path: Path, width: int, height: int, count: int) -> Path:
    """A textured pattern panning two pixels a frame (real motion and texture for the speed test)."""
    yy, xx = np.mgrid[0:height, 0:width + 2 * count]
    base = np.stack([128 + 80 * np.sin(xx / 9.0 + c) * np.cos(yy / 13.0 - c) for c in range(3)], -1)
    with VideoWriter(path, width, height) as writer:
        for i in range(count):
            writer.write(np.clip(base[:, 2 * i:2 * i + width], 0, 255).astype(np.uint8))
    return path


def _speed(model, folder: Path, args) -> dict:
    """Encode and decode fps on ``model``'s device, frame 0 (warm-up) excluded."""
    width, height = args.speed_size
    clip = _moving_clip(folder / "speed.y4m", width, height, args.speed_frames + 1)
    sync = torch.cuda.synchronize if next(model.parameters()).is_cuda else (lambda: None)
    stamps: dict[str, list[float]] = {"encode": [], "decode": []}

    def stamp(kind):
        def on_frame(*_):
            sync()
            stamps[kind].append(time.perf_counter())
        return on_frame

    encode_video(clip, folder / "speed.nvc", model, quality=args.quality, gop=args.gop,
                 analysis=Analysis.NONE, on_frame=stamp("encode"))
    decode_video(folder / "speed.nvc", model, analysis=Analysis.NONE, on_frame=stamp("decode"))
    fps = {f"{kind}_fps": (len(t) - 1) / (t[-1] - t[0]) for kind, t in stamps.items()}
    return {"size": f"{width}x{height}", "timed_frames": args.speed_frames, **fps}


def _db(values: list) -> str:
    return " ".join("inf" if v is None else f"{v:.2f}" for v in values) + " dB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=os.environ.get("DEVICE", "cuda"))
    parser.add_argument("--weights", default=None, help="weights file (default: the bundled weights)")
    parser.add_argument("--clip", type=Path, default=SAMPLE_CLIP)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--gop", type=int, default=12)
    parser.add_argument("--speed-size", type=lambda s: tuple(int(v) for v in s.split("x")), default=(1920, 1080))
    parser.add_argument("--speed-frames", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the numbers")
    args = parser.parse_args(argv)
    cpu, device = load_model(args.weights, "cpu"), load_model(args.weights, args.device)
    report = {"device": args.device, "device_name": (torch.cuda.get_device_name(args.device)
                                                     if args.device.startswith("cuda") else "cpu"),
              "clip": str(args.clip), "quality": args.quality, "gop": args.gop, "weights_id": cpu.weights_id.hex()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report["cpu_to_device"] = _code(args.clip, folder, "cpu", cpu, device, args)
        report["device_to_cpu"] = _code(args.clip, folder, "device", device, cpu, args)
        report["speed"] = _speed(device, folder, args)
    for direction in ("cpu_to_device", "device_to_cpu"):
        r = report[direction]
        print(f"{direction}: {r['frames']} frames, symbols equal {r['symbol_agreement']:.6f}, "
              + (f"{r['identical_frames']} reconstructions identical, PSNR vs encoder {_db(r['psnr_vs_encoder_db'])}"
                 f", drift warned on frames {r['drifted_frames']}" if r["decoded"] else f"FAILED: {r['error']}"))
    s = report["speed"]
    print(f"speed on {args.device} at {s['size']}: encode {s['encode_fps']:.3f} fps, decode {s['decode_fps']:.3f} fps")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0 if all(report[d]["decoded"] for d in ("cpu_to_device", "device_to_cpu")) else 1


if __name__ == "__main__":
    sys.exit(main())
