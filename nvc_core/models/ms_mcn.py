"""Multiscale motion compensation network, MS-MCN (Fig. 5, Sec. III-D2, Step 2).

1. Feature pyramid of the reference X̂_{t-1}: F_0 = conv3x3(X̂_{t-1}); F_{s+1} = conv5x5/2(ReLU(conv3x3(F_s))).
2. Per-scale backward warping with the MCFs: F_s^w = warp(F_s, f^s).
3. Coarse-to-fine aggregation: F_3^up = U(F_4^w), F_{s-1}^up = U(cat(F_s^w, F_s^up)),
   U = [5x5 stride-2 transposed conv, ReLU, 3x3 conv].
4. Fusion layer [1x1 conv, ReLU, 3x3 conv] on cat(F_0^w, F_0^up) gives the predicted frame X̂p_t.
The fusion output is added to the reference warped at full resolution with f^0 (a skip connection;
it learns the correction). The fusion's last layer starts at zero, so an untrained MS-MCN is exactly
plain warping; the warp floor of the joint stages keeps it at least as good (``stages.py``).
Width (beyond the paper, for cost): C/2 channels at full resolution, C at the coarser scales.
"""
from __future__ import annotations

import torch
from torch import nn

from nvc_core.layers import backward_warp, conv, deconv
from nvc_core.models.pyramid_flow import SCALES


def _upsample_unit(in_ch: int, ch: int) -> nn.Sequential:
    return nn.Sequential(deconv(in_ch, ch), nn.ReLU(inplace=True), conv(ch, ch, 3, 1))


def scale_widths(channels: int) -> list[int]:
    """Channels of F_0 .. F_4."""
    return [max(channels // 2, 4)] + [channels] * (SCALES - 1)


class MSMCN(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        w = scale_widths(channels)
        self.embed = conv(3, w[0], 3, 1)
        self.down = nn.ModuleList([
            nn.Sequential(conv(w[s], w[s], 3, 1), nn.ReLU(inplace=True), conv(w[s], w[s + 1]))
            for s in range(SCALES - 1)])
        # up[0]: F_4^w -> F_3^up; up[k]: cat(F_s^w, F_s^up) -> F_{s-1}^up with s = SCALES-1-k
        self.up = nn.ModuleList([_upsample_unit(w[-1], w[-2])] +
                                [_upsample_unit(2 * w[s], w[s - 1]) for s in range(SCALES - 2, 0, -1)])
        self.fusion = nn.Sequential(conv(2 * w[0], w[0], 1, 1), nn.ReLU(inplace=True),
                                    conv(w[0], 3, 3, 1))
        nn.init.zeros_(self.fusion[-1].weight)                          # correction 0: X̂p_t = warp at init
        nn.init.zeros_(self.fusion[-1].bias)

    def forward(self, reference: torch.Tensor, flows: list[torch.Tensor]) -> torch.Tensor:
        features = [self.embed(reference)]                              # F_0 (B,C,H,W)
        for down in self.down:
            features.append(down(features[-1]))                         # F_s (B,C,H/2^s,W/2^s)
        warped = [backward_warp(f, flow) for f, flow in zip(features, flows)]
        up = self.up[0](warped[-1])                                     # F_3^up
        for s in range(SCALES - 2, 0, -1):
            up = self.up[SCALES - 1 - s](torch.cat([warped[s], up], 1))  # F_{s-1}^up
        correction = self.fusion(torch.cat([warped[0], up], 1))
        return backward_warp(reference, flows[0]) + correction
