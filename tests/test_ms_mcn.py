"""MS-MCN starts as plain warping and is trained to stay at least as good (stages.py, warp floor)."""
import torch

from nvc_core.layers import backward_warp
from nvc_core.models.ms_mcn import MSMCN
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.train.config import StageSettings
from nvc_core.train.losses import warp_floor
from nvc_core.train.stages import STAGES, pframe

TINY = NVCConfig(channels=8, latent_channels=8, blocks=1, mcn_channels=4, lambdas=(0.01, 0.02, 0.04))


def _flows(batch=1, size=64):
    return [torch.randn(batch, 2, size // 2 ** s, size // 2 ** s) * 3 for s in range(5)]


def test_untrained_ms_mcn_is_plain_warping():
    torch.manual_seed(0)
    ref, flows = torch.rand(2, 3, 64, 64), _flows(2)
    with torch.no_grad():
        assert torch.equal(MSMCN(4)(ref, flows), backward_warp(ref, flows[0]))


def test_warp_floor_is_zero_when_the_prediction_is_at_least_as_good():
    cur = torch.rand(2, 3, 8, 8)
    warped = cur + 0.1
    better, worse = cur + 0.05, cur + torch.tensor([0.05, 0.2]).view(2, 1, 1, 1)
    assert torch.equal(warp_floor(better, warped, cur), torch.zeros(2))
    floor = warp_floor(worse, warped, cur)
    assert floor[0] == 0 and torch.isclose(floor[1], torch.tensor(0.04 - 0.01))


def test_joint_stage_loss_holds_ms_mcn_to_the_warp():
    """inter-joint adds λ·255²·max(0, MSE(X̂p) − MSE(warp)): a correction that spoils the prediction
    raises the loss by exactly that term (the rest of the P-frame loss is the same function)."""
    torch.manual_seed(0)
    model = NVC(TINY).eval()
    ref, cur, hint = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), torch.randn(1, 2, 64, 64)
    q, lam, s = torch.tensor([1]), torch.tensor([0.02]), StageSettings()
    stage = STAGES["inter-joint"]
    with torch.no_grad():
        clean, _, _ = pframe(model, stage, ref, cur, q, lam, None, torch.ones(1), hint, s)
        model.mcn.fusion[-1].bias.fill_(0.3)                  # X̂p_t = warp + 0.3: worse than the warp
        out = model.forward_inter(ref, cur, q, None, torch.ones(1), hint)
        spoiled, _, _ = pframe(model, stage, ref, cur, q, lam, None, torch.ones(1), hint, s)
        floor = lam * 255 ** 2 * warp_floor(out.prediction, backward_warp(ref, out.flows[0]), cur)
    assert floor > 0
    rd = spoiled.loss - floor           # λ·255²·MSE(X̂_t) + R of the spoiled model
    assert torch.isclose(rd, lam * 255 ** 2 * spoiled.mse + spoiled.bpp, rtol=1e-4)
    assert torch.isclose(clean.loss, lam * 255 ** 2 * clean.mse + clean.bpp, rtol=1e-4)


def test_moving_the_residual_offset_keeps_the_reconstruction_and_moves_the_prediction():
    """A pair that agreed on an offset (X̂p = warp − d, Dm(0) = d) gives the same X̂_t after the move,
    away from the frame border, with the prediction d higher."""
    torch.manual_seed(0)
    model = NVC(TINY).eval()
    d = torch.tensor([0.02, -0.03, 0.01])
    with torch.no_grad():
        model.mcn.fusion[-1].bias -= d
        model.residual.dm.net[-1].bias += d
    ref, cur, hint = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128), torch.randn(1, 2, 128, 128)
    with torch.no_grad():
        before = model.forward_inter(ref, cur, 2, None, True, hint)
        moved = model.move_residual_offset()
        after = model.forward_inter(ref, cur, 2, None, True, hint)
        offset_left = model.residual.main_decode(torch.zeros(1, 8, 8, 8), 0)[0, :, 32:96, 32:96].mean((1, 2))
    assert torch.allclose(offset_left, torch.zeros(3), atol=1e-5) and moved.abs().min() > 1e-3
    inner = (slice(None), slice(None), slice(32, 96), slice(32, 96))
    assert torch.allclose(after.prediction, before.prediction + moved.view(1, 3, 1, 1), atol=1e-6)
    assert torch.allclose(after.x_hat[inner], before.x_hat[inner], atol=1e-4)
