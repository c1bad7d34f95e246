"""The progressive training of NVC (Sec. III-D2, III-E, III-F) as named stages.

| stage               | paper                         | trains                 | loss per P-frame                       |
|---------------------|-------------------------------|------------------------|----------------------------------------|
| `intra`             | neuro-Intra per λ (III-F)     | intra                  | λ·255²·MSE + R_intra                   |
| `motion-pretrain`   | Step 0, eq. (3)-(4)           | motion                 | Σ_s α_s·D1(warp(X̂^s_{t-1}, f^s), X^s_t) |
| `motion-rate`       | Step 1                        | motion (+ TUM, STHAM)  | λ·255·eq.(3) + R_motion                |
| `mcn-pretrain`      | Step 2                        | MS-MCN                 | eq. (3) at s = 0 with X̂p_t             |
| `motion-joint`      | Step 3                        | motion, MS-MCN         | λ·255·eq.(3) with X̂p_t + R_motion      |
| `residual-pretrain` | eq. (8)                       | residual               | λ·255²·MSE(X̂p_t + r̂_t) + R_residual    |
| `inter-joint`       | III-F, joint refinement       | motion, MS-MCN, res.   | λ·255²·MSE + R_motion + R_residual + floor |
| `multiframe`        | III-F, groups of 4 frames     | motion, MS-MCN, res.   | same, summed over the 3 P-frames       |
| `temporal-prior`    | eq. (7), TUM + PA of F̂_t      | motion entropy model   | R_motion over 5 P-frames               |

λ is that of a rate index drawn per sample, so the per-rate gains (variable rate from one set of
weights) are learned; for P-frames λ_inter = λ_intra · ``inter_lambda_ratio`` (1/4 by default).
Distortions are in 8-bit levels: 255²·MSE, and 255·ℓ1 for eq. (3) (with 255² the motion rate would
weigh nothing against the ℓ1 prediction error).
Everything a stage does not train is frozen and runs in eval mode (plain rounding): e.g. the intra
coder produces the reference frames exactly as the decoder would.

References of the P-frames (``Stage.reference``):
  * ``raw``       the previous source frame X_{t-1} (Steps 0-2: motion learned on clean references),
  * ``intra``     the intra-coded reconstruction of X_{t-1} at the same rate (Step 3 on, as the paper),
  * ``recursive`` X̂_1 = intra(X_1), then each P-frame's own reconstruction (multi-frame training).
Clips of 3 frames code 2 P-frames so that the TUM (temporal prior, eq. 7) sees a state; the temporal
prior is dropped per sample with probability ``temporal_drop`` (0.5 by default), so one motion
entropy model works with and without it.

Temporal prior (beyond the paper's schedule): the last stage trains only the entropy model of the motion
features, Dh, the factorized prior of ẑ, the PA (context, STHAM) and the TUM's ConvLSTM, on clips of 6
frames coded recursively with everything else frozen. Em and Eh are frozen and the engine stays in eval
mode (plain rounding), so ŷ, ẑ and every reconstruction are exactly those of the frozen model and the
likelihoods are those of the symbols the coder writes: only the motion bits can change, and the
ConvLSTM sees states of up to 4 updates (a multiframe clip gives it 2). The motion features are coded
at a rate point q − d drawn per sample (0 ≤ d ≤ q + neuro-Motion's low rate points), the rate points
the encoder's per-frame motion rate decision uses (:mod:`nvc_core.motion_rate`).

Warp floor (beyond the paper): where MS-MCN trains jointly with neuro-Res, the loss adds
λ·255²·max(0, MSE(X̂p_t, X_t) − MSE(warp(X̂_{t-1}, f^0), X_t)) with the warp term held constant: it
is zero while the MS-MCN prediction is at least as good as plain warping, and keeps the joint
objective from trading the prediction below it. (Without it, the weights 6a7234bb had MS-MCN and
neuro-Res agree on a constant colour offset, X̂p_t = warp + corr − d and Dm(0) = d, which cost the
prediction 1.3-2 dB on bikes and the reconstruction nothing: :meth:`NVC.move_residual_offset`.)

Flow-guided neuro-Motion (beyond the paper): every P-frame comes with the encoder's optical-flow
estimate of the source frames (``hints`` (B,T-1,2,H,W), pixels, :mod:`nvc_core.flow_estimate`), fed
to Em. In the motion stages a stage setting ``flow_weight`` > 0 adds ``flow_weight`` · Σ_s |f^s − F_s|
(the estimate pooled to each scale) to the loss: Step 0 learns flow from the estimate in minutes
instead of discovering it through the warping loss alone; Steps 1-3 then hand over to eq. (3) and
the rate terms, as the paper does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nvc_core.layers import backward_warp
from nvc_core.models.nvc import NVC
from nvc_core.train.config import StageSettings
from nvc_core.train.losses import bpp, flow_supervision, mse, warp_floor, warping_loss

MOTION_RATE = ("motion.y", "motion.z")
RESIDUAL_RATE = ("residual.y", "residual.z")
#: The parts of neuro-Motion that only shape its bits: what the ``temporal-prior`` stage trains.
MOTION_ENTROPY_MODEL = ("motion.dh", "motion.z_prior", "motion.pa", "motion.tum")


@dataclass(frozen=True)
class Stage:
    name: str
    trains: tuple[str, ...]       # NVC submodules with gradients (dotted: a part of one, which stays in eval mode)
    frames: int                   # frames per training sample (1: images)
    reference: str = "raw"        # raw | intra | recursive
    predict: str = "warp"         # warp (f^0 warping) | mcn (MS-MCN) | residual (whole P-frame)
    rate: tuple[str, ...] = ()    # likelihoods in R; empty: distortion only (pretraining)
    scales: int = 5               # scales of eq. (3) in the loss
    motion_offsets: bool = False  # neuro-Motion at a random rate point q − d, 0 ≤ d ≤ q + its low rate points


STAGES = {s.name: s for s in [
    Stage("intra", ("intra",), 1),
    Stage("motion-pretrain", ("motion",), 2),
    Stage("motion-rate", ("motion",), 3, rate=MOTION_RATE),
    Stage("mcn-pretrain", ("mcn",), 2, predict="mcn", scales=1),   # only s = 0 depends on MS-MCN
    Stage("motion-joint", ("motion", "mcn"), 3, "intra", "mcn", MOTION_RATE),
    Stage("residual-pretrain", ("residual",), 2, "intra", "residual", RESIDUAL_RATE),
    Stage("inter-joint", ("motion", "mcn", "residual"), 3, "intra", "residual", MOTION_RATE + RESIDUAL_RATE),
    Stage("multiframe", ("motion", "mcn", "residual"), 4, "recursive", "residual", MOTION_RATE + RESIDUAL_RATE),
    Stage("temporal-prior", MOTION_ENTROPY_MODEL, 6, "recursive", "residual", MOTION_RATE, motion_offsets=True),
]}
ORDER = list(STAGES)
SUBMODULES = ("intra", "motion", "mcn", "residual")


@dataclass
class StepTerms:
    """Per-sample (B,) terms of one training step, summed over its P-frames."""
    loss: torch.Tensor
    bpp: torch.Tensor
    mse: torch.Tensor


def prepare(model: NVC, stage: Stage) -> list[torch.nn.Parameter]:
    """Freeze (eval mode, no gradients) what the stage does not train; return what it trains.

    A dotted entry (``motion.pa``) trains that part only; its coder stays in eval mode, so its latents
    are rounded as in coding."""
    model.train()
    for name in SUBMODULES:
        getattr(model, name).train(False).requires_grad_(False)
    params = []
    for path in stage.trains:
        module = model.get_submodule(path).train(True).requires_grad_(True)
        params += list(module.parameters())
    return params


def intra_step(model: NVC, x: torch.Tensor, q: torch.Tensor, lam: torch.Tensor) -> StepTerms:
    """L = λ·255²·MSE(X̂, X) + R (eq. 1), x (B,3,H,W)."""
    out = model.forward_intra(x, q)
    d = mse(out.decoded, x)
    rate = bpp(out.likelihoods, ("y", "z"), x.shape[-2] * x.shape[-1])
    return StepTerms(lam * 255 ** 2 * d + rate, rate, d)


def pframe(model: NVC, stage: Stage, ref: torch.Tensor, cur: torch.Tensor, q: torch.Tensor,
           lam: torch.Tensor, state, temporal: torch.Tensor, hint: torch.Tensor | None, s: StageSettings,
           motion_q: torch.Tensor | None = None):
    """One P-frame of a stage: (StepTerms, reconstruction or prediction, new TUM state); ``motion_q``:
    neuro-Motion's rate points when they differ from q."""
    supervision = 0.0
    if stage.predict == "residual":
        out = model.forward_inter(ref, cur, q, state, temporal, hint, motion_q)
        recon, likelihoods, state = out.x_hat, out.likelihoods, out.state
        distortion = mse(recon, cur)
        if "mcn" in stage.trains:
            supervision = lam * 255.0 ** 2 * warp_floor(out.prediction, backward_warp(ref, out.flows[0]), cur)
    else:  # motion stages: neuro-Motion (+ MS-MCN) only, no residual coding
        motion = model.forward_motion(ref, cur, q, state, temporal, hint)
        flows, likelihoods, state = motion.flows, motion.likelihoods, motion.state   # MCFs f^0..f^4
        recon = model.mcn(ref, flows) if stage.predict == "mcn" else backward_warp(ref, flows[0])
        distortion = warping_loss(ref, cur, flows[:stage.scales], recon if stage.predict == "mcn" else None,
                                  s.alpha)
        if s.flow_weight and hint is not None:
            supervision = s.flow_weight * flow_supervision(flows, hint)
    pixels = cur.shape[-2] * cur.shape[-1]
    levels = 255.0 ** 2 if stage.predict == "residual" else 255.0          # MSE or ℓ1 in 8-bit levels
    loss = lam * levels * distortion + bpp(likelihoods, stage.rate, pixels) if stage.rate else distortion
    terms = StepTerms(loss + supervision, bpp(likelihoods, tuple(likelihoods), pixels), mse(recon, cur))
    return terms, recon, state


@torch.no_grad()
def intra_reference(model: NVC, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """X̂ of the frozen neuro-Intra (eval mode: rounding, as decoded)."""
    return model.forward_intra(x, q).decoded.clamp(0, 1)


def reference(model: NVC, stage: Stage, frame: torch.Tensor, q: torch.Tensor,
              recon: torch.Tensor | None = None) -> torch.Tensor:
    """Reference for the next P-frame: the frame itself, its intra coding, or the P reconstruction."""
    if stage.reference == "raw":
        return frame
    if stage.reference == "intra" or recon is None:
        return intra_reference(model, frame, q)
    return recon.clamp(0, 1)


def inter_step(model: NVC, stage: Stage, clip: torch.Tensor, q: torch.Tensor, lam: torch.Tensor,
               hints: torch.Tensor | None, s: StageSettings) -> StepTerms:
    """Code clip (B,T,3,H,W) as [reference, P, P, ...]; terms summed over the P-frames."""
    frames = clip.unbind(1)
    ref = reference(model, stage, frames[0], q)
    state, total = None, None
    motion_q = None
    if stage.motion_offsets:     # d uniform in 0..q + low rate points, per sample
        span = (q + model.motion.low_rates + 1).float()
        motion_q = q - (torch.rand(q.shape, device=q.device) * span).long()
    for t in range(1, len(frames)):
        temporal = (torch.rand(clip.shape[0], device=clip.device) >= s.temporal_drop).float()
        hint = hints[:, t - 1] if hints is not None else None
        terms, recon, state = pframe(model, stage, ref, frames[t], q, lam, state, temporal, hint, s, motion_q)
        total = terms if total is None else StepTerms(total.loss + terms.loss, total.bpp + terms.bpp,
                                                      total.mse + terms.mse)
        ref = reference(model, stage, frames[t], q, recon)
    p_frames = len(frames) - 1
    return StepTerms(total.loss, total.bpp / p_frames, total.mse / p_frames)


def train_step(model: NVC, stage: Stage, batch: torch.Tensor, q: torch.Tensor, lambdas: torch.Tensor,
               s: StageSettings, hints: torch.Tensor | None = None) -> StepTerms:
    """Per-sample terms of one step of ``stage`` on ``batch`` (B,T,3,H,W) at rate indices q (B,).

    ``s``: the stage settings (``inter_lambda_ratio``, ``temporal_drop``, ``alpha``, ``flow_weight``);
    ``hints``: flow estimates (B,T-1,2,H,W) of the P-frames, for flow-guided neuro-Motion.
    """
    if stage.name == "intra":
        return intra_step(model, batch[:, 0], q, lambdas[q])
    return inter_step(model, stage, batch, q, lambdas[q] * s.inter_lambda_ratio, hints, s)
