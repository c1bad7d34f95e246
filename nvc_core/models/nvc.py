"""NVC: the whole low-delay P coder (Fig. 1, Sec. III-A) and its rate-point table.

I-frame: X̂_1 = neuro-Intra(X_1).
P-frame: F̂_t = neuro-Motion(cat(X̂_{t-1}, X_t)) -> MCFs f^0..f^4 -> X̂p_t = MS-MCN(X̂_{t-1}, f)
         r̂_t = neuro-Res(X_t - X̂p_t);  X̂_t = X̂p_t + r̂_t  (into the reference frame buffer).
This module holds the networks and their training-time forward passes; bitstream coding lives in
:mod:`nvc_core.codec`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from nvc_core.models.ms_mcn import MSMCN
from nvc_core.models.neuro_intra import NeuroIntra
from nvc_core.models.neuro_motion import NeuroMotion, State
from nvc_core.models.neuro_res import NeuroRes

#: Frames are padded to a multiple of this (4 stride-2 main stages x 2 hyper stages).
PAD_MULTIPLE = 64

#: λ of each rate point for L = λ·255²·MSE + bpp (quality 0 = lowest rate). λ_inter = λ_intra / 4.
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
#: λ of a P-frame's coders (neuro-Motion, neuro-Res) = λ_intra · this (training, encoder-side refinement).
INTER_LAMBDA_RATIO = 0.25


@dataclass
class NVCConfig:
    """Model size. The default is CPU-friendly; the paper uses channels=192, latent_channels=192, blocks=3.

    ``flow_guided``: neuro-Motion's encoder also sees an optical-flow estimate (beyond the paper);
    False is the paper's pure one-stage neuro-Motion. Weights files written before this field
    existed are pure one-stage.

    ``intra_channels`` / ``intra_latent_channels``: neuro-Intra's own N and M (0: ``channels`` /
    ``latent_channels``). neuro-Intra codes one frame per GOP, so it can be wider than the coders of
    every P-frame without adding to a P-frame's cost.

    ``motion_low_rates``: neuro-Motion's rate points below rate point 0, so that the encoder can code a
    P-frame's motion at a lower rate than its residual (:mod:`nvc_core.motion_rate`).
    """
    channels: int = 48
    latent_channels: int = 64
    intra_channels: int = 0
    intra_latent_channels: int = 0
    blocks: int = 1
    mcn_channels: int = 24
    flow_guided: bool = True
    motion_low_rates: int = 0
    lambdas: tuple[float, ...] = field(default=DEFAULT_LAMBDAS)

    @property
    def num_rates(self) -> int:
        return len(self.lambdas)

    def to_dict(self) -> dict:
        return {**asdict(self), "lambdas": list(self.lambdas)}

    @classmethod
    def from_dict(cls, d: dict) -> "NVCConfig":
        return cls(**{"flow_guided": False, **d, "lambdas": tuple(d.get("lambdas", DEFAULT_LAMBDAS))})


@dataclass
class MotionOutput:
    """neuro-Motion in training: MCFs f^0..f^4, motion likelihoods and the new TUM state."""
    flows: list[torch.Tensor]
    likelihoods: dict[str, torch.Tensor]
    state: State


@dataclass
class InterOutput:
    """One P-frame in training: reconstruction, prediction, MCFs, likelihoods and the new TUM state."""
    x_hat: torch.Tensor
    prediction: torch.Tensor
    flows: list[torch.Tensor]
    likelihoods: dict[str, torch.Tensor]
    state: State


class NVC(nn.Module):
    def __init__(self, config: NVCConfig | None = None):
        super().__init__()
        self.config = config or NVCConfig()
        c = self.config
        self.intra = NeuroIntra(c.intra_channels or c.channels, c.intra_latent_channels or c.latent_channels,
                                c.blocks, c.num_rates)
        self.motion = NeuroMotion(c.channels, c.latent_channels, c.blocks, c.num_rates, c.flow_guided,
                                  c.motion_low_rates)
        self.mcn = MSMCN(c.mcn_channels)
        self.residual = NeuroRes(c.channels, c.latent_channels, c.blocks, c.num_rates)

    @property
    def num_rates(self) -> int:
        return self.config.num_rates

    @property
    def weights_id(self) -> bytes:
        """The identifier written into every bitstream, computed from the weights as they are now
        (:func:`nvc_core.weights.weights_identifier`)."""
        from nvc_core.weights import weights_identifier
        return weights_identifier(self)

    def forward_intra(self, x: torch.Tensor, q: int | torch.Tensor):
        """neuro-Intra training pass: EngineOutput with decoded = X̂ (B,3,H,W)."""
        return self.intra(x, q)

    def forward_motion(self, reference: torch.Tensor, current: torch.Tensor, q: int | torch.Tensor,
                       state: State | None = None, temporal: bool | torch.Tensor = True,
                       hint: torch.Tensor | None = None) -> MotionOutput:
        """neuro-Motion training pass: cat(X̂_{t-1}, X_t[, hint]) -> F̂_t -> MCFs, and the TUM update (eq. 7)."""
        motion = self.motion(self.motion.encoder_input(reference, current, hint), q,
                             self.motion.temporal_prior(state, temporal))
        likelihoods = {"motion.y": motion.likelihoods["y"], "motion.z": motion.likelihoods["z"]}
        return MotionOutput(motion.decoded, likelihoods, self.motion.update_state(motion.y_hat, state))

    def forward_inter(self, reference: torch.Tensor, current: torch.Tensor, q: int | torch.Tensor,
                      state: State | None = None, temporal: bool | torch.Tensor = True,
                      hint: torch.Tensor | None = None, motion_q: int | torch.Tensor | None = None) -> InterOutput:
        """One P-frame training pass (eq. 1 with the total rate of motion and residual); ``motion_q``:
        neuro-Motion's rate point when it differs from q (:mod:`nvc_core.motion_rate`)."""
        motion = self.forward_motion(reference, current, q if motion_q is None else motion_q, state, temporal, hint)
        prediction = self.mcn(reference, motion.flows)
        res = self.residual(current - prediction, q)
        likelihoods = {**motion.likelihoods,
                       "residual.y": res.likelihoods["y"], "residual.z": res.likelihoods["z"]}
        return InterOutput(prediction + res.decoded, prediction, motion.flows, likelihoods, motion.state)

    def extend_motion_rates(self, count: int) -> None:
        """Give neuro-Motion ``count`` more rate points below its lowest (untrained extrapolations of its
        gain tables, :meth:`VAEEngine.extend_low_rates`); every existing rate point is unchanged."""
        self.motion.extend_low_rates(count)
        self.config.motion_low_rates += count

    @torch.no_grad()
    def move_residual_offset(self) -> torch.Tensor:
        """Move the constant that neuro-Res's decoder adds from the reconstruction into the prediction;
        returns it, d (3,) = Dm(ŷ = 0) per channel.

        Trained jointly, MS-MCN and neuro-Res can agree on a constant offset: X̂p_t = warp + corr − d and
        r̂_t = Dm(ŷ) with Dm(0) ≈ d, which costs the prediction but not the reconstruction. After
        X̂p'_t = X̂p_t + d (MS-MCN's last bias), r'_t = r_t − d (Em's first bias adds W·d back) and
        r̂'_t = r̂_t − d (Dm's last bias), Em sees what it saw, ŷ and X̂_t are those of before up to the
        frame border (Em's zero padding does not carry the constant), and the prediction holds d.
        """
        res = self.residual
        h = PAD_MULTIPLE // 16
        d = res.main_decode(res.log_gain.new_zeros(1, res.latent_channels, 2 * h, 2 * h), 0)
        d = d[0, :, PAD_MULTIPLE // 2: -PAD_MULTIPLE // 2, PAD_MULTIPLE // 2: -PAD_MULTIPLE // 2].mean((1, 2))
        self.mcn.fusion[-1].bias += d
        first, last = res.em.net[0], res.dm.net[-1]
        first.bias += (first.weight.sum((2, 3)) * d).sum(1)          # W (out,3,k,k) · d (3,)
        last.bias -= d
        return d

