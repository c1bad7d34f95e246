"""``nvc train``: the progressive training stages (see :mod:`nvc_core.train.stages`).

Examples::

    nvc train --stage all                                # the bundled schedule, resources/configs/train.yaml
    nvc train --stage intra --steps 200 --out runs/try   # one stage, a fixed number of steps
    nvc train --stage all --resume --out runs/try        # continue from runs/try/checkpoint.pt
    nvc train --data /data/vimeo_septuplet --set train.crop=192 --device cuda
    nvc train pack --out .pack --max-mb 40               # the training data, compact enough to travel
    nvc train --config resources/configs/train_gpu.yaml --pack .pack --budget 8 --device cuda --out runs/gpu
    nvc train check runs/gpu/nvc.pt --device cuda        # bpp / PSNR / loss on one clip, no range coding
    torchrun --nproc_per_node 4 -m nvc_core.cli train --device cuda   # data parallel
"""
from __future__ import annotations

import argparse

from nvc_core.errors import NVCError
from nvc_core.train import check, pack
from nvc_core.train.config import DEFAULT_CONFIG, load_config, set_value
from nvc_core.train.stages import ORDER


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train NVC progressively, stage by stage",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="training YAML (default: %(default)s)")
    p.add_argument("--stage", default="all",
                   help=f"'all' or comma-separated stages, run in order: {', '.join(ORDER)}")
    p.add_argument("--steps", type=int, help="steps per stage (overrides the config)")
    p.add_argument("--minutes", type=float, help="minutes per stage (overrides the config)")
    p.add_argument("--budget", type=float, metavar="MINUTES",
                   help="wall time for all the stages, split by the ratios of their minutes in the config")
    p.add_argument("--out", default="runs", help="checkpoints, log.csv and exported weights (default: runs)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--init", action="append", metavar="PATH[:CODER,...]",
                   help="start from a weights file instead of random initialisation; repeatable, later files "
                        "win; PATH:intra copies only neuro-Intra (coders: intra, motion, mcn, residual)")
    p.add_argument("--export", help="final fp16 weights (default: OUT/nvc.pt)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast on cuda)")
    p.add_argument("--data", nargs="+", help="clip sources for the inter stages (video files or folders, "
                                             "frame folders, Vimeo-90k roots); replaces data.videos")
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


def run_train(args: argparse.Namespace) -> int:
    from nvc_core.train.trainer import train   # torch and the data stack load only for this command
    config = load_config(args.config)
    stages = parse_stages(args.stage)
    for assignment in args.set:
        set_value(config, assignment)
    if args.data:
        config["data"]["videos"] = args.data
    if args.pack:
        config["data"]["pack"] = args.pack
    for name in stages:
        for key in ("steps", "minutes"):
            if getattr(args, key) is not None:
                set_value(config, f"stages.{name}.{key}={getattr(args, key)}")
    train(config, stages, args.out, device=args.device, resume=args.resume, init=args.init, export=args.export,
          budget=args.budget)
    return 0
