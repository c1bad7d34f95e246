"""Function-preserving widening of trained coders (Net2Net-style; goes beyond the paper).

Weights trained with N / M channels are copied into a model with N' ≥ N / M' ≥ M channels:

  * every old weight keeps its place (channel c of the old layer is channel c of the new one);
  * the weights by which an old output channel would read a new input channel are zero;
  * every other new weight keeps its fresh initialisation.

The old channels therefore compute what they did. New hidden channels start as random features that
no old channel reads; the weights that read them get gradients from the first step.
New latent channels (M' > M) are different: each one costs bits, and a random one costs many, so the
rate term silences it before the decoder has learnt to use it (measured: all 128 new channels of a
64 -> 192 widening were zero after 1,700 steps). They therefore start *silent*: the encoder's last
convolutions write zero into them (ŷ = 0 costs next to nothing), while the decoder's first
convolutions read them with their fresh weights, so the distortion pulls information into them from
the first step. At rounding (coding) ŷ = 0 there, and the decoder computes what it did.

Three layers need more than that:

  * the non-local block's φ: its new embedding channels start at zero, so θᵀφ (a sum over the
    embedding channels) and with it the attention map are unchanged;
  * the hyper decoder's last layer: its output is ``hyper_k`` blocks of M channels (PA reads it as
    (k, C)), so it is widened block by block;
  * the ConvLSTM of the TUM (gate blocks over a concatenated input) is not widened: a widened
    neuro-Motion gets a fresh one.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from nvc_core.entropy.conv_lstm import ConvLSTM
from nvc_core.layers.nlam import NLAM, NonLocalBlock
from nvc_core.models.vae import HyperDecoder, VAEEngine


@dataclass(frozen=True)
class Layout:
    """Which dimension of a tensor holds input and output channels, in how many blocks the output is,
    and which of its new weights start at zero (new output rows; old outputs' reads of new inputs)."""
    in_dim: int | None = None
    out_dim: int | None = None
    out_blocks: int = 1
    zero_new_outputs: bool = False
    zero_new_reads: bool = True


def layouts(model: nn.Module) -> tuple[dict[str, Layout], set[str]]:
    """The layout of every convolution's weight and bias in ``model``, and the names never widened."""
    found: dict[str, Layout] = {}
    fixed: set[str] = set()
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, ConvLSTM):
            fixed |= {prefix + n for n, _ in module.named_parameters()}
        if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            continue
        in_dim, out_dim = (0, 1) if isinstance(module, nn.ConvTranspose2d) else (1, 0)
        found[prefix + "weight"] = Layout(in_dim, out_dim)
        found[prefix + "bias"] = Layout(None, 0)
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, HyperDecoder):
            last = f"{prefix}net.{len(module.net) - 1}."
            k = module.hyper_k
            found[last + "weight"] = Layout(0, 1, out_blocks=k)
            found[last + "bias"] = Layout(None, 0, out_blocks=k)
        if isinstance(module, NonLocalBlock):
            found[prefix + "phi.weight"] = Layout(1, 0, zero_new_outputs=True)
            found[prefix + "phi.bias"] = Layout(None, 0, zero_new_outputs=True)
    for name, module in model.named_modules():     # last: it refines the layouts of the coder's layers
        if isinstance(module, VAEEngine):
            _silent_latents(module, f"{name}." if name else "", found)
    return found, fixed


def _silent_latents(coder: VAEEngine, prefix: str, found: dict[str, Layout]) -> None:
    """New latent channels start at zero in Em (its last conv and the residual blocks of its final NLAM
    write zero into them) and are read with fresh weights by the convolutions of Dm's first NLAM that
    see ŷ itself."""
    end, nlam = len(coder.em.net), coder.em.net[-1]       # Em ends in [conv(N, M), NLAM(M)]
    silent = [f"net.{end - 2}"] + [f"net.{end - 1}.trunk.{i}.body.2" for i in range(len(nlam.trunk))]
    for name in silent:
        found[f"{prefix}em.{name}.weight"] = Layout(1, 0, zero_new_outputs=True)
        found[f"{prefix}em.{name}.bias"] = Layout(None, 0, zero_new_outputs=True)
    first = next(n for n, m in coder.dm.named_modules() if isinstance(m, NLAM))
    for name in ("trunk.0.body.0", "mask_branch.0.theta", "mask_branch.0.phi", "mask_branch.0.g"):
        key = f"{prefix}dm.{first}.{name}.weight"
        found[key] = replace(found[key], zero_new_reads=False)


def _old_positions(old: int, new: int, blocks: int) -> torch.Tensor:
    """Where the ``old`` channels (in ``blocks`` equal blocks) sit among ``new`` channels."""
    return torch.cat([b * (new // blocks) + torch.arange(old // blocks) for b in range(blocks)])


def grow(fresh: torch.Tensor, old: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``fresh`` (the wider model's initial tensor) with ``old`` embedded by the rule of the module docstring."""
    new = fresh.clone()
    old = old.to(new.dtype)
    places = [torch.arange(n) for n in old.shape]
    if layout.out_dim is not None:
        d = layout.out_dim
        places[d] = _old_positions(old.shape[d], new.shape[d], layout.out_blocks)
    new[torch.meshgrid(*places, indexing="ij")] = old
    if layout.zero_new_reads and layout.in_dim is not None and new.shape[layout.in_dim] > old.shape[layout.in_dim]:
        reads_new = list(places)
        reads_new[layout.in_dim] = torch.arange(old.shape[layout.in_dim], new.shape[layout.in_dim])
        new[torch.meshgrid(*reads_new, indexing="ij")] = 0.0
    if layout.zero_new_outputs:
        d = layout.out_dim
        added = [torch.arange(n) for n in new.shape]
        added[d] = torch.arange(old.shape[d], new.shape[d])
        new[torch.meshgrid(*added, indexing="ij")] = 0.0
    return new


def widen_state(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """The tensors of ``state`` that fit ``model``: equal shapes as they are, narrower ones grown.

    Returns them (in the model's dtypes) and how many were grown."""
    own = model.state_dict()
    found, fixed = layouts(model)
    fitting, grown = {}, 0
    for name, old in state.items():
        fresh = own.get(name)
        if fresh is None or fresh.dim() != old.dim():
            continue
        if fresh.shape == old.shape:
            fitting[name] = old.to(fresh.dtype)
        elif name not in fixed and all(o <= n for o, n in zip(old.shape, fresh.shape)):
            fitting[name] = grow(fresh, old, found.get(name, Layout()))
            grown += 1
    return fitting, grown
