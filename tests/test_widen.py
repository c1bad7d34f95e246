"""Function-preserving widening (nvc_core.train.widen) through ``nvc train --init``."""
from __future__ import annotations

import torch

from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.train.trainer import initialise
from nvc_core.weights import save_weights

NARROW = {"channels": 16, "latent_channels": 16, "blocks": 1, "mcn_channels": 8}
WIDE = {**NARROW, "intra_channels": 24, "intra_latent_channels": 40, "latent_channels": 24}


def _models(tmp_path) -> tuple[NVC, NVC]:
    """A narrow model and a wider one initialised from its weights file (so both hold fp16 values)."""
    torch.manual_seed(0)
    source = NVC(NVCConfig(**NARROW))
    with torch.no_grad():                    # gains of 20: a random Em's y then rounds to many values
        source.intra.log_gain.fill_(3.0)
    save_weights(source, tmp_path / "narrow.pt")
    narrow, wide = NVC(NVCConfig(**NARROW)), NVC(NVCConfig(**WIDE))
    initialise(narrow, tmp_path / "narrow.pt")
    initialise(wide, tmp_path / "narrow.pt")
    return narrow, wide


def test_widened_intra_decodes_what_the_narrow_one_did(tmp_path):
    narrow, wide = _models(tmp_path)
    narrow.eval(), wide.eval()
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        for q in (0, narrow.num_rates - 1):
            a, b = narrow.intra(x, q), wide.intra(x, q)
            torch.testing.assert_close(b.decoded, a.decoded, atol=1e-5, rtol=0)
            torch.testing.assert_close(b.likelihoods["z"][:, :16], a.likelihoods["z"])
            torch.testing.assert_close(b.likelihoods["y"][:, :16], a.likelihoods["y"])
            assert a.y_hat.abs().sum() > 100 and b.y_hat.shape[1] == 40
            assert torch.all(wide.intra.main_encode(x, q)[:, 16:] == 0)   # new latent channels start silent


def test_new_channels_learn_from_the_first_step(tmp_path):
    """Silent new latents are read with fresh weights, so the distortion reaches the encoder rows that
    write them; hidden channels are not read by old ones yet, but the weights that would are trained."""
    _, wide = _models(tmp_path)
    wide.train()
    x = torch.rand(2, 3, 128, 128)
    out = wide.intra(x, 3)
    ((out.decoded - x) ** 2).mean().backward()
    writes_latent = wide.intra.em.net[-2].weight            # conv(N, M) before Em's NLAM
    reads_latent = wide.intra.dm.net[0].trunk[0].body[0]    # Dm's NLAM: its first conv reads ŷ
    reads_hidden = wide.intra.dm.net[1]                     # deconv(M, N)
    assert torch.all(writes_latent.detach()[16:] == 0) and writes_latent.grad[16:].abs().sum() > 0
    assert reads_latent.weight.detach()[:16, 16:].abs().sum() > 0
    phi = wide.intra.dm.net[0].mask_branch[0].phi.weight.detach()   # reads ŷ too; new rows stay zero
    assert phi[:8, 16:].abs().sum() > 0 and torch.all(phi[8:] == 0)
    assert torch.all(reads_hidden.weight.detach()[16:, :16] == 0)
    assert reads_hidden.weight.grad[16:, :16].abs().sum() > 0


def test_widening_neuro_motion_keeps_a_fresh_tum(tmp_path):
    """The ConvLSTM's gates are blocks over a concatenated input: never grown, so left as initialised."""
    save_weights(NVC(NVCConfig(**NARROW)), tmp_path / "narrow.pt")
    wide = NVC(NVCConfig(**WIDE))
    before = {k: v.clone() for k, v in wide.state_dict().items()}
    initialise(wide, tmp_path / "narrow.pt")
    after = wide.state_dict()
    assert torch.equal(after["motion.tum.gates.weight"], before["motion.tum.gates.weight"])
    assert not torch.equal(after["residual.em.net.0.weight"], before["residual.em.net.0.weight"])
