"""Weights files: the bundled weights and their id, a missing bundled file is an error, and every file
(weights, checkpoints) is checked before anything of its claimed size is allocated."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from nvc_core.errors import WeightsError
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.weights import load_model, save_weights, weights_identifier

TINY = NVCConfig(channels=16, latent_channels=16, blocks=1, mcn_channels=8)
REPO = Path(__file__).resolve().parents[1]


def test_bundled_weights_and_their_id():
    model = load_model()
    assert model.weights_id.hex() == "0ab2ca43a41e4043"          # streams made with them keep decoding


def test_the_id_follows_the_weights():
    model = NVC(TINY)
    before = model.weights_id
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert model.weights_id != before and model.weights_id == weights_identifier(model)


def test_missing_bundled_weights_are_an_error(monkeypatch, tmp_path):
    monkeypatch.setattr("nvc_core.weights.BUNDLED_WEIGHTS", tmp_path / "nvc.pt")
    with pytest.raises(WeightsError, match="bundled weights are missing"):
        load_model()


def _blob(model: NVC, **changes) -> dict:
    state = {k: v.half() for k, v in model.state_dict().items()}
    return {"format": "nvc-weights", "version": 1, "config": model.config.to_dict(), "state_dict": state, **changes}


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load_and_never_written(tmp_path, value):
    model = NVC(TINY)
    with torch.no_grad():
        model.intra.log_gain.fill_(value)
    torch.save(_blob(model), tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="intra.log_gain holds NaN or infinite values"):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="not written"):
        save_weights(model, tmp_path / "out.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]


def test_deflated_archives_and_wrong_shapes_are_refused(tmp_path):
    save_weights(NVC(TINY), tmp_path / "good.pt")
    with zipfile.ZipFile(tmp_path / "good.pt") as src, \
            zipfile.ZipFile(tmp_path / "deflated.pt", "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(WeightsError, match="is not an nvc weights file"):
        load_model(tmp_path / "deflated.pt")               # what is loaded could exceed the file's size
    blob = torch.load(tmp_path / "good.pt", weights_only=True)
    blob["config"]["channels"] = 24
    torch.save(blob, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match=r"do not fit the model: .* has shape"):
        load_model(tmp_path / "other.pt")


def test_a_failed_save_leaves_no_temporary(tmp_path, monkeypatch):
    def full_disk(blob, path):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        save_weights(NVC(TINY), tmp_path / "w.pt")
    assert list(tmp_path.iterdir()) == []


LOAD_AND_MEASURE = """
import sys
from nvc_core.errors import NVCError
from nvc_core.weights import load_model
try:
    load_model(sys.argv[1])
    print("loaded")
except NVCError as exc:
    print("refused:", exc)
# VmHWM: the peak of this process's own memory (ru_maxrss would include the forked pytest process)
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) // 1024)
"""


def test_small_files_claiming_large_models_are_refused_before_allocation(tmp_path):
    """A 317 M-parameter configuration (1.3 GB in float32, within the parameter limit) in a few KB, and
    the bundled tensors under that configuration: both refused with the peak memory of a small model."""
    torch.save({"format": "nvc-weights", "version": 1, "config": {"channels": 400, "latent_channels": 400},
                "state_dict": {"intra.log_gain": torch.zeros(6)}}, tmp_path / "small.pt")
    bundled = torch.load(REPO / "nvc_core" / "resources" / "weights" / "nvc.pt", weights_only=True)
    bundled["config"].update(channels=400, latent_channels=400)
    torch.save(bundled, tmp_path / "bundled_tensors.pt")
    for name in ("small.pt", "bundled_tensors.pt"):
        run = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, str(tmp_path / name)], capture_output=True,
                             text=True, cwd=REPO, timeout=300)
        verdict, peak_mib = run.stdout.splitlines()
        assert verdict.startswith("refused:") and "do not fit the model" in verdict, run.stdout + run.stderr
        assert int(peak_mib) < 900, f"{name}: {peak_mib} MiB"     # torch alone: ~300 MiB; the model: 1.2 GiB
