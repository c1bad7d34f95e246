"""Training configuration: the dataclasses below, overridden by a YAML preset and the command line.

The dataclasses are the one home of every setting: its type, its default and its valid range. A
preset (``nvc_core/resources/configs/train.yaml``) and ``--set key=value`` hold only overrides. Layout:
``model`` (:class:`~nvc_core.models.nvc.NVCConfig` fields), ``data`` (:class:`DataSettings`), ``train``
(:class:`StageSettings` of every stage), ``stages.<name>`` (per-stage overrides of ``train``), ``seed``,
``threads``, ``name``. :func:`validate` rejects unknown keys (a misspelt key is an error, not a silent
fallback), values of the wrong type and values out of range, each in one line naming the key, and
returns a :class:`TrainConfig` whose attributes the trainer reads.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nvc_core.errors import NVCError
from nvc_core.models.nvc import PAD_MULTIPLE, NVCConfig
from nvc_core.resources import resource
from nvc_core.weights import check_config

#: Valid values of a setting: (test, what the message says).
AT_LEAST_1 = (lambda v: v >= 1, "at least 1")
AT_LEAST_0 = (lambda v: v >= 0, "at least 0")
POSITIVE = (lambda v: v > 0, "> 0")
FRACTION = (lambda v: 0 <= v <= 1, "in 0..1")
CROP = (lambda v: v >= PAD_MULTIPLE and v % PAD_MULTIPLE == 0, f"a positive multiple of {PAD_MULTIPLE}")


def setting(default, valid=None):
    """A dataclass field with its valid range (None is always valid where the type allows it)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"valid": valid})
    return field(default=default, metadata={"valid": valid})


@dataclass
class StageSettings:
    """How one stage trains (``train`` and ``stages.<name>``); ends at ``steps`` or ``minutes``."""
    batch: int = setting(2, AT_LEAST_1)
    crop: int = setting(192, CROP)                        # small crops (128) make every latent see the frame
                                                          # border, and the coders then fail on larger frames
    lr: float = setting(2.0e-4, POSITIVE)
    lr_final_fraction: float = setting(0.2, FRACTION)     # last share of a stage at lr / 10
    entropy_lr_factor: float = setting(10.0, POSITIVE)    # factorized priors of ẑ learn this much faster
    grad_clip: float | None = setting(1.0, POSITIVE)      # None: no clipping
    steps: int | None = setting(None, AT_LEAST_1)
    minutes: float | None = setting(None, POSITIVE)
    inter_lambda_ratio: float = setting(0.25, POSITIVE)   # λ_inter = λ_intra · ratio
    temporal_drop: float = setting(0.5, FRACTION)         # P(temporal prior dropped) per sample
    alpha: float = setting(4.0, POSITIVE)                 # eq. (3): α_s = alpha^s
    flow_weight: float = setting(0.0, AT_LEAST_0)         # supervision of the MCFs by the encoder's flow estimate
    amp: bool = setting(True)                             # bf16 autocast on CUDA
    channels_last: bool = setting(False)
    workers: int = setting(0, AT_LEAST_0)                 # processes making batches ahead (0: in the training process)
    checkpoint_minutes: float = setting(5.0, AT_LEAST_0)
    log_every: int = setting(20, AT_LEAST_1)


@dataclass
class DataSettings:
    """Where the training data comes from. Relative paths are relative to the working folder, except
    ``cache``, which is relative to the training output folder."""
    photos: list | None = setting(None)                   # folders or files of images: intra crops, synthetic clips
    pack: str | None = setting(None)                      # a training pack (``nvc train pack``) instead of the folders
    photo_max_side: int | None = setting(1024, AT_LEAST_1)
    videos: list = setting([])                            # video files, frame folders, Vimeo-90k roots
    synthetic_fraction: float = setting(0.5, FRACTION)
    video_max_side: int | None = setting(256, AT_LEAST_1)
    video_max_frames: int | None = setting(120, AT_LEAST_1)
    max_stride: int = setting(1, AT_LEAST_1)
    cache: str | None = setting("data_cache")             # decoded videos, as .npz


@dataclass
class TrainConfig:
    """A checked configuration: ``stages`` holds the complete settings of every stage."""
    name: str = setting("nvc")
    seed: int = setting(0, AT_LEAST_0)
    threads: int | None = setting(None, AT_LEAST_1)       # None: every core
    model: NVCConfig = field(default_factory=NVCConfig)
    data: DataSettings = field(default_factory=DataSettings)
    train: StageSettings = field(default_factory=StageSettings)
    stages: dict[str, StageSettings] = field(default_factory=dict)


def _convert(value, hint, where: str):
    """``value`` as the annotated type (``int | None``, ``float``, ``list``...), or a one-line error."""
    kinds = [k for k in (typing.get_args(hint) or (hint,)) if k is not type(None)]
    if value is None:
        if type(None) in typing.get_args(hint):
            return None
        raise NVCError(f"training config: {where} may not be empty")
    kind = kinds[0]
    if kind is list:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
            raise NVCError(f"training config: {where} must be a list of paths, got {value!r}")
        return [str(v) for v in items]
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind in (int, float) and not isinstance(value, bool):
        try:
            number = kind(value)
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is not None and kind is float and not math.isfinite(number):
            raise NVCError(f"training config: {where} must be a finite number, got {value!r}")
        if number is not None and (kind is float or float(value) == number):
            return number
    elif isinstance(value, kind):
        return value
    raise NVCError(f"training config: {where} must be {kind.__name__}, got {value!r}")


def _known_keys(values: dict, known, where: str) -> None:
    unknown = sorted(set(map(str, values)) - set(known))
    if unknown:
        raise NVCError(f"training config: unknown key {where}.{unknown[0]} (known: {', '.join(known)})")


def _section(cls, values, where: str, base=None):
    """``base`` (default: the dataclass defaults) with ``values`` applied, every key checked."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise NVCError(f"training config: {where} must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    _known_keys(values, fields, where)
    out = {}
    for key, value in values.items():
        out[key] = _convert(value, hints[key], f"{where}.{key}")
        valid = fields[key].metadata.get("valid")
        if out[key] is not None and valid is not None and not valid[0](out[key]):
            raise NVCError(f"training config: {where}.{key} must be {valid[1]}, got {value!r}")
    return dataclasses.replace(base or cls(), **out)


def validate(config: dict) -> TrainConfig:
    """The configuration with every key checked, converted and completed (see the dataclasses)."""
    from nvc_core.train.stages import ORDER
    if not isinstance(config, dict):
        raise NVCError(f"training config: must be a mapping of sections, got {config!r}")
    top = {k: v for k, v in config.items() if k not in ("model", "data", "train", "stages")}
    checked = _section(TrainConfig, top, "config")
    model = config.get("model") or {}
    if not isinstance(model, dict):
        raise NVCError(f"training config: model must be a mapping, got {model!r}")
    _known_keys(model, [f.name for f in dataclasses.fields(NVCConfig)], "model")
    check_config(model, "training config: model")        # keys, types, widths, rates, size
    model = NVCConfig.from_dict({**NVCConfig().to_dict(), **model})
    data = _section(DataSettings, config.get("data"), "data")
    train = _section(StageSettings, config.get("train"), "train")
    stages = config.get("stages") or {}
    if not isinstance(stages, dict):
        raise NVCError(f"training config: stages must be a mapping, got {stages!r}")
    unknown = sorted(set(map(str, stages)) - set(ORDER))
    if unknown:
        raise NVCError(f"training config: unknown stage stages.{unknown[0]} (known: {', '.join(ORDER)})")
    per_stage = {name: _section(StageSettings, stages.get(name), f"stages.{name}", train) for name in ORDER}
    return dataclasses.replace(checked, model=model, data=data, train=train, stages=per_stage)


DEFAULT_CONFIG = resource("configs", "train.yaml")


def load_config(path: str | Path | None = None) -> dict:
    """The overrides of a YAML preset (a mapping; an empty file is no override)."""
    path = Path(path or DEFAULT_CONFIG)
    if not path.is_file():
        raise NVCError(f"training config not found: {path}")
    try:
        config = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise NVCError(f"training config {path}: not valid YAML ({_first_line(exc)})") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise NVCError(f"training config {path}: must be a mapping of sections, got {type(config).__name__}")
    return config


def _first_line(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem}, line {mark.line + 1}" if mark is not None else problem


def set_value(config: dict, assignment: str) -> None:
    """Apply ``dotted.key=value`` (value parsed as YAML), e.g. ``stages.intra.minutes=10``."""
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise NVCError(f"--set expects key=value, got {assignment!r}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise NVCError(f"--set {key}: not a valid YAML value ({_first_line(exc)})") from None
    *parents, leaf = key.strip().split(".")
    node = config
    for name in parents:
        if node.get(name) is None:
            node[name] = {}
        node = node[name]
        if not isinstance(node, dict):
            raise NVCError(f"--set {key}: {name} is not a section")
    node[leaf] = parsed
