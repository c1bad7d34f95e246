"""Training data loaders on fixture folders generated in tmp_path."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from nvc_core.errors import VideoError
from nvc_core.train.config import DataSettings
from nvc_core.train.data import (ClipSet, PhotoSet, VimeoSet, clip_source, group_frame_files, load_sequences,
                                 random_crop, to_batch)


def gradient(h: int, w: int, shift: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x + shift) % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def test_frame_numbers_split_folders_into_sequences():
    names = ["6.1.01", "6.1.02", "6.2.01", "6.2.02", "6.2.03", "motion01.512", "motion02.512", "frame_0016"]
    groups = group_frame_files([Path(f"{n}.png") for n in names])
    stems = sorted([p.stem for p in g] for g in groups)
    assert stems == [["6.1.01", "6.1.02"], ["6.2.01", "6.2.02", "6.2.03"], ["frame_0016"],
                     ["motion01.512", "motion02.512"]]


def test_grey_frame_folder_becomes_rgb_sequence(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"6.1.{i + 1:02d}.png"), gradient(40, 50, 3 * i)[..., 0])   # grey PNGs
    (seq,) = load_sequences([tmp_path])
    assert seq.shape == (3, 40, 50, 3)
    assert np.array_equal(seq[..., 0], seq[..., 2]) and np.array_equal(seq[1, ..., 0], gradient(40, 50, 3)[..., 0])


def test_video_is_decoded_once_and_cached(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (80, 60))
    for i in range(6):
        writer.write(gradient(60, 80, 4 * i))
    writer.release()
    first = load_sequences([path], max_side=40, max_frames=5, cache_dir=tmp_path / "cache")
    assert first[0].shape == (5, 30, 40, 3)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    again = load_sequences([tmp_path], max_side=40, max_frames=5, cache_dir=tmp_path / "cache")
    assert np.array_equal(first[0], again[0])


def test_vimeo_septuplets(tmp_path):
    for seq in ("00001/0001", "00001/0002"):
        for i in range(1, 8):
            write_rgb(tmp_path / "sequences" / seq / f"im{i}.png", gradient(64, 112, 5 * i))
    rng = np.random.default_rng(0)
    clip = VimeoSet(tmp_path).sample(rng, 48, 4)
    assert clip.shape == (4, 48, 48, 3) and clip.dtype == np.uint8
    mixture = clip_source(DataSettings(videos=[str(tmp_path)]), None)
    assert mixture.sample(rng, 32, 2).shape == (2, 32, 32, 3)


def test_clips_are_consecutive_frames_cropped_alike():
    seq = np.stack([np.full((50, 60, 3), i, np.uint8) for i in range(10)])
    clip = ClipSet([seq], max_stride=2).sample(np.random.default_rng(1), 32, 3)
    steps = np.diff(clip[:, 0, 0, 0].astype(int))
    assert clip.shape == (3, 32, 32, 3) and len(set(steps)) == 1 and abs(steps[0]) in (1, 2)


def test_photos_and_small_frames(tmp_path):
    write_rgb(tmp_path / "a.png", gradient(300, 200))
    photos = PhotoSet(tmp_path, max_side=100)
    assert photos.images[0].shape == (100, 67, 3)
    rng = np.random.default_rng(0)
    assert photos.sample(rng, 64).shape == (1, 64, 64, 3)
    assert random_crop(np.zeros((2, 20, 30, 3), np.uint8), 48, rng).shape == (2, 48, 48, 3)
    batch = to_batch([photos.sample(rng, 64) for _ in range(3)])
    assert tuple(batch.shape) == (3, 1, 3, 64, 64) and 0.0 <= float(batch.min()) <= float(batch.max()) <= 1.0


def test_synthetic_clips_mix_with_real_ones(tmp_path):
    write_rgb(tmp_path / "photos" / "a.png", gradient(200, 200))
    for i in range(4):
        write_rgb(tmp_path / "frames" / f"f{i:03d}.png", gradient(80, 80, i))
    mixture = clip_source(DataSettings(videos=[str(tmp_path / "frames")], video_max_side=None, video_max_frames=None),
                          PhotoSet(tmp_path / "photos"))
    assert len(mixture.sources) == 2 and np.allclose(mixture.weights, [0.5, 0.5])
    assert mixture.sample(np.random.default_rng(0), 64, 3).shape == (3, 64, 64, 3)


def test_empty_sources_are_user_errors(tmp_path):
    with pytest.raises(VideoError):
        PhotoSet(tmp_path)
    with pytest.raises(VideoError):
        clip_source(DataSettings(videos=[str(tmp_path)]), None)
