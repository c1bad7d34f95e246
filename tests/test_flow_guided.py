"""Flow-guided neuro-Motion: the encoder's flow estimate, its supervision, and a decoder that never needs it."""
from __future__ import annotations

import cv2
import numpy as np
import torch

import nvc_core.flow_estimate as flow_estimate
from nvc_core.codec import decode_video, encode_video
from nvc_core.flow_estimate import clip_flows, estimate_flow, padded_frame_flow
from nvc_core.layers import backward_warp
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.train.losses import flow_supervision
from nvc_core.train.synthetic import make_clip
from nvc_core.weights import load_model, random_model
from tests.test_train import smooth_photo

TINY = NVCConfig(channels=16, latent_channels=16, blocks=1, mcn_channels=8)


def warp_np(previous: np.ndarray, flow: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(previous).permute(2, 0, 1)[None].float()
    f = torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1)))[None]
    return backward_warp(x, f)[0].permute(1, 2, 0).numpy()


def test_estimate_has_the_backward_warping_convention_on_a_shift():
    photo = smooth_photo(1, 256)
    previous, current = photo[40:168, 40:168], photo[43:171, 45:173]      # current(p) = previous(p + (5, 3))
    flow = estimate_flow(previous, current)
    assert np.allclose(np.median(flow[16:-16, 16:-16].reshape(-1, 2), 0), (5, 3), atol=0.25)
    inner = np.s_[16:-16, 16:-16]
    warped_error = np.abs(warp_np(previous, flow)[inner] - current[inner]).mean()
    assert warped_error < 0.25 * np.abs(previous[inner].astype(np.float32) - current[inner]).mean()


def test_hint_of_padded_frames_is_the_visible_estimate_replicated_over_the_padding():
    photo = smooth_photo(1, 256)
    previous, current = photo[40:140, 40:152], photo[43:143, 45:157]      # 112x100, shifted by (5, 3)
    pad = ((0, 128 - 100), (0, 128 - 112), (0, 0))
    hint = padded_frame_flow(np.pad(previous, pad, mode="edge"), np.pad(current, pad, mode="edge"), 100, 112)
    visible = estimate_flow(previous, current)
    assert hint.shape == (128, 128, 2)
    np.testing.assert_array_equal(hint[:100, :112], visible)
    np.testing.assert_array_equal(hint[100:, :112], np.broadcast_to(visible[-1:], (28, 112, 2)))
    np.testing.assert_array_equal(hint[:, 112:], np.broadcast_to(hint[:, 111:112], (128, 16, 2)))


def test_estimate_follows_the_synthetic_motion_generator():
    clip = make_clip(smooth_photo(2, 320), 128, 3, np.random.default_rng(3))
    flows = clip_flows(clip.frames)                                        # (T-1,2,H,W)
    assert flows.shape == (2, 2, 128, 128)
    for t in range(1, 3):
        visible = clip.visible[t - 1]
        epe = np.linalg.norm(flows[t - 1].transpose(1, 2, 0) - clip.flows[t - 1], axis=-1)[visible]
        zero = np.linalg.norm(clip.flows[t - 1], axis=-1)[visible]
        assert np.median(epe) < 0.3 * max(np.median(zero), 1.0)          # far closer than "no motion"
        current = clip.frames[t].astype(np.float32)
        err = np.abs(warp_np(clip.frames[t - 1], flows[t - 1].transpose(1, 2, 0)) - current)[visible].mean()
        assert err < 0.5 * np.abs(clip.frames[t - 1].astype(np.float32) - current)[visible].mean()


def test_flow_supervision_lowers_the_flow_error_in_a_few_steps():
    torch.manual_seed(0)
    model = NVC(TINY).train()
    clip = make_clip(smooth_photo(4, 256), 64, 2, np.random.default_rng(5))
    frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float()[None] / 255     # (1,2,3,H,W)
    hint = torch.from_numpy(clip_flows(clip.frames))[:, None][0]                          # (1,2,H,W)
    optimizer = torch.optim.Adam(model.motion.parameters(), lr=2e-3)
    errors = []
    for _ in range(40):
        out = model.forward_motion(frames[:, 0], frames[:, 1], 3, hint=hint)
        loss = flow_supervision(out.flows, hint).mean()
        errors.append((out.flows[0] - hint).abs().mean().item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert errors[-1] < 0.6 * errors[0]


def test_flow_guided_stream_decodes_without_the_estimator(tmp_path, monkeypatch):
    photo = smooth_photo(7, 256)
    src = tmp_path / "pan"                                                 # a PNG folder, 72x64, panning
    src.mkdir()
    for t in range(3):
        cv2.imwrite(str(src / f"f{t}.png"), photo[10 + 2 * t:74 + 2 * t, 20 + 3 * t:92 + 3 * t, ::-1])
    model = random_model(TINY)
    calls = []
    real = flow_estimate.estimate_flow
    monkeypatch.setattr("nvc_core.flow_estimate.estimate_flow",
                        lambda a, b: calls.append(a.shape) or real(a, b))
    encode_video(src, tmp_path / "s.nvc", model, quality=2, gop=12, recon_path=tmp_path / "rec.y4m")
    assert calls == [(64, 72, 3)] * 2             # one estimate per P-frame, on the visible 72x64 (padded: 128x64)

    def forbidden(*_):
        raise AssertionError("the decoder called the flow estimator")
    monkeypatch.setattr("nvc_core.frame_step.padded_frame_flow", forbidden)
    monkeypatch.setattr("nvc_core.flow_estimate.padded_frame_flow", forbidden)
    monkeypatch.setattr("nvc_core.flow_estimate.estimate_flow", forbidden)
    decode_video(tmp_path / "s.nvc", model, tmp_path / "dec.y4m")
    assert (tmp_path / "dec.y4m").read_bytes() == (tmp_path / "rec.y4m").read_bytes()


#: The motion hyper-latents of a 256x256 P-frame (64 x 4 x 4 elements of ẑ) all zero may cost at most
#: this many bits with the bundled weights (0.016 bits per element; 0d6cf423...: 8.3 bits): the factorized
#: prior of ẑ has learned that ẑ = 0 is its mode (weights trained with the networks' learning rate paid
#: ~4 bits per element: 4,096 bits).
ZERO_Z_BOUND_BITS = 16.0


@torch.no_grad()
def test_all_zero_motion_hyper_latent_costs_a_few_bits():
    """ẑ = 0 under the bundled weights' motion prior: the bound is the prior's own Σ −log2 P(0)
    (factorized prior of ẑ, and the hyperprior + context of ŷ = 0 given ẑ = 0); the range coder writes
    no more than that plus its flush and the two alphabet bounds of ŷ."""
    from nvc_core.entropy.range_coder import RangeEncoderSession
    from nvc_core.entropy.latent_codec import Conditions
    motion = load_model().motion
    z = torch.zeros(1, motion.z_prior.channels, 4, 4)
    y = torch.zeros(1, motion.latent_channels, 16, 16)
    hyper = motion.hyper_features(z)
    z_given, y_given = Conditions(tuple(z.shape[1:])), Conditions(tuple(y.shape[1:]), hyper)
    z_bits = float(motion.z_prior.estimate(z, z_given).bits().sum())
    y_bits = float(motion.pa.estimate(y, y_given).bits().sum())
    coder = RangeEncoderSession()
    motion.z_prior.compress(z, z_given, coder)
    motion.pa.compress(y, y_given, coder)
    written = 8 * len(coder.finish())
    assert written <= z_bits + y_bits + 32 + 2 * 8            # flush word, the two alphabet bounds (< 8 bits each)
    assert z_bits <= ZERO_Z_BOUND_BITS, z_bits
