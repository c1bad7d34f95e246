"""The encoder's per-P-frame motion rate decision: the search, the low rate points, and that the
decoder reproduces the encoder whatever offsets were chosen."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import moving_frames

from nvc_core.codec import decode_video, encode_video
from nvc_core.errors import NVCError
from nvc_core.frame_step import FrameStep, RangeDecode, RangeEncode, frame_tensor, pad_frame
from nvc_core.models.vae import add_low_rates, align_low_rates
from nvc_core.motion_rate import MotionRateSearch, frame_cost, offsets
from nvc_core.weights import load_model

SAMPLE = Path(__file__).resolve().parents[1] / "nvc_core" / "resources" / "sample" / "carphone_30.y4m"


@pytest.fixture(scope="module")
def extended(lively_model):
    """The lively random model with 3 motion rate points below 0."""
    model = copy.deepcopy(lively_model)
    model.extend_motion_rates(3)
    return model


def test_low_rate_points_extend_the_table_and_leave_every_rate_point_as_it_was(lively_model, extended):
    x = torch.rand(1, 8, 64, 64)
    for q in range(lively_model.num_rates):
        assert torch.equal(extended.motion.main_encode(x, q), lively_model.motion.main_encode(x, q))
    table = lively_model.motion.log_gain.detach()
    grown = add_low_rates(table, 3)
    assert torch.equal(grown[3:], table) and torch.allclose(grown[2] - grown[1], table[1] - table[0])
    assert extended.config.motion_low_rates == 3 and extended.weights_id != lively_model.weights_id
    state = {"motion.log_gain": table, "intra.log_gain": table}
    assert torch.equal(align_low_rates(align_low_rates(state, "motion.", 0, 3), "motion.", 3, 0)["motion.log_gain"],
                       table)
    assert align_low_rates(state, "motion.", 0, 3)["intra.log_gain"] is table
    assert list(offsets(extended, 2)) == [0, 1, 2, 3, 4, 5] and list(offsets(lively_model, 0)) == [0]


def test_the_search_is_coarse_at_a_gops_start_then_local(extended):
    search = MotionRateSearch(extended, 4)                   # offsets 0..7
    assert search.candidates() == [0, 2, 4, 6]
    search.previous = 7
    assert search.candidates() == [6, 7]
    search.previous = 3
    assert search.candidates() == [2, 3, 4]
    search.reset()
    assert search.candidates() == [0, 2, 4, 6]


def test_the_search_picks_the_least_estimated_cost(extended):
    frames = moving_frames(64, 48, 2)
    step = FrameStep(extended, 64, 48, 3, 12, motion_search=True)
    step.code(RangeEncode(), frames[0])
    x = frame_tensor(pad_frame(frames[1]), "cpu")
    em_input = extended.motion.encoder_input(step.reference, x, step._flow_hint(pad_frame(frames[1])))
    with torch.no_grad():
        costs = {d: frame_cost(extended, step.reference, x, em_input, 3, d, None, (48, 64))
                 for d in step.motion_search.candidates()}
    frame = step.code(RangeEncode(), frames[1])
    assert frame.motion_offset == min(costs, key=costs.get)


def test_forced_offsets_decode_exactly_and_out_of_range_ones_are_refused(extended):
    frames = moving_frames(64, 48, 3)
    encoder, decoder = FrameStep(extended, 64, 48, 1, 12), FrameStep(extended, 64, 48, 1, 12)
    backend = RangeEncode()
    encoder.code(backend, frames[0])
    decoder.code(RangeDecode(backend.payload()))
    for offset in (4, 2):                                    # 4: rate point −3, the lowest
        backend = RangeEncode()
        coded = encoder.code(backend, frames[len(frames) - 1 if offset == 2 else 1], motion_offset=offset)
        decoded = decoder.code(RangeDecode(backend.payload()), motion_offset=offset)
        assert np.array_equal(coded.reconstruction, decoded.reconstruction) and coded.motion_offset == offset
    with pytest.raises(NVCError, match="motion rate offset 5 outside 0..4"):
        encoder.code(RangeEncode(), frames[1], motion_offset=5)


def test_streams_with_searched_offsets_decode_exactly_and_the_prior_switch_keeps_the_pixels(tmp_path):
    """Bundled weights with low rate points: the search picks offsets beyond 0 on the sample clip, the
    decoder matches the encoder, and the temporal prior off changes bits only."""
    model = load_model()
    model.extend_motion_rates(4)
    results = {tp: encode_video(SAMPLE, tmp_path / f"{tp}.nvc", model, quality=0, frames=5, temporal_prior=tp,
                                recon_path=tmp_path / f"{tp}.y4m") for tp in (True, False)}
    chosen = [r.motion_offset for r in results[True].records[1:]]
    assert any(chosen) and chosen == [r.motion_offset for r in results[False].records[1:]]
    assert (tmp_path / "True.y4m").read_bytes() == (tmp_path / "False.y4m").read_bytes()
    decoded = decode_video(tmp_path / "True.nvc", model, tmp_path / "dec.y4m")
    assert all(r.matches_encoder for r in decoded.records)
    assert [r.motion_offset for r in decoded.records[1:]] == chosen
    assert (tmp_path / "dec.y4m").read_bytes() == (tmp_path / "True.y4m").read_bytes()
    fixed = encode_video(SAMPLE, tmp_path / "fixed.nvc", model, quality=0, frames=3, motion_search=False)
    assert all(r.motion_offset == 0 for r in fixed.records)
