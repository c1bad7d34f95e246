"""Entropy models: checkerboard context causality, coding round trips, estimate vs constriction."""
from __future__ import annotations

import constriction
import numpy as np
import pytest
import torch

from nvc_core.entropy.factorized import Z_RANGE, FactorizedPrior
from nvc_core.entropy.gaussian import coding_bits, gaussian_likelihood
from nvc_core.entropy.prior_aggregation import MaskedConv3d, PriorAggregation, anchor_mask


def _pa(temporal_k=0, seed=0):
    torch.manual_seed(seed)
    return PriorAggregation(8, temporal_k=temporal_k).eval()


def test_checkerboard_non_anchor_context_sees_only_anchors():
    pa = _pa()
    y = torch.randint(-5, 6, (1, 8, 6, 7)).float()
    hyper = torch.randn(1, 16, 6, 7)
    mean, scale = pa.parameters_for(y, hyper, None)
    anchors = anchor_mask(6, 7).bool().expand_as(y)
    y2 = torch.where(anchors, y, torch.randint(-5, 6, y.shape).float())   # change every non-anchor
    mean2, scale2 = pa.parameters_for(y2, hyper, None)
    assert torch.equal(mean, mean2) and torch.equal(scale, scale2)
    y3 = torch.where(anchors, y + 1, y)                                     # change anchors
    mean3, _ = pa.parameters_for(y3, hyper, None)
    assert torch.equal(mean3[anchors], mean[anchors]) and not torch.equal(mean3[~anchors], mean[~anchors])


def test_serial_mask_is_causal_and_kernel_is_shared():
    conv = MaskedConv3d(4, mode="serial")
    m = conv.mask[0, 0]
    assert m[2, 2, 2] == 0 and m[2, 2, 1] == 1 and m[2, 2, 3] == 0 and m[1, 4, 4] == 1 and m[3, 0, 0] == 0
    assert conv.weight.shape == (4, 1, 5, 5, 5)      # one input feature: shared by all channels


@pytest.mark.parametrize("temporal_k", [0, 2])
def test_prior_aggregation_round_trip(temporal_k):
    pa = _pa(temporal_k)
    y = torch.round(torch.randn(1, 8, 5, 6) * 4)
    hyper = torch.randn(1, 16, 5, 6)
    temporal = torch.randn(1, 8 * temporal_k, 5, 6) if temporal_k else None
    data, bits = pa.compress(y, hyper, temporal)
    assert torch.equal(pa.decompress(data, hyper, temporal), y)
    assert bits.shape == (8, 5, 6)
    assert abs(8 * len(data) - bits.sum()) <= 0.01 * bits.sum() + 64


def test_coding_bits_match_constriction():
    rng = np.random.default_rng(1)
    symbols = rng.integers(-6, 7, 20000)
    means = rng.normal(0, 2, 20000)
    scales = rng.uniform(0.11, 5, 20000)
    lo, hi = int(symbols.min()), int(symbols.max())
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(symbols.astype(np.int32), constriction.stream.model.QuantizedGaussian(lo, hi), means, scales)
    est = coding_bits(torch.tensor(symbols), torch.tensor(means), torch.tensor(scales), lo, hi).sum().item()
    assert enc.num_bits() == pytest.approx(est, rel=0.005)


def test_gaussian_likelihood_is_a_distribution():
    support = torch.arange(-60, 61).float().view(-1, 1)
    p = gaussian_likelihood(support, torch.tensor([0.3, -2.2]), torch.tensor([0.5, 7.0]))
    assert torch.allclose(p.sum(0), torch.ones(2), atol=1e-4)


def test_factorized_prior_round_trip_and_density():
    torch.manual_seed(0)
    prior = FactorizedPrior(4)
    table = prior.pmf_table()
    assert table.shape == (4, 2 * Z_RANGE + 1) and np.allclose(table.sum(1), 1)
    z = torch.randint(-3, 4, (1, 4, 3, 5)).float()
    data, bits = prior.encode(z, table)
    assert np.array_equal(prior.decode(data, (4, 3, 5), table), z[0].int().numpy())
    assert abs(8 * len(data) - bits.sum()) <= 0.01 * bits.sum() + 64
