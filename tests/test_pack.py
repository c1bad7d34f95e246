"""Training packs: the loaders' samples, up to JPEG loss, within a size limit, training data only."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import disk_state, refusal_failures

from nvc_core.errors import NVCError
from nvc_core.metrics import psnr
from nvc_core.train.config import DataSettings
from nvc_core.train.data import ClipSet, PhotoSet, load_sequences
from nvc_core.train.pack import MANIFEST, MIB, build_pack, pack_sources
from nvc_core.train.trainer import Data
from tests.test_train import smooth_photo


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def soft_photo(seed: int, size: int) -> np.ndarray:
    """Natural-image smoothness (JPEG 95 keeps it above 33 dB, even with 4:2:0 chroma)."""
    return cv2.resize(smooth_photo(seed, size // 4), (size, size), interpolation=cv2.INTER_CUBIC)


def make_sources(root: Path) -> DataSettings:
    """Two photos (one larger than photo_max_side), a video file and a grey frame-folder sequence."""
    write_rgb(root / "photos" / "b.png", soft_photo(1, 160))
    write_rgb(root / "photos" / "a.png", soft_photo(2, 320))
    big = soft_photo(3, 400)
    (root / "video" / "cam").mkdir(parents=True)
    writer = cv2.VideoWriter(str(root / "video" / "cam" / "pan.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for t in range(9):
        writer.write(np.ascontiguousarray(big[40 + t:160 + t, 30 + 2 * t:190 + 2 * t, ::-1]))
    writer.release()
    (root / "video" / "grey").mkdir()
    for t in range(5):
        cv2.imwrite(str(root / "video" / "grey" / f"6.1.{t + 1:02d}.png"), big[100 + 3 * t:164 + 3 * t, 50:114, 0])
    return DataSettings(photos=[str(root / "photos")], photo_max_side=256,
                        videos=[str(root / "video" / "cam"), str(root / "video" / "grey")],
                        video_max_side=96, video_max_frames=8, cache=None)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict:
    return make_sources(tmp_path_factory.mktemp("train"))


def test_pack_gives_the_samples_of_the_folders(sources, tmp_path):
    manifest = build_pack(sources, tmp_path / "pack", max_mib=4)
    assert (manifest["photos"], manifest["clips"], manifest["frames"]) == (2, 2, 13)
    assert manifest["clip_quality"] == manifest["photo_quality"] == 95     # everything fits at full quality
    assert json.loads((tmp_path / "pack" / MANIFEST).read_text()) == manifest
    packed = pack_sources(tmp_path / "pack")
    photos, photos_packed = PhotoSet(sources.photos, 256), PhotoSet(packed["photos"], 256)
    assert [p.shape for p in photos.images] == [p.shape for p in photos_packed.images] == [(256, 256, 3), (160, 160, 3)]
    seqs = load_sequences(sources.videos, 96, 8)
    seqs_packed = load_sequences(packed["videos"])
    assert [s.shape for s in seqs] == [s.shape for s in seqs_packed] == [(8, 72, 96, 3), (5, 64, 64, 3)]
    for a, b in zip(photos.images + seqs, photos_packed.images + seqs_packed):
        assert psnr(a, b) > 33.0                                            # JPEG loss only
    clip, clip_packed = (ClipSet(s, 3).sample(np.random.default_rng(5), 64, 3) for s in (seqs, seqs_packed))
    assert psnr(clip, clip_packed) > 33.0                                   # same seed: same crop of the same frames
    data = Data(DataSettings(pack=str(tmp_path / "pack"), photos=["elsewhere"], videos=["elsewhere"]))
    assert len(data.photos().images) == 2


def test_clip_quality_drops_until_the_pack_fits(sources, tmp_path):
    full = build_pack(sources, tmp_path / "full", max_mib=4)
    clip_bytes = sum(f.stat().st_size for f in (tmp_path / "full" / "clips").rglob("*.jpg"))
    limit = (full["bytes"] - 0.2 * clip_bytes) / MIB                     # 80 % of the clips' bytes at 95
    small = build_pack(sources, tmp_path / "small", max_mib=limit)
    assert 75 <= small["clip_quality"] < 95 and small["photo_quality"] == 95
    assert sum(f.stat().st_size for f in (tmp_path / "small").rglob("*.jpg")) <= limit * MIB
    with pytest.raises(NVCError, match="do not fit"):                        # 30 %: not even at quality 75
        build_pack(sources, tmp_path / "tiny", max_mib=(full["bytes"] - 0.7 * clip_bytes) / MIB)


def test_pack_takes_training_data_only_and_replaces_only_packs(sources, tmp_path):
    with pytest.raises(NVCError, match="training data only"):
        build_pack(dataclasses.replace(sources, videos=[str(tmp_path / "data" / "eval" / "video")]), tmp_path / "pack")
    (tmp_path / "precious").mkdir()
    with pytest.raises(NVCError, match="not a training pack"):
        build_pack(sources, tmp_path / "precious")
    with pytest.raises(NVCError, match="not a training pack"):
        pack_sources(tmp_path / "precious")


def test_pack_never_loses_what_it_did_not_make(sources, tmp_path, capfd, monkeypatch):
    """Rows: command, exit 2, one line, disk unchanged; an old pack survives a failed rebuild."""
    from nvc_core.cli import main
    work = tmp_path / "work"
    (work / "proj" / "src").mkdir(parents=True)
    (work / "proj" / "src" / "code.py").write_text("print('mine')\n")
    (work / "proj" / MANIFEST).write_text(json.dumps({"format": "nvc-train-pack"}))   # a pack.json among other files
    (work / "notes.txt").write_text("mine")
    build_pack(sources, work / "old", max_mib=4)
    (work / "config.yaml").write_text(json.dumps({"data": {"photos": sources.photos, "videos": sources.videos,
                                                           "photo_max_side": 256, "video_max_side": 96,
                                                           "video_max_frames": 8, "cache": None}}))
    monkeypatch.chdir(work)
    pack = ["train", "pack", "--config", "config.yaml", "--max-mb", "4"]
    cases = [
        ("out .", [*pack, "--out", "."], "current folder"),
        ("out ..", [*pack, "--out", ".."], "current folder or one above it"),
        ("out holds other files", [*pack, "--out", "proj"], "not a training pack made by 'nvc train pack'"),
        ("out is a file", [*pack, "--out", "notes.txt"], "not a folder"),
        ("out parent missing", [*pack, "--out", "none/pack"], "does not exist"),
        ("bad photos, old pack kept", [*pack, "--out", "old", "--photos", "nophotos"], "no such file or folder"),
        ("eval data, old pack kept", [*pack, "--out", "old", "--data", str(tmp_path / "eval" / "clips")],
         "training data only"),
        ("max-mb 0", [*pack, "--out", "new", "--max-mb", "0"], "--max-mb must be > 0"),
        ("photo quality 0", [*pack, "--out", "new", "--photo-quality", "0"], "--photo-quality must be in 1..100"),
    ]
    failures = refusal_failures(main, cases, capfd, tmp_path)
    assert failures == [], "\n".join(failures)
    before = disk_state(tmp_path)

    real = Path.write_bytes                                      # a full disk half way through the rebuild
    writes = []
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: writes.append(1) if len(writes) < 3 else
                        (_ for _ in ()).throw(OSError(28, "No space left on device")))
    assert main([*pack, "--out", "old"]) == 2
    assert "No space left on device" in capfd.readouterr().err and disk_state(tmp_path) == before
    monkeypatch.setattr(Path, "write_bytes", real)
    (work / "old" / "photos" / "000_a.jpg").unlink()             # the rebuild replaces the old pack as a whole
    assert main([*pack, "--out", "old", "--max-mb", "3"]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["config.yaml", "notes.txt", "old", "proj"]
    assert (work / "old" / "photos" / "000_a.jpg").is_file()
    assert json.loads((work / "old" / MANIFEST).read_text())["photos"] == 2
