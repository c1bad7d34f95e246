"""The integer entropy-parameter path: every number the range coder sees, computed exactly.

After Ballé, Johnston and Minnen, "Integer networks for data compression with latent-variable
models" (ICLR 2019): encoder and decoder must derive bit-identical entropy parameters, or the range
decoder desynchronises. Float networks do not guarantee that across thread counts, convolution
kernels, instruction sets or GPUs. Everything that feeds the coder is therefore recomputed here in
fixed-point integer arithmetic from the decoded symbols (integers, never pixels):

* the hyper decoder Dh (with its NLAM: non-local softmax attention and sigmoid mask), from ẑ;
* the PA engine (Fig. 6, eq. 6): the masked 3D context over the known part of ŷ and the STHAM's
  1x1x1 convolutions, then (μ, σ) snapped to the coding grids of :mod:`nvc_core.entropy.gaussian`;
* the TUM's ConvLSTM (eq. 7), whose hidden state h is the temporal prior (kept as integers);
* the factorized tables of ẑ.

Arithmetic (the whole of it):

* Activations are int64 tensors holding ``value · 2^FRAC``. Symbols enter as ``symbol << FRAC``.
* Weights are converted at load (post-training, deterministic: a float32 weight times a power of
  two, rounded, is exact): per output channel ``W_int = round(W · 2^s)`` with |W_int| < 2^15, bias
  ``round(b · 2^(FRAC+s))``. A layer's accumulator has scale ``2^(FRAC+s)`` and is brought back to
  ``2^FRAC`` by :func:`shift_round` (floor((a + 2^(s-1)) / 2^s): ties round up).
* Every convolution is an explicit unfold + matrix product in float64 (:func:`exact_matmul`). The
  operands are integers and every partial sum stays below 2^53 (checked from the operands' exact
  maxima; longer reductions are split into chunks added in int64), so the result is exact whatever
  the summation order, blocking, FMA use or device.
* Nonlinearities (sigmoid, tanh, the exp of the softmax) are tables of ``round(f(x) · 2^out)`` at
  nodes 2^-6 apart, linearly interpolated in integers. The tables are computed with Python's
  :mod:`decimal` (correctly rounded, the same on every platform). Softmax normalisation and every
  other rescaling is integer division with defined rounding.
* The scale snapping needs no logarithm: the σ index is the number of precomputed integer
  thresholds the STHAM's pre-softplus output reaches; the 64 coded scale values themselves come
  from a :mod:`decimal` table.

The float path (training, likelihoods) stays in float; this module is used for coding and for the
bits the analyzer shows, so the numbers it shows are the numbers coded.
"""
from __future__ import annotations

import decimal
import functools
import hashlib
import weakref
from typing import Callable, TypeVar
from dataclasses import dataclass
from decimal import Decimal

import torch
import torch.nn.functional as F
from torch import nn

from nvc_core.layers.blocks import ResidualBlock
from nvc_core.layers.nlam import LAM, NLAM, NonLocalBlock

#: Fractional bits of every activation.
FRAC = 12
#: Weights are held in this many bits (signed) per output channel.
WEIGHT_BITS = 16
#: Largest weight scale exponent (keeps tiny weights from asking for huge bias integers).
_MAX_WEIGHT_SHIFT = 30
#: float64 holds every integer below this exactly.
_EXACT = 2 ** 53
#: Gate / attention-mask precision: sigmoid and tanh outputs are integers at this scale.
GATE_FRAC = 16
#: Precision of the factorized prior's cumulative (sigmoid) values.
CDF_FRAC = 32
#: Interpolation nodes of the nonlinearity tables are 2^-_NODE_BITS apart.
_NODE_BITS = 6


class IntegerRangeError(ArithmeticError):
    """Values too large for exact arithmetic (not reachable with sane weights)."""


# -- exact arithmetic -----------------------------------------------------------------------------
def shift_round(x: torch.Tensor, shift: int | torch.Tensor) -> torch.Tensor:
    """round(x / 2^shift) for int64 ``x`` and shift >= 0 (scalar or broadcastable): ties round up.

    floor(v / 2^s) is the arithmetic right shift v >> s (two's complement), the same integers as a
    floor division and several times faster."""
    if isinstance(shift, int):
        return x if shift == 0 else (x + (1 << (shift - 1))) >> shift
    return (x + ((torch.ones_like(shift) << shift) >> 1)) >> shift


def peak(x: torch.Tensor) -> int:
    """max |x| of a non-empty tensor, in one pass without a temporary."""
    lo, hi = x.aminmax()
    return max(-int(lo), int(hi))


def exact_matmul(a: torch.Tensor, b: torch.Tensor, a_peak: int | None = None, b_peak: int | None = None
                 ) -> torch.Tensor:
    """a @ b for integer-valued float64 ``a`` (..., N, K) and ``b`` (K, M): exact, as int64.

    With |a| <= A and |b| <= B, a chunk of K' terms has every partial sum below K'·A·B; chunks are
    sized so that this is below 2^53 and added in int64. ``a_peak`` / ``b_peak``: A / B when the
    caller knows them (a layer's weights), else computed.
    """
    k = a.shape[-1]
    if a.numel() == 0 or b.numel() == 0:
        return torch.zeros(*a.shape[:-1], b.shape[-1], dtype=torch.int64, device=a.device)
    term = (peak(a) if a_peak is None else a_peak) * (peak(b) if b_peak is None else b_peak)
    if term == 0:
        return torch.zeros(*a.shape[:-1], b.shape[-1], dtype=torch.int64, device=a.device)
    chunk = (_EXACT - 1) // term
    if chunk == 0 or term * k >= 2 ** 62:
        raise IntegerRangeError(f"integer product out of range ({term:.3g} per term, {k} terms)")
    if chunk >= k:
        return (a @ b).to(torch.int64)
    out = torch.zeros(*a.shape[:-1], b.shape[-1], dtype=torch.int64, device=a.device)
    for i in range(0, k, chunk):
        out += (a[..., i:i + chunk] @ b[i:i + chunk]).to(torch.int64)
    return out


def to_fixed(symbols: torch.Tensor) -> torch.Tensor:
    """Integer-valued symbols (any dtype) -> int64 activations at scale 2^FRAC."""
    return symbols.to(torch.int64) << FRAC


def quantize_weights(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(O, ...) float weights -> (W_int (O, ...) int64, shift (O,) int64), |W_int| < 2^(WEIGHT_BITS-1).

    Per output channel ``W_int = round(W · 2^s)``; s from the exact maximum (frexp), so the result is
    the same on every machine."""
    device = w.device
    w = w.detach().to("cpu", torch.float64)
    peak = w.reshape(w.shape[0], -1).abs().amax(1)
    _, exponent = torch.frexp(peak)                           # peak < 2^exponent
    shift = torch.where(peak > 0, (WEIGHT_BITS - 1) - exponent.to(torch.int64), torch.zeros_like(peak).long())
    if (shift < 0).any():
        raise IntegerRangeError("a weight of magnitude 2^15 or more cannot enter the integer path")
    shift = shift.clamp_max(_MAX_WEIGHT_SHIFT)
    scale = _powers_of_two(shift).view(-1, *([1] * (w.dim() - 1)))
    return torch.round(w * scale).to(device, torch.int64), shift.to(device)


def quantize_bias(b: torch.Tensor | None, shift: torch.Tensor) -> torch.Tensor:
    """Bias of a layer whose weights have ``shift``: round(b · 2^(FRAC + shift)) (O,) int64."""
    if b is None:
        return torch.zeros_like(shift)
    b = b.detach().to("cpu", torch.float64)
    return torch.round(b * _powers_of_two(shift.cpu() + FRAC)).to(shift.device, torch.int64)


def _powers_of_two(exponents: torch.Tensor) -> torch.Tensor:
    """2^e as float64, built from integers (exact, no libm)."""
    return torch.tensor([float(1 << int(e)) for e in exponents], dtype=torch.float64)


# -- nonlinearities -------------------------------------------------------------------------------
_CONTEXT = decimal.Context(prec=40)


def _sigmoid_exact(x: Decimal) -> Decimal:
    return _CONTEXT.divide(1, _CONTEXT.add(1, _CONTEXT.exp(-x)))


def _exp_exact(x: Decimal) -> Decimal:
    return _CONTEXT.exp(x)


@dataclass(frozen=True)
class Table:
    """f on [lo, hi] as integers round(f(x)·2^out_frac) at nodes 2^-_NODE_BITS apart, evaluated by
    linear interpolation of fixed-point inputs (scale 2^FRAC), clamped to [lo, hi]."""
    lo: int
    hi: int
    out_frac: int
    values: torch.Tensor            # (n + 1,) int64, the last node repeated

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        q = FRAC - _NODE_BITS
        u = x.clamp(self.lo << FRAC, self.hi << FRAC) - (self.lo << FRAC)
        k, r = u >> q, u & ((1 << q) - 1)
        values = self.values.to(x.device)
        left, right = values[k], values[k + 1]
        return left + shift_round((right - left) * r, q)


@functools.cache
def _table(name: str, lo: int, hi: int, out_frac: int) -> Table:
    fn = {"sigmoid": _sigmoid_exact, "exp": _exp_exact}[name]
    nodes = (hi - lo) << _NODE_BITS
    scale = Decimal(2) ** out_frac
    values = [int((fn(Decimal(lo) + Decimal(k) / (1 << _NODE_BITS)) * scale).to_integral_value(
        rounding=decimal.ROUND_HALF_EVEN)) for k in range(nodes + 1)]
    return Table(lo, hi, out_frac, torch.tensor(values + values[-1:], dtype=torch.int64))


def sigmoid(x: torch.Tensor, out_frac: int = GATE_FRAC) -> torch.Tensor:
    """σ(x) at scale 2^out_frac (x at 2^FRAC); saturates outside [-32, 32]."""
    return shift_round(_table("sigmoid", -32, 32, CDF_FRAC)(x), CDF_FRAC - out_frac)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) = 2σ(2x) - 1 at scale 2^GATE_FRAC."""
    return sigmoid(2 * x, GATE_FRAC + 1) - (1 << GATE_FRAC)


def exp_negative(x: torch.Tensor) -> torch.Tensor:
    """exp(x) for x <= 0 at scale 2^GATE_FRAC (0 below -24)."""
    return _table("exp", -24, 0, GATE_FRAC)(x)


# -- layers ---------------------------------------------------------------------------------------
class IntegerConv2d:
    """Conv2d or ConvTranspose2d, unfold + exact matmul: (1,C,H,W) int64 at 2^FRAC -> (1,O,H',W') at 2^FRAC.

    A transposed convolution is the stride-1 convolution of the zero-dilated input, computed polyphase:
    output phase (ry, rx) (rows ry, ry+s, ..., columns likewise) meets input samples only under the
    kernel taps ky ≡ (top − ry) mod s (and likewise kx), so each phase is a stride-1 convolution of the
    undilated input with that sub-kernel. The sums are the same integers without the s² − 1 of s² terms
    that multiply inserted zeros (exact arithmetic: the order and the dropped zeros change nothing)."""

    def __init__(self, layer: nn.Conv2d | nn.ConvTranspose2d):
        if layer.groups != 1 or tuple(layer.dilation) != (1, 1):
            raise TypeError("grouped or dilated convolutions are not supported by the integer path")
        weight = layer.weight.detach()
        self.kernel = tuple(weight.shape[-2:])
        if isinstance(layer, nn.ConvTranspose2d):
            weight = weight.flip(-2, -1).transpose(0, 1)      # (in,out,k,k) -> (out,in,k,k)
            self.dilate = tuple(layer.stride)
            self.pad = tuple((k - 1 - p, k - 1 - p + o) for k, p, o in
                             zip(self.kernel, layer.padding, layer.output_padding))
            self.stride = (1, 1)
        else:
            self.dilate = (1, 1)
            self.pad = tuple((p, p) for p in layer.padding)
            self.stride = tuple(layer.stride)
        w, self.shift = quantize_weights(weight)
        self.weight = w.reshape(w.shape[0], -1).T.double()   # (C·kh·kw, O)
        self.weight_peak = peak(w) if w.numel() else 0
        self.bias = quantize_bias(layer.bias, self.shift)
        self.phase_weights = {}                               # (ry, rx) -> (C·nky·nkx, O) sub-kernel
        if self.dilate != (1, 1):
            (top, _), (left, _) = self.pad
            for ry in range(self.dilate[0]):
                for rx in range(self.dilate[1]):
                    ky0, kx0 = (top - ry) % self.dilate[0], (left - rx) % self.dilate[1]
                    sub = w[:, :, ky0::self.dilate[0], kx0::self.dilate[1]]
                    self.phase_weights[ry, rx] = sub.reshape(sub.shape[0], -1).T.double()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.dilate != (1, 1):
            return self._transposed(x)
        (top, bottom), (left, right) = self.pad
        x = F.pad(x.double(), (left, right, top, bottom))
        out_h = (x.shape[2] - self.kernel[0]) // self.stride[0] + 1
        out_w = (x.shape[3] - self.kernel[1]) // self.stride[1] + 1
        cols = F.unfold(x, self.kernel, stride=self.stride)[0].T          # (L, C·kh·kw)
        device = x.device
        acc = exact_matmul(cols, self.weight.to(device), b_peak=self.weight_peak) + self.bias.to(device)
        out = shift_round(acc, self.shift.to(device))                     # (L, O)
        return out.T.reshape(x.shape[0], -1, out_h, out_w)

    def _transposed(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-1 convolution of the zero-dilated, padded input, one output phase at a time."""
        b, c, h, w = x.shape
        (sh, sw), (kh, kw) = self.dilate, self.kernel
        (top, bottom), (left, right) = self.pad
        out_h, out_w = (h - 1) * sh + 1 + top + bottom - kh + 1, (w - 1) * sw + 1 + left + right - kw + 1
        device = x.device
        x = x.double()
        bias, shift = self.bias.to(device), self.shift.to(device)
        out = torch.empty(b, bias.shape[0], max(out_h, 0), max(out_w, 0), dtype=torch.int64, device=device)
        for (ry, rx), weight in self.phase_weights.items():
            nq, nr = len(range(ry, out_h, sh)), len(range(rx, out_w, sw))
            ky0, kx0 = (top - ry) % sh, (left - rx) % sw
            nky, nkx = len(range(ky0, kh, sh)), len(range(kx0, kw, sw))
            if nq == 0 or nr == 0:
                continue
            if nky == 0 or nkx == 0:                  # no tap meets an input sample: the bias alone
                out[:, :, ry::sh, rx::sw] = shift_round(bias, shift).view(1, -1, 1, 1)
                continue
            # output row ry + sh·q reads input rows q + dy + j, j < nky (zero outside the frame)
            dy, dx = (ry + ky0 - top) // sh, (rx + kx0 - left) // sw
            rows, cols = nq + nky - 1, nr + nkx - 1
            window = F.pad(x, (max(0, -dx), max(0, dx + cols - w), max(0, -dy), max(0, dy + rows - h)))
            window = window[:, :, max(0, dy):max(0, dy) + rows, max(0, dx):max(0, dx) + cols]
            patches = F.unfold(window, (nky, nkx))[0].T                     # (nq·nr, C·nky·nkx)
            acc = exact_matmul(patches, weight.to(device), b_peak=self.weight_peak) + bias
            out[:, :, ry::sh, rx::sw] = shift_round(acc, shift).T.reshape(b, -1, nq, nr)
        return out


class _Sequence:
    def __init__(self, layers: list):
        self.layers = layers

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def relu(x: torch.Tensor) -> torch.Tensor:
    return x.clamp_min(0)


class _Residual:
    def __init__(self, body):
        self.body = body

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _NonLocal:
    """Embedded-Gaussian non-local block: softmax over positions with an exp table and integer division."""

    def __init__(self, block: NonLocalBlock):
        self.theta, self.phi = IntegerConv2d(block.theta), IntegerConv2d(block.phi)
        self.g, self.out = IntegerConv2d(block.g), IntegerConv2d(block.out)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        assert b == 1, "the integer path codes one frame at a time"
        theta = self.theta(x)[0].flatten(1).T.double()                  # (HW, C/2)
        phi = self.phi(x)[0].flatten(1).double()                        # (C/2, HW)
        g = self.g(x)[0].flatten(1).T.double()                          # (HW, C/2)
        logits = shift_round(exact_matmul(theta, phi), FRAC)           # (HW, HW) at 2^FRAC
        weights = exp_negative(logits - logits.amax(1, keepdim=True))   # at 2^GATE_FRAC
        numerator = exact_matmul(weights.double(), g)                   # (HW, C/2) at 2^(GATE_FRAC+FRAC)
        denominator = weights.sum(1, keepdim=True)                      # >= 2^GATE_FRAC (the max's own term)
        y = torch.div(2 * numerator + denominator, 2 * denominator, rounding_mode="floor")
        return x + self.out(y.T.reshape(1, -1, h, w))


class _Attention:
    """NLAM / LAM: x + trunk(x) · σ(mask(x)). The float module's mask branch sees the call as if it had
    run: its forward pre-hooks before the integer mask, its forward hooks after, with the logits (as
    floats), so that :func:`nvc_core.layers.nlam.record_masks` shows the mask the integer path used
    (and hooks that pair up, such as a timer's, stay paired)."""

    def __init__(self, module: NLAM | LAM):
        self.trunk, self.mask = integer_network(module.trunk), integer_network(module.mask_branch)
        self.mask_branch = module.mask_branch

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for pre_hook in list(self.mask_branch._forward_pre_hooks.values()):
            pre_hook(self.mask_branch, ())
        logits = self.mask(x)
        for hook in list(self.mask_branch._forward_hooks.values()):
            hook(self.mask_branch, (), logits.double() / (1 << FRAC))
        return x + shift_round(self.trunk(x) * sigmoid(logits), GATE_FRAC)


def integer_network(module: nn.Module, linear: bool = False):
    """The integer version of a network built from the project's layers (convolutions, ReLU,
    residual blocks, NLAM/LAM, non-local blocks): a callable on int64 activations at 2^FRAC.
    ``linear``: a stack of 1x1(x1) convolutions and ReLUs applied to (K, N) columns."""
    if isinstance(module, nn.Sequential):
        return _Sequence([integer_network(m, linear) for m in module])
    if linear and isinstance(module, (nn.Conv2d, nn.Conv3d)) and set(module.kernel_size) == {1}:
        return IntegerLinear(module)
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return IntegerConv2d(module)
    if isinstance(module, nn.ReLU):
        return relu
    if isinstance(module, ResidualBlock):
        return _Residual(integer_network(module.body))
    if isinstance(module, (NLAM, LAM)):
        return _Attention(module)
    if isinstance(module, NonLocalBlock):
        return _NonLocal(module)
    if hasattr(module, "net"):
        return integer_network(module.net)
    raise TypeError(f"no integer version of {type(module).__name__}")


class IntegerLinear:
    """A stack of per-position linear maps (1x1 convolutions) on (K, N) int64 columns at 2^FRAC."""

    def __init__(self, layer: nn.Module):
        w, self.shift = quantize_weights(layer.weight.detach().reshape(layer.weight.shape[0], -1))
        self.weight = w.double()                                  # (O, K)
        self.peak = peak(w) if w.numel() else 0
        self.bias = quantize_bias(layer.bias, self.shift)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device
        acc = exact_matmul(self.weight.to(device), x.double(), a_peak=self.peak) + self.bias.to(device)[:, None]
        return shift_round(acc, self.shift.to(device)[:, None])   # (O, N)


T = TypeVar("T")
_CONVERTED: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def converted(module: nn.Module, build: Callable[[nn.Module], T]) -> T:
    """``build(module)``, kept with a digest of the parameter values it was built from and rebuilt
    when they differ (as the factorized prior keeps its table)."""
    digest = hashlib.blake2b(digest_size=16)
    for parameter in module.parameters():
        digest.update(parameter.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    key = digest.digest()
    cached = _CONVERTED.get(module)
    if cached is None or cached[0] != key:
        with torch.no_grad():
            cached = (key, build(module))
        _CONVERTED[module] = cached
    return cached[1]
