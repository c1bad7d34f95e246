"""Training configuration: a YAML file (``resources/configs/train.yaml``) plus command-line overrides.

Layout: ``model`` (:class:`~nvc_core.models.nvc.NVCConfig` fields), ``data`` (:class:`DataSettings`),
``train`` (:class:`StageSettings`, the defaults of every stage), ``stages.<name>`` (per-stage
overrides of ``train``), ``seed``, ``threads``, ``name``. The dataclasses below are the one home of
every key, its type and its default: :func:`validate` rejects unknown keys (a misspelt key is an
error, not a silent fallback), converts values to their types and fills in the defaults.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nvc_core.errors import NVCError
from nvc_core.models.nvc import NVCConfig
from nvc_core.weights import check_config


@dataclass
class StageSettings:
    """How one stage trains (``train`` and ``stages.<name>``); ends at ``steps`` or ``minutes``."""
    batch: int = 2
    crop: int = 192                    # a multiple of 64
    lr: float = 2.0e-4
    lr_final_fraction: float = 0.2     # last share of a stage at lr / 10
    entropy_lr_factor: float = 10.0    # factorized priors of ẑ learn this much faster
    grad_clip: float | None = 1.0
    steps: int | None = None
    minutes: float | None = None
    inter_lambda_ratio: float = 0.25   # λ_inter = λ_intra · ratio
    temporal_drop: float = 0.5         # P(temporal prior dropped) per sample
    alpha: float = 4.0                 # eq. (3): α_s = alpha^s
    flow_weight: float = 0.0           # supervision of the MCFs by the encoder's flow estimate
    amp: bool = True                   # bf16 autocast on CUDA
    channels_last: bool = False
    workers: int = 0                   # processes making batches ahead (0: in the training process)
    checkpoint_minutes: float = 5.0
    log_every: int = 20


@dataclass
class DataSettings:
    photos: str | None = None          # intra crops and synthetic-motion clips
    pack: str | None = None            # a training pack (``nvc train pack``) instead of the folders
    photo_max_side: int | None = 1024
    videos: list = field(default_factory=list)
    synthetic_fraction: float = 0.5
    video_max_side: int | None = 256
    video_max_frames: int | None = 120
    max_stride: int = 1
    cache: str | None = None


@dataclass
class TrainConfig:
    name: str = "nvc"
    seed: int = 0
    threads: int | None = None         # None: every core
    model: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)


def _convert(value, hint, where: str):
    """``value`` as the annotated type (``int | None``, ``float``, ...), or a one-line error."""
    if value is None:
        if type(None) in typing.get_args(hint) or hint in (dict, list):
            return None if type(None) in typing.get_args(hint) else hint()
        raise NVCError(f"training config: {where} may not be empty")
    if typing.get_origin(hint) in (tuple, list):                  # e.g. model.lambdas
        item = typing.get_args(hint)[0]
        if isinstance(value, (list, tuple)):
            return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        raise NVCError(f"training config: {where} must be a list, got {value!r}")
    kinds = [k for k in (typing.get_args(hint) or (hint,)) if k is not type(None)]
    kind = kinds[0]
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind in (int, float):
        try:
            number = kind(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is not None and (kind is float or float(value) == number):
            return number
    elif isinstance(value, kind):
        return value
    raise NVCError(f"training config: {where} must be {kind.__name__}, got {value!r}")


def _section(cls, values, where: str, defaults: bool = True) -> dict:
    if not isinstance(values, dict):
        raise NVCError(f"training config: {where} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise NVCError(f"training config: unknown key {where}.{unknown[0]} (known: {', '.join(hints)})")
    out = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    if defaults:
        base = dataclasses.asdict(cls())
        out = {**base, **out}
    return out


def validate(config: dict) -> dict:
    """The configuration with every key checked, converted and completed (see the dataclasses)."""
    from nvc_core.train.stages import ORDER
    top = _section(TrainConfig, config or {}, "config")
    top["model"] = _section(NVCConfig, top["model"], "model", defaults=False)
    check_config(top["model"], "training config: model")        # values: widths, rates, size
    top["data"] = _section(DataSettings, top["data"], "data")
    top["train"] = _section(StageSettings, top["train"], "train")
    stages = top["stages"] or {}
    unknown = sorted(set(stages) - set(ORDER))
    if unknown:
        raise NVCError(f"training config: unknown stage stages.{unknown[0]} (known: {', '.join(ORDER)})")
    top["stages"] = {name: _section(StageSettings, values or {}, f"stages.{name}", defaults=False)
                     for name, values in stages.items()}
    return top

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
