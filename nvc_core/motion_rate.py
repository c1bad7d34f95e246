"""The encoder's choice of neuro-Motion's rate point for each P-frame (beyond the paper).

One set of weights gives neuro-Motion and neuro-Res the same rate point q, with the balance between
motion and residual bits that training found on crops of at most 256 px. On real frames the motion
features can cost most of a P-frame (bikes, q1: 3.3 of 4.7 kbit) while a coarser motion field costs
the residual little. The encoder therefore codes each P-frame's motion at rate point q_m = q − d,
d ≥ 0 (down to neuro-Motion's extra rate points below 0, ``NVCConfig.motion_low_rates``), with the d
that minimises the frame's estimated

    J(d) = (R_motion + R_residual) / pixels + λ_inter · 255² · MSE(X̂_t, X_t),

λ_inter being the P-frame's training λ (``λ_q · INTER_LAMBDA_RATIO``). The chunk of the frame carries d
(``docs/bitstream.md``); the decoder only reads it. R and D are estimated by the coders' forward
passes with rounded latents and the float entropy model (:meth:`VAEEngine.forward`): the decision is
the encoder's own business and need not be bit-exact, the coding that follows is.

Search (:class:`MotionRateSearch`): at the first P-frame of a GOP the offsets 0, 2, 4, ... up to the
lowest rate point; then the previous P-frame's offset and its two neighbours, so the choice follows
the clip at three estimates per frame.
"""
from __future__ import annotations

import torch

from nvc_core.entropy.integer import FRAC
from nvc_core.errors import NVCError
from nvc_core.models.nvc import INTER_LAMBDA_RATIO, NVC

#: Offsets tried at the first P-frame of a GOP: every COARSE_STEP-th one.
COARSE_STEP = 2


def offsets(model: NVC, quality: int) -> range:
    """Every offset d the model can code at rate point ``quality``: q − d from q down to the lowest rate point."""
    return range(quality + model.motion.low_rates + 1)


def check_offset(model: NVC, quality: int, offset: int) -> None:
    if offset not in offsets(model, quality):
        raise NVCError(f"motion rate offset {offset} outside 0..{offsets(model, quality)[-1]} at quality {quality}")


def float_prior(temporal: torch.Tensor | None) -> torch.Tensor | None:
    """The TUM's temporal prior as the float entropy model takes it (coding keeps it in integers at 2^FRAC)."""
    if temporal is None or temporal.is_floating_point():
        return temporal
    return (temporal.double() / 2 ** FRAC).float()


def frame_cost(model: NVC, reference: torch.Tensor, current: torch.Tensor, encoder_input: torch.Tensor,
               quality: int, offset: int, temporal: torch.Tensor | None, valid: tuple[int, int]) -> float:
    """J(offset) of one P-frame (module docstring); tensors (1,C,Hp,Wp), ``valid`` the (H, W) of the frame."""
    motion = model.motion(encoder_input, quality - offset, float_prior(temporal), noisy=False)
    prediction = model.mcn(reference, motion.decoded)
    residual = model.residual(current - prediction, quality, noisy=False)
    reconstruction = (prediction + residual.decoded).clamp(0, 1).mul(255).round().div(255)
    h, w = valid
    bits = sum(-torch.log2(p).sum().item() for p in (*motion.likelihoods.values(), *residual.likelihoods.values()))
    mse = (reconstruction - current)[..., :h, :w].pow(2).mean().item()
    return bits / (h * w) + model.config.lambdas[quality] * INTER_LAMBDA_RATIO * 255.0 ** 2 * mse


class MotionRateSearch:
    """The offset of each P-frame of a coding run: coarse at a GOP's first P-frame, local after it."""

    def __init__(self, model: NVC, quality: int):
        self.model, self.quality = model, quality
        self.allowed = offsets(model, quality)
        self.previous: int | None = None      # the last P-frame's offset, None at the start of a GOP

    def reset(self) -> None:
        """A new GOP: the next P-frame searches coarsely again."""
        self.previous = None

    def candidates(self) -> list[int]:
        if self.previous is None:
            return list(self.allowed[::COARSE_STEP])
        return [d for d in (self.previous - 1, self.previous, self.previous + 1) if d in self.allowed]

    def choose(self, reference: torch.Tensor, current: torch.Tensor, encoder_input: torch.Tensor,
               temporal: torch.Tensor | None, valid: tuple[int, int]) -> int:
        """The candidate offset of least J for this P-frame (ties: the smaller offset)."""
        costs = {d: frame_cost(self.model, reference, current, encoder_input, self.quality, d, temporal, valid)
                 for d in self.candidates()}
        self.previous = min(costs, key=lambda d: (costs[d], d))
        return self.previous
