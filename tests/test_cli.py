"""The `nvc` command line: encode/decode/info, stats JSON, and one-line errors with exit code 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from nvc_core.cli import main
from nvc_core.weights import save_weights


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
    decoded = json.loads((tmp_path / "d.json").read_text())
    assert [f["bits"] for f in decoded["frames"]] == [f["bits"] for f in stats["frames"]]
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "100x75, 3 frames" in table[0] and len(table) == 2 + 3


def test_no_temporal_prior_flag_is_recorded(weights, small_clip, tmp_path, capsys):
    out = tmp_path / "o.nvc"
    assert main(["encode", str(small_clip), "-o", str(out), "--no-temporal-prior", "--weights", str(weights)]) == 0
    capsys.readouterr()
    main(["info", str(out)])
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split()[2] for r in rows] == ["--", "--", "--", "--"]


def _fails(argv, capsys, pattern):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("nvc: error:") and pattern in err[-1], err


def test_bad_input_gives_one_line_and_exit_2(weights, small_clip, tmp_path, capsys):
    out = tmp_path / "o.nvc"
    w = ["--weights", str(weights)]
    _fails(["encode", str(tmp_path / "none.y4m"), "-o", str(out), *w], capsys, "no such file")
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 10)
    _fails(["encode", str(tmp_path / "junk.mp4"), "-o", str(out), *w], capsys, "junk.mp4")
    _fails(["encode", str(small_clip), "-o", str(out), "--quality", "99", *w], capsys, "quality")
    _fails(["encode", str(small_clip), "-o", str(out), "--weights", str(tmp_path / "none.pt")], capsys, "not found")
    torch.save({"something": 1}, tmp_path / "other.pt")
    _fails(["encode", str(small_clip), "-o", str(out), "--weights", str(tmp_path / "other.pt")], capsys,
           "not an nvc weights file")
    (tmp_path / "raw.yuv").write_bytes(bytes(1000))
    _fails(["encode", str(tmp_path / "raw.yuv"), "-o", str(out), *w], capsys, "raw.yuv")
    assert not out.exists() and not list(tmp_path.glob(".o.nvc*"))


def test_cancelled_or_failed_decode_leaves_no_output(weights, small_clip, tmp_path, capsys):
    out = tmp_path / "o.nvc"
    assert main(["encode", str(small_clip), "-o", str(out), "--weights", str(weights)]) == 0
    out.write_bytes(out.read_bytes()[:-30])
    _fails(["decode", str(out), "-o", str(tmp_path / "d.y4m"), *["--weights", str(weights)]], capsys, "truncated")
    assert not (tmp_path / "d.y4m").exists()
    _fails(["decode", str(out), "-o", str(tmp_path / "d.y4m"), "--weights", "random"], capsys, "other weights")


def test_subprocess_prints_no_traceback(tmp_path):
    (tmp_path / "bad.nvc").write_bytes(b"NVCB" + bytes(40))
    proc = subprocess.run([sys.executable, "-m", "nvc_core.cli", "decode", str(tmp_path / "bad.nvc"), "-o",
                           str(tmp_path / "x.y4m"), "--weights", "random"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("nvc: error:")
