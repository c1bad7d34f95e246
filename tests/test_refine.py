"""Encoder-side latent refinement (nvc_core.refine): the same bitstream format, a lower R + λD."""
import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from nvc_core.codec import decode_video, encode_video
from nvc_core.entropy.latent_codec import EstimateOnly
from nvc_core.errors import NVCError
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.refine import EFFORT_LEARNING_RATE, EFFORT_STEPS, check_effort, codeable_z, rd_loss, refine_latents, sga_round

TINY = NVCConfig(channels=8, latent_channels=8, blocks=1, mcn_channels=4, lambdas=(0.01, 0.02, 0.04))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return NVC(TINY).eval()


class _Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def test_no_effort_selects_what_the_plain_encoder_selects(model):
    x = torch.rand(1, 3, 64, 64)
    refined = model.intra.select_symbols(x, 1, refine_latents(model.intra, x, 1, 0.02, None, 0))
    assert all(torch.equal(a, b) for a, b in zip(refined, model.intra.select_symbols(x, 1)))


def test_refinement_lowers_the_loss_and_leaves_the_weights_alone(model):
    coder = copy.deepcopy(model.intra)
    with torch.no_grad():
        coder.log_gain += math.log(8.0)                    # latents of a few bins (random encoders: tiny)
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 64)
    y0, z0 = refine_latents(coder, x, 1, 0.02, None, 0)
    with torch.no_grad():
        start = rd_loss(coder, torch.round(y0), codeable_z(coder, z0), x, 1, 0.02, None)
    refined = {}
    for effort in (1, 2):
        y, z = refine_latents(coder, x, 1, 0.02, None, effort)
        assert torch.equal(y, torch.round(y)) and torch.equal(z, torch.round(z))  # the rounded point itself
        assert not torch.equal(y, torch.round(y0))
        with torch.no_grad():
            refined[effort] = rd_loss(coder, y, z, x, 1, 0.02, None)
        assert refined[effort] < start                      # the best rounded point, never a worse one
    assert refined[2] < refined[1]
    assert all(p.grad is None for p in coder.parameters())


def test_refinement_is_repeatable_and_leaves_the_global_random_state_alone(model):
    x = torch.rand(1, 3, 64, 64)
    state = torch.get_rng_state()
    first = refine_latents(model.intra, x, 2, 0.04, None, 1)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(first, refine_latents(model.intra, x, 2, 0.04, None, 1)))


def test_refined_z_stays_on_symbols_the_coder_gives_non_zero_probability(model):
    """Trained ẑ tables give most symbols probability zero; a refined ẑ there would show infinite bits
    (and cost ~24 bits in the stream). Here the prior is made that narrow and Eh's output that wide, so
    Em's own ẑ lands off the table's support: the refined one must not."""
    coder = copy.deepcopy(model.intra)
    with torch.no_grad():
        for matrix in coder.z_prior.matrices:
            matrix.fill_(3.0)                                # a steep CDF: only a few symbols per channel
    coder.eh.net.append(_Scale(8.0))
    pmf = coder.z_prior.table().pmf
    assert (pmf == 0).any(axis=1).all()
    torch.manual_seed(2)
    x = torch.rand(1, 3, 64, 64)
    hw = (4, 4)

    def z_bits(latents):
        symbols = coder.select_symbols(x, 1, latents)
        return coder.code_latents(EstimateOnly(), symbols, None, hw).z.bits()

    assert not torch.isfinite(z_bits(None)).all()          # the case is real: Em's own ẑ is off the support
    assert torch.isfinite(z_bits(refine_latents(coder, x, 1, 0.02, None, 1))).all()


def test_sga_rounding_tends_to_rounding():
    v = torch.tensor([-1.7, -0.2, 0.3, 0.49, 0.51, 2.9])
    assert torch.allclose(sga_round(v, 0.01), torch.round(v), atol=1e-3)
    soft = sga_round(v, 0.5)
    assert ((soft >= torch.floor(v)) & (soft <= torch.ceil(v))).all() and not torch.allclose(soft, torch.round(v))


def test_efforts_differ():
    assert EFFORT_STEPS[0] == 0 and list(EFFORT_STEPS) == sorted(set(EFFORT_STEPS))
    assert len(set(zip(EFFORT_STEPS, EFFORT_LEARNING_RATE))) == len(EFFORT_STEPS)


def test_a_refined_stream_decodes_to_the_encoders_reconstruction(lively_model, small_clip, tmp_path):
    """I- and P-frames refined (effort 1): another stream, which the unchanged decoder reads bit-exactly
    (decode_video checks every frame's hash against the encoder's reconstruction)."""
    plain = encode_video(small_clip, tmp_path / "plain.nvc", lively_model, quality=2, gop=2, frames=2)
    refined = encode_video(small_clip, tmp_path / "refined.nvc", lively_model, quality=2, gop=2, frames=2,
                           effort=1)
    assert (tmp_path / "plain.nvc").read_bytes() != (tmp_path / "refined.nvc").read_bytes()
    decoded = decode_video(tmp_path / "refined.nvc", lively_model)
    assert all(np.array_equal(a.reconstruction, b.reconstruction) for a, b in zip(decoded.records, refined.records))
    assert plain.records[1].frame_type == "P"


def test_effort_range():
    assert check_effort(0) == 0 and check_effort(3) == 3
    with pytest.raises(NVCError):
        check_effort(4)
