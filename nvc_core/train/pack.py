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

Nothing of the user's is ever replaced: the pack is built in a hidden sibling of ``out`` and renamed
onto it only when complete (a failed or interrupted build leaves no trace and an older pack intact);
an existing ``out`` is replaced only if it is a pack made by this command (``pack.json``,
``photos/``, ``clips/`` and nothing else), and never the current folder or one above it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from nvc_core.errors import NVCError
from nvc_core.outputs import temporary_sibling
from nvc_core.train.config import DataSettings

MANIFEST = "pack.json"
MIB = 2 ** 20
#: Lowest JPEG quality the clip frames may get to fit the size limit.
MIN_CLIP_QUALITY = 75


#: Everything a pack folder holds.
PACK_ENTRIES = {MANIFEST, "photos", "clips"}


def pack_sources(pack: str | Path) -> dict:
    """Data settings that make the loaders read a pack: photos and clips folders, no video cache."""
    pack = Path(pack)
    if not (pack / MANIFEST).is_file():
        raise NVCError(f"not a training pack (no {MANIFEST}): {pack}")
    return {"photos": [str(pack / "photos")], "videos": [str(pack / "clips")], "cache": None}


def check_pack_out(out: Path) -> None:
    """``out`` may be new, or a pack made by this command (replaced when the new one is complete)."""
    if out.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise NVCError(f"--out {out}: is the current folder or one above it; give a folder for the pack")
    if not out.exists() and not out.is_symlink():
        if not out.parent.is_dir():
            raise NVCError(f"--out {out}: the folder {out.parent} does not exist")
        return
    if out.is_symlink() or not out.is_dir():
        raise NVCError(f"--out {out}: exists and is not a folder; not overwriting it")
    entries = {e.name for e in out.iterdir()}
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != "nvc-train-pack" or not entries <= PACK_ENTRIES:
        raise NVCError(f"--out {out}: exists and is not a training pack made by 'nvc train pack'; not overwriting it")


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


def build_pack(data: DataSettings, out: str | Path, max_mib: float = 40.0, photo_quality: int = 95) -> dict:
    """Write a pack of the ``data`` section of a training config into ``out``; returns the manifest."""
    from nvc_core.train.data import PhotoSet, load_sequences   # torch loads only here

    start = time.monotonic()
    if not (max_mib > 0 and np.isfinite(max_mib)):
        raise NVCError(f"--max-mb must be > 0, got {max_mib}")
    if not 1 <= photo_quality <= 100:
        raise NVCError(f"--photo-quality must be in 1..100, got {photo_quality}")
    if not data.photos:
        raise NVCError("a pack needs photos (data.photos, or --photos DIR)")
    sources = [*data.photos, *data.videos]
    refused = [s for s in sources if "eval" in Path(s).resolve().parts]
    if refused:
        raise NVCError(f"a pack holds training data only, not {', '.join(map(str, refused))}")
    out = Path(out)
    check_pack_out(out)

    photos = PhotoSet(data.photos, data.photo_max_side)
    photo_bytes = [_jpeg(img, photo_quality) for img in photos.images]
    for p in map(Path, data.videos):
        if not p.exists():
            raise NVCError(f"no such file or folder: {p}")
    sequences = load_sequences(data.videos, data.video_max_side, data.video_max_frames)
    photo_total = sum(map(len, photo_bytes))
    room = int(max_mib * MIB) - photo_total
    if room <= 0:
        raise NVCError(f"the photos alone take {photo_total / MIB:.1f} MiB > --max-mb {max_mib}")
    clip_quality, clip_bytes = _fitting_clips(sequences, room, photo_quality) if sequences else (photo_quality, [])

    manifest = {
        "format": "nvc-train-pack", "version": 1,
        "sources": {"photos": list(data.photos), "videos": list(data.videos)},
        "settings": {k: getattr(data, k) for k in ("photo_max_side", "video_max_side", "video_max_frames")},
        "photos": len(photo_bytes), "clips": len(clip_bytes), "frames": sum(map(len, clip_bytes)),
        "clip_frames": [len(frames) for frames in clip_bytes],
        "photo_quality": photo_quality, "clip_quality": clip_quality,
        "bytes": photo_total + sum(len(blob) for seq in clip_bytes for blob in seq),
        "build_s": round(time.monotonic() - start, 1),
    }
    manifest["mib"] = round(manifest["bytes"] / MIB, 2)
    _write_pack(out, photos.files, photo_bytes, clip_bytes, manifest)
    return manifest


def _write_pack(out: Path, photo_files: list[Path], photo_bytes: list[bytes], clip_bytes: list[list[bytes]],
                manifest: dict) -> None:
    """Write the pack into a hidden sibling, then rename it onto ``out`` (an older pack goes last)."""
    tmp, old = temporary_sibling(out), temporary_sibling(out)
    try:
        (tmp / "photos").mkdir(parents=True)
        (tmp / "clips").mkdir()
        for i, (f, blob) in enumerate(zip(photo_files, photo_bytes)):
            (tmp / "photos" / f"{i:03d}_{f.stem}.jpg").write_bytes(blob)
        for i, frames in enumerate(clip_bytes):
            folder = tmp / "clips" / f"{i:03d}"
            folder.mkdir()
            for t, blob in enumerate(frames):
                (folder / f"{t:05d}.jpg").write_bytes(blob)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            os.rename(out, old)
        try:
            os.rename(tmp, out)
        except BaseException:
            if old.exists():
                os.rename(old, out)       # the older pack back in place
            raise
    except OSError as exc:
        raise NVCError(f"{out}: {exc.strerror or exc}; no pack written") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("pack", help="make a training pack that travels with the working tree",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="training YAML whose data section is packed (default: the bundled one)")
    p.add_argument("--out", default=".pack", help="pack folder: new, or a pack made by this command, replaced when the "
                                                  "new one is complete (default: %(default)s)")
    p.add_argument("--photos", nargs="+", metavar="PATH", help="images to pack (replaces data.photos)")
    p.add_argument("--data", nargs="+", metavar="PATH", help="videos and frame folders to pack (replaces data.videos)")
    p.add_argument("--max-mb", type=float, default=40.0, help="size limit in MiB (default: %(default)s)")
    p.add_argument("--photo-quality", type=int, default=95, help="JPEG quality of the photos (default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.set_defaults(func=run_pack)
    return p


def run_pack(args: argparse.Namespace) -> int:
    from nvc_core.train.config import load_config, set_value, validate
    config = load_config(args.config)
    for assignment in args.set:
        set_value(config, assignment)
    data = validate(config).data
    if args.photos:
        data = dataclasses.replace(data, photos=args.photos)
    if args.data:
        data = dataclasses.replace(data, videos=args.data)
    m = build_pack(data, args.out, args.max_mb, args.photo_quality)
    print(f"nvc train pack: {args.out}: {m['photos']} photos (JPEG {m['photo_quality']}), {m['clips']} clips of "
          f"{m['frames']} frames (JPEG {m['clip_quality']}), {m['mib']} MiB, built in {m['build_s']} s")
    return 0
