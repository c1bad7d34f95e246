"""The typed training configuration: unknown keys and wrong types are errors, values get their types."""
from __future__ import annotations

import pytest
import yaml

from nvc_core.errors import NVCError
from nvc_core.train.config import DEFAULT_CONFIG, StageSettings, load_config, set_value, validate


@pytest.mark.parametrize("assignment, message", [
    ("train.lerning_rate=1", "unknown key train.lerning_rate"),
    ("stages.intr.batch=2", "unknown stage stages.intr"),
    ("stages.intra.batch=two", "stages.intra.batch must be int"),
    ("stages.intra.batch=2.5", "stages.intra.batch must be int"),
    ("model.chanels=3", "unknown key model.chanels"),
    ("model.channels=0", "invalid model configuration channels=0"),
    ("model.intra_latent_channels=-8", "invalid model configuration intra_latent_channels=-8"),
    ("model.channels=4000", "M parameters"),
    ("train.amp=3", "train.amp must be bool"),
    ("data.synthetic_fractoin=0.3", "unknown key data.synthetic_fractoin"),
    ("seeed=1", "unknown key config.seeed"),
])
def test_misspelt_keys_and_wrong_types_are_errors(assignment, message):
    config = load_config()
    set_value(config, assignment)
    with pytest.raises(NVCError, match=message):
        validate(config)


def test_values_get_their_types_and_defaults_come_from_one_place():
    config = load_config()
    set_value(config, "stages.intra.lr=2e-4")          # YAML 1.1 reads this as a string
    set_value(config, "stages.intra.batch=4.0")
    checked = validate(config)
    assert checked["stages"]["intra"]["lr"] == pytest.approx(2e-4) and checked["stages"]["intra"]["batch"] == 4
    assert set(checked["train"]) == set(StageSettings.__dataclass_fields__)
    assert validate({"train": {}})["train"] == validate({})["train"]   # defaults from the dataclass


def test_shipped_configurations_are_valid():
    for path in DEFAULT_CONFIG.parent.glob("train*.yaml"):
        validate(yaml.safe_load(path.read_text()))
