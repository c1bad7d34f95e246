"""Container overhead of the .nvc file: framing, hashes, CRCs and the range coder's flush.

Overhead = 1 − Σ estimated bits of every latent / file bits (the estimate is what an ideal coder
would spend under the coded distributions). One encode per clip and quality; the overhead of other
layouts is computed from the same payloads (chunk varint and payload sizes as coded), so the
layouts are compared on identical content:

* ``v2``: per frame an 8-byte hash and a CRC-32; header CRC-32 (the version-2 layout);
* ``frame16``: per frame a 2-byte hash and a CRC-16; header CRC-16;
* ``v3``: per frame a 1-byte hash, per GOP a CRC-32; header CRC-16 (the current layout);
* ``gop``: per GOP a 4-byte hash and a CRC-32, nothing per frame; header CRC-16.

    python benchmarks/bench_container.py --out benchmarks/results/container.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvc_core.analysis import Analysis  # noqa: E402
from nvc_core.bitstream import gop_ends, read_stream, varint  # noqa: E402
from nvc_core.codec import encode_video  # noqa: E402
from nvc_core.resources import SAMPLE_CLIP  # noqa: E402
from nvc_core.weights import load_model  # noqa: E402

#: (bytes per frame besides the varint and payload, bytes per GOP, header CRC bytes)
LAYOUTS = {"v2": (8 + 4, 0, 4), "frame16": (2 + 2, 0, 2), "v3": (1, 4, 2), "gop": (0, 8, 2)}


def measure(clip: Path, quality: int, frames: int, gop: int, model) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.nvc"
        result = encode_video(clip, path, model, quality=quality, gop=gop, frames=frames, analysis=Analysis.STATS)
        header, chunks = read_stream(path)
        chunks = list(chunks)
    estimated = sum(r.bits_estimated for r in result.records)
    header_bytes = len(header.pack()) - 2                   # without its CRC
    varints = sum(len(varint(len(c.payload) << 2)) for c in chunks)
    payload = sum(len(c.payload) for c in chunks)
    gops = len(gop_ends(len(chunks), gop))
    layouts = {}
    for name, (per_frame, per_gop, header_crc) in LAYOUTS.items():
        total = header_bytes + header_crc + varints + payload + per_frame * len(chunks) + per_gop * gops
        layouts[name] = {"file_bytes": total, "overhead_percent": 100 * (1 - estimated / (8 * total))}
    return {"clip": clip.name, "quality": quality, "frames": len(chunks), "gop": gop,
            "file_bytes_as_coded": result.file_bytes, "estimated_bits": estimated,
            "payload_bytes": payload, "flush_and_quantization_bits": 8 * payload - estimated,
            "header_bytes": len(header.pack()), "varint_bytes": varints, "layouts": layouts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=SAMPLE_CLIP)
    parser.add_argument("--qualities", default="1,3")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--gop", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    model = load_model()
    runs = [measure(args.clip, int(q), args.frames, args.gop, model) for q in args.qualities.split(",")]
    for run in runs:
        print(f"{run['clip']} q{run['quality']} ({run['frames']} frames, GOP {run['gop']}): "
              f"{run['file_bytes_as_coded']} bytes; overhead "
              + ", ".join(f"{k} {v['overhead_percent']:.2f} %" for k, v in run["layouts"].items()))
    if args.out:
        args.out.write_text(json.dumps({"weights_id": model.weights_id.hex(), "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
