"""`nvc`: encode, decode and inspect .nvc bitstreams; train and evaluate (subcommands from their packages).

Every error caused by input (files, sizes, options, weights) ends as one line on stderr and exit code 2,
with no partial output left behind.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from nvc_core.errors import Cancelled, NVCError

EXIT_USAGE = 2


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, got {text!r}") from None
    return w, h


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None,
                   help="weights file (.pt), or 'random'; default: the bundled weights")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--stats", metavar="STATS.json", help="write per-frame statistics as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nvc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    enc = sub.add_parser("encode", help="encode a video into an .nvc bitstream")
    enc.add_argument("input", help=".y4m, .yuv (_WxH in the name or --size), .mp4/.avi/.mkv, or a PNG folder")
    enc.add_argument("-o", "--output", required=True, metavar="OUT.nvc")
    enc.add_argument("--quality", type=int, default=3, help="rate point, 0 = lowest rate (default 3)")
    enc.add_argument("--gop", type=_positive, default=12, help="intra period; 1 = every frame intra (default 12)")
    enc.add_argument("--frames", type=_positive, default=None, help="code at most N frames")
    enc.add_argument("--no-temporal-prior", action="store_true", help="code motion features without the TUM prior")
    enc.add_argument("--recon", metavar="REC", help="write the reconstruction: .y4m or a PNG folder (no suffix)")
    enc.add_argument("--size", type=_size, help="WxH of a raw .yuv input")
    enc.add_argument("--matrix", choices=("bt709", "bt601"), default="bt709",
                     help="Y'CbCr matrix of YUV input/output (limited range)")
    _add_common(enc)
    enc.set_defaults(func=cmd_encode)

    dec = sub.add_parser("decode", help="decode an .nvc bitstream")
    dec.add_argument("input", metavar="IN.nvc")
    dec.add_argument("-o", "--output", required=True, help=".y4m or a PNG folder (no suffix)")
    _add_common(dec)
    dec.set_defaults(func=cmd_decode)

    info = sub.add_parser("info", help="print the header and a per-frame table of an .nvc bitstream")
    info.add_argument("input", metavar="IN.nvc")
    info.set_defaults(func=cmd_info)

    from nvc_core.evaluation.cli import add_parser as add_eval
    from nvc_core.train.cli import add_parser as add_train
    add_train(sub)
    add_eval(sub)
    return parser


def _load(args):
    from nvc_core.weights import load_model
    return load_model(args.weights, device=args.device)


def _summary(result) -> dict:
    from nvc_core.evaluation.rd import bits_per_pixel
    from nvc_core.metrics import mse_to_psnr
    records = result.records
    h, w = result.header.height, result.header.width
    summary = {"width": w, "height": h, "frames": len(records),
               "bpp": bits_per_pixel(result.file_bytes, w, h, len(records)), "file_bytes": result.file_bytes}
    if records and records[0].psnr_rgb is not None:
        # sequence PSNR from the mean MSE over frames (inf-safe), MS-SSIM averaged
        for key in ("psnr_rgb", "psnr_y"):
            mse = sum(255.0 ** 2 / 10 ** (getattr(r, key) / 10) for r in records) / len(records)
            summary[key] = mse_to_psnr(mse)
        summary["ms_ssim"] = sum(r.ms_ssim for r in records) / len(records)
    return summary


def _write_stats(path: str | None, result) -> None:
    if not path:
        return
    stats = {"frames": [r.stats() for r in result.records], "summary": _summary(result)}
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    tmp.write_text(json.dumps(_finite(stats), indent=1, allow_nan=False))
    tmp.replace(path)


def _finite(value):
    """JSON has no infinity: a lossless frame's PSNR is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _print_progress(record, done, total) -> None:
    metric = f" {record.psnr_rgb:6.2f} dB" if record.psnr_rgb is not None else ""
    print(f"frame {done}/{total or '?'} {record.frame_type} {record.bits:8d} bits{metric}", file=sys.stderr)


def cmd_encode(args) -> int:
    from nvc_core.codec import encode_video
    model = _load(args)
    result = encode_video(args.input, args.output, model, quality=args.quality, gop=args.gop,
                          frames=args.frames, temporal_prior=not args.no_temporal_prior,
                          recon_path=args.recon, size=args.size, matrix=args.matrix,
                          on_frame=_print_progress, keep_analysis=False)
    _write_stats(args.stats, result)
    s = _summary(result)
    print(f"{args.output}: {s['frames']} frames {s['width']}x{s['height']}, {s['file_bytes']} bytes, "
          f"{s['bpp']:.4f} bpp, PSNR-RGB {s['psnr_rgb']:.2f} dB, MS-SSIM {s['ms_ssim']:.4f}")
    return 0


def cmd_decode(args) -> int:
    from nvc_core.codec import decode_video
    model = _load(args)
    result = decode_video(args.input, model, args.output, keep_analysis=False)
    _write_stats(args.stats, result)
    print(f"{args.output}: {len(result.records)} frames decoded, every frame hash verified")
    return 0


def cmd_info(args) -> int:
    from nvc_core.bitstream import FrameChunk, StreamHeader, STREAM_NAMES
    from nvc_core.errors import BitstreamError
    path = Path(args.input)
    if not path.is_file():
        raise BitstreamError(f"{path}: no such file")
    with open(path, "rb") as f:
        h = StreamHeader.read(f)
        print(f"{path}: NVC bitstream, {h.width}x{h.height}, {h.frame_count} frames, "
              f"{h.fps_num}/{h.fps_den} fps, GOP {h.gop}, quality {h.quality}, "
              f"{h.matrix} {'full' if h.full_range else 'limited'} range, weights {h.weights_id.hex()}")
        names = sorted({n for v in STREAM_NAMES.values() for n in v})
        print(f"{'frame':>5} {'type':>4} {'TP':>2} {'bits':>9} " + " ".join(f"{n:>11}" for n in names))
        for i in range(h.frame_count):
            c = FrameChunk.read(f, i)
            bits = {k: 8 * len(v) for k, v in c.streams.items()}
            print(f"{i:5d} {c.frame_type:>4} {'on' if c.temporal_prior else '--':>2} {8 * c.nbytes:9d} "
                  + " ".join(f"{bits.get(n, ''):>11}" for n in names))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NVCError as exc:
        print(f"nvc: error: {exc}", file=sys.stderr)
    except Cancelled:
        print("nvc: error: cancelled", file=sys.stderr)
    except KeyboardInterrupt:
        print("nvc: error: interrupted", file=sys.stderr)
    except OSError as exc:
        print(f"nvc: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
