"""Every command safe with a user's files: faults after coding started publish nothing and leave nothing,
`nvc eval` builds its folder aside and refuses what it would overwrite, frames from 2x2 code, frame
sizes beyond the machine's memory are refused before anything of their size exists, and non-finite model
parameters give a clean error instead of a panic in the range coder."""
from __future__ import annotations

import errno
import hashlib
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import moving_frames, write_clip

import nvc_core.evaluation.run as eval_run
import nvc_core.memory as memory
from nvc_core.analysis import Analysis
from nvc_core.bitstream import FrameChunk, StreamHeader
from nvc_core.cli import Interrupted, main
from nvc_core.codec import decode_video, encode_video
from nvc_core.errors import NVCError
from nvc_core.weights import load_model, save_weights


@pytest.fixture(scope="module")
def weights(lively_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "lively.pt"
    save_weights(lively_model, path)
    return path


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


# -- faults after coding started: table of (name, setup, argv, exit, text of the one stderr line) -----------------
def _fail_last_fsync(monkeypatch, d: Path) -> None:
    """A full disk found when the last output (STATS.json) is flushed, after the stream is complete."""
    import os
    calls = []
    real = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)
    monkeypatch.setattr("nvc_core.outputs.os.fsync", fsync)


def _stray_file_in_recon(monkeypatch, d: Path) -> None:
    """Someone drops a file into the existing --recon PNG folder while frames are coded."""
    from nvc_core.video_io import VideoWriter
    real = VideoWriter.write

    def write(self, rgb):
        real(self, rgb)
        (d / "rec" / "notes.txt").write_text("mine")
    monkeypatch.setattr(VideoWriter, "write", write)


def _unwritable_folder(monkeypatch, d: Path) -> None:
    """The output folder refuses the final rename and the clean-up (as a read-only folder would)."""
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(args[0]))
    monkeypatch.setattr("nvc_core.outputs.os.replace", denied)
    monkeypatch.setattr(Path, "unlink", denied)


def _interrupt_eval_after_first_point(monkeypatch, d: Path) -> None:
    real = eval_run.code_ours

    def code_ours(*args, **kwargs):
        real(*args, **kwargs)
        raise Interrupted(signal.SIGTERM)
    monkeypatch.setattr(eval_run, "code_ours", code_ours)


def _none(monkeypatch, d: Path) -> None:
    pass


def _fault_cases(d: Path, clip: Path, w: list[str]):
    enc = ["encode", str(clip), "-o", str(d / "o.nvc"), *w]
    ev = ["eval", "--anchors", "none", "--qualities", "0", "--frames", "1", *w]
    (d / "rec").mkdir()
    (d / "rec" / "frame_00000.png").write_bytes(b"an older reconstruction")
    (d / "a").mkdir()
    (d / "b").mkdir()
    write_clip(d / "a" / "x.y4m", moving_frames(16, 16, 2))
    write_clip(d / "b" / "x.y4m", moving_frames(16, 16, 2))
    (d / "old_ev").mkdir()
    (d / "old_ev" / "results.json").write_text("{}")
    (d / "old_ev" / "thesis.tex").write_text("not made by nvc")
    (d / "existing").mkdir()
    return [
        ("stats on a full disk", _fail_last_fsync, [*enc, "--stats", str(d / "s.json")], 2,
         f"{d / 's.json'}: No space left on device"),
        ("stray file in --recon folder", _stray_file_in_recon, [*enc, "--recon", str(d / "rec")], 2,
         "is not a folder of frame_*.png"),
        ("folder refuses the rename", _unwritable_folder, enc, 2, f"{d / 'o.nvc'}: Permission denied"),
        ("-o an existing folder", _none, ["encode", str(clip), "-o", str(d / "existing"), *w], 2, "is a folder"),
        ("SIGTERM during eval", _interrupt_eval_after_first_point, [*ev, str(clip), "--out", str(d / "ev")],
         128 + signal.SIGTERM, "interrupted"),
        ("eval two clips of one name", _none, [*ev, str(d / "a" / "x.y4m"), str(d / "b" / "x.y4m"), "--out",
                                               str(d / "ev")], 2, "two clips named 'x'"),
        ("eval missing clip after a good one", _none, [*ev, str(clip), str(d / "none.y4m"), "--out", str(d / "ev")],
         2, "no such file"),
        ("eval --out holding other files", _none, [*ev, str(clip), "--out", str(d / "old_ev")], 2,
         "holds thesis.tex"),
        ("eval --out the current folder", _none, [*ev, str(clip), "--out", "."], 2, "current folder"),
    ]


def test_faults_publish_nothing_and_leave_nothing(weights, tmp_path, capfd, monkeypatch):
    clip = write_clip(tmp_path / "clip.y4m", moving_frames(24, 16, 1))
    cases = _fault_cases(tmp_path, clip, ["--weights", str(weights)])
    monkeypatch.chdir(tmp_path)
    failures = []
    for name, setup, argv, code, text in cases:
        before = _snapshot(tmp_path)
        with monkeypatch.context() as patch:
            setup(patch, tmp_path)
            got = main(argv)
        (tmp_path / "rec" / "notes.txt").unlink(missing_ok=True)  # the stray file is the test's own
        err = capfd.readouterr().err.splitlines()
        err = [line for line in err if not line.startswith("encode frame")]  # progress lines
        if got != code or len(err) != 1 or not err[0].startswith("nvc: error:") or text not in err[0]:
            failures.append(f"{name}: exit {got}, stderr {err}")
        if ".tmp" in "".join(err):
            failures.append(f"{name}: names a temporary")
        if setup is _unwritable_folder:  # the folder that refused the rename keeps the temporary: nothing else
            left = [p for p in tmp_path.glob(".o.nvc.*.tmp")]
            assert len(left) == 1
            left[0].unlink()
        if _snapshot(tmp_path) != before:
            failures.append(f"{name}: changed the disk: {set(_snapshot(tmp_path)) ^ set(before)}")
    assert failures == [], "\n".join(failures)


def test_eval_replaces_its_own_earlier_results(weights, tmp_path):
    clip = write_clip(tmp_path / "clip.y4m", moving_frames(16, 16, 2))
    argv = ["eval", str(clip), "--anchors", "none", "--qualities", "0", "--frames", "1", "--weights", str(weights),
            "--out", str(tmp_path / "deep" / "ev")]
    assert main(argv) == 0 and main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "deep" / "ev").iterdir()) == ["clip", "rd_clip.png", "results.json"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["ev"]


# -- frame sizes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width, height", [(2, 2), (7, 3)])
def test_tiny_frames_code_with_p_frames(lively_model, tmp_path, width, height):
    assert lively_model.motion.flow_guided  # the flow estimate runs on these frames
    clip = write_clip(tmp_path / "t.y4m", moving_frames(width, height, 2))
    enc = encode_video(clip, tmp_path / "t.nvc", lively_model, gop=2, recon_path=tmp_path / "r.y4m",
                       analysis=Analysis.NONE)
    assert [r.frame_type for r in enc.records] == ["I", "P"]
    decode_video(tmp_path / "t.nvc", lively_model, tmp_path / "d.y4m", analysis=Analysis.NONE)
    assert (tmp_path / "d.y4m").read_bytes() == (tmp_path / "r.y4m").read_bytes()


def _forged_stream(path: Path, model, side: int, payload_bytes: int) -> Path:
    """A well-formed stream of one side x side I-frame whose payload is zeros."""
    header = StreamHeader(side, side, 1, 1, 0, model.weights_id)
    path.write_bytes(header.pack() + FrameChunk("I", False, bytes(payload_bytes), bytes(8)).pack())
    return path


def test_forged_huge_stream_is_refused_before_decoding(lively_model, tmp_path, monkeypatch):
    """A 16384x16384 header with a 300 KB zero payload: refused by its size, no frame decoder is ever made."""
    stream = _forged_stream(tmp_path / "f.nvc", lively_model, 16384, 300_000)
    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * memory.GIB)
    monkeypatch.setattr("nvc_core.codec.RangeDecode", lambda *a: pytest.fail("decoding started"))
    with pytest.raises(NVCError, match=r"frame size 16384x16384 needs about \d+\.\d GiB"):
        decode_video(stream, lively_model, tmp_path / "d.y4m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.nvc"]


def test_frame_larger_than_memory_is_refused_up_front(weights, tmp_path, capfd, monkeypatch):
    big = tmp_path / "big.y4m"
    big.write_bytes(b"YUV4MPEG2 W4096 H4096 F25:1 C420jpeg\n")  # the header is enough to know the need
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * memory.GIB)
    assert main(["encode", str(big), "-o", str(tmp_path / "o.nvc"), "--weights", str(weights)]) == 2
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1 and "frame size 4096x4096 needs about" in err[0] and "2.0 GiB available" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.y4m"]


def test_4k_intra_estimate_is_within_3_gib():
    assert memory.frame_bytes(2176, 3840, inter=False) < 3 * memory.GIB < memory.frame_bytes(2176, 3840, inter=True)


def test_attention_in_slices_equals_the_whole_map(monkeypatch):
    from nvc_core.layers import nlam
    block = nlam.NonLocalBlock(8).eval()
    x = torch.randn(1, 8, 12, 10)
    whole = block(x)
    monkeypatch.setattr(nlam, "ATTENTION_BUDGET", 120 * 7)  # slices of 7 query rows
    torch.testing.assert_close(block(x), whole, rtol=1e-5, atol=1e-6)


# -- non-finite parameters ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_parameters_give_a_clean_error(tmp_path, value):
    model = load_model("random")
    with torch.no_grad():
        next(model.intra.eh.parameters()).view(-1)[0] = value
    clip = write_clip(tmp_path / "c.y4m", moving_frames(16, 16, 1))
    with pytest.raises(NVCError, match="non-finite entropy parameters"):
        encode_video(clip, tmp_path / "o.nvc", model, analysis=Analysis.NONE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.y4m"]
    assert np.isfinite(next(load_model("random").intra.eh.parameters()).detach().numpy()).all()
