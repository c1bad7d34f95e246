"""Reading and writing 8-bit video as RGB uint8 (H, W, 3) frames.

Readers (``open_video``):

* ``.y4m`` (YUV4MPEG2): 8-bit 4:2:0 (``C420jpeg``, ``C420paldv``, ``C420mpeg2``, ``C420``; no ``C``
  means ``C420jpeg``) or 4:4:4 (``C444``).  Other colourspaces (``C422``, ``C420p10``, ``Cmono``...)
  are refused.  ``W H F C`` are used; ``I A`` and FRAME parameters are accepted and ignored; an
  ``XCOLORRANGE=FULL`` / ``XCOLORRANGE=LIMITED`` parameter (as written by FFmpeg) overrides the
  ``full_range`` argument.  A missing or ``0:0`` frame rate reads as 25 fps.
* ``.yuv``: raw planar 8-bit 4:2:0 (I420) frames back to back.  The size comes from ``size=(w, h)``
  or, as in YUView, from ``_WxH`` in the file name, optionally followed by ``_FPS``
  (``foo_416x240_30.yuv``: 416x240 at 30 fps; default 25 fps).  ``size`` wins over the name.
* ``.mp4 .avi .mkv .mov .h264 .264``: decoded by FFmpeg's libraries (PyAV) to the stream's own
  Y'CbCr planes, converted to RGB here like ``.y4m``, with the stream's own matrix and range (an
  untagged matrix is BT.601 and an untagged range is limited, except for the ``yuvj`` formats, as in
  FFmpeg); ``matrix`` and ``full_range`` do not apply.  Chroma siting follows the codec (PyAV does not
  expose the stream's chroma-location tag): centred for the JPEG family, left for MPEG-2, H.264, HEVC
  and the rest.  8-bit 4:2:0, 4:2:2, 4:4:4 and grey are converted as they are; other formats (high bit
  depth, semi-planar) are first repacked by FFmpeg to 8-bit 4:4:4 of the same matrix and range, RGB
  formats are read as RGB.  Matrices other than BT.709 / BT.601 (BT.2020...) are refused.
  ``frame_count`` is what the container reports (``None`` when unknown) and may be approximate.
* a folder: every ``*.png`` file in it, in natural name order (``f2.png`` before ``f10.png``), all of
  the same size (checked when opening); 25 fps.

For self-describing formats (all but ``.yuv``) a ``size`` argument, if given, must match the file.
Y'CbCr is converted with ``nvc_core.color`` (``matrix``, ``full_range``; subsampled chroma is
upsampled linearly at its siting: ``C420mpeg2`` left, ``C420paldv`` top-left, others centred).
Note that FFmpeg converts RGB to untagged Y'CbCr with BT.601 unless told otherwise
(``-vf scale=out_color_matrix=bt709``), so such files are read exactly with ``matrix="bt601"``.
A ``.y4m`` file ending inside a frame raises ``VideoError`` when that frame is reached (the frames
before it are delivered); its ``frame_count`` is known when opening only if the payload is a whole
number of frames with plain ``FRAME`` headers, else None.  A ``.yuv`` file that is not a whole
number of frames is refused when opening.

Writer (``VideoWriter``): ``.y4m`` 4:2:0 (``C420jpeg``, with ``XCOLORRANGE``), or, for a path
without a suffix, a folder of ``frame_00000.png``, ``frame_00001.png``...  Output is written to a
hidden temporary sibling and renamed onto ``path`` by ``close()`` (or ``publish()``, with the other
outputs of a command: ``nvc_core.outputs.publish``); ``abort()`` or an exception inside a ``with``
block removes it, so ``path`` never holds a partial video.  An existing regular ``.y4m`` file is
replaced; an existing folder is replaced only if it holds nothing but ``frame_*.png`` files; anything
else (a device, a pipe) never.

Every failure (missing or unreadable file, bad header, unsupported format, truncation, size
mismatch, write error) raises ``nvc_core.errors.VideoError`` with a one-line message that starts
with the path concerned.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import struct
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np

from nvc_core.color import rgb_to_yuv420, ycbcr_to_rgb, yuv444_to_rgb
from nvc_core.errors import NVCError, VideoError
from nvc_core.outputs import check_replaceable, quietly, temporary_sibling

DEFAULT_FPS = Fraction(25)
CONTAINER_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".h264", ".264")
#: Y4M colourspace -> (chroma format, chroma siting of ``nvc_core.color.SITINGS``)
Y4M_CHROMA = {"420jpeg": ("420", "center"), "420": ("420", "center"), "420mpeg2": ("420", "left"),
              "420paldv": ("420", "topleft"), "444": ("444", "center")}
Y4M_MAX_HEADER = 4096
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# "_416x240" or "416x240" at the start, optionally "_30" / "_29.97" / "_30fps" / "_30Hz" after it.
RAW_NAME_SIZE = re.compile(r"(?:^|_)(\d+)x(\d+)(?:_(\d+(?:\.\d+)?)(?:fps|hz)?)?(?=_|$)", re.IGNORECASE)

Size = tuple[int, int]


def _error(path: Path, exc: BaseException) -> VideoError:
    """A one-line VideoError for ``path`` from an OS / OpenCV / FFmpeg (PyAV) exception."""
    if isinstance(exc, av.FFmpegError):
        return VideoError(f"{path}: cannot open the video or decode it ({exc.strerror})")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())
    return VideoError(f"{path}: {reason}")


def _as_fraction(fps: float | Fraction) -> Fraction:
    """A frame rate as a Fraction; floats snap to the nearest ratio with denominator <= 1001."""
    return Fraction(fps).limit_denominator(1001)


def _check_size(path: Path, size: Size | None, width: int, height: int) -> None:
    if size is not None and tuple(size) != (width, height):
        raise VideoError(f"{path}: video is {width}x{height}, not the requested {size[0]}x{size[1]}")


def is_png_dir_target(path: str | os.PathLike) -> bool:
    """True when ``VideoWriter(path, ...)`` would write a folder of PNGs (the path has no suffix)."""
    return Path(path).suffix == ""


class VideoReader:
    """Iterator over the RGB uint8 (H, W, 3) frames of a video; also a context manager.

    Attributes: ``path`` (Path), ``width``, ``height``, ``fps`` (Fraction), ``frame_count`` (int, or
    None when unknown), ``matrix`` and ``full_range``: the Y'CbCr the frames were converted from (for
    PNG input, the ``open_video`` arguments), which the Y metrics and a Y'CbCr output should use.
    Subclasses implement ``_read_frame`` (None at the end) and ``_release``.
    """

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, frame_count: int | None,
                 matrix: str = "bt709", full_range: bool = False):
        self.path = path
        self.matrix = matrix
        self.full_range = full_range
        self.width = width
        self.height = height
        self.fps = fps
        self.frame_count = frame_count
        self._closed = False

    def _read_frame(self) -> np.ndarray | None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free the underlying file or decoder."""

    def __iter__(self) -> VideoReader:
        return self

    def __next__(self) -> np.ndarray:
        if self._closed:
            raise VideoError(f"{self.path}: reading from a closed video")
        try:
            frame = self._read_frame()
        except (OSError, cv2.error, av.FFmpegError) as exc:
            raise _error(self.path, exc) from exc
        if frame is None:
            raise StopIteration
        return frame

    def read(self, n: int | None = None) -> list[np.ndarray]:
        """The next ``n`` frames (fewer at the end), or all remaining frames when ``n`` is None."""
        return list(itertools.islice(self, n))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _PlanarReader(VideoReader):
    """8-bit planar Y'CbCr frames (Y, then Cb, then Cr plane) read from an open binary file."""

    def __init__(self, path: Path, file: BinaryIO, width: int, height: int, fps: Fraction,
                 frame_count: int | None, chroma: str, siting: str, matrix: str, full_range: bool):
        super().__init__(path, width, height, fps, frame_count, matrix, full_range)
        self._file = file
        self._siting = siting
        self._chroma_shape = ((height + 1) // 2, (width + 1) // 2) if chroma == "420" else (height, width)
        self._frame_bytes = _planar_frame_bytes(width, height, chroma)
        self._index = 0

    def _read_samples(self, end_allowed: bool) -> np.ndarray | None:
        """Read one frame's samples; None at end of file if ``end_allowed``, else truncation error."""
        data = self._file.read(self._frame_bytes)
        if not data and end_allowed:
            return None
        if len(data) < self._frame_bytes:
            raise VideoError(f"{self.path}: frame {self._index} is truncated "
                             f"({len(data)} of {self._frame_bytes} bytes)")
        self._index += 1
        samples = np.frombuffer(data, np.uint8)
        n_luma, n_chroma = self.width * self.height, self._chroma_shape[0] * self._chroma_shape[1]
        y = samples[:n_luma].reshape(self.height, self.width)
        u = samples[n_luma:n_luma + n_chroma].reshape(self._chroma_shape)
        v = samples[n_luma + n_chroma:].reshape(self._chroma_shape)
        return ycbcr_to_rgb(y, u, v, self.matrix, self.full_range, self._siting)

    def _release(self) -> None:
        self._file.close()


def _planar_frame_bytes(width: int, height: int, chroma: str) -> int:
    if chroma == "444":
        return 3 * width * height
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


class _RawYUVReader(_PlanarReader):
    def _read_frame(self) -> np.ndarray | None:
        return self._read_samples(end_allowed=True)


class _Y4MReader(_PlanarReader):
    def _read_frame(self) -> np.ndarray | None:
        header = self._file.readline(Y4M_MAX_HEADER)
        if not header:
            return None
        if not (header.startswith(b"FRAME") and header.endswith(b"\n")):
            raise VideoError(f"{self.path}: bad or truncated FRAME header before frame {self._index}")
        return self._read_samples(end_allowed=False)


def _parse_y4m_header(path: Path, line: bytes) -> tuple[int, int, Fraction, tuple[str, str], bool | None]:
    """(width, height, fps, (chroma "420"/"444", siting), full range or None if unsaid) of a stream header."""
    if not (line.startswith(b"YUV4MPEG2 ") and line.endswith(b"\n")):
        raise VideoError(f"{path}: not a YUV4MPEG2 file (bad stream header)")
    params: dict[str, str] = {}
    for token in line[10:].decode("ascii", errors="replace").split():
        if token.startswith("X") and "=" in token:
            key, value = token[1:].split("=", 1)
            params["X" + key.upper()] = value.upper()
        else:
            params[token[0]] = token[1:]
    try:
        width, height = int(params["W"]), int(params["H"])
        num, den = (int(x) for x in params.get("F", "0:0").split(":"))
    except (KeyError, ValueError):
        raise VideoError(f"{path}: Y4M header has a missing or malformed W, H or F parameter") from None
    if width < 1 or height < 1:
        raise VideoError(f"{path}: Y4M header gives an empty frame size {width}x{height}")
    colourspace = params.get("C", "420jpeg")
    if colourspace not in Y4M_CHROMA:
        raise VideoError(f"{path}: unsupported Y4M colourspace C{colourspace} "
                         f"(only 8-bit 4:2:0 and 4:4:4 are read)")
    fps = Fraction(num, den) if num > 0 and den > 0 else DEFAULT_FPS
    full_range = {"FULL": True, "LIMITED": False}.get(params.get("XCOLORRANGE", ""))
    return width, height, fps, Y4M_CHROMA[colourspace], full_range


def _open_y4m(path: Path, size: Size | None, matrix: str, full_range: bool) -> _Y4MReader:
    file = open(path, "rb")
    try:
        line = file.readline(Y4M_MAX_HEADER)
        width, height, fps, (chroma, siting), file_full_range = _parse_y4m_header(path, line)
        _check_size(path, size, width, height)
        # Exact when every FRAME header is the plain "FRAME\n" and no frame is truncated.
        payload = os.fstat(file.fileno()).st_size - len(line)
        frame_bytes = len(b"FRAME\n") + _planar_frame_bytes(width, height, chroma)
        frame_count = payload // frame_bytes if payload % frame_bytes == 0 else None
    except BaseException:
        file.close()
        raise
    return _Y4MReader(path, file, width, height, fps, frame_count, chroma, siting, matrix,
                      full_range if file_full_range is None else file_full_range)


def _open_raw_yuv(path: Path, size: Size | None, matrix: str, full_range: bool) -> _RawYUVReader:
    named = RAW_NAME_SIZE.search(path.stem)
    if size is None and named is None:
        raise VideoError(f"{path}: unknown frame size of raw .yuv; name it like foo_416x240_30.yuv "
                         f"or give the size (--size WxH)")
    width, height = size if size is not None else (int(named.group(1)), int(named.group(2)))
    if width < 1 or height < 1:
        raise VideoError(f"{path}: invalid frame size {width}x{height}")
    fps = _as_fraction(float(named.group(3))) if named and named.group(3) else DEFAULT_FPS
    frame_bytes = _planar_frame_bytes(width, height, "420")
    file_bytes = path.stat().st_size
    if file_bytes % frame_bytes:
        raise VideoError(f"{path}: file size {file_bytes} is not a whole number of {width}x{height} "
                         f"4:2:0 frames ({frame_bytes} bytes each); wrong size?")
    return _RawYUVReader(path, open(path, "rb"), width, height, fps, file_bytes // frame_bytes,
                         "420", "center", matrix, full_range)


#: AVColorSpace codes (libavutil/pixfmt.h) read as one of our matrices: BT.709; BT.470BG, SMPTE 170M
#: (both BT.601); unspecified and reserved, which FFmpeg converts as BT.601.
_AV_MATRICES = {1: "bt709", 5: "bt601", 6: "bt601", 2: "bt601", 3: "bt601"}
_AV_MATRIX_NAMES = {0: "RGB", 4: "FCC", 7: "SMPTE 240M", 8: "YCgCo", 9: "BT.2020 NCL", 10: "BT.2020 CL",
                    11: "SMPTE 2085", 14: "ICtCp"}
_AV_FULL_RANGE = 2  # AVCOL_RANGE_JPEG; 1 is AVCOL_RANGE_MPEG (limited), 0 unspecified
#: 8-bit planar Y'CbCr formats converted as they are; other formats go through ``_AV_FALLBACK``.
_AV_PLANAR = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}
_AV_FALLBACK = "yuv444p"  # high bit depth, semi-planar...: FFmpeg's own repacking, without a matrix
#: Codecs whose chroma is centred (JPEG family); the others (MPEG-2, H.264, HEVC...) site it left.
_AV_CENTRED_CHROMA = {"mjpeg", "jpeg2000", "jpegls", "mpeg1video", "theora"}


def _av_plane(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """(height, width) uint8 samples of one 8-bit plane (dropping the line padding)."""
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]


class _ContainerReader(VideoReader):
    """Compressed video decoded by FFmpeg's libraries (PyAV) to its native Y'CbCr planes, converted to
    RGB by ``nvc_core.color`` with the stream's own matrix, range and the codec's chroma siting."""

    def __init__(self, path: Path, size: Size | None):
        container = av.open(str(path))
        try:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream in the file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self._frames = container.decode(stream)
            first = next(self._frames, None)
            if first is None:
                raise VideoError(f"{path}: no decodable frame in the video")
            _check_size(path, size, first.width, first.height)
            if first.colorspace not in _AV_MATRICES and not first.format.is_rgb:
                name = _AV_MATRIX_NAMES.get(first.colorspace, f"code {first.colorspace}")
                raise VideoError(f"{path}: unsupported colour matrix {name} (read: BT.709, BT.601)")
            fps = stream.average_rate or stream.guessed_rate
        except BaseException:
            container.close()
            raise
        super().__init__(path, first.width, first.height, _as_fraction(fps) if fps else DEFAULT_FPS,
                         stream.frames or None)
        self.matrix = _AV_MATRICES.get(first.colorspace, "bt601")
        self.full_range = (first.color_range == _AV_FULL_RANGE
                           or first.color_range != 1 and first.format.name.startswith("yuvj"))
        self.siting = "center" if stream.codec_context.name in _AV_CENTRED_CHROMA else "left"
        self._container = container
        self._pending: av.VideoFrame | None = first

    def _read_frame(self) -> np.ndarray | None:
        frame, self._pending = self._pending, None
        if frame is None:
            frame = next(self._frames, None)
            if frame is None:
                return None
        if (frame.width, frame.height) != (self.width, self.height):
            raise VideoError(f"{self.path}: frame size changes from {self.width}x{self.height} "
                             f"to {frame.width}x{frame.height}")
        if frame.format.is_rgb:
            return frame.to_ndarray(format="rgb24")
        if frame.format.name in ("gray", "gray8"):
            y = _av_plane(frame.planes[0])
            grey = np.full((self.height, self.width), 128, np.uint8)
            return yuv444_to_rgb(y, grey, grey, self.matrix, self.full_range)
        if frame.format.name not in _AV_PLANAR:
            frame = frame.reformat(format=_AV_FALLBACK)
        y, u, v = (_av_plane(p) for p in frame.planes[:3])
        return ycbcr_to_rgb(y, u, v, self.matrix, self.full_range, self.siting)

    def _release(self) -> None:
        self._container.close()


def _natural_key(path: Path) -> list[str | int]:
    """Sort key putting "f2.png" before "f10.png"."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _png_size(path: Path) -> Size:
    """(width, height) from a PNG file's IHDR chunk, without decoding it."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise VideoError(f"{path}: not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


class _PNGDirReader(VideoReader):
    """A folder of PNG frames."""

    def __init__(self, path: Path, size: Size | None, matrix: str, full_range: bool):
        files = sorted((p for p in path.iterdir() if p.suffix.lower() == ".png" and p.is_file()),
                       key=_natural_key)
        if not files:
            raise VideoError(f"{path}: folder holds no .png files")
        width, height = _png_size(files[0])
        for other in files[1:]:
            w, h = _png_size(other)
            if (w, h) != (width, height):
                raise VideoError(f"{path}: PNG frames differ in size ({files[0].name} is {width}x{height}, "
                                 f"{other.name} is {w}x{h})")
        _check_size(path, size, width, height)
        super().__init__(path, width, height, DEFAULT_FPS, len(files), matrix, full_range)
        self._files = iter(files)

    def _read_frame(self) -> np.ndarray | None:
        file = next(self._files, None)
        if file is None:
            return None
        bgr = cv2.imdecode(np.fromfile(file, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape[:2] != (self.height, self.width):
            raise VideoError(f"{file}: cannot decode the PNG frame")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def open_video(path: str | os.PathLike, size: Size | None = None, matrix: str = "bt709",
               full_range: bool = False) -> VideoReader:
    """Open a video for reading RGB uint8 frames (see the module docstring for the formats).

    ``size`` is ``(width, height)``; ``matrix`` ("bt709" / "bt601") and ``full_range`` describe the
    Y'CbCr of ``.y4m`` / ``.yuv`` input.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    try:
        if path.is_dir():
            return _PNGDirReader(path, size, matrix, full_range)
        if suffix == ".y4m":
            return _open_y4m(path, size, matrix, full_range)
        if suffix == ".yuv":
            return _open_raw_yuv(path, size, matrix, full_range)
        if suffix in CONTAINER_SUFFIXES:
            return _ContainerReader(path, size)
    except (OSError, cv2.error, av.FFmpegError) as exc:
        raise _error(path, exc) from exc
    raise VideoError(f"{path}: unsupported video format '{suffix}' (read .y4m, .yuv, "
                     f"{', '.join(CONTAINER_SUFFIXES)} or a folder of PNGs)")


class VideoWriter:
    """Atomic writer of RGB uint8 (height, width, 3) frames to ``.y4m`` or a folder of PNGs.

    Use as a context manager, or call ``close()`` to publish the video / ``abort()`` to drop it.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float | Fraction = DEFAULT_FPS,
                 matrix: str = "bt709", full_range: bool = False):
        self.path = Path(path)
        self.width, self.height = width, height
        self.fps = _as_fraction(fps)
        self.frames_written = 0
        self._matrix, self._full_range = matrix, full_range
        self._png = is_png_dir_target(self.path)
        if not self._png and self.path.suffix.lower() != ".y4m":
            raise VideoError(f"{self.path}: cannot write '{self.path.suffix}' video "
                             f"(write .y4m, or a folder of PNGs: a path without suffix)")
        if width < 1 or height < 1 or self.fps <= 0:
            raise VideoError(f"{self.path}: invalid frame size {width}x{height} or frame rate {fps}")
        if not self.path.parent.is_dir():
            raise VideoError(f"{self.path}: folder {self.path.parent} does not exist")
        self._check_replaceable()
        self._tmp = temporary_sibling(self.path)
        self._file: BinaryIO | None = None
        self._closed = False
        try:
            if self._png:
                self._tmp.mkdir()
            else:
                self._file = open(self._tmp, "xb")
                self._file.write(self._y4m_header())
        except OSError as exc:
            self.abort()
            raise _error(self.path, exc) from exc

    def _check_replaceable(self) -> None:
        """Refuse to overwrite anything but a regular .y4m file or a folder of our own PNG frames."""
        try:
            check_replaceable(self.path, folder=self._png)
        except NVCError as exc:
            raise VideoError(str(exc)) from None
        if self._png and self.path.is_dir() and any(not re.fullmatch(r"frame_\d+\.png", p.name)
                                                     for p in self.path.iterdir()):
            raise VideoError(f"{self.path}: exists and is not a folder of frame_*.png files; "
                             f"not overwriting it")

    def _y4m_header(self) -> bytes:
        colour_range = "FULL" if self._full_range else "LIMITED"
        return (f"YUV4MPEG2 W{self.width} H{self.height} F{self.fps.numerator}:{self.fps.denominator} "
                f"Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE={colour_range}\n").encode("ascii")

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 (height, width, 3) frame."""
        if self._closed:
            raise VideoError(f"{self.path}: writing to a closed video")
        expected = (self.height, self.width, 3)
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.shape != expected:
            shape = getattr(rgb, "shape", None)
            raise VideoError(f"{self.path}: frame {self.frames_written} has shape {shape} "
                             f"{getattr(rgb, 'dtype', type(rgb).__name__)}, expected {expected} uint8")
        try:
            if self._png:
                ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                if not ok:
                    raise VideoError(f"{self.path}: PNG encoding failed for frame {self.frames_written}")
                png.tofile(self._tmp / f"frame_{self.frames_written:05d}.png")
            else:
                y, u, v = rgb_to_yuv420(rgb, self._matrix, self._full_range)
                self._file.write(b"FRAME\n" + y.tobytes() + u.tobytes() + v.tobytes())
        except (OSError, cv2.error) as exc:
            self.abort()
            raise _error(self.path, exc) from exc
        self.frames_written += 1

    def close(self) -> None:
        """Finish the video and move it to ``path`` (replacing an older one)."""
        self.finish()
        self.publish()

    def finish(self) -> None:
        """Put the whole video on disk and check ``path`` again (:func:`nvc_core.outputs.publish`'s first step)."""
        if self._closed:
            return
        try:
            if not self._png:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            self._check_replaceable()
        except (OSError, VideoError) as exc:
            self.abort()
            raise (exc if isinstance(exc, VideoError) else _error(self.path, exc)) from None

    def publish(self) -> None:
        """Move the finished video onto ``path``."""
        if self._closed:
            return
        try:
            if self._png:
                self._replace_folder()
            else:
                os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise _error(self.path, exc) from None
        self._closed = True

    def _replace_folder(self) -> None:
        if not self.path.exists():
            self._tmp.rename(self.path)
            return
        old = temporary_sibling(self.path)
        self.path.rename(old)
        try:
            self._tmp.rename(self.path)
        except OSError:
            old.rename(self.path)
            raise
        shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything written so far; ``path`` is left as it was.  Safe to call twice; never raises."""
        self._closed = True
        if self._file is not None:
            quietly(self._file.close)
        if self._tmp.is_dir():
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:
            quietly(self._tmp.unlink, missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type | None, *exc_rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
