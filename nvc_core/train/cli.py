"""``nvc train``: the progressive training stages (see :mod:`nvc_core.train.stages`).

Examples::

    nvc train --stage all                                # the bundled schedule (nvc_core/resources/configs/train.yaml)
    nvc train --photos my/photos --data my/videos --init bundled --budget 10 --out runs/mine   # fine-tune
    nvc train --stage intra --steps 200 --out runs/try   # one stage, a fixed number of steps
    nvc train --stage all --resume --out runs/try        # continue from runs/try/checkpoint.pt
    nvc train --data /data/vimeo_septuplet --set train.crop=192 --device cuda
    nvc train pack --out .pack --max-mb 40               # the training data, compact enough to travel
    nvc train --config nvc_core/resources/configs/train_gpu.yaml --pack .pack --budget 8 --device cuda --out runs/gpu
    nvc train check runs/gpu/nvc.pt --device cuda        # bpp / PSNR / loss on one clip, no range coding
    torchrun --nproc_per_node 4 -m nvc_core.cli train --device cuda   # data parallel
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from nvc_core.errors import NVCError
from nvc_core.resources import BUNDLED_WEIGHTS
from nvc_core.train import check, pack
from nvc_core.train.config import DEFAULT_CONFIG, load_config, set_value
from nvc_core.train.stages import ORDER


def _positive(kind):
    """argparse type: a finite number > 0 (``int`` or ``float``)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train NVC progressively, stage by stage",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="training YAML (default: %(default)s)")
    p.add_argument("--stage", default="all",
                   help=f"'all' or comma-separated stages, run in order: {', '.join(ORDER)}")
    p.add_argument("--steps", type=_positive(int), help="steps per stage (overrides the config)")
    p.add_argument("--minutes", type=_positive(float), help="minutes per stage (overrides the config)")
    p.add_argument("--budget", type=_positive(float), metavar="MINUTES",
                   help="wall time for all the stages, split by the ratios of their minutes in the config")
    p.add_argument("--out", default="runs", help="a new or empty folder for the checkpoint, log.csv, summary.json, "
                                                 "the exported weights and data_cache/ (default: runs)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT (from OUT/checkpoint.pt)")
    p.add_argument("--init", action="append", metavar="PATH[:CODER,...]",
                   help="start from a weights file ('bundled': the bundled weights) instead of random "
                        "initialisation; repeatable, later files win; PATH:intra copies only neuro-Intra "
                        "(coders: intra, motion, mcn, residual)")
    p.add_argument("--export", help="final fp16 weights (default: OUT/nvc.pt)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast on cuda)")
    p.add_argument("--photos", nargs="+", metavar="PATH",
                   help="images (files or folders) for neuro-Intra and the synthetic clips; replaces data.photos "
                        "(and data.videos, by --data or none)")
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="clip sources for the inter stages (video files or folders, frame folders, Vimeo-90k "
                        "roots); replaces data.videos, and data.photos by the images found under them unless "
                        "--photos is given")
    p.add_argument("--pack", help="train on a pack made by 'nvc train pack' (photos and clips)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. stages.intra.batch=16 (repeatable)")
    p.set_defaults(func=run_train)
    tools = p.add_subparsers(title="tools", metavar="{pack,check}")
    pack.add_parser(tools)
    check.add_parser(tools)
    return p


def parse_stages(spec: str) -> list[str]:
    if spec == "all":
        return list(ORDER)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in ORDER]
    if unknown or not names:
        raise NVCError(f"unknown stage {', '.join(unknown) or spec!r}; choose from all, {', '.join(ORDER)}")
    return sorted(names, key=ORDER.index)


def command_config(args: argparse.Namespace, stages: list[str]) -> dict:
    """The preset with the command line's overrides (``--set``, then the data and budget options)."""
    config = load_config(args.config)
    for assignment in args.set:
        set_value(config, assignment)
    data = config.get("data")
    if not isinstance(data, dict):
        data = config["data"] = {}
    if args.photos or args.data:        # your own data replaces the preset's sources, both of them
        data["videos"] = args.data or []
        data["photos"] = args.photos or _with_images(args.data)
    if args.pack:
        data["pack"] = args.pack
    for name in stages:
        for key in ("steps", "minutes"):
            if getattr(args, key) is not None:
                set_value(config, f"stages.{name}.{key}={getattr(args, key)}")
    return config


def _with_images(paths: list[str]) -> list[str] | None:
    """Those of ``paths`` that hold images (for the intra stage and synthetic clips), or None."""
    from nvc_core.train.data import image_files
    found = [p for p in paths if Path(p).exists() and image_files(p)]
    return found or None


def run_train(args: argparse.Namespace) -> int:
    from nvc_core.train.trainer import train   # torch and the data stack load only for this command
    stages = parse_stages(args.stage)
    config = command_config(args, stages)
    from nvc_core.env import resolve_device
    resolve_device(args.device)
    init = [f"{BUNDLED_WEIGHTS}{spec[len('bundled'):]}" if spec.partition(":")[0] == "bundled" else spec
            for spec in args.init or []]
    train(config, stages, args.out, device=args.device, resume=args.resume, init=init, export=args.export,
          budget=args.budget)
    print(f"nvc train: weights written to {args.export or Path(args.out) / 'nvc.pt'}")
    return 0
