"""The lent-GPU path, run on CPU: what the GPU machine lacks is never imported, tools/gpu_train.sh runs
end to end on a tiny pack and writes the files it would bring back, torchrun trains on a pack."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nvc_core.codec import encode_video
from nvc_core.errors import NVCError
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.train.check import DEFAULT_CLIP, check_weights
from nvc_core.train.config import load_config, set_value, validate
from nvc_core.train.pack import build_pack
from nvc_core.train.stages import ORDER
from nvc_core.train.trainer import budget_share
from nvc_core.weights import load_model, save_weights
from tests.test_pack import make_sources
from tests.test_train import TINY

REPO = Path(__file__).resolve().parents[1]
GPU_CONFIG = REPO / "nvc_core" / "resources" / "configs" / "train_gpu.yaml"
#: Installed here, not on the GPU machine (torch, numpy, opencv, pyyaml, tqdm, matplotlib only).
MISSING = ("constriction", "PySide6", "pyqtgraph", "bjontegaard", "scipy")
#: The GPU preset on a tiny model and tiny crops, one worker process making batches.
TINY_RUN = ["--set", f"model={TINY}", "--set", "train.crop=64", "--set", "stages.intra.crop=64",
            "--set", "train.batch=2", "--set", "stages.intra.batch=2", "--set", "stages.multiframe.batch=1",
            "--set", "train.workers=1", "--set", "train.log_every=1", "--set", "threads=1"]
MAX_FILES, MAX_FILE_BYTES = 8, 16 * 2 ** 20       # what comes back from a device run


@pytest.fixture(scope="module")
def missing(tmp_path_factory) -> Path:
    """Put first on PYTHONPATH: packages that fail to import, as on the GPU machine."""
    root = tmp_path_factory.mktemp("missing")
    for name in MISSING:
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(f"raise ImportError('no {name} on the GPU machine')\n")
    return root


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gpu")
    build_pack(make_sources(root / "train"), root / "pack", max_mib=4)
    return root / "pack"


def python(code: str, missing: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": f"{missing}{os.pathsep}{REPO}"})


def test_training_imports_nothing_the_gpu_machine_lacks(missing):
    assert python("import constriction", missing).returncode != 0                # the stand-ins do refuse
    run = python("import nvc_core.train.trainer, nvc_core.train.check, nvc_core.weights\n"
                 "from nvc_core.cli import main\n"
                 "main(['train', '--help'])\n", missing)                        # as `nvc train --help`
    assert run.returncode == 0, run.stderr
    assert "nvc train pack" in run.stdout


def test_gpu_script_runs_end_to_end_and_writes_what_comes_back(missing, pack, tmp_path):
    init = tmp_path / "init.pt"
    save_weights(NVC(NVCConfig(**TINY)), init)
    out = tmp_path / "out"
    part_mib = 0.6 * init.stat().st_size / 2 ** 20          # the weights come back in two parts
    env = {**os.environ, "OUT": str(out), "WORK": str(tmp_path / "work"), "DEVICE": "cpu", "PYTHON": sys.executable,
           "PACK": str(pack), "INIT": str(init), "BUDGET_S": "12", "SMOKE_S": "2", "RESERVE_S": "6",
           "PART_MIB": str(part_mib),
           "PYTHONPATH": str(missing), "OMP_NUM_THREADS": "1"}   # a busy 2-core CPU: one thread is faster
    run = subprocess.run(["bash", str(REPO / "tools" / "gpu_train.sh"), *TINY_RUN], env=env, capture_output=True,
                         text=True, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:]
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["check.json", "check_init.json", "gpu_train.log", "log.csv", "nvc.pt.part-00",
                                       "nvc.pt.part-01", "smoke_summary.json", "summary.json"]
    assert len(files) <= MAX_FILES and all(f.stat().st_size <= MAX_FILE_BYTES for f in files)
    assert (out / "nvc.pt.part-00").stat().st_size == int(part_mib * 2 ** 20)
    (tmp_path / "nvc.pt").write_bytes(b"".join(f.read_bytes() for f in files if f.name.startswith("nvc.pt.part-")))

    for name in ("smoke_summary.json", "summary.json"):
        summary = json.loads((out / name).read_text())
        assert [s["stage"] for s in summary["stages"]] == ORDER and summary["device"].startswith("cpu")
        assert all(s["steps"] >= 1 and s["samples"] == s["steps"] * (1 if s["stage"] == "multiframe" else 2)
                   and math.isfinite(s["loss"]) for s in summary["stages"])
    model = load_model(tmp_path / "nvc.pt")
    assert model.config.channels == 16 and [s["stage"] for s in model.meta["stages"]] == ORDER
    assert model.meta["data"]["pack"] == str(pack)
    for name in ("check_init.json", "check.json"):
        check = json.loads((out / name).read_text())
        assert check["frames"] == 8 and check["quality"] == 3 and check["size"] == "176x144"
        assert all(math.isfinite(v) for v in (*check["intra"].values(), *check["p_mean"].values()))
    log = (out / "gpu_train.log").read_text()
    assert "== smoke run" in log and "== training" in log and "== done" in log


def test_torchrun_trains_on_the_pack(pack, tmp_path):
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "nvc_core.cli", "train", "--config", str(GPU_CONFIG), "--pack", str(pack),
                          "--stage", "intra,inter-joint", "--steps", "2", "--out", str(tmp_path / "run"), *TINY_RUN],
                         capture_output=True, text=True, cwd=REPO, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["processes"] == 2
    assert [(s["stage"], s["steps"], s["samples"]) for s in summary["stages"]] == \
        [("intra", 2, 8), ("inter-joint", 2, 8)]                               # 2 steps x batch 2 x 2 processes


def test_budget_splits_the_time_left_by_the_stage_minutes():
    raw = load_config(GPU_CONFIG)
    config = validate(raw)
    total = sum(config.stages[name].minutes for name in ORDER)
    assert budget_share(config, ORDER, 8.0) == pytest.approx(8.0 * config.stages["intra"].minutes / total)
    assert budget_share(config, ["inter-joint", "multiframe"], 3.5) == pytest.approx(2.0)   # ratios 2 : 1.5
    assert 0 < budget_share(config, ["multiframe"], -1.0) < 1e-5                          # time up: one step
    set_value(raw, "stages.motion-rate.minutes=null")
    with pytest.raises(NVCError, match="motion-rate"):
        budget_share(validate(raw), ORDER, 8.0)


@pytest.fixture
def one_thread(monkeypatch):
    """Coding and the check on one thread: seconds, even while other jobs load the CPU."""
    monkeypatch.setattr("nvc_core.env.CODING_THREADS", 1)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_check_reconstructs_what_the_codec_decodes(tmp_path, one_thread):
    torch.manual_seed(0)
    model = NVC(NVCConfig(**TINY))
    with torch.no_grad():                      # random encoders output tiny latents: raise the gains
        for coder in (model.intra, model.motion, model.residual):
            coder.log_gain += math.log(32.0)
    save_weights(model, tmp_path / "w.pt")
    check = check_weights(tmp_path / "w.pt", DEFAULT_CLIP, quality=3, frames=3)
    coded = encode_video(DEFAULT_CLIP, tmp_path / "s.nvc", load_model(tmp_path / "w.pt"), quality=3, gop=12, frames=3,
                         motion_search=False)       # the check codes the motion at the quality
    assert [r["type"] for r in check["per_frame"]] == ["I", "P", "P"]
    for estimate, record in zip(check["per_frame"], coded.records):
        assert estimate["psnr"] == pytest.approx(record.psnr_rgb, abs=1e-9)            # the same reconstruction
        assert estimate["bpp"] == pytest.approx(record.bits / (176 * 144), rel=0.1)    # rate estimate vs stream
