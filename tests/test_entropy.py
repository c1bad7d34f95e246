"""Entropy models: checkerboard context causality, coding round trips, estimate vs constriction."""
from __future__ import annotations

import copy

import constriction
import numpy as np
import pytest
import torch

from nvc_core.entropy import integer
from nvc_core.entropy.range_coder import RangeDecoderSession, RangeEncoderSession
from nvc_core.entropy.factorized import Z_RANGE, FactorizedPrior
from nvc_core.entropy.gaussian import bounds_model, coding_bits, gaussian_likelihood
from nvc_core.entropy.latent_codec import CodedLatent, Conditions, LatentCodec
from nvc_core.entropy.prior_aggregation import MaskedConv3d, PriorAggregation, anchor_mask
from nvc_core.errors import BitstreamError


def _fixed(features: torch.Tensor) -> torch.Tensor:
    """Float features as the integer path's fixed-point integers."""
    return torch.round(features * (1 << integer.FRAC)).long()


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
    hyper = _fixed(torch.randn(1, 16, 5, 6))               # coding takes integer features (entropy.integer)
    temporal = _fixed(torch.randn(1, 8 * temporal_k, 5, 6)) if temporal_k else None
    conditions = Conditions((8, 5, 6), hyper, temporal)
    encoder = RangeEncoderSession()
    coded = pa.compress(y, conditions, encoder)
    payload = encoder.finish()
    decoded = pa.decompress(RangeDecoderSession(payload), conditions)
    assert torch.equal(decoded.symbols, y)
    sent, received = coded.distribution, decoded.distribution   # the same snapped (μ, σ) and alphabet
    assert torch.equal(sent.mean, received.mean) and torch.equal(sent.scale, received.scale)
    assert (sent.lo, sent.hi) == (received.lo, received.hi)
    bits = coded.bits()
    assert bits.shape == (1, 8, 5, 6) and torch.allclose(pa.estimate(y, conditions).bits(), bits)
    # the payload also holds the alphabet bounds (a few bits each) and the seal (at most one word)
    assert abs(8 * len(payload) - bits.sum().item()) <= 0.01 * bits.sum().item() + 64 + 32


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
    table = prior.table().pmf
    assert table.shape == (4, 2 * Z_RANGE + 1) and np.allclose(table.sum(1), 1)
    z = torch.randint(-3, 4, (1, 4, 3, 5)).float()
    conditions = Conditions((4, 3, 5))
    encoder = RangeEncoderSession()
    coded = prior.compress(z, conditions, encoder)
    payload = encoder.finish()
    decoded = prior.decompress(RangeDecoderSession(payload), conditions)
    assert torch.equal(decoded.symbols, z)
    bits = coded.bits()
    assert bits.shape == (1, 4, 3, 5) and torch.equal(prior.estimate(z, conditions).bits(), bits)
    assert torch.equal(decoded.bits(), bits)
    assert abs(8 * len(payload) - bits.sum()) <= 0.01 * bits.sum() + 64
    assert prior.min_bits(3, 5) <= bits.sum()


def test_factorized_table_follows_the_parameters():
    """The coding table is computed from the parameters as they are: nothing to go stale after an
    in-place optimizer step, loading weights, or a copy."""
    torch.manual_seed(0)
    prior = FactorizedPrior(4)
    first = prior.table().pmf
    with torch.no_grad():
        prior.biases[0].add_(0.3)                            # an optimizer step writes in place
    assert not np.array_equal(prior.table().pmf, first)
    prior.load_state_dict(FactorizedPrior(4).state_dict())   # so does loading weights
    loaded = prior.table().pmf
    assert not np.array_equal(loaded, first)
    assert np.array_equal(copy.deepcopy(prior).table().pmf, loaded)


@pytest.mark.parametrize("codec", [FactorizedPrior(4), PriorAggregation(4, temporal_k=2)])
def test_both_entropy_models_are_latent_codecs(codec):
    """One interface: the same three calls, each returning a CodedLatent whose bits are a (1,C,H,W) tensor."""
    assert isinstance(codec, LatentCodec)
    z = torch.randint(-2, 3, (1, 4, 2, 3)).float()
    conditions = Conditions((4, 2, 3), _fixed(torch.randn(1, 8, 2, 3)), _fixed(torch.randn(1, 8, 2, 3)))
    encoder = RangeEncoderSession()
    results = [codec.estimate(z, conditions), codec.compress(z, conditions, encoder)]
    results.append(codec.decompress(RangeDecoderSession(encoder.finish()), conditions))
    for result in results:
        assert isinstance(result, CodedLatent) and torch.equal(result.symbols, z)
        assert result.bits().shape == (1, 4, 2, 3) and result.bits().dtype in (torch.float32, torch.float64)


def test_frame_session_chains_models_and_trims_its_seal():
    """Several models in one session decode back in order; the trimmed seal still decodes."""
    rng = np.random.default_rng(3)
    trimmed = 0
    for trial in range(40):
        encoder = RangeEncoderSession()
        categorical = constriction.stream.model.Categorical(np.array([0.6, 0.3, 0.1]), perfect=False)
        family = constriction.stream.model.QuantizedGaussian(-20, 20)
        a = rng.choice(3, size=int(rng.integers(1, 400)), p=[0.6, 0.3, 0.1])
        b = rng.integers(-20, 21, size=int(rng.integers(1, 400)))
        mean, scale = rng.normal(0, 5, b.size), rng.uniform(0.2, 9, b.size)
        encoder.encode(a, categorical)
        encoder.encode(np.array([-4, 9]), bounds_model())
        encoder.encode(b, family, mean, scale)
        payload = encoder.finish()
        trimmed += len(payload) % 4 != 0
        decoder = RangeDecoderSession(payload)
        assert np.array_equal(decoder.decode(categorical, count=a.size), a)
        assert np.array_equal(decoder.decode(bounds_model(), count=2), [-4, 9])
        assert np.array_equal(decoder.decode(family, mean, scale), b)
    assert trimmed > 10     # the seal usually drops at least one byte


def test_undecodable_data_is_a_bitstream_error_and_bugs_are_not():
    prior = FactorizedPrior(4)
    with pytest.raises(BitstreamError, match="corrupt"):
        prior.decompress(RangeDecoderSession(b"\xff\xfe\x01"), Conditions((4, 300, 300)))
    with pytest.raises(TypeError):      # a programming error is not reported as corrupt data
        RangeDecoderSession(b"").decode("not a model", count=3)
