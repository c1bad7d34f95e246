"""`nvc`: encode, decode and inspect .nvc bitstreams; train and evaluate (subcommands from their packages).

Every error caused by input (files, sizes, options, weights) ends as one line ``nvc: error: ...`` on
stderr and exit code 2, with no partial output left behind; SIGINT, SIGTERM and SIGHUP remove the
temporaries too (exit 128 + signal number). A programming error is reported as an internal error
(traceback, then ``nvc: internal error: ...``, exit 3), never as bad input.
Start-up is kept light: torch and the other heavy modules are imported only by the commands that
use them (``nvc --help``, argument errors and ``nvc info`` never load them).
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
import traceback

from nvc_core.bitstream import MAX_GOP, MAX_U32
from nvc_core.defaults import DEFAULT_GOP, DEFAULT_QUALITY, MAX_EFFORT
from nvc_core.errors import Cancelled, NVCError

EXIT_USAGE = 2
EXIT_INTERNAL = 3
#: Subcommands registered by their own packages, loaded only when used: name -> (module, help).
EXTERNAL = {"train": ("nvc_core.train.cli", "train NVC progressively, stage by stage"),
            "eval": ("nvc_core.evaluation.cli",
                     "rate-distortion evaluation against x264/x265 (results.json, RD plots, BD-rate)")}
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM/SIGHUP so that every cleanup handler runs."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum, _frame) -> None:
    for s in SIGNALS:  # the cleanup that follows must not be interrupted in turn
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


class Parser(argparse.ArgumentParser):
    """argparse with the README's error format: one line, no usage block, exit code 2 (via main)."""

    def error(self, message: str):
        raise NVCError(f"{message} (see '{self.prog} --help')")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return w, h


def _bounded(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}, got {value}")
        return value
    return parse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


#: Suffixes of the videos and images nvc reads or writes: an .nvc bitstream is never given one.
NOT_BITSTREAM = (".y4m", ".yuv", ".png", ".jpg", ".jpeg", ".mp4", ".avi", ".mkv", ".mov", ".h264", ".264")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None,
                   help="weights file (.pt), or 'random'; default: the bundled weights")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--stats", metavar="STATS.json", help="write per-frame statistics as JSON")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``train`` and ``eval`` get their full parsers only when ``command`` names them."""
    parser = Parser(prog="nvc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    enc = sub.add_parser("encode", help="encode a video into an .nvc bitstream")
    enc.add_argument("input", help=".y4m, .yuv (_WxH in the name or --size), .mp4/.avi/.mkv, or a PNG folder")
    enc.add_argument("-o", "--output", required=True, metavar="OUT.nvc")
    enc.add_argument("--quality", type=_integer, default=DEFAULT_QUALITY,
                     help=f"rate point, 0 = lowest rate, up to the model's number of rates - 1 (default {DEFAULT_QUALITY})")
    enc.add_argument("--gop", type=_bounded(1, MAX_GOP), default=DEFAULT_GOP,
                     help=f"intra period; 1 = every frame intra (default {DEFAULT_GOP})")
    enc.add_argument("--frames", type=_bounded(1, MAX_U32), default=None, help="code at most N frames")
    enc.add_argument("--no-temporal-prior", action="store_true", help="code motion features without the TUM prior")
    enc.add_argument("--effort", type=_bounded(0, MAX_EFFORT), default=0,
                     help=f"encoder effort 0..{MAX_EFFORT}: gradient steps refining the latents of every frame "
                          "for rate + distortion (slower encoding, same decoder); 0 = off (default)")
    enc.add_argument("--fixed-motion-rate", action="store_true",
                     help="code every P-frame's motion at --quality (faster encoding); by default the encoder "
                          "picks the motion's rate point per P-frame for rate + distortion")
    enc.add_argument("--recon", metavar="REC", help="write the reconstruction: .y4m or a PNG folder (no suffix)")
    enc.add_argument("--size", type=_size, help="WxH of a raw .yuv input")
    enc.add_argument("--matrix", choices=("bt709", "bt601"), default="bt709",
                     help="Y'CbCr matrix of YUV input/output (limited range)")
    _add_common(enc)
    enc.set_defaults(func=cmd_encode)

    dec = sub.add_parser("decode", help="decode an .nvc bitstream")
    dec.add_argument("input", metavar="IN.nvc")
    dec.add_argument("-o", "--output", required=True, help=".y4m or a PNG folder (no suffix)")
    dec.add_argument("--strict", action="store_true",
                     help="refuse a frame whose reconstruction differs from the encoder's (default: warn)")
    _add_common(dec)
    dec.set_defaults(func=cmd_decode)

    info = sub.add_parser("info", help="print the header and a per-frame table of an .nvc bitstream")
    info.add_argument("input", metavar="IN.nvc")
    info.set_defaults(func=cmd_info)

    for name, (module, help_text) in EXTERNAL.items():
        if name == command:
            importlib.import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


class Progress:
    """Per-frame progress on stderr with the elapsed time and an estimate of the time left: a bar
    redrawn in place on a terminal, one plain line per frame otherwise. A frame is named by its index
    (from 0, as in every message, the stats and ``nvc info``), followed by how many are done.

    The estimate appears once ``TIMED`` frames after the first are done, from their mean time: the
    first frame (an I-frame, plus the start-up of the kernels) is no guide to the P-frames."""

    BAR = 24
    TIMED = 2

    def __init__(self, verb: str, stream=None):
        self.verb, self.stream = verb, stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.first_done: float | None = None
        self.open_line = False

    def __call__(self, record, done: int, total: int | None) -> None:
        now = time.monotonic()
        elapsed = now - self.start
        if self.first_done is None:
            self.first_done = now
        timed = done - 1                     # frames after the first
        left = (f", {_clock((now - self.first_done) / timed * (total - done))} left"
                if total and timed >= self.TIMED else "")
        metric = f" {record.psnr_rgb:6.2f} dB" if record.psnr_rgb is not None else ""
        text = (f"{self.verb} frame {done - 1} ({done}/{total or '?'}) {record.frame_type} {record.bits:8d} bits{metric}"
                f"  {_clock(elapsed)} elapsed{left}")
        if self.tty:
            filled = self.BAR * done // total if total else 0
            bar = f"[{'#' * filled}{'.' * (self.BAR - filled)}] " if total else ""
            self.stream.write(f"\r{bar}{text}\x1b[K")
            self.open_line = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (before a summary or an error message)."""
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def _load(args):
    from nvc_core.env import resolve_device
    from nvc_core.weights import load_model
    return load_model(args.weights, device=resolve_device(args.device))


def _quality_text(summary: dict) -> str:
    if summary.get("psnr_rgb") is None:
        return ""
    return f", PSNR-RGB {summary['psnr_rgb']:.2f} dB, MS-SSIM {summary['ms_ssim']:.4f} (mean over frames)"


def cmd_encode(args) -> int:
    from nvc_core.analysis import Analysis
    from nvc_core.codec import encode_video
    from nvc_core.frame_step import check_quality
    from nvc_core.outputs import check_outputs
    check_outputs([args.input], [args.output, args.recon, args.stats], videos=[args.recon])
    if args.output.lower().endswith(NOT_BITSTREAM):
        raise NVCError(f"-o {args.output}: an .nvc bitstream is written there, not a video; name it .nvc "
                       "(--recon writes the reconstructed video)")
    model = _load(args)
    check_quality(model, args.quality, "argument --quality")
    progress = Progress("encode")
    try:
        result = encode_video(args.input, args.output, model, quality=args.quality, gop=args.gop,
                              frames=args.frames, temporal_prior=not args.no_temporal_prior,
                              recon_path=args.recon, stats_path=args.stats, size=args.size, matrix=args.matrix,
                              analysis=Analysis.STATS if args.stats else Analysis.NONE, on_frame=progress,
                              effort=args.effort, motion_search=not args.fixed_motion_rate)
    finally:
        progress.close()
    s = result.summary()
    print(f"{args.output}: {s['frames']} frames {s['width']}x{s['height']}, {s['file_bytes']} bytes, "
          f"{s['bpp']:.4f} bpp{_quality_text(s)}")
    return 0


def cmd_decode(args) -> int:
    from nvc_core.analysis import Analysis
    from nvc_core.codec import decode_video
    from nvc_core.outputs import check_outputs
    check_outputs([args.input], [args.output, args.stats], videos=[args.output])
    model = _load(args)
    progress = Progress("decode")
    try:
        result = decode_video(args.input, model, args.output, stats_path=args.stats,
                              analysis=Analysis.STATS if args.stats else Analysis.NONE, on_frame=progress,
                              strict=args.strict)
    finally:
        progress.close()
    warning = result.drift_warning()
    if warning:
        print(f"nvc: warning: {warning}", file=sys.stderr)
    matching = "every frame matches the encoder's reconstruction" if not warning else "output written"
    print(f"{args.output}: {len(result.records)} frames decoded, {matching}")
    return 0


def cmd_info(args) -> int:
    from nvc_core.bitstream import read_stream
    header, chunks = read_stream(args.input)
    h = header
    print(f"{args.input}: NVC bitstream, {h.width}x{h.height}, {h.frame_count} frames, "
          f"{h.fps_num}/{h.fps_den} fps, GOP {h.gop}, quality {h.quality}, "
          f"{h.matrix} {'full' if h.full_range else 'limited'} range, weights {h.weights_id.hex()}")
    print(f"{'frame':>5} {'type':>4} {'TP':>2} {'motion q':>8} {'bits':>9}")
    for i, c in enumerate(chunks):          # frame 0 is the first, as in the stats, the analyzer and the errors
        motion_q = f"{h.quality - c.motion_offset:8d}" if c.frame_type == "P" else f"{'--':>8}"
        print(f"{i:5d} {c.frame_type:>4} {'on' if c.temporal_prior else '--':>2} {motion_q} {8 * c.nbytes:9d}")
    return 0


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, _on_signal) for s in SIGNALS} if main_thread else {}
    try:
        args = build_parser(_command(argv)).parse_args(argv)
        return args.func(args)
    except NVCError as exc:
        print(f"nvc: error: {exc}", file=sys.stderr)
    except Cancelled:
        print("nvc: error: cancelled", file=sys.stderr)
    except Interrupted as exc:
        print(f"nvc: error: interrupted ({exc}); no output written", file=sys.stderr)
        return 128 + exc.signum
    except BrokenPipeError:  # the reader of our output went away (nvc info ... | head): not an error to report
        sys.stdout = None
        return 128 + signal.SIGPIPE
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nvc: error: {where}{exc.strerror or exc}", file=sys.stderr)
    except Exception as exc:  # a bug, not bad input: say so, with the traceback for the report
        traceback.print_exc()
        print(f"nvc: internal error: {type(exc).__name__}: {exc} (this is a bug; please report it)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
