"""ConvLSTM of the temporal updating module (TUM), Sec. III-D3: (h_t, c_t) = ConvLSTM(F̂_t, h_{t-1}, c_{t-1})."""
from __future__ import annotations

import torch
from torch import nn

from nvc_core.entropy import integer


class ConvLSTM(nn.Module):
    """Convolutional LSTM cell over quantized motion features; ``h`` is the temporal prior."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel: int = 3):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel, padding=kernel // 2)

    def initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c) for a latent shaped like ``like`` (B,C,H,W): the state after an I-frame."""
        b, _, h, w = like.shape
        zeros = like.new_zeros(b, self.hidden_channels, h, w)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class IntegerConvLSTM:
    """The ConvLSTM in integer arithmetic (:mod:`nvc_core.entropy.integer`), for coding: the state
    (h, c) is int64 at 2^FRAC, gates from tables, each product rounded back to 2^FRAC (ties up)."""

    def __init__(self, lstm: ConvLSTM):
        self.hidden_channels = lstm.hidden_channels
        self.gates = integer.IntegerConv2d(lstm.gates)

    def __call__(self, y_sym: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(h_t, c_t) from the integer symbols F̂_t (1,M,H,W) and the previous integer state (None: zeros)."""
        x = integer.to_fixed(y_sym)
        if state is None:
            b, _, h, w = x.shape
            state = (x.new_zeros(b, self.hidden_channels, h, w), x.new_zeros(b, self.hidden_channels, h, w))
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        gate = integer.GATE_FRAC
        c = (integer.shift_round(integer.sigmoid(f) * c, gate)
             + integer.shift_round(integer.sigmoid(i) * integer.tanh(g), 2 * gate - integer.FRAC))
        h = integer.shift_round(integer.sigmoid(o) * integer.tanh(c), 2 * gate - integer.FRAC)
        return h, c
