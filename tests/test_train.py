"""Training stages: each lowers its loss on a fixed tiny clip; resume is exact; `nvc train` exports weights."""
from __future__ import annotations

import argparse
import csv
import dataclasses

import cv2
import numpy as np
import pytest
import torch
import yaml

from nvc_core.errors import NVCError
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.train.cli import add_parser, parse_stages
from nvc_core.train.config import StageSettings, load_config, set_value, validate
from nvc_core.train.stages import ORDER, STAGES
from nvc_core.train.synthetic import make_clip
from nvc_core.train.trainer import Log, Processes, initialise, stage_settings, train, train_stage
from nvc_core.weights import load_model, save_weights

TINY = {"channels": 16, "latent_channels": 16, "blocks": 1, "mcn_channels": 8}
SIZE = 64


def smooth_photo(seed: int, size: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (size // 8, size // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


class FixedClip:
    """A data source that always returns the same synthetic clip (the loss must go down on it)."""

    def __init__(self):
        self.clip = make_clip(smooth_photo(0), SIZE, 4, np.random.default_rng(0)).frames

    def sample(self, rng, size, frames):
        return self.clip[:frames]

    def source(self, stage):
        return self


def settings(**kw) -> StageSettings:
    """The production defaults (StageSettings) with a tiny, fast schedule."""
    return dataclasses.replace(StageSettings(), **{"crop": SIZE, "lr": 1e-3, "lr_final_fraction": 0.0, "steps": 16,
                                                   "checkpoint_minutes": 100, "log_every": 1000, **kw})


@pytest.fixture(autouse=True)
def one_thread():
    """Training sets the thread count; give it back to the other tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return FixedClip()


@pytest.mark.parametrize("name", ORDER)
def test_stage_lowers_its_loss(name, data, tmp_path):
    torch.manual_seed(0)
    model = NVC(NVCConfig(**TINY, lambdas=(0.01,)))
    losses = train_stage(model, STAGES[name], settings(), data, tmp_path, Log(tmp_path),
                         Processes(torch.device("cpu")), 0)
    assert len(losses) == 16 and all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < np.mean(losses[:4])


def test_stages_freeze_what_they_do_not_train(data, tmp_path):
    model = NVC(NVCConfig(**TINY, lambdas=(0.01,)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_stage(model, STAGES["residual-pretrain"], settings(steps=1), data, tmp_path, Log(tmp_path),
                Processes(torch.device("cpu")), 0)
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"residual"}


def tiny_config(tmp_path, photos) -> dict:
    config = load_config()
    for assignment in [f"model={TINY}", f"data.photos={photos}", "data.videos=[]", "data.cache=null",
                       "train.batch=1", f"train.crop={SIZE}", "train.lr_final_fraction=0", "train.log_every=1",
                       "train.checkpoint_minutes=0", "stages={}", "threads=1"]:
        set_value(config, assignment)
    return config


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i in range(2):
        cv2.imwrite(str(folder / f"p{i}.png"), smooth_photo(i))
    return folder


def last_loss(out) -> str:
    with (out / "log.csv").open() as f:
        return list(csv.DictReader(f))[-1]["loss"]


def test_resume_gives_the_same_next_step(tmp_path, photos):
    config = tiny_config(tmp_path, photos)
    set_value(config, "stages={intra: {steps: 2}, inter-joint: {steps: 3}}")
    train(config, ["intra", "inter-joint"], tmp_path / "a")                    # stops after step 3
    with (tmp_path / "a" / "log.csv").open("a") as f:
        f.write("inter-joint,4,0,0,lost,0,0\n")                                # a step after the checkpoint
    set_value(config, "stages.inter-joint.steps=4")
    train(config, ["intra", "inter-joint"], tmp_path / "a", resume=True)       # step 4 from the checkpoint
    train(config, ["intra", "inter-joint"], tmp_path / "b")                    # steps 1..4 in one go
    assert last_loss(tmp_path / "a") == last_loss(tmp_path / "b")
    with (tmp_path / "a" / "log.csv").open() as f:
        assert [(r["stage"], r["step"]) for r in csv.DictReader(f)] == \
            [("intra", "1"), ("intra", "2")] + [("inter-joint", str(i)) for i in range(1, 5)]


def test_cli_trains_and_exports_loadable_weights(tmp_path, photos):
    config_path = tmp_path / "train.yaml"
    config_path.write_text(yaml.safe_dump(tiny_config(tmp_path, photos)))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--config", str(config_path), "--stage", "intra", "--steps", "2",
                              "--out", str(tmp_path / "run"), "--export", str(tmp_path / "nvc.pt")])
    assert args.func(args) == 0
    model = load_model(tmp_path / "nvc.pt")
    assert model.config.channels == 16 and model.meta["stages"][0]["stage"] == "intra"
    assert (tmp_path / "run" / "weights" / "intra.pt").exists()


def test_parse_stages_keeps_paper_order():
    assert parse_stages("all") == ORDER
    assert parse_stages("multiframe,intra") == ["intra", "multiframe"]
    with pytest.raises(Exception, match="unknown stage"):
        parse_stages("bogus")


def test_stage_settings_reject_unusable_budgets_and_crops(tmp_path, photos):
    config = tiny_config(tmp_path, photos)
    with pytest.raises(NVCError, match="neither steps nor minutes"):
        stage_settings(validate(config), "intra")
    set_value(config, "train.steps=1")
    set_value(config, "stages.intra.crop=96")
    with pytest.raises(NVCError, match="multiple of 64"):
        validate(config)


def test_init_copies_chosen_coders_from_several_files(tmp_path):
    """--init A --init B:intra: everything from A, then neuro-Intra from B; bad specs are one-line errors."""
    config = NVCConfig(**TINY)
    a, b = NVC(config), NVC(config)
    for p in b.parameters():
        torch.nn.init.constant_(p, 0.5)
    save_weights(a, tmp_path / "a.pt")
    save_weights(b, tmp_path / "b.pt")
    model = NVC(config)
    for spec in (tmp_path / "a.pt", f"{tmp_path / 'b.pt'}:intra"):
        initialise(model, spec)
    for name, tensor in model.state_dict().items():
        source = b if name.startswith("intra.") else a
        torch.testing.assert_close(tensor, source.state_dict()[name].half().to(tensor.dtype))
    with pytest.raises(NVCError, match="unknown coder 'intr'"):
        initialise(model, f"{tmp_path / 'b.pt'}:intr")
    with pytest.raises(NVCError, match="no such file"):
        initialise(model, tmp_path / "none.pt")
