"""`nvc eval` on a tiny clip (random weights), and the report helpers on synthetic curves."""

import argparse
import json
from fractions import Fraction

import numpy as np
import pytest

from nvc_core.evaluation import anchors, report
from nvc_core.evaluation.cli import add_parser
from nvc_core.video_io import VideoWriter

HAVE_FFMPEG = anchors.ffmpeg_path() is not None


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nvc")
    add_parser(parser.add_subparsers())
    return parser.parse_args(["eval", *argv])


@pytest.fixture
def clip(tmp_path):
    """3 frames of 64x64 smooth texture moving 2 px per frame."""
    yy, xx = np.mgrid[0:64, 0:64]
    path = tmp_path / "tiny.y4m"
    with VideoWriter(path, 64, 64, Fraction(25)) as w:
        for t in range(3):
            w.write(np.stack([128 + 60 * np.sin((xx + 2 * t) / 6), 128 + 60 * np.cos(yy / 7),
                              (xx + yy + 2 * t) * 2 % 256], axis=-1).astype(np.uint8))
    return path


def test_parser_options():
    args = _parse(["a.mp4", "--qualities", "all", "--anchors", "none", "--temporal-prior", "on,off"])
    assert args.qualities is None and args.anchors == [] and args.temporal_prior == [True, False]
    with pytest.raises(SystemExit):
        _parse(["--anchors", "vp9"])


def test_eval_writes_results(tmp_path, clip):
    out = tmp_path / "out"
    crf = ["--crf", "28,38"] if HAVE_FFMPEG else ["--anchors", "none"]
    args = _parse([str(clip), "--qualities", "0,1", "--frames", "3", "--gop", "2", "--weights", "random",
                   "--out", str(out), *crf])
    assert args.func(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["frames"] == 3 and results["settings"]["qualities"] == [0, 1]
    entry = results["clips"]["tiny"]
    assert (entry["width"], entry["height"], entry["frames"]) == (64, 64, 3)
    ours = entry["codecs"]["nvc"]
    assert [p["quality"] for p in ours] == [0, 1]
    for p in ours:
        assert p["decode_matches"] and p["bytes"] == (out / "tiny" / f"nvc_q{p['quality']}.nvc").stat().st_size
        assert p["bpp"] > 0 and np.isfinite(p["psnr_rgb"]) and p["encode_s"] > 0
        assert [f["type"] for f in p["frames"]] == ["I", "P", "I"] and all(f["bits"] > 0 for f in p["frames"])
    if HAVE_FFMPEG:
        assert [p["crf"] for p in entry["codecs"]["x264"]] == [28, 38]
        assert set(results["bd_rate"]["vs"]) == {"x264", "x265"}
    assert (out / "rd_tiny.png").stat().st_size > 0


def test_eval_variants(tmp_path, clip):
    args = _parse([str(clip), "--qualities", "0", "--frames", "2", "--weights", "random", "--anchors", "none",
                   "--temporal-prior", "off", "--intra-only", "--out", str(tmp_path / "ev")])
    assert args.func(args) == 0
    codecs = json.loads((tmp_path / "ev" / "results.json").read_text())["clips"]["tiny"]["codecs"]
    assert set(codecs) == {"nvc-tp-off", "nvc-intra"}
    assert [f["type"] for f in codecs["nvc-intra"][0]["frames"]] == ["I", "I"]
    assert not any(f["temporal_prior"] for f in codecs["nvc-tp-off"][0]["frames"] if f["type"] == "P")


def _points(rates, psnrs, key="quality"):
    return [{key: i, "bpp": r, "psnr_rgb": p, "psnr_y": p + 2, "ms_ssim": 1 - 10 ** (-p / 20)}
            for i, (r, p) in enumerate(zip(rates, psnrs))]


def test_bd_table_on_synthetic_curves(tmp_path):
    rates, psnrs = [0.05, 0.1, 0.2, 0.4], [30.0, 33.0, 36.0, 39.0]
    clips = {"a": {"codecs": {"nvc": _points([r * 0.8 for r in rates], psnrs),
                              "x264": _points(rates, psnrs, "crf")}},
             "b": {"codecs": {"nvc": _points(rates, psnrs), "x264": _points(rates, [p + 30 for p in psnrs], "crf")}}}
    bd = report.bd_rates(clips, test="nvc")
    psnr = bd["vs"]["x264"]["psnr_rgb"]
    assert psnr["clips"]["a"]["bd_rate"]["value"] == pytest.approx(-20.0, abs=0.5)
    assert psnr["clips"]["b"]["bd_rate"]["value"] is None and psnr["clips_averaged"] == 1
    assert bd["vs"]["x264"]["ms_ssim"]["average_bd_rate"] == pytest.approx(-20.0, abs=0.5)
    table = report.format_table(bd)
    assert "-20.0" in table and "do not overlap" in table
    report.plot_rd("a", clips["a"]["codecs"], tmp_path / "rd_a.png")
    assert (tmp_path / "rd_a.png").stat().st_size > 0


def test_temporal_prior_saving_counts_motion_bits_of_both_runs():
    def run(motion_bits):
        return [{"frames": [{"bits_by_stream": {"intra.y": 500.0}},
                            {"bits_by_stream": {"motion.y": m, "motion.z": 10.0, "residual.y": 300.0}}]}
                for m in motion_bits]
    clips = {"a": {"codecs": {"nvc": run([90.0, 190.0]), "nvc-tp-off": run([100.0, 200.0])}},
             "b": {"codecs": {"nvc": run([110.0]), "nvc-tp-off": run([110.0])}},
             "c": {"codecs": {"nvc": run([50.0])}}}
    saving = report.temporal_prior_saving(clips)
    assert saving["clips"] == pytest.approx({"a": 100 * 20 / 320, "b": 0.0})
    assert saving["all_clips"] == pytest.approx(100 * 20 / 440)
    assert report.format_saving(saving).startswith("temporal prior: 4.55 % of the motion bits")
    assert report.temporal_prior_saving({"c": clips["c"]}) is None
