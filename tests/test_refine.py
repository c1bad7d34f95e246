"""Encoder-side latent refinement (nvc_core.refine): the same bitstream format, a lower R + λD."""
import numpy as np
import pytest
import torch

from nvc_core.codec import decode_video, encode_video
from nvc_core.errors import NVCError
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.refine import check_effort, rd_loss, refine_latents

TINY = NVCConfig(channels=8, latent_channels=8, blocks=1, mcn_channels=4, lambdas=(0.01, 0.02, 0.04))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return NVC(TINY).eval()


def test_no_steps_selects_what_the_plain_encoder_selects(model):
    x = torch.rand(1, 3, 64, 64)
    refined = model.intra.select_symbols(x, 1, refine_latents(model.intra, x, 1, 0.02, None, 0))
    assert all(torch.equal(a, b) for a, b in zip(refined, model.intra.select_symbols(x, 1)))


def test_refinement_lowers_the_loss_and_leaves_the_weights_alone(model):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 64)
    y0, z0 = refine_latents(model.intra, x, 1, 0.02, None, 0)
    y, z = refine_latents(model.intra, x, 1, 0.02, None, 8)
    with torch.no_grad():
        start, refined = (rd_loss(model.intra, a, b, x, 1, 0.02, None) for a, b in ((y0, z0), (y, z)))
    assert refined < start                                  # the best step is kept, never a worse one
    assert not torch.equal(torch.round(y), torch.round(y0))
    assert all(p.grad is None for p in model.parameters())


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
