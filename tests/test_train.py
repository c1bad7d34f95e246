"""Training stages: each lowers its loss on a fixed tiny clip; resume is exact; `nvc train` exports weights."""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import refusal_failures

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


def test_the_temporal_prior_stage_changes_only_the_motion_bits(data, tmp_path):
    """Only the motion entropy model trains: every coded symbol and reconstruction stays, the bits do not."""
    torch.manual_seed(0)
    model = NVC(NVCConfig(**TINY, lambdas=(0.01,)))
    clip = torch.from_numpy(data.clip).permute(0, 3, 1, 2).float().div(255)     # (T,3,H,W)

    def coded():
        with torch.no_grad():
            model.eval()
            state, ref, out = None, clip[:1], []
            for t in range(1, len(clip)):
                inter = model.forward_inter(ref, clip[t:t + 1], 0, state, True, torch.zeros(1, 2, SIZE, SIZE))
                ref, state = inter.x_hat, inter.state
                out.append((inter.x_hat, -torch.log2(inter.likelihoods["motion.y"]).sum()))
            return out

    before_state, before = {k: v.clone() for k, v in model.state_dict().items()}, coded()
    train_stage(model, STAGES["temporal-prior"], settings(steps=4), data, tmp_path, Log(tmp_path),
                Processes(torch.device("cpu")), 0)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before_state[k])}
    assert changed and all(k.startswith(("motion.dh.", "motion.z_prior.", "motion.pa.", "motion.tum."))
                           for k in changed)
    after = coded()
    assert all(torch.equal(a[0], b[0]) for a, b in zip(after, before))
    assert any(a[1] != b[1] for a, b in zip(after, before))


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


# -- bad input: one line, exit 2, nothing changed on disk ----------------------------------------------------
def _video(path, frames: int):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (96, 64))
    for t in range(frames):
        writer.write(np.ascontiguousarray(smooth_photo(t, 96)[:64]))
    writer.release()
    return path


def _training_cases(d, photos) -> list[tuple[str, list[str], str]]:
    """(name, argv, text of the error line); ``d`` holds every input, ``d/out`` does not exist."""
    config = d / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": TINY, "data": {"photos": [str(photos)], "videos": [], "cache": None},
                                      "train": {"batch": 1, "crop": SIZE}, "threads": 1}))
    (d / "syntax.yaml").write_text("train: {batch: 2\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    model = NVC(NVCConfig(**TINY))
    save_weights(model, d / "good.pt")
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    torch.save({"format": "nvc-weights", "version": 1, "config": model.config.to_dict(),
                "state_dict": {k: v.half() for k, v in model.state_dict().items()}}, d / "nan.pt")
    (d / "truncated.pt").write_bytes((d / "good.pt").read_bytes()[:3000])
    (d / "random.pt").write_bytes(np.random.default_rng(0).bytes(5000))
    for name, blob in [("truncated", (d / "good.pt").read_bytes()[:3000]),
                       ("random", np.random.default_rng(1).bytes(5000))]:
        (d / f"ck_{name}").mkdir()
        (d / f"ck_{name}" / "checkpoint.pt").write_bytes(blob)
    (d / "ck_hostile").mkdir()
    (d / "ck_hostile" / "checkpoint.pt").write_bytes(_hostile_pickle(d / "pwned"))
    (d / "ck_huge").mkdir()                    # a small file claiming a large model: refused before it is built
    torch.save({"stage": "intra", "step": 1, "elapsed": 1.0, "config": {"channels": 1000, "latent_channels": 1000},
                "model": {}, "optimizer": {}, "torch_rng": torch.get_rng_state()}, d / "ck_huge" / "checkpoint.pt")
    (d / "ck_shapes").mkdir()
    torch.save({"stage": "intra", "step": 1, "elapsed": 1.0, "config": {"channels": 400, "latent_channels": 400},
                "model": {k: v for k, v in NVC(NVCConfig(**TINY)).state_dict().items()}, "optimizer": {},
                "torch_rng": torch.get_rng_state()}, d / "ck_shapes" / "checkpoint.pt")
    (d / "empty_run").mkdir()
    (d / "used").mkdir()
    (d / "used" / "notes.txt").write_text("mine")
    (d / "one_frame").mkdir()
    _video(d / "one_frame" / "still.avi", 1)
    (d / "two_frames").mkdir()
    _video(d / "two_frames" / "short.avi", 2)
    train = ["train", "--config", str(config), "--out", str(d / "out")]
    return [
        ("steps 0", [*train, "--steps", "0"], "argument --steps: must be > 0, got 0"),
        ("steps -1", [*train, "--steps", "-1"], "argument --steps: must be > 0, got -1"),
        ("minutes -1", [*train, "--minutes", "-1"], "argument --minutes: must be > 0, got -1"),
        ("minutes nan", [*train, "--minutes", "nan"], "argument --minutes: must be > 0"),
        ("budget -1", [*train, "--budget", "-1"], "argument --budget: must be > 0"),
        ("no steps nor minutes", train, "stage intra has neither steps nor minutes"),
        ("batch 0", [*train, "--steps", "1", "--set", "stages.intra.batch=0"], "stages.intra.batch must be at least 1"),
        ("batch -1", [*train, "--steps", "1", "--set", "train.batch=-1"], "train.batch must be at least 1"),
        ("crop 0", [*train, "--steps", "1", "--set", "train.crop=0"], "train.crop must be a positive multiple of 64"),
        ("crop -64", [*train, "--steps", "1", "--set", "train.crop=-64"], "train.crop must be a positive multiple"),
        ("lr -1", [*train, "--steps", "1", "--set", "train.lr=-1"], "train.lr must be > 0"),
        ("lr nan", [*train, "--steps", "1", "--set", "train.lr=.nan"], "train.lr must be a finite number"),
        ("threads -1", [*train, "--steps", "1", "--set", "threads=-1"], "config.threads must be at least 1"),
        ("log_every 0", [*train, "--steps", "1", "--set", "train.log_every=0"], "train.log_every must be at least 1"),
        ("workers -1", [*train, "--steps", "1", "--set", "train.workers=-1"], "train.workers must be at least 0"),
        ("set without =", [*train, "--steps", "1", "--set", "train.lr"], "--set expects key=value"),
        ("YAML syntax", ["train", "--config", str(d / "syntax.yaml"), "--out", str(d / "out")], "not valid YAML"),
        ("YAML list", ["train", "--config", str(d / "list.yaml"), "--out", str(d / "out")], "must be a mapping"),
        ("config missing", ["train", "--config", str(d / "none.yaml"), "--out", str(d / "out")], "not found"),
        ("device bogus", [*train, "--steps", "1", "--device", "bogus"], "--device bogus"),
        ("unknown stage", [*train, "--steps", "1", "--stage", "intro"], "unknown stage 'intro'"),
        ("photos missing", [*train, "--steps", "1", "--photos", str(d / "nophotos")], "no such file or folder"),
        ("one-frame clips", [*train, "--steps", "1", "--stage", "intra,motion-pretrain", "--data",
                             str(d / "one_frame")], "the longest training sequence has 1"),
        ("two-frame clips", [*train, "--steps", "1", "--stage", "multiframe", "--data", str(d / "two_frames")],
         "clips of 4 frames; the longest training sequence has 2"),
        ("out not empty", ["train", "--config", str(config), "--steps", "1", "--out", str(d / "used")], "not empty"),
        ("out is a file", ["train", "--config", str(config), "--steps", "1", "--out", str(config)], "not a folder"),
        ("resume without checkpoint", [*train, "--steps", "1", "--resume"], "--resume: no checkpoint"),
        ("resume in an empty folder", ["train", "--config", str(config), "--steps", "1", "--resume", "--out",
                                       str(d / "empty_run")], "--resume: no checkpoint"),
        *[(f"resume {kind} checkpoint", ["train", "--config", str(config), "--steps", "1", "--resume", "--out",
                                         str(d / f"ck_{kind}")], "is not an nvc checkpoint file")
          for kind in ("truncated", "random", "hostile")],
        ("resume huge checkpoint", ["train", "--config", str(config), "--steps", "1", "--resume", "--out",
                                    str(d / "ck_huge")], "M parameters"),
        ("resume checkpoint of other shapes", ["train", "--config", str(config), "--steps", "1", "--resume", "--out",
                                               str(d / "ck_shapes")], "do not fit the model"),
        ("init NaN", [*train, "--steps", "1", "--init", str(d / "nan.pt")], "NaN or infinite"),
        ("init truncated", [*train, "--steps", "1", "--init", str(d / "truncated.pt")], "is not an nvc weights file"),
        ("init random bytes", [*train, "--steps", "1", "--init", str(d / "random.pt")], "is not an nvc weights file"),
        ("init missing", [*train, "--steps", "1", "--init", str(d / "none.pt")], "no such file"),
        ("check quality 99", ["train", "check", str(d / "good.pt"), "--quality", "99"], "must be in 0..5, got 99"),
        ("check quality -1", ["train", "check", str(d / "good.pt"), "--quality", "-1"], "must be in 0..5, got -1"),
        ("check frames 0", ["train", "check", str(d / "good.pt"), "--frames", "0"], "--frames: must be at least 1"),
        ("check device bogus", ["train", "check", str(d / "good.pt"), "--device", "bogus"], "--device bogus"),
        ("check weights missing", ["train", "check", str(d / "none.pt")], "not found"),
    ]


def _hostile_pickle(target) -> bytes:
    """A checkpoint that would create ``target`` if unpickled with arbitrary code allowed."""
    import io
    import pickle
    import zipfile

    class Evil:
        def __reduce__(self):
            return (open, (str(target), "w"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Evil(), protocol=2))
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


def test_bad_training_input_gives_one_line_exit_2_and_changes_nothing(tmp_path, photos, capfd, monkeypatch):
    from nvc_core.cli import main
    d = tmp_path / "in"
    d.mkdir()
    cases = _training_cases(d, photos)
    monkeypatch.chdir(d)
    failures = refusal_failures(main, cases, capfd, tmp_path)
    assert failures == [], "\n".join(failures)


def test_a_failed_run_leaves_nothing_and_a_diverged_run_exports_nothing(tmp_path, photos, capfd):
    config = tiny_config(tmp_path, photos)
    set_value(config, "stages={intra: {steps: 3}}")
    set_value(config, "train.lr=1e30")                      # diverges at once
    set_value(config, "train.checkpoint_minutes=100")       # no checkpoint before the stage ends
    with pytest.raises(NVCError, match="diverged"):
        train(config, ["intra"], tmp_path / "run")
    assert not (tmp_path / "run").exists()
    (tmp_path / "empty").mkdir()
    set_value(config, "data.photos=[nowhere]")
    with pytest.raises(NVCError, match="no such file or folder"):
        train(config, ["intra"], tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []       # the folder was the user's: kept, empty


def test_short_runs_write_log_summary_and_name_the_weights(tmp_path, photos, capsys):
    """Fewer steps than log_every still give a log row per stage; summary.json is strict JSON; the last
    line names the weights file; the data cache is under --out."""
    from nvc_core.cli import main
    config_path = tmp_path / "tiny.yaml"
    config = tiny_config(tmp_path, photos)
    set_value(config, "train.log_every=100")
    set_value(config, "data.cache=data_cache")
    config_path.write_text(yaml.safe_dump(config))
    (tmp_path / "clips").mkdir()
    _video(tmp_path / "clips" / "pan.avi", 4)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config_path), "--stage", "intra,motion-pretrain", "--steps", "2",
                 "--data", str(tmp_path / "clips"), "--photos", str(photos), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"nvc train: weights written to {out / 'nvc.pt'}"
    with (out / "log.csv").open() as f:
        assert [(r["stage"], r["step"]) for r in csv.DictReader(f)] == [("intra", "2"), ("motion-pretrain", "2")]
    summary = json.loads((out / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert [s["steps"] for s in summary["stages"]] == [2, 2]
    assert len(list((out / "data_cache").glob("pan-*.npz"))) == 1
    assert load_model(out / "nvc.pt").meta["data"]["photos"] == [str(photos)]


def test_own_data_replaces_the_presets_sources(tmp_path, photos):
    from nvc_core.train.cli import command_config
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    (tmp_path / "videos").mkdir()
    _video(tmp_path / "videos" / "a.avi", 3)

    def data(*argv):
        args = parser.parse_args(["train", *argv])
        return validate(command_config(args, ORDER)).data
    assert data().photos == ["../shared/data/train/photos"]                 # the preset's
    assert (data("--photos", str(photos)).photos, data("--photos", str(photos)).videos) == ([str(photos)], [])
    mine = data("--data", str(tmp_path / "videos"), str(photos))
    assert mine.videos == [str(tmp_path / "videos"), str(photos)] and mine.photos == [str(photos)]
    assert data("--data", str(tmp_path / "videos")).photos is None         # single video frames for neuro-Intra
