"""Network components: shapes, warping, quantization, attention masks, variable-rate gains."""
from __future__ import annotations

import pytest
import torch

from nvc_core.layers import NLAM, backward_warp
from nvc_core.layers.nlam import record_masks
from nvc_core.models import NVC, NVCConfig
from nvc_core.quantization import quantize

TINY = NVCConfig(channels=8, latent_channels=8, blocks=1, mcn_channels=4, lambdas=(0.01, 0.02, 0.04))


def test_backward_warp_integer_shift():
    x = torch.arange(2 * 6 * 7, dtype=torch.float32).view(1, 2, 6, 7)
    flow = torch.zeros(1, 2, 6, 7)
    flow[:, 0] = 1.0                                   # sample one pixel to the right
    out = backward_warp(x, flow)
    assert torch.allclose(out[..., :-1], x[..., 1:])
    assert torch.allclose(backward_warp(x, torch.zeros_like(flow)), x)


def test_universal_quantization():
    x = torch.randn(1000, requires_grad=True)
    q = quantize(x, training=True)
    assert (q - x).abs().max() <= 1.0
    q.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    assert torch.equal(quantize(x, training=False), torch.round(x))


def test_nlam_mask_is_recorded_only_on_request_and_bounded():
    nlam = NLAM(6, blocks=1)
    with record_masks({"n": nlam}) as masks:
        out = nlam(torch.randn(2, 6, 4, 5))
    assert out.shape == (2, 6, 4, 5)
    assert masks["n"].shape == (4, 5) and 0 <= masks["n"].min() and masks["n"].max() <= 1
    nlam(torch.randn(1, 6, 4, 5))
    assert not nlam._forward_hooks and not nlam.mask_branch._forward_hooks and not hasattr(nlam, "last_mask")


def test_training_passes_shapes_and_per_sample_rates():
    torch.manual_seed(0)
    model = NVC(TINY).train()
    x = torch.rand(2, 3, 64, 64)
    q = torch.tensor([0, 2])
    intra = model.forward_intra(x, q)
    assert intra.decoded.shape == x.shape
    assert intra.likelihoods["y"].shape == (2, 8, 4, 4) and intra.likelihoods["z"].shape == (2, 8, 1, 1)
    inter = model.forward_inter(x, torch.rand_like(x), q, None, torch.tensor([True, False]),
                                hint=torch.randn(2, 2, 64, 64))
    assert [f.shape[-2:] for f in inter.flows] == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    assert inter.x_hat.shape == x.shape and inter.state[0].shape == (2, 16, 4, 4)
    loss = sum(-torch.log2(v).sum() for v in inter.likelihoods.values()) + (inter.x_hat - x).pow(2).sum()
    loss.backward()
    assert model.motion.em.net[0].weight.grad is not None and model.mcn.embed.weight.grad is not None


def test_pure_one_stage_motion_is_selectable():
    """flow_guided=False is the paper's neuro-Motion: Em sees cat(X̂_{t-1}, X_t) only, no hint needed."""
    model = NVC(NVCConfig(**{**TINY.__dict__, "flow_guided": False})).eval()
    assert model.motion.em.net[0].in_channels == 6
    assert NVC(TINY).motion.em.net[0].in_channels == 8
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = model.forward_inter(x, x, 0)
    assert out.x_hat.shape == x.shape
    with torch.no_grad(), pytest.raises(ValueError, match="flow hint"):
        NVC(TINY).eval().forward_inter(x, x, 0)


def test_rate_points_grow_above_the_top_keeping_the_old_ones():
    """Weights with R rate points load into a model with more: old rows unchanged, new rows continue
    the last log-gain step (grow_rate_tables, used by nvc train --init)."""
    from nvc_core.models.vae import grow_rate_tables
    torch.manual_seed(0)
    old = NVC(TINY)
    with torch.no_grad():
        old.intra.log_gain.add_(torch.randn_like(old.intra.log_gain) * 0.1)
    new = NVC(NVCConfig(**{**TINY.__dict__, "lambdas": TINY.lambdas + (0.08, 0.16)}))
    state = grow_rate_tables(new, old.state_dict())
    new.load_state_dict(state)
    table = old.intra.log_gain.detach()
    assert torch.equal(new.intra.log_gain[:3], table)
    assert torch.allclose(new.intra.log_gain[4] - new.intra.log_gain[3], table[2] - table[1])
    assert torch.allclose(new.intra.log_gain[3], 2 * table[2] - table[1])
    assert new.residual.log_inv_gain.shape == (5, 8)
