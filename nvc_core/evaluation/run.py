"""The `nvc eval` run: code every clip with our codec and the anchors, measure, write the report.

For each clip and each variant of our codec (temporal prior on / off, optionally intra-only with a
GOP of 1) every quality is coded with ``nvc_core.codec.encode_video`` into a real bitstream in the
output folder (``bytes`` = file size), decoded with ``decode_video`` and checked to be identical to
the encoder's reconstruction. The x264/x265 anchors (``nvc_core.evaluation.anchors``) code the same
first ``frames`` RGB frames. ``results.json`` holds every point, with per-frame records for our
codec; ``rd_<clip>.png`` plots the curves; the BD-rate table compares our main variant with every
other curve (see ``nvc_core.evaluation.report``).

The output folder is built in a hidden temporary sibling and swapped in only when every clip is done:
an error or a signal leaves the old folder (or none) as it was. Before any coding every clip is
opened and clip names must be distinct (results are kept per name); an existing output folder is
replaced only if it holds nothing but what ``nvc eval`` writes (``results.json``, ``rd_*.png``, one
folder of bitstreams per clip), and never the current folder.

Timings are wall-clock seconds of the whole call: for our codec ``encode_s`` includes reading the
source and the per-frame metrics the encoder computes (``Analysis.STATS``); ``decode_s`` is a plain
decode that writes no video (the decoded frames are compared in memory).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nvc_core.analysis import Analysis
from nvc_core.codec import decode_video, encode_video
from nvc_core.defaults import DEFAULT_EVAL_FRAMES, DEFAULT_GOP
from nvc_core.errors import BitstreamError, NVCError
from nvc_core.evaluation import anchors, report
from nvc_core.evaluation.rd import RDPoint
from nvc_core.metrics import bits_per_pixel, mean_over_frames
from nvc_core.outputs import quietly, temporary_sibling
from nvc_core.video_io import open_video
from nvc_core.weights import load_model

#: Folder of the default evaluation clips, next to the repository (../shared/data/eval/video).
DEFAULT_CLIP_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "eval" / "video"
DEFAULT_CLIPS = ("carphone_pristine.mp4", "bikes.mp4", "BasketballPass_416x240", "foreman_cif_intra_hq.mkv")


@dataclass(frozen=True)
class Variant:
    """One curve of our codec."""

    name: str
    temporal_prior: bool
    intra_only: bool = False
    motion_search: bool = True          # the encoder's per-P-frame motion rate decision (nvc_core.motion_rate)


@dataclass
class EvalSettings:
    clips: list[Path]
    out: Path
    qualities: list[int] | None = None  # None: every rate point of the model
    gop: int = DEFAULT_GOP
    frames: int = DEFAULT_EVAL_FRAMES
    anchors: list[str] = field(default_factory=lambda: list(anchors.CODECS))
    crfs: list[int] = field(default_factory=lambda: list(anchors.DEFAULT_CRFS))
    intra_only: bool = False
    temporal_prior: list[bool] = field(default_factory=lambda: [True])
    motion_search: list[bool] = field(default_factory=lambda: [True])
    weights: str | None = None
    device: str = "cpu"
    effort: int = 0                     # encoder-side latent refinement of our codec (nvc_core.refine)

    def variants(self) -> list[Variant]:
        """Our curves; the first is the one compared against all others."""
        out = [Variant("nvc" + ("" if tp else "-tp-off") + ("" if ms else "-fixed-motion"), tp, motion_search=ms)
               for tp in self.temporal_prior for ms in self.motion_search]
        if self.intra_only:
            out.append(Variant("nvc-intra", True, intra_only=True))
        return out


def default_clips() -> list[Path]:
    """The evaluation clips of ../shared/data/eval/video that are present."""
    return [DEFAULT_CLIP_DIR / name for name in DEFAULT_CLIPS if (DEFAULT_CLIP_DIR / name).exists()]


def clip_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name


def code_ours(clip: Path, out_dir: Path, model, variant: Variant, quality: int, gop: int,
              frames: int, effort: int = 0) -> RDPoint:
    """Encode one clip at one quality into a real bitstream, decode it, check and measure it.

    ``decode_matches`` compares every decoded frame with the encoder's reconstruction; a bitstream
    the decoder refuses counts as a mismatch, with ``decode_s`` None.
    Only the reconstructions and the per-frame numbers are kept, not the full analysis records.
    """
    stream = out_dir / f"{variant.name}_q{quality}.nvc"
    recons: list[np.ndarray] = []
    start = time.perf_counter()
    enc = encode_video(clip, stream, model, quality=quality, gop=1 if variant.intra_only else gop,
                       frames=frames, temporal_prior=variant.temporal_prior, analysis=Analysis.STATS,
                       on_frame=lambda r, *_: recons.append(r.reconstruction), effort=effort,
                       motion_search=variant.motion_search)
    encode_s = time.perf_counter() - start
    same: list[bool] = []
    start = time.perf_counter()
    try:
        decode_video(stream, model, analysis=Analysis.NONE,
                     on_frame=lambda r, i, _: same.append(np.array_equal(r.reconstruction, recons[i - 1])))
        decode_s: float | None = time.perf_counter() - start
    except BitstreamError as exc:
        _log(f"  {stream}: {exc}")
        decode_s = None
    per_frame = [r.stats() for r in enc.records]  # FrameRecord.stats(): the STATS.json entry
    h, w = recons[0].shape[:2]
    return RDPoint(bytes=enc.file_bytes, bpp=bits_per_pixel(enc.file_bytes, w, h, len(per_frame)),
                   encode_s=encode_s, decode_s=decode_s, quality=quality,
                   decode_matches=len(same) == len(recons) and all(same), frames=per_frame,
                   **mean_over_frames(per_frame))


def _ffmpeg_version() -> str | None:
    exe = anchors.ffmpeg_path()
    if exe is None:
        return None
    return subprocess.run([exe, "-version"], capture_output=True, text=True).stdout.split("\n", 1)[0]


def _settings_record(s: EvalSettings, model, qualities: list[int], anchor_codecs: list[str]) -> dict:
    return {
        "frames": s.frames, "gop": s.gop, "qualities": qualities, "variants": [v.name for v in s.variants()],
        "weights": s.weights, "weights_id": model.weights_id.hex(), "num_rates": model.num_rates,
        "effort": s.effort,
        "device": s.device,
        "anchors": anchor_codecs, "crfs": s.crfs if anchor_codecs else [], "anchor_preset": anchors.PRESET,
        "ffmpeg": _ffmpeg_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "bd_method": report.BD_METHOD, "bpp": "8 * file bytes / (width * height * frames)",
        "metrics": "mean of per-frame values on RGB uint8; psnr_y on the luma of each clip's own Y'CbCr "
                   "(clips.<name>.colour: a container's tags, untagged BT.601 limited as in ffmpeg; "
                   ".y4m, .yuv and PNG: BT.709 limited)",
    }


def _log(msg: str) -> None:
    print(msg, flush=True)


def _point_line(clip: str, codec: str, p: RDPoint) -> str:
    setting = f"q{p.quality}" if p.quality is not None else f"crf{p.crf}"
    msssim = "n/a" if p.ms_ssim is None else f"{p.ms_ssim:.4f}"
    dec = "failed" if p.decode_s is None else f"{p.decode_s:.1f}s"
    return (f"  {clip} {codec} {setting}: {p.bpp:.4f} bpp, {p.psnr_rgb:.2f} dB RGB, {p.psnr_y:.2f} dB Y, "
            f"MS-SSIM {msssim}, enc {p.encode_s:.1f}s dec {dec}")


def _evaluate_clip(clip: Path, s: EvalSettings, model, qualities: list[int], anchor_codecs: list[str],
                   out: Path) -> dict:
    """All curves of one clip, bitstreams in ``out/<name>``: the ``clips[<name>]`` entry of results.json."""
    name = clip_name(clip)
    clip_dir = out / name
    clip_dir.mkdir()
    frames, fps, colour = anchors.load_frames(clip, s.frames)
    if not frames:
        raise NVCError(f"{clip}: no frames")
    codecs: dict[str, list[RDPoint]] = {}
    errors: list[str] = []
    for variant in s.variants():
        codecs[variant.name] = []
        for q in qualities:
            codecs[variant.name].append(code_ours(clip, clip_dir, model, variant, q, s.gop, len(frames),
                                                  s.effort))
            _log(_point_line(name, variant.name, codecs[variant.name][-1]))
    for codec in anchor_codecs:
        try:
            codecs.update(anchors.sweep(frames, fps, [codec], s.crfs, s.gop, clip_dir, colour))
        except anchors.AnchorError as exc:
            errors.append(str(exc))
            _log(f"  {name} {codec}: failed: {exc}")
            continue
        for p in codecs[codec]:
            _log(_point_line(name, codec, p))
    h, w = frames[0].shape[:2]
    return {"width": w, "height": h, "frames": len(frames), "errors": errors,
            "colour": {"matrix": colour.matrix, "full_range": colour.full_range},
            "codecs": {c: [p.to_dict() for p in pts] for c, pts in codecs.items()}}


#: What ``nvc eval`` writes into its output folder, and into each clip's folder there.
_OUT_FILE = re.compile(r"results\.json|rd_.+\.png")
_CLIP_FILE = re.compile(r"nvc(-tp-off|-intra)?_q\d+\.nvc|x26[45]_crf\d+\.26[45]")


def _made_by_eval(path: Path) -> bool:
    if path.is_dir() and not path.is_symlink():
        return all(_CLIP_FILE.fullmatch(p.name) and p.is_file() for p in path.iterdir())
    return bool(_OUT_FILE.fullmatch(path.name)) and path.is_file()


def check_inputs(s: EvalSettings) -> None:
    """Refuse, before any coding: no clips, a clip that does not open, two clips of one name, an output
    folder that is the current folder or holds anything ``nvc eval`` did not write."""
    if not s.clips:
        raise NVCError(f"no clips given and no default evaluation clips found in {DEFAULT_CLIP_DIR}")
    names: dict[str, Path] = {}
    for clip in s.clips:
        open_video(clip).close()
        name = clip_name(clip)
        if name in names:
            raise NVCError(f"two clips named {name!r} ({names[name]} and {clip}): results are kept per clip name; "
                           f"rename one")
        names[name] = clip
    out = s.out
    if out.resolve() == Path.cwd().resolve() or out.resolve() in Path.cwd().resolve().parents:
        raise NVCError(f"--out {out}: is the current folder or holds it; give a folder of its own")
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise NVCError(f"--out {out}: exists and is not a folder; not replacing it")
        foreign = next((p for p in sorted(out.iterdir()) if not _made_by_eval(p)), None)
        if foreign is not None:
            raise NVCError(f"--out {out}: holds {foreign.name}, which nvc eval did not write; not replacing it")


def _swap_in(work: Path, out: Path) -> None:
    """Put the finished folder ``work`` at ``out``, replacing an earlier evaluation there."""
    if out.exists():
        old = temporary_sibling(out)
        out.rename(old)
        try:
            work.rename(out)
        except OSError:
            old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        work.rename(out)


def evaluate(s: EvalSettings) -> dict:
    """Run the whole evaluation; write results.json and the plots into ``s.out``; return the results.

    Nothing is written to ``s.out`` until every clip is done (see the module docstring).
    """
    check_inputs(s)
    model = load_model(s.weights, device=s.device)
    qualities = s.qualities if s.qualities is not None else list(range(model.num_rates))
    bad = [q for q in qualities if not 0 <= q < model.num_rates]
    if bad:
        raise NVCError(f"qualities {bad} out of range: this model has qualities 0..{model.num_rates - 1}")
    anchor_codecs = s.anchors
    if anchor_codecs and anchors.ffmpeg_path() is None:
        _log("anchors skipped: ffmpeg not found on PATH")
        anchor_codecs = []
    created = []  # the folders above s.out made here, outermost first
    for folder in reversed([s.out.parent, *s.out.parent.parents]):
        try:
            folder.mkdir()
            created.append(folder)
        except FileExistsError:
            pass
    work = temporary_sibling(s.out)
    try:
        work.mkdir()
        results = _evaluate_into(work, s, model, qualities, anchor_codecs)
        _swap_in(work, s.out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        for folder in reversed(created):
            quietly(folder.rmdir)  # kept if something else appeared in it meanwhile
        raise
    return results


def _evaluate_into(out: Path, s: EvalSettings, model, qualities: list[int], anchor_codecs: list[str]) -> dict:
    _log(f"Evaluating {len(s.clips)} clip(s), first {s.frames} frames each, GOP {s.gop}, "
         f"qualities {qualities}, variants {[v.name for v in s.variants()]}, anchors {anchor_codecs or 'none'}")
    results = {"settings": _settings_record(s, model, qualities, anchor_codecs), "clips": {}}
    for clip in s.clips:
        entry = _evaluate_clip(clip, s, model, qualities, anchor_codecs, out)
        name = clip_name(clip)
        results["clips"][name] = entry
        report.plot_rd(f"{name}: {entry['width']}x{entry['height']}, first {entry['frames']} frames, GOP {s.gop}",
                       entry["codecs"], out / f"rd_{name}.png")
    results["bd_rate"] = report.bd_rates(results["clips"], test=s.variants()[0].name)
    results["temporal_prior_motion_bits_saved"] = report.temporal_prior_saving(results["clips"])
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return results
