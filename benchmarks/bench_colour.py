"""PSNR-Y as nvc reports it against PSNR-Y measured by ffmpeg on the files: does nvc read colours true?

For each clip: ``nvc encode CLIP --frames N --quality Q --recon rec.y4m --stats s.json``; then ffmpeg
decodes the source and the written reconstruction to raw yuv420p (no colour conversion: the Y plane as
coded) and the Y-plane PSNR of every frame (peak 255) is averaged over frames, as nvc averages its own.
``reported - measured`` should be within rounding (the reconstruction's Y plane is rounded to 8 bits;
nvc's own PSNR-Y compares unrounded luma of the RGB frames).
``python benchmarks/bench_colour.py --out benchmarks/results/colour_psnr_y.json``
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from nvc_core.metrics import mean_over_frames, mse_to_psnr

CLIPS = ("../shared/data/eval/video/bikes.mp4", "../shared/data/eval/video/carphone_pristine.mp4",
         "nvc_core/resources/sample/carphone_30.y4m")


def ffmpeg_luma(path: Path, frames: int, width: int, height: int) -> np.ndarray:
    """(frames, height, width) Y planes of ``path`` as ffmpeg decodes it, without colour conversion."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-frames:v", str(frames),
                          "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    size = width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    data = np.frombuffer(raw, np.uint8).reshape(-1, size)[:frames]
    return data[:, :width * height].reshape(-1, height, width).astype(np.float64)


def measure(clip: Path, quality: int, frames: int, tmp: Path) -> dict:
    stream, recon, stats = tmp / "out.nvc", tmp / "rec.y4m", tmp / "s.json"
    for path in (stream, recon, stats):
        path.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "nvc_core.cli", "encode", str(clip), "-o", str(stream),
                    "--quality", str(quality), "--frames", str(frames), "--recon", str(recon),
                    "--stats", str(stats)], check=True, capture_output=True)
    record = json.loads(stats.read_text())
    summary = record["summary"]
    w, h, n = summary["width"], summary["height"], summary["frames"]
    source, rec = ffmpeg_luma(clip, n, w, h), ffmpeg_luma(recon, n, w, h)
    measured = mean_over_frames({"psnr_y": mse_to_psnr(float(np.mean((s - r) ** 2)))} for s, r in zip(source, rec))
    return {"clip": str(clip), "quality": quality, "frames": n, "size": f"{w}x{h}",
            "psnr_y_reported": summary["psnr_y"], "psnr_y_ffmpeg": measured["psnr_y"],
            "difference_db": summary["psnr_y"] - measured["psnr_y"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, default=[Path(c) for c in CLIPS])
    parser.add_argument("--quality", type=int, default=5)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(clip, args.quality, args.frames, Path(tmp)) for clip in args.clips]
    for row in rows:
        print(f"{row['clip']}: q{row['quality']} {row['frames']} frames, PSNR-Y reported "
              f"{row['psnr_y_reported']:.3f} dB, ffmpeg {row['psnr_y_ffmpeg']:.3f} dB, "
              f"difference {row['difference_db']:+.3f} dB")
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
