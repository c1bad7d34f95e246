"""The typed training configuration: unknown keys, wrong types and values out of range are one-line
errors; the dataclasses hold every default and the presets only overrides."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from nvc_core.errors import NVCError
from nvc_core.models.nvc import NVCConfig
from nvc_core.train.config import (DEFAULT_CONFIG, DataSettings, StageSettings, TrainConfig, load_config, set_value,
                                   validate)


@pytest.mark.parametrize("assignment, message", [
    ("train.lerning_rate=1", "unknown key train.lerning_rate"),
    ("stages.intr.batch=2", "unknown stage stages.intr"),
    ("stages.intra.batch=two", "stages.intra.batch must be int"),
    ("stages.intra.batch=2.5", "stages.intra.batch must be int"),
    ("model.chanels=3", "unknown key model.chanels"),
    ("model.channels=0", "invalid model configuration channels=0"),
    ("model.intra_latent_channels=-8", "invalid model configuration intra_latent_channels=-8"),
    ("model.channels=4000", "M parameters"),
    ("model=[1, 2]", "model must be a mapping"),
    ("train.amp=3", "train.amp must be bool"),
    ("data.synthetic_fractoin=0.3", "unknown key data.synthetic_fractoin"),
    ("seeed=1", "unknown key config.seeed"),
    # ranges, not only types
    ("stages.intra.batch=0", "stages.intra.batch must be at least 1, got 0"),
    ("train.batch=-1", "train.batch must be at least 1, got -1"),
    ("train.crop=0", "train.crop must be a positive multiple of 64, got 0"),
    ("train.crop=-64", "train.crop must be a positive multiple of 64"),
    ("stages.intra.crop=96", "stages.intra.crop must be a positive multiple of 64, got 96"),
    ("train.lr=-1", "train.lr must be > 0, got -1"),
    ("train.lr=.nan", "train.lr must be a finite number"),
    ("train.lr=.inf", "train.lr must be a finite number"),
    ("train.lr=0", "train.lr must be > 0"),
    ("threads=-1", "config.threads must be at least 1, got -1"),
    ("threads=0", "config.threads must be at least 1, got 0"),
    ("train.log_every=0", "train.log_every must be at least 1, got 0"),
    ("train.workers=-1", "train.workers must be at least 0, got -1"),
    ("stages.intra.steps=0", "stages.intra.steps must be at least 1, got 0"),
    ("stages.intra.steps=-1", "stages.intra.steps must be at least 1, got -1"),
    ("stages.intra.minutes=-1", "stages.intra.minutes must be > 0, got -1"),
    ("train.lr_final_fraction=1.5", "train.lr_final_fraction must be in 0..1"),
    ("train.temporal_drop=-0.1", "train.temporal_drop must be in 0..1"),
    ("train.grad_clip=0", "train.grad_clip must be > 0"),
    ("train.checkpoint_minutes=-1", "train.checkpoint_minutes must be at least 0"),
    ("data.synthetic_fraction=2", "data.synthetic_fraction must be in 0..1"),
    ("data.max_stride=0", "data.max_stride must be at least 1"),
    ("data.video_max_frames=0", "data.video_max_frames must be at least 1"),
    ("data.videos=[{a: 1}]", "data.videos must be a list of paths"),
    ("seed=-3", "config.seed must be at least 0"),
    ("stages=[1]", "stages must be a mapping"),
    ("train=3", "train must be a mapping"),
])
def test_misspelt_keys_wrong_types_and_values_out_of_range_are_errors(assignment, message):
    config = load_config()
    set_value(config, assignment)
    with pytest.raises(NVCError, match=message.replace(".", r"\.").replace("[", r"\[")) as error:
        validate(config)
    assert "\n" not in str(error.value)


def test_values_get_their_types_and_defaults_come_from_one_place():
    config = load_config()
    set_value(config, "stages.intra.lr=2e-4")          # YAML 1.1 reads this as a string
    set_value(config, "stages.intra.batch=4.0")
    set_value(config, "data.photos=some/folder")       # one path: a list of one
    checked = validate(config)
    assert checked.stages["intra"].lr == pytest.approx(2e-4) and checked.stages["intra"].batch == 4
    assert checked.data.photos == ["some/folder"]
    assert validate({}) == TrainConfig(stages={name: StageSettings() for name in checked.stages})
    assert validate({}).model == NVCConfig() and validate({}).data == DataSettings()
    assert validate({"train": {"lr": 1e-3}}).stages["multiframe"].lr == 1e-3     # train: every stage's base


def test_shipped_presets_are_valid_and_hold_only_overrides():
    defaults = {"model": NVCConfig().to_dict(), "data": dataclasses.asdict(DataSettings()),
                "train": dataclasses.asdict(StageSettings())}
    presets = sorted(DEFAULT_CONFIG.parent.glob("train*.yaml"))
    assert len(presets) == 2
    for path in presets:
        preset = yaml.safe_load(path.read_text())
        validate(preset)
        for section, values in defaults.items():
            repeated = {k: v for k, v in (preset.get(section) or {}).items() if values[k] == v}
            assert not repeated, f"{path.name} repeats defaults of {section}: {repeated}"
        for name, values in (preset.get("stages") or {}).items():
            base = {**defaults["train"], **(preset.get("train") or {})}
            assert not {k: v for k, v in values.items() if base[k] == v}, f"{path.name}: stages.{name}"


@pytest.mark.parametrize("text, message", [
    ("train: {batch: 2\n", "not valid YAML"),
    ("- 1\n- 2\n", "must be a mapping of sections, got list"),
    ("just a string\n", "must be a mapping of sections, got str"),
    ("\xff\xfe", "not valid YAML"),
])
def test_broken_presets_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(NVCError, match=message) as error:
        load_config(path)
    assert "\n" not in str(error.value)


def test_set_rejects_malformed_assignments():
    config = {}
    for assignment, message in [("batch", "expects key=value"), ("train.lr=[", "not a valid YAML value"),
                                ("=3", "expects key=value")]:
        with pytest.raises(NVCError, match=message):
            set_value(config, assignment)
    set_value(config, "stages.intra.steps=3")
    assert config == {"stages": {"intra": {"steps": 3}}}
