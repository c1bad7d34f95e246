"""Encoder-side latent refinement (nvc_core.refine): the same bitstream format, a lower R + λD."""
import pytest
import torch

from nvc_core.entropy.coder import FrameDecoder, FrameEncoder
from nvc_core.errors import NVCError
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.refine import check_effort, rd_loss, refine_latents

TINY = NVCConfig(channels=8, latent_channels=8, blocks=1, mcn_channels=4, lambdas=(0.01, 0.02, 0.04))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return NVC(TINY).eval()


def _code(coder, x, q, latents):
    enc = FrameEncoder()
    coded = coder.compress(x, q, None, enc, latents=latents)
    return coded, enc.finish()


def test_no_steps_codes_what_the_plain_encoder_codes(model):
    x = torch.rand(1, 3, 64, 64)
    plain, plain_bytes = _code(model.intra, x, 1, None)
    same, same_bytes = _code(model.intra, x, 1, refine_latents(model.intra, x, 1, 0.02, None, 0))
    assert same_bytes == plain_bytes and torch.equal(same.decoded, plain.decoded)


def test_refinement_lowers_the_loss_and_the_decoder_reads_it(model):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 64)
    y0, z0 = refine_latents(model.intra, x, 1, 0.02, None, 0)
    y, z = refine_latents(model.intra, x, 1, 0.02, None, 8)
    with torch.no_grad():
        start, refined = (rd_loss(model.intra, a, b, x, 1, 0.02, None) for a, b in ((y0, z0), (y, z)))
    assert refined < start                                  # the best step is kept, never the worse
    assert not torch.equal(torch.round(y), torch.round(y0))
    coded, payload = _code(model.intra, x, 1, (y, z))
    decoded = model.intra.decompress(FrameDecoder(payload), (4, 4), 1)
    assert torch.equal(decoded.y_hat, coded.y_hat) and torch.equal(decoded.decoded, coded.decoded)
    assert all(p.grad is None for p in model.parameters())  # the weights are not touched


def test_effort_range():
    assert check_effort(0) == 0 and check_effort(3) == 3
    with pytest.raises(NVCError):
        check_effort(4)
