"""Portable streams: the integer entropy-parameter path (exact, independent of kernels and threads)."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nvc_core.analysis import Analysis
from nvc_core.cli import main
from nvc_core.codec import decode_video, encode_video
from nvc_core.entropy import integer
from nvc_core.entropy.conv_lstm import ConvLSTM, IntegerConvLSTM
from nvc_core.entropy.factorized import Z_RANGE, FactorizedPrior
from nvc_core.entropy.gaussian import SCALE_LEVELS, SCALE_MAX, SCALE_MIN, snap_fixed
from nvc_core.entropy.prior_aggregation import IntegerPriorAggregation, PriorAggregation, anchor_mask
from nvc_core.errors import DriftError
from nvc_core.models.vae import HyperDecoder
from nvc_core.weights import save_weights

_spec = importlib.util.spec_from_file_location("gpu_check", Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)


def _seeded(factory, seed=0):
    torch.manual_seed(seed)
    return factory().eval()


def test_exact_matmul_is_exact_beyond_float_precision_in_any_chunking(monkeypatch):
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 2 ** 33, (7, 300), generator=g)
    b = torch.randint(-2 ** 10, 2 ** 15, (300, 5), generator=g)
    exact = a @ b                                                  # int64 matmul: exact
    assert exact.abs().max() > 2 ** 53                             # float64 alone could not hold it
    assert torch.equal(integer.exact_matmul(a.double(), b.double()), exact)
    monkeypatch.setattr(integer, "_EXACT", 2 ** 50)                # other chunk sizes, same result
    assert torch.equal(integer.exact_matmul(a.double(), b.double()), exact)


def _dilated_reference(layer: torch.nn.ConvTranspose2d, conv: integer.IntegerConv2d, x: torch.Tensor) -> torch.Tensor:
    """The transposed convolution as the stride-1 convolution of the zero-dilated input, in int64."""
    (sh, sw), (kh, kw) = layer.stride, layer.kernel_size
    dilated = x.new_zeros(1, x.shape[1], (x.shape[2] - 1) * sh + 1, (x.shape[3] - 1) * sw + 1)
    dilated[:, :, ::sh, ::sw] = x
    (top, bottom), (left, right) = conv.pad
    padded = F.pad(dilated, (left, right, top, bottom))
    out_h, out_w = padded.shape[2] - kh + 1, padded.shape[3] - kw + 1
    cols = F.unfold(padded.double(), (kh, kw))[0].T.round().long()
    acc = cols @ conv.weight.round().long() + conv.bias
    return integer.shift_round(acc, conv.shift).T.reshape(1, -1, out_h, out_w)


@pytest.mark.parametrize("kernel,stride,padding,output_padding", [(5, 2, 2, 1), (3, 2, 1, 1), (4, 2, 1, 0),
                                                                    (3, 3, 0, 2), (1, 2, 0, 1), (5, 2, 4, 0)])
def test_transposed_convolution_polyphase_equals_the_zero_dilated_one(kernel, stride, padding, output_padding):
    torch.manual_seed(kernel * 10 + stride)
    layer = torch.nn.ConvTranspose2d(6, 5, kernel, stride, padding, output_padding)
    conv = integer.IntegerConv2d(layer)
    x = torch.randint(-2 ** 20, 2 ** 20, (1, 6, 5, 7))
    out = conv(x)
    assert out.shape == layer(x.float()).shape
    assert torch.equal(out, _dilated_reference(layer, conv, x))


def test_tables_follow_the_functions():
    x = torch.arange(-40 << integer.FRAC, 40 << integer.FRAC, 37)
    xf = x.double() / (1 << integer.FRAC)
    unit = 1 << integer.GATE_FRAC
    assert (integer.sigmoid(x).double() / unit - torch.sigmoid(xf)).abs().max() < 2 ** -15
    assert (integer.tanh(x).double() / unit - torch.tanh(xf)).abs().max() < 2 ** -15
    assert (integer.exp_negative(-x.abs()).double() / unit - torch.exp(-xf.abs())).abs().max() < 2 ** -14
    assert integer.shift_round(torch.tensor([-3, -2, -1, 1, 2, 3]), 1).tolist() == [-1, -1, 0, 1, 1, 2]


def test_scale_index_is_the_nearest_log_level_of_softplus():
    o = torch.arange(-30000, 300000, 7, dtype=torch.int64)
    _, scale = snap_fixed(torch.zeros_like(o), o, integer.FRAC)
    sigma = F.softplus(o.double() / (1 << integer.FRAC)) + SCALE_MIN
    step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
    index = torch.round((torch.log(sigma.clamp(SCALE_MIN, SCALE_MAX)) - math.log(SCALE_MIN)) / step)
    assert torch.allclose(scale, SCALE_MIN * torch.exp(index * step), rtol=1e-12)
    mean, _ = snap_fixed(torch.tensor([-96, -32, 31, 32, 95]), o[:5], integer.FRAC)  # 1/64 = 64 units
    assert mean.tolist() == [-1 / 64, 0.0, 0.0, 1 / 64, 1 / 64]                # ties round up


def test_integer_hyper_decoder_follows_the_float_one_and_ignores_threads():
    dh = _seeded(lambda: HyperDecoder(8, 8, 1, 2))
    z = torch.randint(-4, 5, (1, 8, 3, 4)).float()
    with torch.no_grad():
        reference = dh(z)
    net = integer.integer_network(dh)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = net(integer.to_fixed(z))
        torch.set_num_threads(2)
        two = net(integer.to_fixed(z))
    finally:
        torch.set_num_threads(threads)
    assert one.dtype == torch.int64 and torch.equal(one, two)
    assert (one.double() / (1 << integer.FRAC) - reference.double()).abs().max() < 1e-2


def test_the_integer_nlam_calls_the_float_mask_branchs_hooks_in_pairs():
    """Pre-hooks before the integer mask, hooks after it with the float logits: a hook pair (a
    benchmark's timer, the analyzer's mask recorder) sees one call, as for the float module."""
    dh = _seeded(lambda: HyperDecoder(8, 8, 1, 2))
    branch = dh.net[0].mask_branch                       # the NLAM that opens Dh
    calls = []
    branch.register_forward_pre_hook(lambda *_: calls.append("pre"))
    branch.register_forward_hook(lambda _m, _i, logits: calls.append(("post", tuple(logits.shape))))
    integer.integer_network(dh)(integer.to_fixed(torch.randint(-4, 5, (1, 8, 3, 4)).float()))
    assert calls == ["pre", ("post", (1, 8, 3, 4))]


def test_integer_pa_matches_the_float_snapped_parameters_almost_everywhere():
    pa = _seeded(lambda: PriorAggregation(8, temporal_k=2))
    y = torch.randint(-6, 7, (1, 8, 6, 7)).float()
    hyper, temporal = torch.randn(1, 16, 6, 7), torch.randn(1, 16, 6, 7)
    known = y * anchor_mask(6, 7)
    to_int = lambda t: torch.round(t * (1 << integer.FRAC)).long()          # noqa: E731
    mean, scale = IntegerPriorAggregation(pa).parameters_for(known, to_int(hyper), to_int(temporal))
    with torch.no_grad():
        mean_f, scale_f = pa.parameters_for(known, hyper, temporal)
    assert (mean - mean_f.double()).abs().max() < 1 / 64 + 1e-3
    ratio = scale / scale_f.double().clamp(SCALE_MIN, SCALE_MAX)
    assert ratio.min() > 0.9 and ratio.max() < 1.1


def test_integer_conv_lstm_follows_the_float_one():
    lstm = _seeded(lambda: ConvLSTM(4, 8))
    cell = IntegerConvLSTM(lstm)
    state, state_i = lstm.initial_state(torch.zeros(1, 4, 5, 6)), None
    for _ in range(3):
        y = torch.randint(-3, 4, (1, 4, 5, 6)).float()
        with torch.no_grad():
            state = lstm(y, state)
        state_i = cell(y, state_i)
    assert (state_i[0].double() / (1 << integer.FRAC) - state[0].double()).abs().max() < 1e-2


def test_integer_factorized_tables_cost_what_the_float_prior_costs():
    prior = _seeded(lambda: FactorizedPrior(4))
    support = torch.arange(-Z_RANGE, Z_RANGE + 1.0)
    with torch.no_grad():
        float_pmf = prior(support.view(1, 1, 1, -1).expand(1, 4, 1, -1))[0, :, 0].double().numpy()
    float_pmf /= float_pmf.sum(1, keepdims=True)
    pmf = prior.table().pmf
    assert np.allclose(pmf.sum(1), 1.0)
    symbols = np.arange(-3, 4) + Z_RANGE                                # the likely ones
    assert np.abs(np.log2(pmf[:, symbols]) - np.log2(float_pmf[:, symbols])).max() < 1e-2


# -- coding: symbols exact under a perturbed float path, drift reported, threads --------------------------
def _noisy_convolutions(monkeypatch, relative: float = 2.0 ** -14, seed: int = 0):
    """Every float convolution's output multiplied by (1 + relative·u), u ~ U(-1, 1): a decoder whose
    floating-point arithmetic differs from the encoder's (much more than a few ulps)."""
    g = torch.Generator().manual_seed(seed)

    def noisy(forward):
        def run(self, x, *args, **kwargs):
            out = forward(self, x, *args, **kwargs)
            return out * (1 + relative * (2 * torch.rand(out.shape, generator=g) - 1)).to(out.dtype)
        return run

    for cls in (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Conv3d):
        monkeypatch.setattr(cls, "forward", noisy(cls.forward))


def _collect():
    records = []
    return records, (lambda record, *_: records.append(record))


def test_perturbed_float_path_decodes_the_encoders_symbols(lively_model, small_clip, tmp_path, monkeypatch):
    """The must-show of portability: with every float convolution perturbed on the decoder, the symbols
    are the encoder's (the entropy parameters never touch float), only pixels may drift (a warning)."""
    encoded, on_encoded = _collect()
    encode_video(small_clip, tmp_path / "s.nvc", lively_model, quality=4, gop=4,
                 analysis=Analysis(maps=True), on_frame=on_encoded)
    _noisy_convolutions(monkeypatch)
    decoded, on_decoded = _collect()
    result = decode_video(tmp_path / "s.nvc", lively_model, tmp_path / "d.y4m", analysis=Analysis(maps=True),
                          on_frame=on_decoded)
    assert len(decoded) == len(encoded) == 4 and (tmp_path / "d.y4m").exists()
    for e, d in zip(encoded, decoded):
        assert e.latents.keys() == d.latents.keys()
        for key in e.latents:
            assert np.array_equal(e.latents[key], d.latents[key]), (e.index, key)
    assert result.drifted_frames == [r.index for r in decoded if not np.array_equal(
        r.reconstruction, encoded[r.index].reconstruction)]


def test_drift_is_a_warning_naming_the_frames_and_strict_refuses_it(lively_model, small_clip, tmp_path, monkeypatch):
    encode_video(small_clip, tmp_path / "s.nvc", lively_model, quality=4, gop=4, analysis=Analysis.NONE)
    _noisy_convolutions(monkeypatch, relative=2.0 ** -6)                 # enough to change pixels
    result = decode_video(tmp_path / "s.nvc", lively_model, tmp_path / "d.y4m", analysis=Analysis.NONE)
    assert result.drifted_frames and (tmp_path / "d.y4m").exists()
    warning = result.drift_warning()
    assert f"frames {', '.join(map(str, result.drifted_frames))}" in warning and "corrupt" not in warning
    assert [r.matches_encoder for r in result.records] == [r.index not in result.drifted_frames
                                                          for r in result.records]
    with pytest.raises(DriftError, match=f"frame {result.drifted_frames[0]} differs"):
        decode_video(tmp_path / "s.nvc", lively_model, tmp_path / "strict.y4m", strict=True)
    assert not (tmp_path / "strict.y4m").exists()


def test_reconstruction_does_not_depend_on_the_thread_count(lively_model, small_clip, tmp_path, monkeypatch):
    monkeypatch.setattr("nvc_core.env.CODING_THREADS", 1)
    encode_video(small_clip, tmp_path / "s.nvc", lively_model, quality=4, gop=4, analysis=Analysis.NONE)
    monkeypatch.setattr("nvc_core.env.CODING_THREADS", 2)
    result = decode_video(tmp_path / "s.nvc", lively_model, analysis=Analysis.NONE)
    assert result.drifted_frames == [] and all(r.matches_encoder for r in result.records)


def test_cli_decode_warns_on_drift_and_strict_exits_2(lively_model, small_clip, tmp_path, monkeypatch, capsys):
    save_weights(lively_model, tmp_path / "w.pt")
    weights = ["--weights", str(tmp_path / "w.pt")]
    assert main(["encode", str(small_clip), "-o", str(tmp_path / "s.nvc"), "--quality", "4", *weights]) == 0
    _noisy_convolutions(monkeypatch, relative=2.0 ** -6)
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "s.nvc"), "-o", str(tmp_path / "d.y4m"), *weights]) == 0
    err = capsys.readouterr().err
    assert "nvc: warning:" in err and "differ from the encoder's reconstruction" in err and "corrupt" not in err
    assert (tmp_path / "d.y4m").exists()
    assert main(["decode", str(tmp_path / "s.nvc"), "-o", str(tmp_path / "e.y4m"), "--strict", *weights]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("nvc: error: frame")
    assert not (tmp_path / "e.y4m").exists()


def test_gpu_check_script_runs_on_the_cpu(lively_model, small_clip, tmp_path):
    save_weights(lively_model, tmp_path / "w.pt")
    out = tmp_path / "check.json"
    assert gpu_check.main(["--device", "cpu", "--weights", str(tmp_path / "w.pt"), "--clip", str(small_clip),
                           "--frames", "2", "--speed-size", "64x64", "--speed-frames", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    for direction in ("cpu_to_device", "device_to_cpu"):
        assert report[direction]["symbol_agreement"] == 1.0 and report[direction]["drifted_frames"] == []
    assert report["speed"]["encode_fps"] > 0 and report["speed"]["decode_fps"] > 0
