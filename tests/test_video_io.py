"""nvc_core.video_io: round trips for every format, atomic writing, and VideoError on bad input."""

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from nvc_core.color import rgb_to_yuv420, rgb_to_yuv444, ycbcr_to_rgb, yuv444_to_rgb
from nvc_core.errors import VideoError
from nvc_core.metrics import psnr
from nvc_core.video_io import VideoWriter, is_png_dir_target, open_video

EVAL_VIDEO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "eval" / "video"


def _frames(n, h, w):
    """n distinct smooth RGB frames (a moving gradient), so 4:2:0 loses little."""
    yy, xx = np.mgrid[0:h, 0:w]
    return [np.stack([(xx * 4 + 20 * i) % 256, (yy * 3) % 256, np.full((h, w), 40 * i % 256)],
                     axis=-1).astype(np.uint8) for i in range(n)]


def _y4m_bytes(header, planes_per_frame, frame_header=b"FRAME\n"):
    body = b"".join(frame_header + b"".join(p.tobytes() for p in planes) for planes in planes_per_frame)
    return header + b"\n" + body


def _write_png(path, rgb):
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


# --- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("h, w", [(75, 101), (16, 24)])
def test_y4m_420_round_trip(tmp_path, h, w):
    frames = _frames(3, h, w)
    path = tmp_path / "clip.y4m"
    with VideoWriter(path, w, h, fps=Fraction(30000, 1001)) as writer:
        for frame in frames:
            writer.write(frame)
    assert path.read_bytes().startswith(f"YUV4MPEG2 W{w} H{h} F30000:1001 ".encode())
    with open_video(path) as reader:
        assert (reader.width, reader.height, reader.frame_count) == (w, h, 3)
        assert reader.fps == Fraction(30000, 1001)
        back = reader.read()
    assert len(back) == 3
    for original, decoded in zip(frames, back):
        assert decoded.shape == (h, w, 3) and decoded.dtype == np.uint8
        assert psnr(original, decoded) > 30


def test_y4m_full_range_tag_round_trip(tmp_path):
    frame = _frames(1, 8, 8)[0]
    path = tmp_path / "full.y4m"
    with VideoWriter(path, 8, 8, full_range=True, matrix="bt601") as writer:
        writer.write(frame)
    assert b"XCOLORRANGE=FULL" in path.read_bytes()[:200]
    with open_video(path, matrix="bt601") as reader:  # range comes from the file
        assert psnr(frame, next(reader)) > 30


def test_y4m_444_with_frame_params_is_exact(tmp_path):
    frames = _frames(2, 6, 5)
    planes = [rgb_to_yuv444(f) for f in frames]
    path = tmp_path / "c444.y4m"
    path.write_bytes(_y4m_bytes(b"YUV4MPEG2 W5 H6 F25:1 It A0:0 C444 XFOO=bar", planes, b"FRAME Ixyz\n"))
    with open_video(path) as reader:
        back = reader.read()
        assert reader.frame_count is None  # FRAME headers with parameters: count unknown up front
    assert [b.tolist() for b in back] == [yuv444_to_rgb(*p).tolist() for p in planes]


@pytest.mark.parametrize("colourspace", [b" C420mpeg2", b" C420paldv", b" C420", b""])
def test_y4m_420_variants(tmp_path, colourspace):
    frame = _frames(1, 4, 6)[0]
    path = tmp_path / "v.y4m"
    path.write_bytes(_y4m_bytes(b"YUV4MPEG2 W6 H4 F0:0" + colourspace, [rgb_to_yuv420(frame)]))
    with open_video(path) as reader:
        assert reader.fps == 25 and reader.frame_count == 1
        assert next(reader).shape == (4, 6, 3)


def test_png_folder_round_trip(tmp_path):
    frames = _frames(3, 5, 7)
    target = tmp_path / "pngs"
    assert is_png_dir_target(target)
    with VideoWriter(target, 7, 5) as writer:
        for frame in frames:
            writer.write(frame)
    assert sorted(p.name for p in target.iterdir()) == [f"frame_0000{i}.png" for i in range(3)]
    with open_video(target) as reader:
        assert (reader.width, reader.height, reader.frame_count) == (7, 5, 3)
        assert all(np.array_equal(a, b) for a, b in zip(frames, reader))


def test_png_folder_natural_order(tmp_path):
    frames = _frames(3, 4, 4)
    for name, frame in zip(["f2.png", "f10.png", "f1.png"], [frames[1], frames[2], frames[0]]):
        _write_png(tmp_path / name, frame)
    (tmp_path / "notes.txt").write_text("ignored")
    with open_video(tmp_path) as reader:
        assert all(np.array_equal(a, b) for a, b in zip(frames, reader.read()))


def _raw_yuv(path, frames):
    path.write_bytes(b"".join(p.tobytes() for f in frames for p in rgb_to_yuv420(f)))


def test_raw_yuv_size_from_name(tmp_path):
    frames = _frames(2, 6, 10)
    path = tmp_path / "foo_10x6_30.yuv"
    _raw_yuv(path, frames)
    with open_video(path) as reader:
        assert (reader.width, reader.height, reader.fps, reader.frame_count) == (10, 6, 30, 2)
        assert all(psnr(a, b) > 30 for a, b in zip(frames, reader.read()))


def test_raw_yuv_size_argument(tmp_path):
    frames = _frames(2, 5, 7)
    path = tmp_path / "plain.yuv"
    _raw_yuv(path, frames)
    with open_video(path, size=(7, 5)) as reader:
        assert (reader.width, reader.height, reader.fps, reader.frame_count) == (7, 5, 25, 2)
        assert len(reader.read(5)) == 2


def test_mp4_written_by_opencv(tmp_path):
    frames = _frames(3, 48, 64)
    path = tmp_path / "clip.mp4"
    cv_writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    if not cv_writer.isOpened():
        pytest.skip("this OpenCV build cannot write mp4v")
    for frame in frames:
        cv_writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    cv_writer.release()
    with open_video(path) as reader:
        assert (reader.width, reader.height, reader.fps) == (64, 48, 25)
        assert reader.frame_count in (None, 3)
        back = reader.read()
    assert len(back) == 3 and psnr(frames[0], back[0]) > 25


def _lossless_h264(tmp_path, planes, w, h, tags):
    """A lossless H.264 .mkv (ffmpeg, libx264 -qp 0) of 4:2:0 ``planes`` with colour ``tags``."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    raw, out = tmp_path / "src.yuv", tmp_path / "clip.mkv"
    raw.write_bytes(b"".join(p.tobytes() for p in planes))
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}",
                    "-i", str(raw), "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", *tags, str(out)], check=True)
    return out


@pytest.mark.parametrize("tags, matrix, full_range", [
    ([], "bt601", False),  # untagged: FFmpeg's convention
    (["-colorspace", "bt709", "-color_range", "tv"], "bt709", False),
    (["-colorspace", "smpte170m", "-color_range", "pc"], "bt601", True),
])
def test_container_colours_are_the_streams_own(tmp_path, tags, matrix, full_range):
    """Native Y'CbCr planes, converted by nvc_core.color with the stream's matrix, range and (H.264) left siting."""
    w, h = 36, 20
    rng = np.random.default_rng(1)
    planes = (rng.integers(16, 236, (h, w), dtype=np.uint8),
              *(rng.integers(16, 241, (h // 2, w // 2), dtype=np.uint8) for _ in range(2)))
    with open_video(_lossless_h264(tmp_path, planes, w, h, tags)) as reader:
        assert (reader.matrix, reader.full_range) == (matrix, full_range)
        assert np.array_equal(next(reader), ycbcr_to_rgb(*planes, matrix, full_range, "left"))


def test_container_with_unsupported_matrix_is_refused(tmp_path):
    planes = (np.full((8, 8), 100, np.uint8), np.full((4, 4), 128, np.uint8), np.full((4, 4), 128, np.uint8))
    _open_fails(_lossless_h264(tmp_path, planes, 8, 8, ["-colorspace", "bt2020nc"]), "unsupported colour matrix BT.2020")


def _eval_video(name):
    path = EVAL_VIDEO / name
    if not path.exists():
        pytest.skip(f"evaluation data {path} not present")
    return path


def test_real_mp4_carphone():
    with open_video(_eval_video("carphone_pristine.mp4")) as reader:
        assert (reader.width, reader.height) == (176, 144)
        frames = reader.read(2)
    assert len(frames) == 2 and frames[0].shape == (144, 176, 3) and frames[0].dtype == np.uint8


def test_real_png_folder_basketball():
    with open_video(_eval_video("BasketballPass_416x240")) as reader:
        assert (reader.width, reader.height) == (416, 240)
        assert next(reader).shape == (240, 416, 3)


# --- writer atomicity ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["out.y4m", "out"])
def test_writer_abort_leaves_nothing(tmp_path, name):
    writer = VideoWriter(tmp_path / name, 4, 4)
    writer.write(_frames(1, 4, 4)[0])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.y4m", "out"])
def test_writer_exception_leaves_nothing(tmp_path, name):
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / name, 4, 4) as writer:
            writer.write(_frames(1, 4, 4)[0])
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_writer_replaces_previous_outputs(tmp_path):
    for target in (tmp_path / "a.y4m", tmp_path / "frames"):
        for n in (3, 1):
            with VideoWriter(target, 4, 4) as writer:
                for frame in _frames(n, 4, 4):
                    writer.write(frame)
        with open_video(target) as reader:
            assert len(reader.read()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.y4m", "frames"]


def test_writer_refuses_foreign_folder(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("keep me")
    with pytest.raises(VideoError, match="docs"):
        VideoWriter(tmp_path / "docs", 4, 4)


@pytest.mark.parametrize("bad", [np.zeros((4, 5, 3), np.uint8), np.zeros((4, 4, 3), np.float32), "x"])
def test_writer_rejects_wrong_frame(tmp_path, bad):
    with VideoWriter(tmp_path / "o.y4m", 4, 4) as writer:
        with pytest.raises(VideoError, match="o.y4m"):
            writer.write(bad)


def test_writer_errors(tmp_path):
    with pytest.raises(VideoError, match="mp4"):
        VideoWriter(tmp_path / "o.mp4", 4, 4)
    with pytest.raises(VideoError, match="does not exist"):
        VideoWriter(tmp_path / "missing" / "o.y4m", 4, 4)
    writer = VideoWriter(tmp_path / "o.y4m", 4, 4)
    writer.close()
    with pytest.raises(VideoError, match="closed"):
        writer.write(_frames(1, 4, 4)[0])


# --- reader errors ------------------------------------------------------------------------------

def _open_fails(path, match, **kwargs):
    with pytest.raises(VideoError, match=match) as info:
        with open_video(path, **kwargs) as reader:
            reader.read()
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_missing_and_unsupported(tmp_path):
    _open_fails(tmp_path / "nope.y4m", "no such file")
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    _open_fails(tmp_path / "a.gif", "unsupported video format")


def test_unreadable_container(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"this is not an mp4 file" * 10)
    _open_fails(tmp_path / "junk.mp4", "cannot open|no decodable frame")


@pytest.mark.parametrize("header, match", [
    (b"NOTY4M W4 H4", "not a YUV4MPEG2"),
    (b"YUV4MPEG2 H4 F25:1", "W, H or F"),
    (b"YUV4MPEG2 W4 H4 Fx", "W, H or F"),
    (b"YUV4MPEG2 W4 H4 C422", "C422"),
    (b"YUV4MPEG2 W4 H4 C420p10", "C420p10"),
])
def test_y4m_bad_headers(tmp_path, header, match):
    path = tmp_path / "bad.y4m"
    path.write_bytes(header + b"\nFRAME\n" + bytes(24))
    _open_fails(path, match)


def test_y4m_truncated_last_frame(tmp_path):
    frames = _frames(2, 4, 4)
    path = tmp_path / "cut.y4m"
    data = _y4m_bytes(b"YUV4MPEG2 W4 H4 F25:1 C420jpeg", [rgb_to_yuv420(f) for f in frames])
    path.write_bytes(data[:-5])
    with open_video(path) as reader:
        assert reader.frame_count is None
        next(reader)
        with pytest.raises(VideoError, match="frame 1 is truncated"):
            next(reader)


def test_y4m_size_mismatch(tmp_path):
    path = tmp_path / "s.y4m"
    with VideoWriter(path, 4, 4) as writer:
        writer.write(_frames(1, 4, 4)[0])
    _open_fails(path, "not the requested 8x8", size=(8, 8))


def test_raw_yuv_errors(tmp_path):
    unknown = tmp_path / "nosize.yuv"
    unknown.write_bytes(bytes(24))
    _open_fails(unknown, "unknown frame size")
    wrong = tmp_path / "clip_4x4.yuv"
    wrong.write_bytes(bytes(25))  # a 4x4 4:2:0 frame is 24 bytes
    _open_fails(wrong, "whole number")


def test_png_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _open_fails(empty, "no .png")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _write_png(mixed / "a.png", _frames(1, 4, 4)[0])
    _write_png(mixed / "b.png", _frames(1, 4, 6)[0])
    _open_fails(mixed, "differ in size")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "a.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match="not a PNG"):
        open_video(fake)


def test_closed_reader(tmp_path):
    path = tmp_path / "c.y4m"
    with VideoWriter(path, 4, 4) as writer:
        writer.write(_frames(1, 4, 4)[0])
    reader = open_video(path)
    reader.close()
    with pytest.raises(VideoError, match="closed"):
        next(reader)
