"""neuro-Intra (Sec. III-C): the VAE engine on pixels, a simplified NLAIC."""
from __future__ import annotations

from nvc_core.models.vae import MainDecoder, MainEncoder, VAEEngine


class NeuroIntra(VAEEngine):
    """x (B,3,H,W) in [0,1] -> ŷ (B,M,H/16,W/16), ẑ (B,N,H/64,W/64) -> x̂ (B,3,H,W)."""

    def __init__(self, n: int, m: int, blocks: int, num_rates: int):
        super().__init__(MainEncoder(3, n, m, blocks), MainDecoder(3, n, m, blocks), n, m, blocks, num_rates)
