"""neuro-Res (Sec. III-E): the VAE engine on the prediction residual r_t = X_t - X̂p_t (eq. 8)."""
from __future__ import annotations

from nvc_core.models.vae import MainDecoder, MainEncoder, VAEEngine


class NeuroRes(VAEEngine):
    """r (B,3,H,W) -> ŷ (B,M,H/16,W/16), ẑ -> r̂ (B,3,H,W). Hyper and spatial priors only."""

    def __init__(self, n: int, m: int, blocks: int, num_rates: int):
        super().__init__(MainEncoder(3, n, m, blocks), MainDecoder(3, n, m, blocks), n, m, blocks, num_rates)
