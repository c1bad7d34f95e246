"""neuro-Motion (Sec. III-D): one-stage motion coding.

cat(X̂_{t-1}, X_t) (B,6,H,W) -> LAM-based main encoder -> quantized motion features F̂_t
(B,M,H/16,W/16) -> pyramid flow decoder -> MCFs f^0..f^4. The PA engine of the motion features adds
the temporal prior h_{t-1} of the TUM (ConvLSTM over past F̂, eq. 7). The temporal prior can be
switched off per frame (zeros in its place); the ConvLSTM state is updated either way, so the
reconstruction never depends on the switch, only the motion bits do.
"""
from __future__ import annotations

import torch

from nvc_core.entropy.conv_lstm import ConvLSTM
from nvc_core.models.pyramid_flow import PyramidFlowDecoder
from nvc_core.models.vae import MainEncoder, VAECoder, lam_unit

TEMPORAL_K = 2
State = tuple[torch.Tensor, torch.Tensor]


class NeuroMotion(VAECoder):
    def __init__(self, n: int, m: int, blocks: int, num_rates: int):
        super().__init__(MainEncoder(6, n, m, blocks, unit=lam_unit), PyramidFlowDecoder(n, m, blocks),
                         n, m, blocks, num_rates, temporal_k=TEMPORAL_K)
        self.tum = ConvLSTM(m, TEMPORAL_K * m)

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
