"""Training configuration: a YAML file (``resources/configs/train.yaml``) plus command-line overrides.

Layout: ``model`` (NVCConfig fields), ``data`` (sources), ``train`` (defaults of every stage),
``stages.<name>`` (per-stage overrides of ``train``), ``seed``, ``threads``, ``name``.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from nvc_core.errors import NVCError

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "resources" / "configs" / "train.yaml"


def load_config(path: str | Path | None = None) -> dict:
    path = Path(path or DEFAULT_CONFIG)
    if not path.is_file():
        raise NVCError(f"training config not found: {path}")
    return yaml.safe_load(path.read_text())


def set_value(config: dict, assignment: str) -> None:
    """Apply ``dotted.key=value`` (value parsed as YAML), e.g. ``stages.intra.minutes=10``."""
    key, sep, value = assignment.partition("=")
    if not sep:
        raise NVCError(f"--set expects key=value, got {assignment!r}")
    *parents, leaf = key.strip().split(".")
    node = config
    for name in parents:
        node = node.setdefault(name, {})
        if not isinstance(node, dict):
            raise NVCError(f"--set {key}: {name} is not a section")
    node[leaf] = yaml.safe_load(value)
