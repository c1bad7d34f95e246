"""Loading and saving model weights, and the weights identifier written into every bitstream.

File format (``torch.save`` of a dict, the zip format with stored entries): ``{"format": "nvc-weights",
"version": 1, "config": NVCConfig as dict, "state_dict": fp16 tensors, "meta": free-form training
info}``. The identifier (:attr:`NVC.weights_id <nvc_core.models.nvc.NVC.weights_id>`) is the first 8
bytes of the SHA-256 of the state dict as the decoder uses it (names sorted, float32 bytes), computed
from the weights whenever it is asked for: a decoder holding other weights refuses a stream instead of
decoding garbage.

Every file is checked before anything of its claimed size is allocated: the zip entries must be
stored (what is loaded is at most the file's size), the configuration within bounds
(:func:`check_config`), the tensors exactly the names and shapes of that configuration (compared on
the meta device) and finite. Training checkpoints get the same checks (:func:`check_state`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import torch

from nvc_core.errors import WeightsError
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.resources import BUNDLED_WEIGHTS

FORMAT = "nvc-weights"
RANDOM_SEED = 0
#: Largest model a weights file may ask for (the paper-size configuration, 192 channels and 3 blocks,
#: has 154 M parameters); counted before anything is allocated.
MAX_PARAMETERS = 500_000_000
#: Rate points a model may have (the bitstream stores the rate index in one byte).
MAX_RATES = 256


def weights_identifier(model: torch.nn.Module) -> bytes:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.digest()[:8]


def save_weights(model: NVC, path: str | Path, meta: dict | None = None) -> None:
    """Write compact fp16 weights (atomic), as CPU tensors whatever device the model is on."""
    path = Path(path)
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    check_finite(state, f"weights {path}: not written:")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic({"format": FORMAT, "version": 1, "config": model.config.to_dict(), "state_dict": state,
                 "meta": meta or {}}, path)


def save_atomic(blob: dict, path: Path) -> None:
    """``torch.save`` to a temporary sibling, renamed onto ``path`` when complete; removed on any failure."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(blob, tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def random_model(config: NVCConfig | None = None) -> NVC:
    """Deterministic random initialisation (same weights, same identifier, on every machine)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return NVC(config)


def load_model(weights: str | Path | None = None, device: str | torch.device = "cpu") -> NVC:
    """Model in eval mode, with ``meta`` (the training record of the file).

    ``weights``: None -> the bundled weights (an error if the installation lacks them);
    ``"random"`` -> the deterministic random initialisation; otherwise a path to a weights file.
    """
    if weights is None:
        if not BUNDLED_WEIGHTS.is_file():
            raise WeightsError(f"the bundled weights are missing ({BUNDLED_WEIGHTS}): reinstall nvc, "
                               "or pass --weights FILE (or --weights random)")
        weights = BUNDLED_WEIGHTS
    if str(weights) == "random":
        model = random_model()
        model.meta = {"name": "random"}
    else:
        model = _load_file(Path(weights))
    return model.to(device).eval()


def check_config(raw, where: str) -> NVCConfig:
    """The NVCConfig a weights file describes, checked before the model is built: only the fields of
    :class:`NVCConfig` (as the dataclass declares them), each of its default's type (integers at least
    1, or at least 0 where 0 is the default, rates positive), and at most MAX_PARAMETERS parameters
    (counted on the meta device, which allocates nothing)."""
    if not isinstance(raw, dict):
        raise WeightsError(f"{where}: the model configuration is not a mapping")
    fields = {f.name: f for f in dataclasses.fields(NVCConfig)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise WeightsError(f"{where}: unknown model configuration keys {unknown} (known: {sorted(fields)})")
    for name, value in raw.items():
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if isinstance(default, bool):
            valid = isinstance(value, bool)
        elif isinstance(default, int):
            valid = isinstance(value, int) and not isinstance(value, bool) and value >= min(default, 1)
        elif isinstance(default, tuple):
            valid = (isinstance(value, (list, tuple)) and 1 <= len(value) <= MAX_RATES
                     and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value))
        else:
            valid = isinstance(value, type(default))
        if not valid:
            raise WeightsError(f"{where}: invalid model configuration {name}={value!r}")
    config = NVCConfig.from_dict(raw)
    with torch.device("meta"):
        parameters = sum(p.numel() for p in NVC(config).parameters())
    if parameters > MAX_PARAMETERS:
        raise WeightsError(f"{where}: the model configuration asks for {parameters / 1e6:.0f} M parameters "
                           f"(at most {MAX_PARAMETERS / 1e6:.0f} M)")
    return config


def check_finite(state: dict, where: str) -> None:
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise WeightsError(f"{where} tensor {bad} holds NaN or infinite values")


def check_state(raw_config, state, where: str) -> NVCConfig:
    """The configuration of a state dict, checked with the tensors before the model is built:
    bounds (:func:`check_config`), exactly the names and shapes of that model (compared on the meta
    device, which allocates nothing) and finite values."""
    config = check_config(raw_config, where)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise WeightsError(f"{where}: the state dict is not a mapping of names to tensors")
    with torch.device("meta"):
        expected = NVC(config).state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        what = f"lacks {missing[0]}" if missing else f"has an unknown tensor {unexpected[0]}"
        raise WeightsError(f"{where} do not fit the model: it {what}")
    wrong = next((k for k, v in state.items() if v.shape != expected[k].shape), None)
    if wrong is not None:
        raise WeightsError(f"{where} do not fit the model: {wrong} has shape {tuple(state[wrong].shape)}, "
                           f"the model {tuple(expected[wrong].shape)}")
    check_finite(state, where)
    return config


def read_file(path: Path, what: str = "weights"):
    """``torch.load`` of an nvc file (weights or checkpoint) with nothing larger than the file
    allocated; any failure is a one-line :class:`WeightsError`."""
    if not path.is_file():
        raise WeightsError(f"{what} file not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            stored = all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        stored = False
    if not stored:
        raise WeightsError(f"{path} is not an nvc {what} file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling/zip failure means "not our file"; never torch's advice
        raise WeightsError(f"{path} is not an nvc {what} file ({type(exc).__name__})") from None


def read_weights(path: Path) -> tuple[NVCConfig, dict, dict]:
    """The checked configuration, the state dict (as stored) and the meta of a weights file."""
    blob = read_file(path)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise WeightsError(f"{path} is not an nvc weights file")
    config = check_state(blob.get("config"), blob.get("state_dict"), f"weights {path}")
    meta = blob.get("meta", {})
    return config, blob["state_dict"], meta if isinstance(meta, dict) else {}


def _load_file(path: Path) -> NVC:
    config, state, meta = read_weights(path)
    model = NVC(config)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.meta = meta
    return model
