"""Pyramid flow decoder of neuro-Motion (Fig. 4c, Sec. III-D2).

Replaces the main decoder Dm: an NLAM at the quantized motion features, then 4 upsampling stages
of [5x5 stride-2 transposed conv, LAM]; after the NLAM and after each LAM a 3x3 conv head produces
the flow of that scale. Output: the multiscale compressed flows (MCFs) f^s, s = 0 (full resolution)
.. 4 (H/16), each (B,2,H/2^s,W/2^s) in pixels of its own scale.
Each head predicts a refinement of the upsampled coarser flow (f^s = head_s + 2·up(f^{s+1})), which
makes the flows consistent across scales; heads start at zero, i.e. at the identity warp.
Width (beyond the paper, for cost): N channels at H/8 and H/4, N/2 at H/2 and N/4 at full resolution,
where a flow needs little more than a refinement of the coarser one; full width everywhere would
make this decoder cost 134 kMAC per pixel, half of it at full resolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nvc_core.layers import LAM, NLAM, conv, deconv

SCALES = 5


def _flow_head(channels: int) -> nn.Conv2d:
    head = conv(channels, 2, 3, 1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def scale_widths(n: int) -> list[int]:
    """Channels of the LAM at H/8, H/4, H/2, H."""
    return [n, n, max(n // 2, 4), max(n // 4, 4)]


class PyramidFlowDecoder(nn.Module):
    def __init__(self, n: int, m: int, blocks: int):
        super().__init__()
        widths = scale_widths(n)
        self.nlam = NLAM(m, blocks)
        self.ups = nn.ModuleList([deconv(c_in, c_out) for c_in, c_out in zip([m] + widths[:-1], widths)])
        self.lams = nn.ModuleList([LAM(c, blocks) for c in widths])
        self.heads = nn.ModuleList([_flow_head(c) for c in [m] + widths])

    def forward(self, y_hat: torch.Tensor) -> list[torch.Tensor]:
        x = self.nlam(y_hat)                                     # (B,M,H/16,W/16)
        flow = self.heads[0](x)                                  # f^4
        flows = [flow]
        for up, lam, head in zip(self.ups, self.lams, self.heads[1:]):
            x = lam(up(x))                                       # one scale finer
            flow = head(x) + 2.0 * F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False)
            flows.append(flow)
        return flows[::-1]                                       # [f^0 (finest), ..., f^4]
