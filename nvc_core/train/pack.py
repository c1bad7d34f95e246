"""A training pack: the training data, compact enough to travel with the working tree (``nvc train pack``).

A lent GPU machine gets the working tree (64 MiB in all) but not ``../shared``; the pack is what it
trains on. Layout of a pack folder:

  * ``photos/NNN_<name>.jpg``   every photo as :class:`~nvc_core.train.data.PhotoSet` holds it (longer
                                side at most ``photo_max_side``), JPEG at ``photo_quality``;
  * ``clips/NNN/FFFFF.jpg``     every training sequence as :func:`~nvc_core.train.data.load_sequences`
                                holds it (videos decoded, downscaled to ``video_max_side``, at most
                                ``video_max_frames`` frames; frame folders grouped into sequences), JPEG
                                at the highest quality (at most ``photo_quality``) that fits ``max_mib``;
  * ``pack.json``               sources, settings, counts, bytes, qualities, build time.

``photos/`` and ``clips/`` are ordinary folders for the same loaders, in the same order, so with the
same seed a pack gives the same samples as the folders it was made from, up to JPEG loss
(``data.pack`` in the config, ``nvc train --pack DIR``).

Flow hints are not stored: flow-guided training estimates them on the augmented crops (random crop,
flips, temporal stride and direction, synthetic clips rendered per sample), which no flow of the
stored frames reproduces; worker processes compute them ahead of the step (:mod:`nvc_core.train.loader`).
Only training data goes in: a source under a folder named ``eval`` is refused.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from nvc_core.errors import NVCError

MANIFEST = "pack.json"
MIB = 2 ** 20
#: Lowest JPEG quality the clip frames may get to fit the size limit.
MIN_CLIP_QUALITY = 75


def pack_sources(pack: str | Path) -> dict:
    """Data settings that make the loaders read a pack: photos and clips folders, no video cache."""
    pack = Path(pack)
    if not (pack / MANIFEST).is_file():
        raise NVCError(f"not a training pack (no {MANIFEST}): {pack}")
    return {"photos": str(pack / "photos"), "videos": [str(pack / "clips")], "cache": None}


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise NVCError("JPEG encoding failed")
    return data.tobytes()


def _encode_clips(sequences: list[np.ndarray], quality: int) -> list[list[bytes]]:
    return [[_jpeg(frame, quality) for frame in seq] for seq in sequences]


def _fitting_clips(sequences: list[np.ndarray], room: int, top: int) -> tuple[int, list[list[bytes]]]:
    """The highest quality in [MIN_CLIP_QUALITY, top] whose frames fit ``room`` bytes (bisection:
    JPEG size grows with quality), with the encoded frames."""
    lo, hi, best = MIN_CLIP_QUALITY, top, None
    while lo <= hi:
        q = (lo + hi) // 2
        frames = _encode_clips(sequences, q)
        if sum(len(blob) for seq in frames for blob in seq) <= room:
            best, lo = (q, frames), q + 1
        else:
            hi = q - 1
    if best is None:
        raise NVCError(f"the clips do not fit the pack even at JPEG quality {MIN_CLIP_QUALITY}: "
                       "raise --max-mb or lower data.video_max_frames")
    return best


def build_pack(data: dict, out: str | Path, max_mib: float = 40.0, photo_quality: int = 95) -> dict:
    """Write a pack of the ``data`` section of a training config into ``out``; returns the manifest."""
    from nvc_core.train.data import IMAGE_SUFFIXES, PhotoSet, load_sequences   # torch loads only here

    start = time.monotonic()
    sources = [data["photos"], *(data.get("videos") or [])]
    refused = [s for s in sources if "eval" in Path(s).resolve().parts]
    if refused:
        raise NVCError(f"a pack holds training data only, not {', '.join(map(str, refused))}")
    out = Path(out)
    if out.exists():
        if not (out / MANIFEST).is_file():
            raise NVCError(f"{out} exists and is not a training pack; not overwriting it")
        shutil.rmtree(out)

    photos = PhotoSet(data["photos"], data.get("photo_max_side"))
    photo_files = sorted(f for f in Path(data["photos"]).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    photo_bytes = [_jpeg(img, photo_quality) for img in photos.images]
    sequences = load_sequences(data.get("videos") or [], data.get("video_max_side"), data.get("video_max_frames"),
                               data.get("cache"))
    photo_total = sum(map(len, photo_bytes))
    room = int(max_mib * MIB) - photo_total
    if room <= 0:
        raise NVCError(f"the photos alone take {photo_total / MIB:.1f} MiB > --max-mb {max_mib}")
    clip_quality, clip_bytes = _fitting_clips(sequences, room, photo_quality) if sequences else (photo_quality, [])

    (out / "photos").mkdir(parents=True)
    for i, (f, blob) in enumerate(zip(photo_files, photo_bytes)):
        (out / "photos" / f"{i:03d}_{f.stem}.jpg").write_bytes(blob)
    for i, frames in enumerate(clip_bytes):
        folder = out / "clips" / f"{i:03d}"
        folder.mkdir(parents=True)
        for t, blob in enumerate(frames):
            (folder / f"{t:05d}.jpg").write_bytes(blob)
    manifest = {
        "format": "nvc-train-pack", "version": 1,
        "sources": {"photos": str(data["photos"]), "videos": [str(v) for v in data.get("videos") or []]},
        "settings": {k: data.get(k) for k in ("photo_max_side", "video_max_side", "video_max_frames")},
        "photos": len(photo_bytes), "clips": len(clip_bytes), "frames": sum(map(len, clip_bytes)),
        "clip_frames": [len(frames) for frames in clip_bytes],
        "photo_quality": photo_quality, "clip_quality": clip_quality,
        "bytes": photo_total + sum(len(blob) for seq in clip_bytes for blob in seq),
        "build_s": round(time.monotonic() - start, 1),
    }
    manifest["mib"] = round(manifest["bytes"] / MIB, 2)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("pack", help="make a training pack that travels with the working tree",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="training YAML whose data section is packed (default: the bundled one)")
    p.add_argument("--out", default=".pack", help="pack folder, replaced if it is a pack (default: %(default)s)")
    p.add_argument("--max-mb", type=float, default=40.0, help="size limit in MiB (default: %(default)s)")
    p.add_argument("--photo-quality", type=int, default=95, help="JPEG quality of the photos (default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.set_defaults(func=run_pack)
    return p


def run_pack(args: argparse.Namespace) -> int:
    from nvc_core.train.config import load_config, set_value
    config = load_config(args.config)
    for assignment in args.set:
        set_value(config, assignment)
    m = build_pack(config["data"], args.out, args.max_mb, args.photo_quality)
    print(f"nvc train pack: {args.out}: {m['photos']} photos (JPEG {m['photo_quality']}), {m['clips']} clips of "
          f"{m['frames']} frames (JPEG {m['clip_quality']}), {m['mib']} MiB, built in {m['build_s']} s")
    return 0
