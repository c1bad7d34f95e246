"""Encoder/decoder: bit-exact round trips, estimated vs actual bits, temporal prior on/off."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from nvc_core.analysis import Analysis
from nvc_core.bitstream import CRC_BYTES, gop_ends, read_stream
from nvc_core.codec import decode_video, encode_video, recost_motion
from nvc_core.errors import BitstreamError, DriftError
from nvc_core.models.nvc import NVCConfig
from nvc_core.weights import load_model, random_model, save_weights

# A frame's range-coder session costs at most one 32-bit word of seal beyond its symbols, plus the
# alphabet bounds of each latent (a few bits each).
SESSION_OVERHEAD_BITS = 32 + 2 * 32


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
    gop_crcs = CRC_BYTES * len(gop_ends(enc.header.frame_count, enc.header.gop))
    assert header_bytes + sum(r.bits for r in enc.records) // 8 + gop_crcs == enc.file_bytes
    _, chunks = read_stream(tmp_path / "out.nvc")
    assert [8 * c.nbytes for c in chunks] == [r.bits for r in enc.records]


@pytest.mark.parametrize("quality", [0, 5])
def test_estimated_bits_match_the_payload(lively_model, small_clip, tmp_path, quality):
    enc = _encode(lively_model, small_clip, tmp_path, quality, True)
    _, chunks = read_stream(tmp_path / "out.nvc")
    for r, chunk in zip(enc.records, chunks):
        actual, estimated = 8 * len(chunk.payload), r.bits_estimated
        assert estimated == pytest.approx(sum(r.bits_by_stream.values()))
        assert abs(actual - estimated) <= 0.01 * estimated + SESSION_OVERHEAD_BITS, (r.index, actual, estimated)


def test_reconstruction_does_not_depend_on_temporal_prior(lively_model, small_clip, tmp_path):
    on = _encode(lively_model, small_clip, tmp_path, 4, True, name="on")
    off = _encode(lively_model, small_clip, tmp_path, 4, False, name="off")
    assert (tmp_path / "on_rec.y4m").read_bytes() == (tmp_path / "off_rec.y4m").read_bytes()
    # second P-frame of the GOP has a temporal prior from the first: its motion bits change
    assert on.records[2].bits_by_stream["motion.y"] != off.records[2].bits_by_stream["motion.y"]
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
                assert cost.bits_y == pytest.approx(record.bits_by_stream["motion.y"], rel=1e-5)
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


def test_plain_coding_computes_only_what_it_writes(lively_model, small_clip, tmp_path):
    """Analysis.NONE: the same bitstream and reconstruction, and none of the analysis."""
    full = _encode(lively_model, small_clip, tmp_path, 2, True, name="full")
    lean = encode_video(small_clip, tmp_path / "lean.nvc", lively_model, quality=2, gop=3,
                        recon_path=tmp_path / "lean_rec.y4m", analysis=Analysis.NONE)
    assert (tmp_path / "lean.nvc").read_bytes() == (tmp_path / "full.nvc").read_bytes()
    assert (tmp_path / "lean_rec.y4m").read_bytes() == (tmp_path / "full_rec.y4m").read_bytes()
    seen = []
    decoded = decode_video(tmp_path / "lean.nvc", lively_model, analysis=Analysis.NONE,
                           on_frame=lambda r, *_: seen.append(r))
    for records in (lean.records, decoded.records, seen):
        for r in records:
            assert r.psnr_rgb is None and r.ms_ssim is None and r.bits_estimated == 0 and not r.bits_by_stream
            assert not r.bit_maps and not r.latents and not r.attention and not r.flows and r.prediction is None
    assert all(r.reconstruction is not None for r in seen)          # on_frame still gets the frame
    assert [r.bits for r in lean.records] == [r.bits for r in full.records]
    stats = decode_video(tmp_path / "lean.nvc", lively_model, analysis=Analysis.STATS)
    assert [r.bits_by_stream for r in stats.records] == [r.bits_by_stream for r in full.records]


def test_programming_error_surfaces_and_corrupt_data_is_a_bitstream_error(lively_model, small_clip, tmp_path,
                                                                         monkeypatch):
    encode_video(small_clip, tmp_path / "o.nvc", lively_model, quality=2, gop=3, analysis=Analysis.NONE)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("injected bug")

    with monkeypatch.context() as patch:
        patch.setattr(lively_model.intra.pa, "decompress", broken)
        with pytest.raises(ZeroDivisionError, match="injected bug"):
            decode_video(tmp_path / "o.nvc", lively_model, tmp_path / "d.y4m")
    assert not (tmp_path / "d.y4m").exists()
    data = bytearray((tmp_path / "o.nvc").read_bytes())
    header, chunks = read_stream(tmp_path / "o.nvc")
    first = next(chunks)
    chunks.close()
    start = len(header.pack()) + first.nbytes - len(first.payload)
    for i in range(start, start + len(first.payload)):   # garbage payload under a valid CRC
        data[i] = (data[i] * 7 + 13) % 256
    end = len(header.pack()) + sum(c.nbytes for c in list(read_stream(tmp_path / "o.nvc")[1])[:3])  # GOP 0
    data[end:end + CRC_BYTES] = zlib.crc32(bytes(data[len(header.pack()):end])).to_bytes(CRC_BYTES, "little")
    (tmp_path / "g.nvc").write_bytes(bytes(data))
    with pytest.raises((BitstreamError, DriftError), match="frame 0"):   # the symbols fail, or the hash when strict
        decode_video(tmp_path / "g.nvc", lively_model, strict=True)


def test_a_wider_intra_coder_round_trips_through_a_weights_file(small_clip, tmp_path):
    """neuro-Intra with its own N and M (NVCConfig.intra_*) is saved, loaded and decoded bit-exactly."""
    config = NVCConfig(channels=8, latent_channels=8, blocks=1, mcn_channels=4, intra_channels=12,
                       intra_latent_channels=16, lambdas=(0.01, 0.04))
    save_weights(random_model(config), tmp_path / "wide.pt")
    model = load_model(tmp_path / "wide.pt")
    assert (model.intra.latent_channels, model.residual.latent_channels) == (16, 8)
    assert model.config == config
    _encode(model, small_clip, tmp_path, 1, True)
    decode_video(tmp_path / "out.nvc", model, tmp_path / "dec.y4m")
    assert (tmp_path / "out_rec.y4m").read_bytes() == (tmp_path / "dec.y4m").read_bytes()
