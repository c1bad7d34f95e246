"""Encoder/decoder: bit-exact round trips, estimated vs actual bits, temporal prior on/off."""
from __future__ import annotations

import numpy as np
import pytest

from nvc_core.bitstream import FrameChunk
from nvc_core.codec import decode_video, encode_video, recost_motion

# A range-coded sub-stream costs at most one 32-bit word of flush plus its 4-byte symbol-range header.
STREAM_OVERHEAD_BITS = 64


def _encode(model, clip, tmp_path, quality, tp, gop=3, name="out"):
    return encode_video(clip, tmp_path / f"{name}.nvc", model, quality=quality, gop=gop,
                        temporal_prior=tp, recon_path=tmp_path / f"{name}_rec.y4m")


@pytest.mark.parametrize("quality", [0, 5])
@pytest.mark.parametrize("tp", [True, False])
def test_round_trip_is_bit_exact(lively_model, small_clip, tmp_path, quality, tp):
    enc = _encode(lively_model, small_clip, tmp_path, quality, tp)
    dec = decode_video(tmp_path / "out.nvc", lively_model, tmp_path / "dec.y4m")
    assert [r.frame_type for r in enc.records] == ["I", "P", "P", "I"]
    assert (tmp_path / "out_rec.y4m").read_bytes() == (tmp_path / "dec.y4m").read_bytes()
    for e, d in zip(enc.records, dec.records):
        np.testing.assert_array_equal(e.reconstruction, d.reconstruction)
        assert e.bits == d.bits and e.bits_by_stream == d.bits_by_stream
        for key, bit_map in e.bit_maps.items():
            np.testing.assert_allclose(bit_map, d.bit_maps[key], rtol=1e-5, atol=1e-5)
    assert enc.file_bytes == (tmp_path / "out.nvc").stat().st_size


def test_file_size_is_the_sum_of_the_chunks(lively_model, small_clip, tmp_path):
    enc = _encode(lively_model, small_clip, tmp_path, 3, True)
    header_bytes = len(enc.header.pack())
    assert header_bytes + sum(r.bits for r in enc.records) // 8 == enc.file_bytes
    for r in enc.records:
        assert r.bits == sum(r.bits_by_stream.values()) + 8 * FrameChunk.overhead_bytes(r.frame_type)


@pytest.mark.parametrize("quality", [0, 5])
def test_estimated_bits_match_actual_bits(lively_model, small_clip, tmp_path, quality):
    enc = _encode(lively_model, small_clip, tmp_path, quality, True)
    for r in enc.records:
        for stream, actual in r.bits_by_stream.items():
            estimated = r.bits_estimated_by_stream[stream]
            assert abs(actual - estimated) <= 0.01 * estimated + STREAM_OVERHEAD_BITS, (stream, actual, estimated)


def test_reconstruction_does_not_depend_on_temporal_prior(lively_model, small_clip, tmp_path):
    on = _encode(lively_model, small_clip, tmp_path, 4, True, name="on")
    off = _encode(lively_model, small_clip, tmp_path, 4, False, name="off")
    assert (tmp_path / "on_rec.y4m").read_bytes() == (tmp_path / "off_rec.y4m").read_bytes()
    # second P-frame of the GOP has a temporal prior from the first: its motion bits change
    assert on.records[2].bits_estimated_by_stream["motion.y"] != off.records[2].bits_estimated_by_stream["motion.y"]
    for a, b in zip(on.records, off.records):
        for key in a.bits_by_stream:
            if not key.startswith("motion.y"):
                assert a.bits_by_stream[key] == b.bits_by_stream[key]


def test_recost_motion_matches_the_coded_estimates(lively_model, small_clip, tmp_path):
    on = _encode(lively_model, small_clip, tmp_path, 4, True, name="on")
    off = _encode(lively_model, small_clip, tmp_path, 4, False, name="off")
    for tp, coded in ((True, on), (False, off)):
        costs = recost_motion(lively_model, on.records, 4, tp)
        for cost, record in zip(costs, coded.records):
            if record.frame_type == "I":
                assert cost is None
            else:
                assert cost.bits_y == pytest.approx(record.bits_estimated_by_stream["motion.y"], rel=1e-5)
                assert cost.bit_map_y.shape == record.bit_maps["motion.y"].shape


def test_analysis_record_contents(lively_model, small_clip, tmp_path):
    enc = _encode(lively_model, small_clip, tmp_path, 2, True)
    i_frame, p_frame = enc.records[0], enc.records[1]
    assert i_frame.flows == [] and i_frame.prediction is None
    assert set(i_frame.attention) == {f"intra.{w}" for w in ("main_enc", "hyper_enc", "main_dec", "hyper_dec")}
    assert [f.shape for f in p_frame.flows] == [(75, 100, 2), (38, 50, 2), (19, 25, 2), (10, 13, 2), (5, 7, 2)]
    assert p_frame.prediction.shape == p_frame.residual.shape == p_frame.residual_hat.shape == (75, 100, 3)
    assert set(p_frame.bit_maps) == {"motion.y", "motion.z", "residual.y", "residual.z"}
    assert p_frame.bit_maps["motion.y"].shape == p_frame.latents["motion.y"].shape == (64, 8, 8)  # padded to 128x128
    for mask in p_frame.attention.values():
        assert mask.min() >= 0 and mask.max() <= 1
    assert 0 < p_frame.ms_ssim <= 1 and np.isfinite(p_frame.psnr_rgb) and np.isfinite(p_frame.psnr_y)


def test_gop_one_codes_every_frame_intra_and_frames_limit(lively_model, small_clip, tmp_path):
    enc = encode_video(small_clip, tmp_path / "i.nvc", lively_model, quality=1, gop=1, frames=3)
    assert [r.frame_type for r in enc.records] == ["I", "I", "I"]
    assert decode_video(tmp_path / "i.nvc", lively_model).header.frame_count == 3


def test_png_folder_recon_matches_decode(lively_model, small_clip, tmp_path):
    encode_video(small_clip, tmp_path / "o.nvc", lively_model, quality=2, gop=2, recon_path=tmp_path / "rec")
    decode_video(tmp_path / "o.nvc", lively_model, tmp_path / "dec")
    names = sorted(p.name for p in (tmp_path / "rec").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "dec").iterdir()) and len(names) == 4
    for n in names:
        assert (tmp_path / "rec" / n).read_bytes() == (tmp_path / "dec" / n).read_bytes()
