"""The frame step with each entropy backend: estimates equal the encoder's, decoding reproduces the
encoder, re-costing equals the motion entropy model run by hand, torch settings are scoped, and the
encoder's choice of symbols is a hook the decoder does not depend on."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from nvc_core.analysis import FrameRecord, LatentKey
from nvc_core.codec import recost_motion
from nvc_core.entropy.latent_codec import Conditions
from nvc_core.errors import NVCError
from nvc_core.frame_step import EstimateOnly, FrameStep, RangeDecode, RangeEncode
from nvc_core.train.check import check_weights
from nvc_core.metrics import psnr
from nvc_core.video_io import open_video
from nvc_core.weights import load_model, save_weights

from conftest import moving_frames, write_clip

FRAMES = moving_frames(100, 75, 4)
QUALITY = 4


def _encode(model, gop=3, temporal_prior=True):
    step = FrameStep(model, 100, 75, QUALITY, gop)
    coded = []
    for rgb in FRAMES:
        backend = RangeEncode()
        frame = step.code(backend, rgb, temporal_prior)
        coded.append((frame, backend.payload()))
    return coded


@pytest.fixture(scope="module")
def encoded(lively_model):
    return _encode(lively_model)


def test_estimate_only_bits_are_the_encoders_estimates(lively_model, encoded):
    step = FrameStep(lively_model, 100, 75, QUALITY, 3)
    for rgb, (coded, _) in zip(FRAMES, encoded):
        estimated = step.code(EstimateOnly(), rgb)
        assert estimated.frame_type == coded.frame_type
        np.testing.assert_array_equal(estimated.reconstruction, coded.reconstruction)
        expected = coded.bits_by_stream()
        assert list(estimated.bits_by_stream()) == list(expected)
        for key, bits in estimated.bits_by_stream().items():
            assert bits == pytest.approx(expected[key], rel=1e-6), key


def test_decode_of_encode_is_the_reconstruction(lively_model, encoded):
    step = FrameStep(lively_model, 100, 75, QUALITY, 3)
    assert [frame.frame_type for frame, _ in encoded] == ["I", "P", "P", "I"]
    for coded, payload in encoded:
        decoded = step.code(RangeDecode(payload), None, coded.temporal_prior)
        np.testing.assert_array_equal(decoded.reconstruction, coded.reconstruction)
        assert decoded.bits_by_stream() == coded.bits_by_stream()
        for key in coded.coded:
            for part in ("z", "y"):
                assert torch.equal(getattr(decoded.coded[key], part).symbols, getattr(coded.coded[key], part).symbols)


def test_a_decoding_step_takes_no_source_and_the_others_need_one(lively_model):
    step = FrameStep(lively_model, 100, 75, QUALITY, 3)
    with pytest.raises(ValueError):
        step.code(RangeDecode(b""), FRAMES[0])
    with pytest.raises(ValueError):
        step.code(EstimateOnly(), None)


@pytest.mark.parametrize("tp", [True, False])
def test_recost_equals_the_motion_entropy_model_run_by_hand(lively_model, encoded, tp):
    """recost_motion goes through the frame step; the reference is the motion PA run directly on the
    stored symbols with the TUM state carried by hand (the re-costing before the frame step)."""
    records = [FrameRecord(index=f.index, frame_type=f.frame_type, temporal_prior=True, height=75, width=100,
                           reconstruction=None,
                           latents={LatentKey.of(n, p): getattr(c, p).symbols[0].numpy().astype(np.int32)
                                      for n, c in f.coded.items() for p in ("z", "y")})
               for f, _ in encoded]
    costs = recost_motion(lively_model, records, QUALITY, tp)
    motion, state = lively_model.motion, None
    with torch.no_grad():
        for cost, (frame, _) in zip(costs, encoded):
            if frame.frame_type == "I":
                assert cost is None
                state = None
                continue
            z, y = frame.coded["motion"].z.symbols, frame.coded["motion"].y.symbols
            given = Conditions(tuple(y.shape[1:]), motion.hyper_features(z), motion.temporal_prior(state, tp))
            by_hand = motion.pa.estimate(y, given).bits()[0].numpy().astype(np.float32)
            np.testing.assert_array_equal(cost.bit_map_y, by_hand)
            state = motion.coding_state(y, state)


def test_coding_leaves_torch_settings_as_they_were(lively_model):
    """Constructing and running a step changes no process-wide torch setting."""
    cudnn = torch.backends.cudnn
    before = (torch.get_num_threads(), cudnn.deterministic, cudnn.benchmark)
    outside = (1 if before[0] != 1 else 2, False, True)
    torch.set_num_threads(outside[0])
    cudnn.deterministic, cudnn.benchmark = outside[1:]
    seen = []
    hook = lively_model.mcn.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        step = FrameStep(lively_model, 100, 75, QUALITY, 3, threads=3)
        step.code(EstimateOnly(), FRAMES[0])
        step.code(EstimateOnly(), FRAMES[1])
        assert seen == [3]                                    # the P-frame ran with the step's threads
        assert (torch.get_num_threads(), cudnn.deterministic, cudnn.benchmark) == outside
    finally:
        hook.remove()
        torch.set_num_threads(before[0])
        cudnn.deterministic, cudnn.benchmark = before[1:]


def test_settings_are_checked_once(lively_model):
    for args in ((100, 75, 6, 3), (100, 75, -1, 3), (100, 75, 0, 0), (1, 75, 0, 3)):
        with pytest.raises(NVCError):
            FrameStep(lively_model, *args)


def test_the_encoders_choice_of_symbols_does_not_change_the_decoder(lively_model, monkeypatch):
    """An encoder-side refinement plugs in at select_symbols: the stream changes, the decoder still
    reproduces the encoder's reconstruction."""
    plain = _encode(lively_model)
    residual = lively_model.residual
    choose = type(residual).select_symbols

    def coarser(self, x, q, latents=None):
        z, y = choose(self, x, q, latents)
        return z, torch.where(y.abs() <= 1, torch.zeros_like(y), y)     # drop the ±1 residual symbols

    monkeypatch.setattr(type(residual), "select_symbols", coarser)
    refined = _encode(lively_model)
    monkeypatch.undo()
    assert [p for _, p in refined] != [p for _, p in plain]
    step = FrameStep(lively_model, 100, 75, QUALITY, 3)
    for coded, payload in refined:
        decoded = step.code(RangeDecode(payload), None, coded.temporal_prior)
        np.testing.assert_array_equal(decoded.reconstruction, coded.reconstruction)


def test_train_check_codes_through_the_frame_step(lively_model, tmp_path):
    """`nvc train check` reports the estimate-only bits of the frame step: those of a range-encoding step."""
    save_weights(lively_model, tmp_path / "w.pt")
    clip = write_clip(tmp_path / "clip.y4m", FRAMES[:3])
    result = check_weights(tmp_path / "w.pt", clip, quality=QUALITY, frames=3)
    with open_video(clip) as video:
        sources = video.read(3)                       # the clip as read back (4:2:0)
    step = FrameStep(load_model(tmp_path / "w.pt"), 100, 75, QUALITY, 3)      # fp16 on disk
    assert [r["type"] for r in result["per_frame"]] == ["I", "P", "P"]
    for row, rgb in zip(result["per_frame"], sources):
        frame = step.code(RangeEncode(), rgb)
        assert row["bpp"] == pytest.approx(sum(frame.bits_by_stream().values()) / (100 * 75), rel=1e-6)
        assert row["psnr"] == psnr(rgb, frame.reconstruction)


def test_estimate_only_needs_no_range_coder(lively_model, monkeypatch):
    """`nvc train check` runs where constriction is missing: the estimate-only backend never loads it."""
    from nvc_core.entropy import range_coder

    monkeypatch.setitem(sys.modules, "constriction", None)          # import constriction -> ImportError
    range_coder.constriction_stream.cache_clear()
    try:
        step = FrameStep(lively_model, 100, 75, QUALITY, 3)
        assert sum(step.code(EstimateOnly(), FRAMES[0]).bits_by_stream().values()) > 0
        with pytest.raises(ImportError):
            RangeEncode()
    finally:
        range_coder.constriction_stream.cache_clear()
