"""The training loop: stages in order, resumable checkpoints, CSV log, fp16 export.

Output folder ``out`` (new or empty; with ``resume``, the folder of the run to continue):
  * ``checkpoint.pt``     model + optimizer + stage + step + elapsed time + RNG states (torch and data),
                          written every ``checkpoint_minutes`` and at the end of each stage; ``resume``
                          continues exactly where it stopped (same next step, bit for bit, in one process);
  * ``log.csv``           stage, step, elapsed_s, lr, loss, bpp, psnr (means over ``log_every`` steps, and
                          over the steps after the last row when a stage ends);
  * ``weights/<stage>.pt`` fp16 weights exported after each stage; the final export goes to ``export``;
  * ``summary.json``      per stage and in all: steps, samples, seconds, steps/s, samples/s, time spent
                          waiting for data, final loss, bpp and PSNR (means of the last ``log_every`` steps);
  * ``data_cache/``       decoded videos (``data.cache``, relative to ``out``).
Everything is checked before the folder is made: the configuration (:mod:`nvc_core.train.config`),
the ``init`` weights and the checkpoint to resume. A run that fails before its first checkpoint
leaves nothing behind; a later failure keeps the checkpoint for ``resume``. A loss that turns NaN
or infinite stops the run (nothing is exported).
A stage ends after ``steps`` steps or ``minutes`` of training, whichever comes first; its last
``lr_final_fraction`` runs at a tenth of the learning rate. With a ``budget`` (minutes of wall time
for the whole schedule) each stage gets the share of the time left that its ``minutes`` have among
the stages left: the ``minutes`` of the config are ratios then.
Batches are made ahead by ``workers`` processes (:mod:`nvc_core.train.loader`). CUDA runs under bf16
autocast (``amp``), optionally channels-last (``channels_last``). Under ``torchrun`` (LOCAL_RANK set)
every process trains on its own samples and gradients are averaged across processes (data parallel);
rank 0 logs and saves.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as torch_dist
from tqdm import tqdm

from nvc_core.errors import NVCError, WeightsError
from nvc_core.models.nvc import NVC
from nvc_core.models.vae import align_low_rates, grow_rate_tables
from nvc_core.train.config import DataSettings, StageSettings, TrainConfig, validate
from nvc_core.train.data import Mixture, PhotoSet, clip_source, to_batch
from nvc_core.train.loader import Batches, StageBatches
from nvc_core.train.losses import psnr
from nvc_core.train.pack import pack_sources
from nvc_core.train.stages import ORDER, STAGES, Stage, prepare, train_step
from nvc_core.train.widen import widen_state
from nvc_core.weights import check_finite, check_state, read_file, read_weights, save_atomic, save_weights

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

    def barrier(self) -> None:
        if self.world > 1:
            torch_dist.barrier()

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
        self.stages: list[dict] = []    # one summary per stage run, for summary.json
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

    def stage_done(self, stage: str, steps: int, samples: int, seconds: float, wait_s: float,
                   last: np.ndarray) -> None:
        """Summary of a stage run; ``last``: (steps, 3) loss, bpp, MSE of its last steps."""
        rate = (lambda n: round(n / seconds, 3)) if seconds > 0 else (lambda n: None)
        loss, bpp, mse = (float(v) for v in last.mean(0)) if len(last) else (None,) * 3
        self.stages.append({"stage": stage, "steps": steps, "samples": samples, "seconds": round(seconds, 1),
                            "steps_per_s": rate(steps), "samples_per_s": rate(samples),
                            "data_wait_s": round(wait_s, 1), "loss": loss, "bpp": bpp,
                            "psnr": psnr(torch.tensor(mse)) if len(last) else None})

    def write_summary(self, path: Path, **totals) -> dict:
        steps, samples = (sum(s[k] for s in self.stages) for k in ("steps", "samples"))
        seconds = sum(s["seconds"] for s in self.stages)
        summary = {**totals, "steps": steps, "samples": samples, "train_minutes": round(seconds / 60, 2),
                   "steps_per_s": round(steps / seconds, 3) if seconds else None,
                   "samples_per_s": round(samples / seconds, 3) if seconds else None, "stages": self.stages}
        path.write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
        return summary


def read_back(window: list[torch.Tensor], stage: str, step: int) -> np.ndarray:
    """Per-step (loss, bpp, MSE) kept on the device, read back in one transfer: (steps, 3); empties
    ``window``. A NaN or infinite value stops the run (``step``: the last step in the window)."""
    values = torch.stack(window).float().cpu().numpy() if window else np.zeros((0, 3))
    window.clear()
    if not np.isfinite(values).all():
        raise NVCError(f"training diverged: stage {stage}, by step {step}, the loss is NaN or infinite "
                       "(lower lr, or start from other --init weights); nothing exported")
    return values


# -- data ---------------------------------------------------------------------------------------------
class Data:
    """Photos (intra + synthetic clips) and the inter-stage clip mixture, loaded on first use.

    Without photos, neuro-Intra trains on single frames of the clips; ``cache`` is a folder for
    decoded videos (None: no cache)."""

    def __init__(self, settings: DataSettings, cache: Path | None = None):
        self.settings = dataclasses.replace(settings, **pack_sources(settings.pack)) if settings.pack else settings
        self.cache = cache if self.settings.cache else None
        self._photos, self._clips = None, None

    def photos(self) -> PhotoSet | None:
        if self._photos is None and self.settings.photos:
            self._photos = PhotoSet(self.settings.photos, self.settings.photo_max_side)
        return self._photos

    def clips(self) -> Mixture:
        if self._clips is None:
            if not self.settings.photos and not self.settings.videos:
                raise NVCError("no training data: give photos (--photos DIR) and/or videos (--data DIR ...)")
            self._clips = clip_source(self.settings, self.photos(), self.cache)
        return self._clips

    def source(self, stage: Stage):
        if stage.frames == 1 and self.photos() is not None:
            return self.photos()
        clips = self.clips()
        clips.check_frames(stage.frames, stage.name)
        return clips


# -- initialisation -----------------------------------------------------------------------------------
def initialise(model: NVC, spec: str | Path) -> None:
    """Copy every tensor of a weights file whose name and shape fit ``model`` (e.g. neuro-Intra and
    neuro-Res of earlier weights into a model with a new neuro-Motion), widening those of a narrower
    coder (:mod:`nvc_core.train.widen`); say what was left as initialised.

    ``spec`` is ``PATH`` or ``PATH:CODER[,CODER...]`` (coders: the model's top-level modules, e.g.
    ``runs/a.pt:intra``): then only those coders' tensors are copied."""
    path, coders = str(spec), None
    head, _, tail = path.rpartition(":")
    if head and not Path(path).is_file():
        names = [n for n, _ in model.named_children()]
        path, coders = head, set(tail.split(","))
        if not coders <= set(names):
            raise NVCError(f"--init {spec}: unknown coder {sorted(coders - set(names))[0]!r} "
                           f"(coders: {', '.join(names)})")
    if not Path(path).is_file():
        raise NVCError(f"--init {path}: no such file")
    config, state, _ = read_weights(Path(path))  # checked as any weights file; its architecture may differ
    own = {k for k in model.state_dict() if coders is None or k.split(".")[0] in coders}
    state = {k: v for k, v in state.items() if k in own}
    state = align_low_rates(state, "motion.", config.motion_low_rates, model.config.motion_low_rates)
    state = grow_rate_tables(model, state)                                           # new top rate points
    fitting, grown = widen_state(model, state)
    model.load_state_dict(fitting, strict=False)
    if grown:
        print(f"nvc train: from {path}: {grown} tensors widened (nvc_core.train.widen)")
    fresh = sorted({k.split(".")[0] for k in own if k not in fitting})
    if fresh:
        print(f"nvc train: from {path}: {len(fitting)} of {len(own)} tensors; newly initialised in: "
              f"{', '.join(fresh)}")


# -- checkpoints --------------------------------------------------------------------------------------
def save_checkpoint(out: Path, model: NVC, stage: str, step: int, elapsed: float,
                    optimizer: torch.optim.Optimizer) -> None:
    blob = {"stage": stage, "step": step, "elapsed": elapsed, "config": model.config.to_dict(),
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    check_finite(blob["model"], f"checkpoint {out / CHECKPOINT}: not written (training diverged):")
    save_atomic(blob, out / CHECKPOINT)


def load_checkpoint(out: Path) -> dict:
    """The checkpoint of ``out``, checked as a weights file is (configuration bounds, names, shapes,
    finite values) and for its own fields, before anything is built from it."""
    path = out / CHECKPOINT
    if not path.is_file():
        raise NVCError(f"--resume: no checkpoint in {out} ({CHECKPOINT})")
    blob = read_file(path, "checkpoint")
    if not isinstance(blob, dict) or not {"stage", "step", "elapsed", "config", "model", "optimizer",
                                          "torch_rng"} <= set(blob):
        raise WeightsError(f"{path} is not an nvc checkpoint file")
    blob["config"] = check_state(blob["config"], blob["model"], f"checkpoint {path}")
    step, elapsed, rng = blob["step"], blob["elapsed"], blob["torch_rng"]
    if (blob["stage"] not in ORDER or not isinstance(step, int) or step < 0
            or not isinstance(elapsed, (int, float)) or not math.isfinite(elapsed) or elapsed < 0
            or not isinstance(blob["optimizer"], dict)
            or not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 or rng.shape != torch.get_rng_state().shape):
        raise WeightsError(f"{path}: damaged checkpoint (stage, step, time, optimizer or random state)")
    return blob


def resume_optimizer(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a checkpoint's optimizer state, each moment the shape of its parameter, or a one-line error."""
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError):
        raise WeightsError("the checkpoint's optimizer state does not fit this stage") from None
    for group in optimizer.param_groups:
        for p in group["params"]:
            moments = [v for v in optimizer.state.get(p, {}).values() if isinstance(v, torch.Tensor) and v.dim()]
            if any(v.shape != p.shape or not torch.isfinite(v).all() for v in moments):
                raise WeightsError("the checkpoint's optimizer state does not fit this stage")


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
def stage_settings(config: TrainConfig, name: str) -> StageSettings:
    s = config.stages[name]
    if s.steps is None and s.minutes is None:
        raise NVCError(f"stage {name} has neither steps nor minutes (give --steps or --minutes)")
    return s


def budget_share(config: TrainConfig, stages: list[str], minutes_left: float) -> float:
    """Minutes of ``stages[0]``: its share of the time left, by the ``minutes`` of the stages left.

    When the time is up every stage left still runs one step (and exports its weights)."""
    ratios = [config.stages[name].minutes for name in stages]
    missing = [name for name, r in zip(stages, ratios) if not r]
    if missing:
        raise NVCError(f"a time budget splits the stages by their minutes; {', '.join(missing)} have none")
    return max(minutes_left, 1e-6) * ratios[0] / sum(ratios)


def _progress(s: StageSettings, step: int, elapsed: float) -> float:
    return max(step / s.steps if s.steps else 0.0, elapsed / (60.0 * s.minutes) if s.minutes else 0.0)


def train_stage(model: NVC, stage: Stage, s: StageSettings, data: Data, out: Path, log: Log, procs: Processes,
                seed: int, resume: dict | None = None) -> list[float]:
    """Train one stage; returns the loss of every step run in this call."""
    params = prepare(model, stage)
    optimizer = torch.optim.Adam(param_groups(model, params, s.entropy_lr_factor), lr=s.lr)
    step, elapsed = 0, 0.0
    torch.manual_seed(seed + 100 * procs.rank + ORDER.index(stage.name))   # depends only on the stage start
    if resume is not None:
        resume_optimizer(optimizer, resume["optimizer"])
        step, elapsed = resume["step"], resume["elapsed"]
        torch.set_rng_state(resume["torch_rng"])
        if resume.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(resume["cuda_rng"])
    procs.broadcast(model)
    cuda = procs.device.type == "cuda"
    batches = Batches(StageBatches(data.source(stage), s.batch, s.crop, stage.frames,
                                   stage.frames > 1 and model.motion.flow_guided,
                                   (seed, procs.rank, ORDER.index(stage.name))),
                      step, s.workers, pin_memory=cuda)
    lambdas = torch.tensor(model.config.lambdas, device=procs.device)
    use_amp = cuda and s.amp
    start, saved, first_step, logged = time.monotonic() - elapsed, time.monotonic(), step, step
    window, values = [], []          # per-step (loss, bpp, MSE): on the device until the next log row
    bar = tqdm(total=s.steps, initial=step, desc=stage.name, disable=not procs.main, dynamic_ncols=True)

    def write_row(lr: float) -> None:
        values.append(read_back(window, stage.name, step))
        if procs.main:
            loss_m, bpp_m, mse_m = values[-1].mean(0)
            row = {"stage": stage.name, "step": step, "elapsed_s": round(elapsed, 1), "lr": lr,
                   "loss": float(loss_m), "bpp": float(bpp_m), "psnr": psnr(torch.tensor(mse_m))}
            log.write(row)
            bar.set_postfix(loss=f"{row['loss']:.4g}", bpp=f"{row['bpp']:.3f}", psnr=f"{row['psnr']:.2f}")

    lr = s.lr
    try:
        while (progress := procs.max(_progress(s, step, elapsed))) < 1.0:
            lr = s.lr * (0.1 if progress >= 1.0 - s.lr_final_fraction else 1.0)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_factor"]
            frames, hints = next(batches)
            q = torch.randint(model.num_rates, (s.batch,)).to(procs.device)
            clip = to_batch(frames, procs.device, s.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                terms = train_step(model, stage, clip, q, lambdas, s,
                                   hints.to(procs.device, non_blocking=True) if hints is not None else None)
            loss = terms.loss.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            procs.average_gradients(params)
            if s.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, s.grad_clip)
            optimizer.step()
            step, elapsed = step + 1, time.monotonic() - start
            window.append(torch.stack([loss.float(), terms.bpp.mean().float(), terms.mse.mean().float()]).detach())
            bar.update(1)
            if step % s.log_every == 0:
                write_row(lr)
                logged = step
            if procs.main and time.monotonic() - saved >= 60.0 * s.checkpoint_minutes:
                save_checkpoint(out, model, stage.name, step, elapsed, optimizer)
                saved = time.monotonic()
        if step > logged:
            write_row(lr)             # the steps after the last row: every stage run has a row
    finally:
        batches.close()
        bar.close()
    values = np.concatenate([np.zeros((0, 3)), *values])
    log.stage_done(stage.name, step - first_step, (step - first_step) * s.batch * procs.world,
                   elapsed - resume["elapsed"] if resume else elapsed, batches.wait_s, values[-s.log_every:])
    if procs.main:
        save_checkpoint(out, model, stage.name, step, elapsed, optimizer)
    return [float(v) for v in values[:, 0]]


# -- the whole schedule -------------------------------------------------------------------------------
def check_out(out: Path, resume: bool) -> None:
    """A fresh run needs a new or empty folder (nothing of another run is replaced); ``resume`` one
    with a checkpoint."""
    if out.exists() and not out.is_dir():
        raise NVCError(f"--out {out}: exists and is not a folder")
    if not resume and out.is_dir() and any(out.iterdir()):
        raise NVCError(f"--out {out}: not empty (another run?); give a new folder, or --resume to continue it")


def train(config: dict, stages: list[str], out: str | Path, device: str = "cpu", resume: bool = False,
          init: str | list[str] | None = None, export: str | Path | None = None, budget: float | None = None
          ) -> NVC:
    """Run ``stages`` in order (see :mod:`nvc_core.train.stages`) and export fp16 weights.

    ``config``: the overrides of a preset (:func:`nvc_core.train.config.validate`). ``budget``:
    minutes of wall time for all of it, split by the ratios of the stages' ``minutes``."""
    config = validate(config)
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        raise NVCError(f"--budget must be a positive number of minutes, got {budget}")
    for name in stages:
        stage_settings(config, name)
    if budget is not None:
        budget_share(config, stages, budget)
    began = time.monotonic()
    out = Path(out)
    procs = Processes.from_env(device)
    check_out(out, resume)
    checkpoint = load_checkpoint(out) if resume else None
    procs.barrier()                     # every process has checked the folder before the main one fills it
    torch.set_num_threads(config.threads or os.cpu_count() or 1)   # None: every core
    torch.manual_seed(config.seed)
    model = NVC(config.model)
    for spec in [init] if isinstance(init, (str, Path)) else init or []:   # in order: later files win
        initialise(model, spec)
    created = not out.exists()
    if procs.main:
        out.mkdir(parents=True, exist_ok=True)
    try:
        return _run(config, stages, out, procs, model, checkpoint, export, budget, began)
    except BaseException:
        if procs.main and not (out / CHECKPOINT).exists():
            _remove_run(out, created)
        elif procs.main:
            print(f"nvc train: stopped; {out / CHECKPOINT} kept: continue with --resume --out {out}",
                  file=sys.stderr)
        raise


def _remove_run(out: Path, created: bool) -> None:
    """Remove what a failed run wrote into its (new or empty) folder, and the folder if it made it."""
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for entry in out.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _run(config: TrainConfig, stages: list[str], out: Path, procs: Processes, model: NVC, checkpoint: dict | None,
         export: str | Path | None, budget: float | None, began: float) -> NVC:
    if checkpoint is not None:
        model = NVC(checkpoint["config"])
        model.load_state_dict(checkpoint["model"])
        if checkpoint["stage"] in stages:
            stages = stages[stages.index(checkpoint["stage"]):]
    model.to(procs.device)
    if config.train.channels_last:
        for module in model.modules():      # 2D convolutions; the 3D context convolution keeps its layout
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.to(memory_format=torch.channels_last)
    if procs.device.type == "cuda":
        torch.backends.cudnn.benchmark = True       # fixed crop sizes: the fastest kernels, found once
    data, log = Data(config.data, out / config.data.cache if config.data.cache else None), Log(out)
    for name in stages:                 # every stage's data loaded and checked before the first step
        data.source(STAGES[name])
    if checkpoint is not None and procs.main:
        log.rewind(checkpoint["stage"], checkpoint["step"])
    for i, name in enumerate(stages):
        same = checkpoint is not None and checkpoint["stage"] == name
        s = config.stages[name]
        if budget is not None:
            s = dataclasses.replace(s, minutes=budget_share(config, stages[i:],
                                                            budget - (time.monotonic() - began) / 60))
        train_stage(model, STAGES[name], s, data, out, log, procs, config.seed, checkpoint if same else None)
        if procs.main:
            save_weights(model, out / "weights" / f"{name}.pt", meta=_meta(config, log))
    if procs.main:
        save_weights(model, export or out / "nvc.pt", meta=_meta(config, log))
        log.write_summary(out / "summary.json", device=_device_name(procs.device), processes=procs.world,
                          budget_minutes=budget, minutes=round((time.monotonic() - began) / 60, 2))
    if procs.world > 1:
        torch_dist.destroy_process_group()
    return model


def _meta(config: TrainConfig, log: Log) -> dict:
    """Training record for the weights file: model, data, and the last log row of every stage."""
    last = {}
    if log.path.exists():
        with log.path.open() as f:
            last = {row["stage"]: row for row in csv.DictReader(f)}
    return {"name": config.name, "model": config.model.to_dict(), "stages": list(last.values()),
            "data": {k: getattr(config.data, k) for k in ("pack", "photos", "videos", "synthetic_fraction")}}


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)"
