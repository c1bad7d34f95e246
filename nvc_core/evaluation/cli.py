"""The ``nvc eval`` subcommand (registered by ``nvc_core.cli`` through :func:`add_parser`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nvc_core.defaults import DEFAULT_EVAL_FRAMES, DEFAULT_GOP, MAX_EFFORT
from nvc_core.errors import NVCError
from nvc_core.evaluation import anchors

DEFAULT_OUT = Path("runs/eval")


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _qualities(text: str) -> list[int] | None:
    return None if text == "all" else _int_list(text)


def _anchor_list(text: str) -> list[str]:
    names = [] if text == "none" else [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in anchors.CODECS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown anchors {unknown}: use {','.join(anchors.CODECS)} or none")
    return names


def _switch(on: str, off: str):
    """An argument type: ``on``, ``off`` or both, comma-separated -> [True], [False], [True, False]..."""
    def parse(text: str) -> list[bool]:
        flags = {on: True, off: False}
        values = [x.strip() for x in text.split(",") if x.strip()]
        if not values or any(v not in flags for v in values):
            raise argparse.ArgumentTypeError(f"expected {on}, {off} or {on},{off}, got {text!r}")
        return [flags[v] for v in dict.fromkeys(values)]
    return parse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``eval`` on the core CLI's subparsers."""
    p = subparsers.add_parser(
        "eval", help="rate-distortion evaluation against x264/x265 (results.json, RD plots, BD-rate)",
        description="Code clips at several qualities with NVC and with the x264/x265 low-delay anchors, "
                    "then write DIR/results.json, DIR/rd_<clip>.png and print a BD-rate table.")
    p.add_argument("clips", nargs="*", type=Path,
                   help="videos or PNG folders (default: the eval clips of ../shared/data/eval/video)")
    p.add_argument("--qualities", type=_qualities, default=None, metavar="Q,Q,...|all",
                   help="rate points of our codec (default: all)")
    p.add_argument("--gop", type=int, default=DEFAULT_GOP, help=f"GOP of every codec (default {DEFAULT_GOP})")
    p.add_argument("--frames", type=int, default=DEFAULT_EVAL_FRAMES,
                   help=f"first N frames of each clip (default {DEFAULT_EVAL_FRAMES})")
    p.add_argument("--anchors", type=_anchor_list, default=list(anchors.CODECS), metavar="x264,x265|none",
                   help="anchor codecs (default: x264,x265)")
    p.add_argument("--crf", type=_int_list, default=list(anchors.DEFAULT_CRFS), metavar="CRF,CRF,...",
                   help="anchor CRF sweep (default: %s)" % ",".join(map(str, anchors.DEFAULT_CRFS)))
    p.add_argument("--intra-only", action="store_true", help="add our codec with GOP 1 as a reference curve")
    p.add_argument("--temporal-prior", type=_switch("on", "off"), default=[True], metavar="on|off|on,off",
                   help="our codec with the temporal prior on, off, or both (default: on)")
    p.add_argument("--motion-rate", type=_switch("search", "fixed"), default=[True], metavar="search|fixed|search,fixed",
                   help="our codec with the per-frame motion rate search, with motion at the quality "
                        "(nvc encode --fixed-motion-rate), or both (default: search)")
    p.add_argument("--effort", type=int, choices=range(MAX_EFFORT + 1), default=0,
                   help="encoder effort of our codec (nvc encode --effort; default 0)")
    p.add_argument("--weights", default=None, help="weights .pt, or 'random' (default: bundled weights)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (our codec only)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.set_defaults(func=run_eval)
    return p


def run_eval(args: argparse.Namespace) -> int:
    """Run the evaluation; exit code 0, or 1 when a bitstream did not decode to the encoder's output."""
    from nvc_core.evaluation import report   # matplotlib, torch: loaded only when evaluating
    from nvc_core.evaluation.run import EvalSettings, default_clips, evaluate
    if args.frames < 1 or args.gop < 1:
        raise NVCError("--frames and --gop must be at least 1")
    settings = EvalSettings(clips=args.clips or default_clips(), out=args.out, qualities=args.qualities,
                            gop=args.gop, frames=args.frames, anchors=args.anchors, crfs=args.crf,
                            intra_only=args.intra_only, temporal_prior=args.temporal_prior,
                            motion_search=args.motion_rate,
                            weights=args.weights, device=args.device, effort=args.effort)
    results = evaluate(settings)
    print(report.format_table(results["bd_rate"]))
    if results["temporal_prior_motion_bits_saved"] is not None:
        print(report.format_saving(results["temporal_prior_motion_bits_saved"]))
    print(f"results: {args.out / 'results.json'}, plots: {args.out}/rd_<clip>.png")
    mismatches = [f"{clip} {codec} q{p['quality']}" for clip, entry in results["clips"].items()
                  for codec, points in entry["codecs"].items() for p in points if p.get("decode_matches") is False]
    if mismatches:
        print("error: decoded video differs from the encoder's reconstruction: " + ", ".join(mismatches))
        return 1
    return 0
