"""neuro-Motion (Sec. III-D): one-stage motion coding.

cat(X̂_{t-1}, X_t) (B,6,H,W) -> LAM-based main encoder -> quantized motion features F̂_t
(B,M,H/16,W/16) -> pyramid flow decoder -> MCFs f^0..f^4. The PA engine of the motion features adds
the temporal prior h_{t-1} of the TUM (ConvLSTM over past F̂, eq. 7). The temporal prior can be
switched off per frame (zeros in its place); the ConvLSTM state is updated either way, so the
reconstruction never depends on the switch, only the motion bits do.

Flow-guided (beyond the paper, ``flow_guided=True``): the encoder also sees an optical-flow estimate
of X_t against the previous source frame (:mod:`nvc_core.flow_estimate`), cat(X̂_{t-1}, X_t, f_est)
(B,8,H,W). Only Em changes: the decoder side and the bitstream are those of the paper, and the
estimate is the encoder's business (training supervises the MCFs with it in Step 0).
"""
from __future__ import annotations

import torch

from nvc_core.entropy import integer
from nvc_core.entropy.conv_lstm import ConvLSTM, IntegerConvLSTM
from nvc_core.models.pyramid_flow import PyramidFlowDecoder
from nvc_core.models.vae import MainEncoder, VAEEngine, lam_unit

TEMPORAL_K = 2
#: The flow hint (pixels) enters Em divided by this, so that its values are of order 1.
FLOW_HINT_SCALE = 16.0
State = tuple[torch.Tensor, torch.Tensor]


class NeuroMotion(VAEEngine):
    def __init__(self, n: int, m: int, blocks: int, num_rates: int, flow_guided: bool = True, low_rates: int = 0):
        in_ch = 8 if flow_guided else 6
        # N/2 channels at H/2 (full width there would cost 21 of the encoder's 36 kMAC per pixel)
        encoder = MainEncoder(in_ch, n, m, blocks, unit=lam_unit, first=n // 2)
        super().__init__(encoder, PyramidFlowDecoder(n, m, blocks),
                         n, m, blocks, num_rates, temporal_k=TEMPORAL_K, low_rates=low_rates)
        self.tum = ConvLSTM(m, TEMPORAL_K * m)
        self.flow_guided = flow_guided

    def encoder_input(self, reference: torch.Tensor, current: torch.Tensor,
                      hint: torch.Tensor | None = None) -> torch.Tensor:
        """Em's input: cat(X̂_{t-1}, X_t) (B,6,H,W), plus the flow hint (B,2,H,W, pixels) if flow-guided."""
        if not self.flow_guided:
            return torch.cat([reference, current], 1)
        if hint is None:
            raise ValueError("flow-guided neuro-Motion needs the encoder's flow hint")
        return torch.cat([reference, current, hint.to(reference.dtype) / FLOW_HINT_SCALE], 1)

    @staticmethod
    def temporal_prior(state: State | None, enabled: bool | torch.Tensor) -> torch.Tensor | None:
        """h_{t-1} if enabled (per sample when ``enabled`` is a (B,) tensor), else None (zeros)."""
        if state is None:
            return None
        if isinstance(enabled, torch.Tensor):
            return state[0] * enabled.view(-1, 1, 1, 1).to(state[0].dtype)
        return state[0] if enabled else None

    def update_state(self, y_hat: torch.Tensor, state: State | None) -> State:
        """TUM, eq. (7): (h_t, c_t) = ConvLSTM(F̂_t, h_{t-1}, c_{t-1}); zero state after an I-frame."""
        return self.tum(y_hat, state if state is not None else self.tum.initial_state(y_hat))

    def coding_state(self, y_sym: torch.Tensor, state: State | None) -> State:
        """:meth:`update_state` for coding, in integer arithmetic: the state (int64 at 2^FRAC) is the
        temporal prior of the next frame's entropy parameters, the same on every machine."""
        return integer.converted(self.tum, IntegerConvLSTM)(y_sym, state)
