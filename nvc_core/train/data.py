"""Training data (Sec. IV-A): photos for neuro-Intra, short clips for the inter stages.

Every source has ``sample(rng, size, frames) -> (T,size,size,3) uint8 RGB``: a random crop (the
whole clip cropped at the same place), random horizontal/vertical flips and, for in-memory
sequences, a random temporal stride and direction. Sources:
  * :class:`PhotoSet`    still images (any folder of .png/.jpg), downscaled to ``max_side`` once;
  * :class:`ClipSet`     sequences held in memory: video files (.mp4/.mkv/.avi/.h264 via OpenCV,
                         decoded once, downscaled, cached as .npz under ``cache_dir``) and frame
                         folders (PNG sequences; grey-scale frames become 3 equal channels);
  * :class:`VimeoSet`    Vimeo-90k septuplets ``sequences/XXXXX/XXXX/im1..7.png``, read on demand;
  * :class:`SyntheticSet` clips with known motion made from photos (:mod:`nvc_core.train.synthetic`);
  * :class:`Mixture`     picks one of its sources per sample, by weight.
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from nvc_core.errors import VideoError
from nvc_core.train.config import DataSettings
from nvc_core.flow_estimate import clip_flows
from nvc_core.train.synthetic import make_clip

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".h264", ".264"}


# -- reading -----------------------------------------------------------------------------------------
def _fit(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale (area filter) so that the longer side is at most ``max_side``."""
    h, w = img.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """RGB uint8 (H,W,3); grey-scale files come back as three equal channels."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoError(f"cannot read image {path}")
    return _fit(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), max_side)


def read_video(path: str | Path, max_side: int | None, max_frames: int | None) -> np.ndarray:
    """Decode a video file with OpenCV: (T,H,W,3) uint8 RGB."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while max_frames is None or len(frames) < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(_fit(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side))
    cap.release()
    if not frames:
        raise VideoError(f"cannot decode video {path}")
    return np.stack(frames)


def cached_video(path: Path, max_side: int | None, max_frames: int | None,
                 cache_dir: str | Path | None) -> np.ndarray:
    """:func:`read_video` through an .npz cache keyed by file, size, date and decode settings."""
    if cache_dir is None:
        return read_video(path, max_side, max_frames)
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{max_side}|{max_frames}"
    cache = Path(cache_dir) / f"{path.stem}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
    if cache.exists():
        return np.load(cache)["frames"]
    frames = read_video(path, max_side, max_frames)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".tmp.npz")
    np.savez_compressed(tmp, frames=frames)
    tmp.replace(cache)
    return frames


def group_frame_files(files: list[Path]) -> list[list[Path]]:
    """Split a folder's images into sequences, each in frame order.

    Names are split into text and numbers; files with the same text pattern belong together. The
    frame number is the last number that varies among them, the other numbers name the sequence:
    ``6.1.01 .. 6.3.11`` are sequences 6.1, 6.2, 6.3; ``motion01.512 .. motion10.512`` is one.
    """
    parts = {f: re.split(r"(\d+)", f.stem) for f in files}
    by_pattern = defaultdict(list)
    for f, p in parts.items():
        by_pattern[tuple(p[0::2])].append(f)
    sequences = []
    for group in by_pattern.values():
        numbers = np.array([[int(n) for n in parts[f][1::2]] for f in group]).reshape(len(group), -1)
        varying = [i for i in range(numbers.shape[1]) if len(set(numbers[:, i])) > 1]
        frame_col = varying[-1] if varying else None
        seqs = defaultdict(list)
        for f, row in zip(group, numbers):
            key = tuple(n for i, n in enumerate(row) if i != frame_col)
            seqs[key].append((row[frame_col] if frame_col is not None else 0, f))
        sequences += [[f for _, f in sorted(seq)] for _, seq in sorted(seqs.items())]
    return sequences


def load_sequences(paths: list[str | Path], max_side: int | None = None, max_frames: int | None = None,
                   cache_dir: str | Path | None = None) -> list[np.ndarray]:
    """Every video file and frame-folder sequence under ``paths`` (files or folders, recursive)."""
    sequences = []
    for root in map(Path, paths):
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.suffix.lower() in VIDEO_SUFFIXES:
                sequences.append(cached_video(f, max_side, max_frames, cache_dir))
        by_folder = defaultdict(list)
        for f in files:
            if f.suffix.lower() in IMAGE_SUFFIXES:
                by_folder[f.parent].append(f)
        for folder_files in by_folder.values():
            for seq in group_frame_files(folder_files):
                frames = [read_image(f, max_side) for f in seq[:max_frames]]
                if len(frames) > 1 and len({fr.shape for fr in frames}) == 1:
                    sequences.append(np.stack(frames))
    return sequences


# -- augmentation -------------------------------------------------------------------------------------
def random_crop(frames: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Same random ``size`` x ``size`` crop of every frame (T,H,W,3); frames too small are upscaled."""
    h, w = frames.shape[1:3]
    if min(h, w) < size:
        s = size / min(h, w)
        frames = np.stack([cv2.resize(f, (max(size, round(w * s)), max(size, round(h * s))),
                                      interpolation=cv2.INTER_LINEAR) for f in frames])
        h, w = frames.shape[1:3]
    y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    return frames[:, y:y + size, x:x + size]


def random_flip(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        frames = frames[:, :, ::-1]
    if rng.random() < 0.5:
        frames = frames[:, ::-1]
    return frames


# -- sources ------------------------------------------------------------------------------------------
def image_files(paths: str | Path | list[str | Path]) -> list[Path]:
    """Every image file among ``paths`` (files, or folders searched recursively), in order."""
    found = []
    for root in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        if not root.exists():
            raise VideoError(f"no such file or folder: {root}")
        found += sorted(f for f in (root.rglob("*") if root.is_dir() else [root]) if f.suffix.lower() in IMAGE_SUFFIXES)
    return found


class PhotoSet:
    """Still images: every image under ``paths`` (files or folders)."""

    def __init__(self, paths: str | Path | list[str | Path], max_side: int | None = 1024):
        self.files = image_files(paths)
        if not self.files:
            raise VideoError(f"no images in {', '.join(map(str, [paths] if isinstance(paths, (str, Path)) else paths))}")
        self.images = [read_image(f, max_side) for f in self.files]

    def sample(self, rng: np.random.Generator, size: int, frames: int = 1) -> np.ndarray:
        img = self.images[rng.integers(len(self.images))][None]
        return random_flip(random_crop(img, size, rng), rng)


class ClipSet:
    """Clips of consecutive frames (temporal stride 1..``max_stride``) from in-memory sequences."""

    def __init__(self, sequences: list[np.ndarray], max_stride: int = 1):
        self.sequences = sequences
        self.max_stride = max_stride
        if not sequences:
            raise VideoError("no video sequences found for training")
        self.max_frames = max(len(seq) for seq in sequences)

    def sample(self, rng: np.random.Generator, size: int, frames: int) -> np.ndarray:
        """A clip from the sequences of at least ``frames`` frames (see ``max_frames``)."""
        long_enough = [seq for seq in self.sequences if len(seq) >= frames]
        seq = long_enough[rng.integers(len(long_enough))]
        stride = min(rng.integers(1, self.max_stride + 1), max(1, (len(seq) - 1) // max(1, frames - 1)))
        start = rng.integers(0, len(seq) - stride * (frames - 1))
        clip = seq[start:start + stride * (frames - 1) + 1:stride]
        if rng.random() < 0.5:
            clip = clip[::-1]
        return random_flip(random_crop(clip, size, rng), rng)


class VimeoSet:
    """Vimeo-90k septuplets; ``sep_trainlist.txt`` beside ``sequences/`` selects them if present."""

    def __init__(self, root: str | Path):
        root = Path(root)
        listing = root / "sep_trainlist.txt"
        if listing.exists():
            self.folders = [root / "sequences" / line.strip() for line in listing.read_text().split() if line]
        else:
            self.folders = sorted(p.parent for p in (root / "sequences").glob("*/*/im1.png"))
        if not self.folders:
            raise VideoError(f"no Vimeo-90k septuplets under {root}/sequences")
        self.max_frames = 7

    def sample(self, rng: np.random.Generator, size: int, frames: int) -> np.ndarray:
        folder = self.folders[rng.integers(len(self.folders))]
        start = rng.integers(1, 7 - frames + 2)
        clip = np.stack([read_image(folder / f"im{i}.png") for i in range(start, start + frames)])
        return random_flip(random_crop(clip, size, rng), rng)


class SyntheticSet:
    max_frames = None           # any length

    def __init__(self, photos: PhotoSet):
        self.photos = photos

    def sample(self, rng: np.random.Generator, size: int, frames: int) -> np.ndarray:
        photo = self.photos.images[rng.integers(len(self.photos.images))]
        return make_clip(photo, size, frames, rng).frames


class Mixture:
    def __init__(self, sources: list[tuple[object, float]]):
        self.sources = [s for s, w in sources if w > 0]
        weights = np.array([w for _, w in sources if w > 0], dtype=np.float64)
        self.weights = weights / weights.sum()

    def check_frames(self, frames: int, stage: str) -> None:
        """Refuse a stage whose clips are longer than a real source's sequences (before it starts)."""
        short = [s.max_frames for s in self.sources if s.max_frames is not None and s.max_frames < frames]
        if short:
            raise VideoError(f"stage {stage} trains on clips of {frames} frames; the longest training sequence "
                             f"has {min(short)} (give longer videos or frame folders)")

    def sample(self, rng: np.random.Generator, size: int, frames: int) -> np.ndarray:
        return self.sources[rng.choice(len(self.sources), p=self.weights)].sample(rng, size, frames)


def is_vimeo(path: str | Path) -> bool:
    return (Path(path) / "sequences").is_dir()


def clip_source(data: DataSettings, photos: PhotoSet | None, cache_dir: str | Path | None = None) -> Mixture:
    """Inter-stage data: real clips (``data.videos``: Vimeo-90k folders, videos, frame folders) mixed
    with ``data.synthetic_fraction`` synthetic ones made from ``photos``."""
    paths = data.videos
    for p in map(Path, paths):
        if not p.exists():
            raise VideoError(f"no such file or folder: {p}")
    real = [VimeoSet(p) for p in paths if is_vimeo(p)]
    others = [p for p in paths if not is_vimeo(p)]
    if others:
        real.append(ClipSet(load_sequences(others, data.video_max_side, data.video_max_frames, cache_dir),
                            data.max_stride))
    sources = [(s, (1.0 - data.synthetic_fraction) / len(real)) for s in real]
    if photos is not None:
        sources.append((SyntheticSet(photos), data.synthetic_fraction if real else 1.0))
    if not sources:
        raise VideoError("no clips for the inter stages: give video folders or photos")
    return Mixture(sources)


def to_batch(samples: list[np.ndarray] | torch.Tensor, device: torch.device | str = "cpu",
             channels_last: bool = False) -> torch.Tensor:
    """Clips (T,H,W,3) uint8, listed or stacked (B,T,H,W,3) -> float (B,T,3,H,W) in [0,1] on ``device``.

    The uint8 clips travel and become float there. ``channels_last``: every frame (B,3,H,W) keeps
    the pixel-interleaved layout of its source, the layout of channels-last convolutions.
    """
    if not isinstance(samples, torch.Tensor):
        samples = torch.from_numpy(np.stack(samples))
    frames = samples.to(device, non_blocking=True).permute(0, 1, 4, 2, 3)
    return (frames if channels_last else frames.contiguous()).float().div_(255.0)


def flow_hints(samples: list[np.ndarray]) -> torch.Tensor:
    """Encoder flow estimates of every P-frame of every clip: (B,T-1,2,H,W) float, pixels.

    Computed on the augmented crops, exactly what the encoder sees (source frame t against t-1).
    """
    return torch.from_numpy(np.stack([clip_flows(clip) for clip in samples]))
