"""The training loop: stages in order, resumable checkpoints, CSV log, fp16 export.

Output folder ``out``:
  * ``checkpoint.pt``     model + optimizer + stage + step + elapsed time + RNG states (torch and data),
                          written every ``checkpoint_minutes`` and at the end of each stage; ``resume``
                          continues exactly where it stopped (same next step, bit for bit, in one process);
  * ``log.csv``           stage, step, elapsed_s, lr, loss, bpp, psnr (means over ``log_every`` steps);
  * ``weights/<stage>.pt`` fp16 weights exported after each stage; the final export goes to ``export``.
A stage ends after ``steps`` steps or ``minutes`` of training, whichever comes first; its last
``lr_final_fraction`` runs at a tenth of the learning rate.
CUDA runs under bf16 autocast. Under ``torchrun`` (LOCAL_RANK set) every process trains on its own
samples and gradients are averaged across processes (data parallel); rank 0 logs and saves.
"""
from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as torch_dist
from tqdm import tqdm

from nvc_core.errors import NVCError
from nvc_core.models.nvc import NVC, PAD_MULTIPLE, NVCConfig
from nvc_core.train.data import PhotoSet, clip_source, flow_hints, to_batch
from nvc_core.train.losses import psnr
from nvc_core.train.stages import ORDER, STAGES, Stage, prepare, train_step
from nvc_core.weights import save_weights

CHECKPOINT = "checkpoint.pt"


# -- processes ----------------------------------------------------------------------------------------
@dataclass
class Processes:
    """One process, or data-parallel processes started by torchrun."""
    device: torch.device
    rank: int = 0
    world: int = 1

    @classmethod
    def from_env(cls, device: str) -> "Processes":
        if "LOCAL_RANK" not in os.environ:
            return cls(torch.device(device))
        local = int(os.environ["LOCAL_RANK"])
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(local)
        torch_dist.init_process_group("nccl" if cuda else "gloo")
        return cls(torch.device(f"cuda:{local}" if cuda else "cpu"), torch_dist.get_rank(),
                   torch_dist.get_world_size())

    @property
    def main(self) -> bool:
        return self.rank == 0

    def broadcast(self, model: torch.nn.Module) -> None:
        if self.world == 1:
            return
        for t in model.state_dict().values():
            torch_dist.broadcast(t, 0)

    def average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        if self.world == 1:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            torch_dist.all_reduce(p.grad)
            p.grad /= self.world

    def max(self, value: float) -> float:
        """The largest value over processes (one stage progress for all: same lr, same last step)."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
        return float(t.item())


# -- logging ------------------------------------------------------------------------------------------
class Log:
    """CSV log (and TensorBoard scalars when tensorboard is installed)."""
    COLUMNS = ("stage", "step", "elapsed_s", "lr", "loss", "bpp", "psnr")

    def __init__(self, out: Path):
        self.path = out / "log.csv"
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.board = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            self.board = None

    def rewind(self, stage: str, step: int) -> None:
        """Drop the rows written after a checkpoint (``stage``, ``step``) that a resume repeats."""
        if not self.path.exists():
            return
        with self.path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        keep = max((i + 1 for i, r in enumerate(rows) if r["stage"] == stage and int(r["step"]) <= step), default=0)
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.COLUMNS)
            writer.writeheader()
            writer.writerows(rows[:keep])

    def write(self, row: dict) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, self.COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self.board is not None:
            for key in ("loss", "bpp", "psnr", "lr"):
                self.board.add_scalar(f"{row['stage']}/{key}", row[key], row["step"])


@dataclass
class Meter:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **kw: float) -> None:
        for k, v in kw.items():
            self.values.setdefault(k, []).append(v)

    def means(self) -> dict[str, float]:
        out = {k: float(np.mean(v)) for k, v in self.values.items()}
        self.values.clear()
        return out


# -- data ---------------------------------------------------------------------------------------------
class Data:
    """Photos (intra + synthetic clips) and the inter-stage clip mixture, loaded on first use."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self._photos, self._clips = None, None

    def photos(self) -> PhotoSet | None:
        if self._photos is None and self.cfg.get("photos"):
            self._photos = PhotoSet(self.cfg["photos"], self.cfg.get("photo_max_side"))
        return self._photos

    def source(self, stage: Stage):
        if stage.frames == 1:
            return self.photos()
        if self._clips is None:
            c = self.cfg
            self._clips = clip_source(c.get("videos") or [], self.photos(), c.get("synthetic_fraction", 0.5),
                                      c.get("video_max_side"), c.get("video_max_frames"),
                                      c.get("max_stride", 1), c.get("cache"))
        return self._clips


# -- initialisation -----------------------------------------------------------------------------------
def initialise(model: NVC, path: str | Path) -> None:
    """Copy every tensor of a weights file whose name and shape fit ``model`` (e.g. neuro-Intra and
    neuro-Res of earlier weights into a model with a new neuro-Motion); say what was left as initialised."""
    blob = torch.load(path, map_location="cpu", weights_only=True)   # the raw tensors: the file's own
    if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict):   # architecture may differ
        raise NVCError(f"{path} is not an nvc weights file")
    own = model.state_dict()
    fitting = {k: v.to(own[k].dtype) for k, v in blob["state_dict"].items()
               if k in own and own[k].shape == v.shape}
    model.load_state_dict(fitting, strict=False)
    fresh = sorted({k.split(".")[0] for k in own if k not in fitting})
    if fresh:
        print(f"nvc train: from {path}: {len(fitting)} of {len(own)} tensors; newly initialised in: "
              f"{', '.join(fresh)}")


# -- checkpoints --------------------------------------------------------------------------------------
def save_checkpoint(out: Path, model: NVC, stage: str, step: int, elapsed: float,
                    optimizer: torch.optim.Optimizer, data_rng: np.random.Generator) -> None:
    blob = {"stage": stage, "step": step, "elapsed": elapsed, "config": model.config.to_dict(),
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(), "data_rng": data_rng.bit_generator.state,
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    tmp = out / (CHECKPOINT + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(out / CHECKPOINT)


def load_checkpoint(out: Path) -> dict | None:
    path = out / CHECKPOINT
    return torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None


# -- optimizer ----------------------------------------------------------------------------------------
def param_groups(model: NVC, params: list[torch.nn.Parameter], entropy_lr_factor: float) -> list[dict]:
    """Adam groups: the factorized priors of ẑ learn ``entropy_lr_factor`` times faster.

    Their densities start about 10 symbols wide (``init_scale``); at the networks' learning rate
    they would need many thousands of steps to narrow, and ẑ would cost ~4 bits per symbol even
    where the hyper-latents carry nothing.
    """
    trained = {id(p) for p in params}
    entropy = [p for n, p in model.named_parameters() if ".z_prior." in n and id(p) in trained]
    entropy_ids = {id(p) for p in entropy}
    rest = [p for p in params if id(p) not in entropy_ids]
    return [g for g in ({"params": rest, "lr_factor": 1.0}, {"params": entropy, "lr_factor": entropy_lr_factor})
            if g["params"]]


# -- one stage --------------------------------------------------------------------------------------
def stage_settings(config: dict, name: str) -> dict:
    s = {**config["train"], **(config.get("stages") or {}).get(name, {})}
    if not s.get("steps") and not s.get("minutes"):
        raise NVCError(f"stage {name} has neither steps nor minutes")
    if s["crop"] % PAD_MULTIPLE:
        raise NVCError(f"stage {name}: crop {s['crop']} is not a multiple of {PAD_MULTIPLE}")
    return s


def _progress(s: dict, step: int, elapsed: float) -> float:
    return max(step / s["steps"] if s.get("steps") else 0.0,
               elapsed / (60.0 * s["minutes"]) if s.get("minutes") else 0.0)


def train_stage(model: NVC, stage: Stage, s: dict, data: Data, out: Path, log: Log, procs: Processes,
                seed: int, resume: dict | None = None) -> list[float]:
    """Train one stage; returns the loss of every step run in this call."""
    params = prepare(model, stage)
    optimizer = torch.optim.Adam(param_groups(model, params, s.get("entropy_lr_factor", 1.0)), lr=s["lr"])
    data_rng = np.random.default_rng([seed, procs.rank, ORDER.index(stage.name)])
    step, elapsed = 0, 0.0
    torch.manual_seed(seed + 100 * procs.rank + ORDER.index(stage.name))   # depends only on the stage start
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        step, elapsed = resume["step"], resume["elapsed"]
        torch.set_rng_state(resume["torch_rng"])
        if resume.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(resume["cuda_rng"])
        data_rng.bit_generator.state = resume["data_rng"]
    procs.broadcast(model)
    source = data.source(stage)
    lambdas = torch.tensor(model.config.lambdas, device=procs.device)
    use_amp = procs.device.type == "cuda" and s.get("amp", True)
    start, saved = time.monotonic() - elapsed, time.monotonic()
    meter, losses = Meter(), []
    bar = tqdm(total=s.get("steps"), initial=step, desc=stage.name, disable=not procs.main, dynamic_ncols=True)
    while (progress := procs.max(_progress(s, step, elapsed))) < 1.0:
        lr = s["lr"] * (0.1 if progress >= 1.0 - s.get("lr_final_fraction", 0.0) else 1.0)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_factor"]
        samples = [source.sample(data_rng, s["crop"], stage.frames) for _ in range(s["batch"])]
        hints = flow_hints(samples).to(procs.device) if stage.frames > 1 and model.motion.flow_guided else None
        q = torch.randint(model.num_rates, (s["batch"],)).to(procs.device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            terms = train_step(model, stage, to_batch(samples).to(procs.device), q, lambdas, s, hints)
        loss = terms.loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        procs.average_gradients(params)
        if s.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_(params, s["grad_clip"])
        optimizer.step()
        step, elapsed = step + 1, time.monotonic() - start
        losses.append(loss.item())
        meter.add(loss=losses[-1], bpp=terms.bpp.mean().item(), mse=terms.mse.mean().item())
        bar.update(1)
        if step % s["log_every"] == 0 and procs.main:
            m = meter.means()
            row = {"stage": stage.name, "step": step, "elapsed_s": round(elapsed, 1), "lr": lr,
                   "loss": m["loss"], "bpp": m["bpp"], "psnr": psnr(torch.tensor(m["mse"]))}
            log.write(row)
            bar.set_postfix(loss=f"{row['loss']:.4g}", bpp=f"{row['bpp']:.3f}", psnr=f"{row['psnr']:.2f}")
        if procs.main and time.monotonic() - saved >= 60.0 * s["checkpoint_minutes"]:
            save_checkpoint(out, model, stage.name, step, elapsed, optimizer, data_rng)
            saved = time.monotonic()
    bar.close()
    if procs.main:
        save_checkpoint(out, model, stage.name, step, elapsed, optimizer, data_rng)
    return losses


# -- the whole schedule -------------------------------------------------------------------------------
def train(config: dict, stages: list[str], out: str | Path, device: str = "cpu", resume: bool = False,
          init: str | None = None, export: str | Path | None = None) -> NVC:
    """Run ``stages`` in order (see :mod:`nvc_core.train.stages`) and export fp16 weights."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    procs = Processes.from_env(device)
    torch.set_num_threads(config.get("threads") or os.cpu_count() or 1)   # null: every core
    torch.manual_seed(config["seed"])
    model = NVC(NVCConfig.from_dict(config["model"]))
    if init:
        initialise(model, init)
    checkpoint = load_checkpoint(out) if resume else None
    if checkpoint is not None:
        model = NVC(NVCConfig.from_dict(checkpoint["config"]))
        model.load_state_dict(checkpoint["model"])
        if checkpoint["stage"] in stages:
            stages = stages[stages.index(checkpoint["stage"]):]
    model.to(procs.device)
    data, log = Data(config["data"]), Log(out)
    if checkpoint is not None and procs.main:
        log.rewind(checkpoint["stage"], checkpoint["step"])
    for name in stages:
        same = checkpoint is not None and checkpoint["stage"] == name
        train_stage(model, STAGES[name], stage_settings(config, name), data, out, log, procs,
                    config["seed"], checkpoint if same else None)
        if procs.main:
            save_weights(model, out / "weights" / f"{name}.pt", meta=_meta(config, log))
    if procs.main:
        save_weights(model, export or out / "nvc.pt", meta=_meta(config, log))
    if procs.world > 1:
        torch_dist.destroy_process_group()
    return model


def _meta(config: dict, log: Log) -> dict:
    """Training record for the weights file: model, data, and the last log row of every stage."""
    last = {}
    if log.path.exists():
        with log.path.open() as f:
            last = {row["stage"]: row for row in csv.DictReader(f)}
    return {"name": config.get("name", "nvc"), "model": config["model"], "stages": list(last.values()),
            "data": {k: config["data"].get(k) for k in ("photos", "videos", "synthetic_fraction")}}
