"""The `nvc` command line: encode/decode/info, stats JSON, progress, start-up without torch, and bad
input: one line `nvc: error: ...` on stderr, exit code 2, nothing changed on disk."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import moving_frames, refusal_failures, write_clip

from nvc_core.analysis import Analysis
from nvc_core.cli import main
from nvc_core.codec import encode_video
from nvc_core.errors import Cancelled
from nvc_core.weights import save_weights

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights(lively_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "lively.pt"
    save_weights(lively_model, path)
    return path


def test_encode_decode_info_and_stats(weights, small_clip, tmp_path, capsys):
    out, rec, dec = tmp_path / "o.nvc", tmp_path / "rec.y4m", tmp_path / "dec.y4m"
    assert main(["encode", str(small_clip), "-o", str(out), "--quality", "1", "--gop", "2", "--frames", "3",
                 "--recon", str(rec), "--stats", str(tmp_path / "s.json"), "--weights", str(weights)]) == 0
    assert main(["decode", str(out), "-o", str(dec), "--weights", str(weights),
                 "--stats", str(tmp_path / "d.json")]) == 0
    assert rec.read_bytes() == dec.read_bytes()
    stats = json.loads((tmp_path / "s.json").read_text())
    assert [f["type"] for f in stats["frames"]] == ["I", "P", "I"]
    for f in stats["frames"]:
        assert set(f) >= {"index", "type", "bits", "bits_estimated", "bits_by_stream", "psnr_rgb", "psnr_y", "ms_ssim"}
        assert sum(f["bits_by_stream"].values()) < f["bits"]
    s = stats["summary"]
    assert (s["width"], s["height"], s["frames"], s["file_bytes"]) == (100, 75, 3, out.stat().st_size)
    assert s["bpp"] == pytest.approx(8 * out.stat().st_size / (100 * 75 * 3))
    # one PSNR convention: the mean of the per-frame values
    assert s["psnr_rgb"] == pytest.approx(sum(f["psnr_rgb"] for f in stats["frames"]) / 3)
    decoded = json.loads((tmp_path / "d.json").read_text())
    assert [f["bits"] for f in decoded["frames"]] == [f["bits"] for f in stats["frames"]]
    assert [f["bits_by_stream"] for f in decoded["frames"]] == [f["bits_by_stream"] for f in stats["frames"]]
    err = capsys.readouterr().err.splitlines()
    decode_lines = [line for line in err if line.startswith("decode frame")]
    assert len(decode_lines) == 3 and all("elapsed" in line for line in decode_lines)
    assert "left" not in decode_lines[0] and "left" in decode_lines[2]    # estimated from P-frame times only
    assert main(["info", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "100x75, 3 frames" in table[0] and len(table) == 2 + 3
    assert [row.split()[0] for row in table[2:]] == ["0", "1", "2"]             # indices, as the progress names them
    assert [line.split()[2:4] for line in decode_lines] == [["0", "(1/3)"], ["1", "(2/3)"], ["2", "(3/3)"]]


def test_no_temporal_prior_flag_is_recorded(weights, small_clip, tmp_path, capsys):
    out = tmp_path / "o.nvc"
    assert main(["encode", str(small_clip), "-o", str(out), "--no-temporal-prior", "--weights", str(weights)]) == 0
    capsys.readouterr()
    main(["info", str(out)])
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split()[2] for r in rows] == ["--", "--", "--", "--"]


# -- bad input: one line, exit 2, nothing changed -----------------------------------------------------------
def _y4m(path: Path, width: int, height: int, frames: int = 1, rate: str = "25:1") -> Path:
    frame = b"FRAME\n" + bytes(width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)) if frames else b""
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F{rate} C420jpeg\n".encode() + frame * frames)
    return path


def _text(path: Path) -> Path:
    path.write_text("notes, not weights\n")
    return path


def _weights_file(path: Path, blob) -> Path:
    torch.save(blob, path)
    return path


def _cases(d: Path, clip: Path, weights: Path) -> list[tuple[str, list[str], str]]:
    """(name, argv, text the error line must contain); every path inside ``d``."""
    w = ["--weights", str(weights)]
    enc = ["encode", str(clip), "-o", str(d / "o.nvc")]
    (d / "junk.mp4").write_bytes(b"not a video at all" * 50)
    (d / "raw.yuv").write_bytes(bytes(1000))
    (d / "out.nvc").mkdir()
    nvc_config = {"format": "nvc-weights", "version": 1, "state_dict": {}}
    return [
        ("missing input", ["encode", str(d / "none.y4m"), "-o", str(d / "o.nvc"), *w], "no such file"),
        ("non-video mp4", ["encode", str(d / "junk.mp4"), "-o", str(d / "o.nvc"), *w], "cannot open the video"),
        ("raw yuv without size", ["encode", str(d / "raw.yuv"), "-o", str(d / "o.nvc"), *w], "--size"),
        ("frames 0", [*enc, "--frames", "0", *w], "--frames"),
        ("gop 0", [*enc, "--gop", "0", *w], "--gop"),
        ("gop 65536", [*enc, "--gop", "65536", *w], "--gop"),
        ("quality 99", [*enc, "--quality", "99", *w], "must be in 0..5, got 99"),
        ("bad size", [*enc, "--size", "12by5", *w], "WxH"),
        ("no command", [], "required"),
        ("unknown command", ["transcode", "x"], "invalid choice"),
        ("device bogus", [*enc, "--device", "bogus", *w], "--device bogus"),
        ("output folder missing", ["encode", str(clip), "-o", str(d / "nodir" / "x.nvc"), *w], "nodir does not exist"),
        ("stats folder missing", [*enc, "--stats", str(d / "nodir" / "s.json"), *w], "nodir does not exist"),
        ("recon folder missing", [*enc, "--recon", str(d / "nodir" / "r.y4m"), *w], "nodir does not exist"),
        ("output is the input", ["encode", str(clip), "-o", str(clip), *w], "is an input"),
        ("recon is the input", [*enc, "--recon", str(clip), *w], "is an input"),
        ("output twice", ["encode", str(clip), "-o", str(d / "x.nvc"), "--recon", str(d / "x.nvc"), *w],
         "two outputs"),
        ("bitstream named .y4m", ["encode", str(clip), "-o", str(d / "out.y4m"), *w], "name it .nvc"),
        ("bitstream named .png", ["encode", str(clip), "-o", str(d / "out.PNG"), *w], "name it .nvc"),
        ("quality -1", [*enc, "--quality", "-1", *w], "argument --quality: must be in 0..5, got -1"),
        ("quality 6", [*enc, "--quality", "6", *w], "argument --quality: must be in 0..5, got 6"),
        ("quality x", [*enc, "--quality", "x", *w], "expected an integer"),
        ("weights a text file", [*enc, "--weights", str(_text(d / "notes.txt"))], "not an nvc weights file"),
        ("output is a device", ["encode", str(clip), "-o", "/dev/null", *w], "not a regular file"),
        ("output is a folder", ["encode", str(clip), "-o", str(d / "out.nvc"), *w], "is a folder"),
        ("1x1 input", ["encode", str(_y4m(d / "tiny.y4m", 1, 1)), "-o", str(d / "o.nvc"), *w], "1x1"),
        ("16400x2 input", ["encode", str(_y4m(d / "wide.y4m", 16400, 2)), "-o", str(d / "o.nvc"), *w], "16400x2"),
        ("100000x100000 header", ["encode", str(_y4m(d / "huge.y4m", 100000, 100000, frames=0)), "-o",
                                  str(d / "o.nvc"), *w], "100000x100000"),
        ("frame rate", ["encode", str(_y4m(d / "fast.y4m", 8, 8, rate="99999999999:1")), "-o", str(d / "o.nvc"), *w],
         "frame rate"),
        ("weights missing", [*enc, "--weights", str(d / "none.pt")], "not found"),
        ("weights a list", [*enc, "--weights", str(_weights_file(d / "list.pt", [1, 2]))], "not an nvc weights"),
        ("weights ints", [*enc, "--weights", str(_weights_file(d / "int.pt", 7))], "not an nvc weights"),
        ("weights config int", [*enc, "--weights", str(_weights_file(d / "c.pt", {**nvc_config, "config": 3}))],
         "not a mapping"),
        ("weights huge", [*enc, "--weights", str(_weights_file(d / "h.pt", {**nvc_config, "config": {"channels": 2000}}))],
         "M parameters"),
        ("weights unknown key", [*enc, "--weights", str(_weights_file(d / "u.pt", {**nvc_config, "config": {"chanels": 4}}))],
         "unknown model configuration keys"),
        ("weights negative width", [*enc, "--weights",
                                    str(_weights_file(d / "n.pt", {**nvc_config, "config": {"intra_channels": -1}}))],
         "invalid model configuration intra_channels=-1"),
        ("decode missing", ["decode", str(d / "none.nvc"), "-o", str(d / "d.y4m"), *w], "no such file"),
        ("decode not nvc", ["decode", str(clip), "-o", str(d / "d.y4m"), *w], "bad magic"),
        ("decode onto its input", ["decode", str(d / "junk.mp4"), "-o", str(d / "junk.mp4"), *w], "is an input"),
        ("info missing", ["info", str(d / "none.nvc")], "no such file"),
        ("info not nvc", ["info", str(d / "junk.mp4")], "bad magic"),
    ]


def test_bad_input_gives_one_line_exit_2_and_changes_nothing(weights, small_clip, tmp_path, capfd):
    cases = _cases(tmp_path, small_clip, weights)
    if torch.cuda.is_available():
        cases = [c for c in cases if "cuda" not in c[0]]
    else:
        cases.append(("device cuda", ["encode", str(small_clip), "-o", str(tmp_path / "o.nvc"), "--device", "cuda",
                                      "--weights", str(weights)], "no CUDA device"))
    failures = refusal_failures(main, cases, capfd, tmp_path, small_clip)
    assert failures == [], "\n".join(failures)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_outputs_are_all_or_nothing(lively_model, small_clip, tmp_path):
    """A failure after coding started (here: cancelled after two frames) leaves no output and no temporary."""
    done = []
    with pytest.raises(Cancelled):
        encode_video(small_clip, tmp_path / "o.nvc", lively_model, recon_path=tmp_path / "rec.y4m",
                     stats_path=tmp_path / "s.json", analysis=Analysis.NONE,
                     on_frame=lambda *_: done.append(1), should_stop=lambda: len(done) == 2)
    assert len(done) == 2 and list(tmp_path.iterdir()) == []


def test_cancelled_or_failed_decode_leaves_no_output(weights, small_clip, tmp_path, capsys):
    out = tmp_path / "o.nvc"
    assert main(["encode", str(small_clip), "-o", str(out), "--weights", str(weights)]) == 0
    out.write_bytes(out.read_bytes()[:-30])
    assert main(["decode", str(out), "-o", str(tmp_path / "d.y4m"), "--stats", str(tmp_path / "d.json"),
                 "--weights", str(weights)]) == 2
    assert "truncated" in capsys.readouterr().err.splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.nvc"]
    assert main(["decode", str(out), "-o", str(tmp_path / "d.y4m"), "--weights", "random"]) == 2
    assert "other weights" in capsys.readouterr().err.splitlines()[-1]


def test_programming_error_is_an_internal_error(weights, small_clip, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("injected bug")

    monkeypatch.setattr("nvc_core.codec.frame_hash", broken)
    assert main(["encode", str(small_clip), "-o", str(tmp_path / "o.nvc"), "--weights", str(weights)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" in err[0] and err[-1].startswith("nvc: internal error: ZeroDivisionError: injected bug")
    assert list(tmp_path.iterdir()) == []


# -- processes: start-up cost, signals, no tracebacks -------------------------------------------------------
_PROBE = """import sys
from nvc_core.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "matplotlib", "scipy", "bjontegaard", "cv2") if m in sys.modules)
print("RESULT", code, ",".join(heavy))
"""


@pytest.fixture(scope="module")
def one_frame_stream(lively_model, small_clip, tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "s.nvc"
    encode_video(small_clip, path, lively_model, frames=1, analysis=Analysis.NONE)
    return path


@pytest.mark.parametrize("argv", [["--help"], ["encode", "--help"], ["encode", "x.y4m", "-o", "y.nvc", "--gop", "0"],
                                  ["info", "{stream}"], ["frobnicate"]])
def test_help_argument_errors_and_info_load_no_heavy_module(argv, one_frame_stream):
    argv = [a.format(stream=one_frame_stream) for a in argv]
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, cwd=REPO)
    result = proc.stdout.strip().splitlines()[-1].split()
    assert result[0] == "RESULT" and result[1] in ("0", "2") and len(result) == 2, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("long") / "long.y4m", moving_frames(100, 75, 24))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_encode_leaves_nothing_behind(signum, weights, long_clip, tmp_path):
    work = tmp_path / "out"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "nvc_core.cli", "encode", str(long_clip), "-o", str(work / "o.nvc"),
                             "--recon", str(work / "r.y4m"), "--stats", str(work / "s.json"), "--weights", str(weights),
                             "--gop", "1"], stderr=subprocess.PIPE, text=True, cwd=REPO)
    line = proc.stderr.readline()
    while line and not line.startswith("encode frame 0 (1/"):
        line = proc.stderr.readline()
    assert line, "the encoder ended before its first frame"
    proc.send_signal(signum)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + signum, rest
    assert "Traceback" not in rest and rest.strip().splitlines()[-1].startswith("nvc: error: interrupted")
    assert list(work.iterdir()) == []


def test_subprocess_prints_no_traceback(tmp_path):
    (tmp_path / "bad.nvc").write_bytes(b"NVCB" + bytes(40))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "nvc_core.cli", "decode", str(tmp_path / "bad.nvc"), "-o",
                           str(tmp_path / "x.y4m"), "--weights", "random"], capture_output=True, text=True)
    assert proc.returncode == 2 and time.monotonic() - start < 120
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines() == [proc.stderr.strip()]
