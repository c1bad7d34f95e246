"""RD plots and BD-rate tables of an evaluation (the ``clips`` part of ``results.json``).

BD numbers compare one *test* curve (our main variant) with every other curve of the same clip
(x264, x265, our other variants), for each metric in ``nvc_core.metrics.FRAME_METRICS``. MS-SSIM is
mapped to dB, ``-10 log10(1 - MS-SSIM)``, before interpolation, as is usual for BD on MS-SSIM; its
BD-distortion is therefore in dB too. The average over clips is the mean of the clips where the
value exists; ``clips_averaged`` says how many that was.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the non-interactive backend)
import numpy as np  # noqa: E402

from nvc_core.evaluation.bd_rate import BDResult, bd_distortion, bd_rate, ms_ssim_db  # noqa: E402
from nvc_core.metrics import FRAME_METRICS as METRICS  # noqa: E402

BD_METHOD = "akima"
METRIC_LABELS = {"psnr_rgb": "PSNR-RGB", "psnr_y": "PSNR-Y", "ms_ssim": "MS-SSIM"}


def _curve(points: list[dict], metric: str) -> tuple[list[float], list[float | None]]:
    """(bpp, quality) of a codec's points; MS-SSIM in dB."""
    rates = [p["bpp"] for p in points]
    if metric == "ms_ssim":
        return rates, [ms_ssim_db(p["ms_ssim"]) for p in points]
    return rates, [p[metric] for p in points]


def _as_float(values: list[float | None]) -> list[float]:
    return [np.nan if v is None else v for v in values]


def _compare(anchor: list[dict], test: list[dict], metric: str) -> dict[str, dict]:
    ra, da = _curve(anchor, metric)
    rt, dt = _curve(test, metric)
    args = (ra, _as_float(da), rt, _as_float(dt), BD_METHOD)
    return {"bd_rate": bd_rate(*args).to_dict(), "bd_dist": bd_distortion(*args).to_dict()}


def _average(per_clip: dict[str, dict], key: str) -> tuple[float | None, int]:
    values = [c[key]["value"] for c in per_clip.values() if c[key]["value"] is not None]
    return (float(np.mean(values)) if values else None), len(values)


def bd_rates(clips: dict[str, dict], test: str) -> dict:
    """BD-rate and BD-distortion of `test` against every other codec, per clip and averaged."""
    others = sorted({c for entry in clips.values() for c in entry["codecs"] if c != test})
    table: dict[str, dict] = {}
    for anchor in others:
        table[anchor] = {}
        for metric in METRICS:
            per_clip = {name: _compare(entry["codecs"][anchor], entry["codecs"][test], metric)
                        for name, entry in clips.items() if anchor in entry["codecs"] and test in entry["codecs"]}
            avg_rate, n = _average(per_clip, "bd_rate")
            avg_dist, _ = _average(per_clip, "bd_dist")
            table[anchor][metric] = {"clips": per_clip, "average_bd_rate": avg_rate,
                                     "average_bd_dist": avg_dist, "clips_averaged": n}
    return {"test": test, "method": BD_METHOD, "ms_ssim_scale": "dB, -10 log10(1 - MS-SSIM)", "vs": table}


MOTION_STREAMS = ("motion.y", "motion.z")


def temporal_prior_saving(clips: dict[str, dict]) -> dict | None:
    """Motion bits (ŷ and ẑ of neuro-Motion, every P-frame of every rate point) saved by the temporal
    prior, in % of the motion bits without it: per clip, and over all clips together. None unless both
    ``nvc`` and ``nvc-tp-off`` were run."""
    def motion_bits(points: list[dict]) -> float:
        return sum(f["bits_by_stream"].get(k, 0.0) for p in points for f in p["frames"] for k in MOTION_STREAMS)

    def saving(on: float, off: float) -> float | None:
        return 100.0 * (1.0 - on / off) if off > 0 else None

    pairs = {name: (motion_bits(e["codecs"]["nvc"]), motion_bits(e["codecs"]["nvc-tp-off"]))
             for name, e in clips.items() if {"nvc", "nvc-tp-off"} <= set(e["codecs"])}
    if not pairs:
        return None
    total_on, total_off = (sum(v[i] for v in pairs.values()) for i in (0, 1))
    return {"clips": {name: saving(*v) for name, v in pairs.items()}, "all_clips": saving(total_on, total_off)}


def format_saving(saving: dict) -> str:
    clips = ", ".join(f"{name} {_cell(v, '.2f')}" for name, v in saving["clips"].items())
    return (f"temporal prior: {_cell(saving['all_clips'], '.2f')} % of the motion bits saved over all clips "
            f"and rate points ({clips})")


def _cell(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def format_table(bd: dict) -> str:
    """Text table of BD-rate (%) per anchor and clip, plus BD-PSNR-RGB; reasons for n/a below it."""
    lines = [f"BD-rate of {bd['test']} in % (negative = fewer bits at equal quality; {bd['method']}, "
             f"over the overlap), and BD-PSNR-RGB in dB",
             f"{'vs':<12} {'clip':<26} " + " ".join(f"{METRIC_LABELS[m]:>9}" for m in METRICS) + "  BD-PSNR"]
    notes = []
    for anchor, by_metric in bd["vs"].items():
        clip_names = list(by_metric[METRICS[0]]["clips"])
        for clip in clip_names:
            results = {m: by_metric[m]["clips"][clip]["bd_rate"] for m in METRICS}
            cells = " ".join(f"{_cell(r['value'], '+.1f'):>9}" for r in results.values())
            dist = by_metric["psnr_rgb"]["clips"][clip]["bd_dist"]["value"]
            lines.append(f"{anchor:<12} {clip:<26} {cells}  {_cell(dist, '+.2f'):>7}")
            reasons: dict[str, list[str]] = {}
            for m, r in results.items():
                if r["value"] is None:
                    reasons.setdefault(r["reason"], []).append(METRIC_LABELS[m])
            notes += [f"  {anchor} / {clip} ({', '.join(ms)}): {reason}" for reason, ms in reasons.items()]
        avg = " ".join(f"{_cell(by_metric[m]['average_bd_rate'], '+.1f'):>9}" for m in METRICS)
        label = f"average ({by_metric['psnr_rgb']['clips_averaged']}/{len(clip_names)} clips)"
        avg_dist = _cell(by_metric["psnr_rgb"]["average_bd_dist"], "+.2f")
        lines.append(f"{anchor:<12} {label:<26} {avg}  {avg_dist:>7}")
    if notes:
        lines += ["n/a:"] + notes
    return "\n".join(lines)


def plot_rd(title: str, codecs: dict[str, list[dict]], path: Path) -> None:
    """PSNR-RGB vs bpp and MS-SSIM vs bpp of every codec on one clip, saved as PNG."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, metric in zip(axes, ("psnr_rgb", "ms_ssim")):
        for codec, points in codecs.items():
            pts = sorted((p["bpp"], p[metric]) for p in points if p[metric] is not None)
            if pts:
                style = "-o" if codec.startswith("nvc") else "--s"
                ax.plot(*zip(*pts), style, label=codec, markersize=4)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(METRIC_LABELS[metric] + (" (dB)" if metric != "ms_ssim" else ""))
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
