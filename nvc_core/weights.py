"""Loading and saving model weights, and the weights identifier written into every bitstream.

File format (``torch.save`` of a dict): ``{"format": "nvc-weights", "version": 1, "config": NVCConfig
as dict, "state_dict": fp16 tensors, "meta": free-form training info}``. The identifier is the first
8 bytes of the SHA-256 of the state dict as the decoder uses it (names sorted, float32 bytes): a
decoder holding other weights refuses a stream instead of decoding garbage.
"""
from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import torch

from nvc_core.errors import WeightsError
from nvc_core.models.nvc import NVC, NVCConfig

BUNDLED_WEIGHTS = Path(__file__).resolve().parent.parent / "resources" / "weights" / "nvc.pt"
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
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "version": 1, "config": model.config.to_dict(),
                "state_dict": state, "meta": meta or {}}, tmp)
    tmp.replace(path)


def random_model(config: NVCConfig | None = None) -> NVC:
    """Deterministic random initialisation (same weights, same identifier, on every machine)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return NVC(config)


def load_model(weights: str | Path | None = None, device: str | torch.device = "cpu",
               warn=lambda msg: print(msg, file=sys.stderr)) -> NVC:
    """Model in eval mode with ``weights_id`` set.

    ``weights``: None -> bundled weights (or, if absent, the random initialisation with a warning);
    ``"random"`` -> random initialisation; otherwise a path to a weights file.
    """
    if weights is None:
        if BUNDLED_WEIGHTS.exists():
            weights = BUNDLED_WEIGHTS
        else:
            warn("nvc: warning: no bundled weights in resources/weights/, using random weights")
            weights = "random"
    if str(weights) == "random":
        model = random_model()
        model.meta = {"name": "random"}
    else:
        model = _load_file(Path(weights))
    model.weights_id = weights_identifier(model)
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


def _load_file(path: Path) -> NVC:
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling/zip failure means "not our weights"
        raise WeightsError(f"cannot read weights {path}: {type(exc).__name__}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise WeightsError(f"{path} is not an nvc weights file")
    state = blob.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise WeightsError(f"weights {path}: the state dict is not a mapping of names to tensors")
    model = NVC(check_config(blob.get("config"), f"weights {path}"))
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise WeightsError(f"weights {path} do not fit the model: {str(exc).splitlines()[0][:120]}") from None
    meta = blob.get("meta", {})
    model.meta = meta if isinstance(meta, dict) else {}
    return model
