"""Multi-sample dropout fused with the Linear after it: K dropout samples of `x`, never K masked copies.

`sampled_linear(x, weight, bias, rates)` returns `(S, *x.shape[:-1], out_features)`, sample `s` being
`F.linear(dropout_s(x), weight, bias)` with its own dropout mask of rate `rates[s]`. Stacking K masked copies of
token states `(B, T, H)` and keeping them for the backward pass (the usual recipe) costs K times the activation; here
the samples are computed one at a time and the masks are redrawn in backward from a saved generator state:

- Forward: the state of the default generator of `x.device` is recorded. The N rows of `x` (flattened to `(N, H)`)
  are taken in chunks: on CPU of about 2**19 elements, so that a chunk, its mask and its random bits stay in the
  cache while the samples run over them; on other devices all rows at once. Two scratch tensors of one chunk's size
  are allocated once per call: random bits (see below) and one buffer in the compute dtype. For each chunk, for each
  sample in turn, the sample's mask of the chunk is drawn from the default generator into the buffer (1.0 kept, 0.0
  dropped), the buffer is multiplied in place by the chunk of `x` (the masked copy) and by `weight` into the
  sample's rows of the output; the next sample overwrites the buffer. So at most one masked chunk of `x` exists at
  any time.
- Saved for backward: `x` itself (cast to the compute dtype, see autocast below), `weight`, the generator state
  (a CPU byte tensor: 5,056 bytes for the CPU Mersenne twister, 16 bytes for CUDA's Philox), the rates and two
  dtypes. No mask and no masked copy.
- Backward: a private generator restarts from the recorded state and redraws the masks in the same order, chunk by
  chunk and one sample at a time, into the same kind of scratch tensors (the default generator is not touched).
  Sample `s` adds `scale_s * keep_s * (g_s @ weight)` to the chunk's rows of `grad_x`, then turns its mask into the
  masked copy in place and adds `scale_s * g_s^T @ (x * keep_s)` to `grad_weight`; `grad_bias` is the sum of `g`
  over samples and positions. Again at most one masked chunk of `x` at any time.
- Under `torch.no_grad()` (evaluation, Monte-Carlo inference), or when no input requires a gradient, autograd
  records nothing: the Function's context is dropped, nothing is saved and the output has no `grad_fn`.

Random bits: an element is dropped when a uniform 31-bit integer `u` (on [0, 2**31)) is below `t = round(p * 2**31)`,
so the realised rate is exactly `t / 2**31`: within 2**-32 of `p`, finer than float32 `rand`'s 2**-24 (`t` is capped
at 2**31 - 1: rates above 1 - 2**-31 realise 1 - 2**-31). Kept elements are scaled by `2**31 / (2**31 - t)`, which
is `1 / (1 - realised rate)`, so the samples are unbiased (up to the rounding of that scale to the compute precision).
A rate that rounds to `t = 0` (0, or below 2**-32) is no dropout: nothing is drawn and the sample is exactly
`F.linear(x, weight, bias)`. The scale multiplies the `(out_features, N)` product (the `alpha` of `addmm`), not the
`(N, H)` input, which saves a pass over `x`. How `u` is drawn:

- On CPU, where drawing random numbers is most of a mask's cost, `u` is compared 16 bits at a time: its top 16 bits
  `u_hi` come from 64-bit draws (`int64` `random_` over the full range, each word cut into four 16-bit values, so
  one Mersenne-twister call per two elements), and `u < t` is decided by `u_hi` against `t_hi = t >> 15` alone,
  except for the elements where `u_hi == t_hi` (probability 2**-16): only for those are the 15 low bits `u_lo`
  drawn (`random_(0, 2**15)`), and the element is dropped when `u_lo < t & (2**15 - 1)`. The mask is exactly the
  one of the full 31-bit comparison, in distribution: each element is dropped with probability `t / 2**31`,
  independently. It costs about a quarter of the random draws of one `int32` per element.
- On other devices (random numbers are cheap there, and finding the ties would wait for the device), `u` is one
  `int32` `random_()` per element, compared whole.

Two paths, chosen per call by `torch.compiler.is_compiling()`:

- Eager (the default, everything above): the masks are drawn from the default generator and redrawn in backward
  from its saved state; nothing of the masks is kept.
- Compiled (while `torch.compile` traces the call, where `Generator.get_state()`, `random_` with a generator and
  the data-dependent `nonzero` of the ties cannot be traced): each sample with dropout draws
  `u = torch.randint(0, 2**31, (N, H), dtype=torch.int32)` from torch's RNG and keeps the elements where `u >= t`,
  with the eager path's threshold `t` and scale, so the realised rate is again exactly `t / 2**31` and the masks are
  independent across samples, elements and calls. With the `eager` and `aot_eager` backends `u` comes from the
  default generator; Inductor draws it from its Philox streams (a 64-bit Philox value modulo 2**31, uniform on
  [0, 2**31) since 2**31 divides 2**64; one seed per sample and per call, drawn from the default generator), so
  `torch.manual_seed` makes compiled runs reproducible too, but the masks are not the ones the eager path draws from
  the same seed. Memory: the masks are kept for backward as bool tensors, one byte per element and sample
  (`K * N * H` bytes, a quarter of one float32 copy of `x` per sample; 12.6 MB for K = 8 samples of 16 x 256 token
  states of size 384), besides `x` and `weight`; the masked copies are recomputed in backward. The samples are
  computed on all rows at once (no chunks).

Autocast: as `dropout` then `nn.Linear` under autocast, the product runs in the autocast dtype (`x`, `weight` and
`bias` are cast to it, float64 excepted) and the output has that dtype; the gradients come back in the dtypes of the
inputs, summed over samples in those dtypes (float32 for float32 parameters).

`MultiSampleLinear` is an `nn.Linear` (same `weight` and `bias`) that returns the K samples in training mode and one
plain `F.linear` in eval mode; `MultiSampleLinear.from_linear` wraps an existing Linear's parameters.

Tensor parallelism: when `x`, `weight` or `bias` is a DTensor (a head sharded by `parallelize_module` with
`ColwiseParallel` or `RowwiseParallel`, or by a Transformers tp plan that names it), `sampled_linear` hands them to
`sampled_linear_dtensor`, which draws every mask for the global shape of `x` in the order above and uses each rank's
part of it: the masks, outputs and gradients are the unsharded head's (see that module for the layouts, the memory
and the errors).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .dropout import DropoutSpec, check_positive_int, resolve_dropout, warn_if_identical

_RANGE = 2**31  # the masks compare uniform 31-bit integers with a threshold
_LOW = 2**15  # on CPU, the low 15 bits are drawn only where the top 16 bits tie with the threshold's
_CHUNK_ELEMENTS = 2**19  # on CPU, the rows are processed in chunks of about this many elements


def _threshold(rate: float) -> int:
    """The integer threshold `t` of a rate: an element is dropped when its draw is < t (realised rate t / 2**31)."""
    return min(round(rate * _RANGE), _RANGE - 1)


def _default_generator(device: torch.device) -> torch.Generator:
    """Torch's default generator of `device` (the one `torch.manual_seed` seeds and `F.dropout` draws from)."""
    if device.type == "cpu":
        return torch.default_generator
    module = torch.get_device_module(device)
    if not hasattr(module, "default_generators"):
        raise NotImplementedError(f"sampled_linear needs torch.{device.type}.default_generators, which is missing.")
    return module.default_generators[device.index if device.index is not None else module.current_device()]


def _random_bits(x2: torch.Tensor) -> torch.Tensor:
    """Scratch space for the random bits of one mask of `x2`'s shape (see `_draw_keep`): on CPU a quarter as many
    int64 words (four 16-bit prefixes each), elsewhere one int32 per element."""
    if x2.device.type == "cpu":
        return torch.empty((x2.numel() + 3) // 4, dtype=torch.int64)  # (ceil(N * H / 4),)
    return torch.empty(x2.shape, dtype=torch.int32, device=x2.device)  # (N, H)


def _draw_keep(rate: float, generator: torch.Generator, bits: torch.Tensor, keep: torch.Tensor) -> float | None:
    """Draw one sample's mask from `generator` into `keep` (2-D, 1.0 kept, 0.0 dropped), `bits` (`_random_bits` of
    `keep`'s shape or larger) being scratch space. Returns the scale `1 / (1 - realised rate)`, or `None` without
    drawing when the rate rounds to no dropout. Forward and backward replay the same masks by calling this for the
    chunks and samples in the same order, from generators in the same state: every draw depends only on the generator
    state and the shapes.
    """
    t = _threshold(rate)
    if t == 0:
        return None
    if bits.dtype == torch.int32:  # one 31-bit integer per element: u < t dropped
        torch.ge(bits[: keep.shape[0]].random_(generator=generator), t, out=keep)  # (N, H): a float mask
        return _RANGE / (_RANGE - t)
    t_hi, t_lo = divmod(t, _LOW)  # t = t_hi * 2**15 + t_lo, t_hi < 2**16
    words = bits[: (keep.numel() + 3) // 4].random_(-(2**63), None, generator=generator)  # 64 uniform bits each
    u_hi = words.view(torch.int16)[: keep.numel()].view(keep.shape)  # (N, H): 16 uniform bits each, signed
    signed_t_hi = t_hi - 2**15  # u_hi - 2**15 < t_hi - 2**15 <=> u_hi < t_hi
    if t_lo == 0:  # u < t <=> u_hi < t_hi: no ties to resolve
        torch.ge(u_hi, signed_t_hi, out=keep)
        return _RANGE / (_RANGE - t)
    torch.eq(u_hi, signed_t_hi, out=keep)  # (N, H): 1.0 at the ties (probability 2**-16), found row by row
    rows = keep.amax(1).nonzero().squeeze(1)  # (r,) the rows holding a tie: few
    tie_rows, tie_cols = keep[rows].nonzero(as_tuple=True)  # (n,), (n,): the ties in row-major order
    tie_rows = rows[tie_rows]
    torch.gt(u_hi, signed_t_hi, out=keep)  # (N, H): kept where u_hi > t_hi
    if tie_rows.numel():
        u_lo = torch.empty(tie_rows.numel(), dtype=torch.int32).random_(0, _LOW, generator=generator)  # (n,)
        keep[tie_rows, tie_cols] = (u_lo >= t_lo).to(keep.dtype)  # a tie is dropped when u_lo < t_lo
    return _RANGE / (_RANGE - t)


def _chunk_rows(x2: torch.Tensor) -> int:
    """Rows of `x2` (N, H) per chunk: on CPU about `_CHUNK_ELEMENTS` elements, so that a chunk, its mask and its random
    bits stay in the cache while the samples run over them; elsewhere all N rows at once."""
    if x2.device.type != "cpu":
        return max(1, x2.shape[0])
    return max(1, min(x2.shape[0], _CHUNK_ELEMENTS // max(1, x2.shape[1])))


def _forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    rates: Sequence[float],
    generator: torch.Generator,
) -> torch.Tensor:
    """The samples `(S, N, out_features)`, computed chunk of rows by chunk, and within a chunk one sample at a time
    (all tensors already in the compute dtype)."""
    x2 = x.reshape(-1, x.shape[-1])  # (N, H), N = prod(x.shape[:-1])
    n = x2.shape[0]
    out = x2.new_empty(len(rates), n, weight.shape[0])  # (S, N, out)
    for s, rate in enumerate(rates):
        if _threshold(rate) == 0:  # no dropout: nothing drawn, exactly the undropped Linear
            out[s] = F.linear(x, weight, bias).view(n, -1)  # (N, out)
    b = bias[:, None] if bias is not None else x2.new_zeros(())  # (out, 1)
    rows = _chunk_rows(x2)
    bits = _random_bits(x2[:rows])  # random bits of one chunk's mask, reused by every sample and chunk
    xm = torch.empty_like(x2[:rows])  # (rows, H): a mask, then its masked copy; the only one, reused
    for start in range(0, n, rows):
        xc = x2[start : start + rows]  # (n_c, H), n_c <= rows
        keep = xm[: xc.shape[0]]  # (n_c, H)
        for s, rate in enumerate(rates):
            scale = _draw_keep(rate, generator, bits, keep)
            if scale is not None:
                # (out, n_c) = b + scale * W (x*keep)^T, then (n_c, out): on CPU faster than (x*keep) W^T for few
                # outputs
                out[s, start : start + xc.shape[0]] = torch.addmm(b, weight, keep.mul_(xc).t(), alpha=scale).t()
    return out


class _SampledLinear(torch.autograd.Function):
    """Autograd of `_forward`: saves `x`, `weight` and the generator state; redraws the masks in backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, rates, dtype):
        generator = _default_generator(x.device)
        ctx.state = generator.get_state()  # before the draws: backward replays them from here
        xc, wc = x.to(dtype), weight.to(dtype)  # no copies unless autocast changes the dtype
        bc = bias.to(dtype) if bias is not None else None
        out = _forward(xc, wc, bc, rates, generator)  # (S, N, out)
        ctx.save_for_backward(xc, weight)
        ctx.rates, ctx.x_dtype, ctx.bias_dtype = rates, x.dtype, None if bias is None else bias.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (S, N, out)
        xc, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        x2 = xc.reshape(-1, xc.shape[-1])  # (N, H)
        wc = weight.to(xc.dtype)  # (out, H)
        generator = torch.Generator(device=xc.device)
        generator.set_state(ctx.state)
        rows = _chunk_rows(x2)  # the forward's chunks, in its order
        bits = _random_bits(x2[:rows])  # random bits of one chunk's mask
        scratch = torch.empty_like(x2[:rows])  # (rows, H): a mask, then its masked copy (for grad_w)
        gx_scratch = torch.empty_like(x2[:rows]) if need_x else None  # (rows, H): g_s @ weight
        grad_x = torch.zeros(x2.shape, dtype=ctx.x_dtype, device=x2.device) if need_x else None  # (N, H)
        grad_w = torch.zeros_like(weight) if need_w else None  # (out, H)
        with torch.autocast(xc.device.type, enabled=False):
            for start in range(0, x2.shape[0], rows):
                xs = x2[start : start + rows]  # (n_c, H)
                keep = scratch[: xs.shape[0]]  # (n_c, H)
                for s, rate in enumerate(ctx.rates):
                    scale = _draw_keep(rate, generator, bits, keep)
                    g = grad_out[s, start : start + xs.shape[0]]  # (n_c, out)
                    if need_x:
                        gx = torch.mm(g, wc, out=gx_scratch[: xs.shape[0]])  # (n_c, H)
                        if scale is None:
                            grad_x[start : start + xs.shape[0]].add_(gx)
                        else:
                            grad_x[start : start + xs.shape[0]].addcmul_(gx, keep, value=scale)  # scale*keep*(g W)
                    if need_w:
                        xm = xs if scale is None else keep.mul_(xs)  # (n_c, H): the masked copy
                        grad_w.add_(g.t() @ xm, alpha=1.0 if scale is None else scale)  # (out, H)
        grad_b = grad_out.sum((0, 1), dtype=ctx.bias_dtype) if ctx.bias_dtype is not None and need_b else None
        return grad_x.view(xc.shape) if need_x else None, grad_w, grad_b, None, None


def _draw_compiled_masks(x2: torch.Tensor, rates: Sequence[float]) -> torch.Tensor | None:
    """The compiled path's masks: `(D, N, H)` bool (True kept), one for each of the D samples with dropout, in order;
    `None` when no sample has dropout. Each element is kept when `torch.randint(0, 2**31)` (torch's RNG) is >= the
    sample's threshold, so the realised rate is `t / 2**31`, as in the eager path."""
    keeps = [
        torch.randint(0, _RANGE, x2.shape, dtype=torch.int32, device=x2.device) >= _threshold(rate)  # (N, H)
        for rate in rates
        if _threshold(rate) != 0
    ]
    return torch.stack(keeps) if keeps else None  # (D, N, H)


class _MaskedSamplesLinear(torch.autograd.Function):
    """Autograd of the compiled path: the samples from masks drawn beforehand; saves `x`, `weight` and the bool
    masks, and recomputes the masked copies in backward. Traceable by `torch.compile` (no generator state, no
    data-dependent shapes)."""

    @staticmethod
    def forward(ctx, x, weight, bias, keep, rates, dtype):  # x (*, H), keep (D, N, H) bool
        xc, wc = x.to(dtype), weight.to(dtype)
        x2 = xc.reshape(-1, xc.shape[-1])  # (N, H)
        b = bias.to(dtype) if bias is not None else x2.new_zeros(())  # (out,) or ()
        outs, d = [], 0
        for rate in rates:
            t = _threshold(rate)
            if t == 0:  # no dropout: exactly the undropped Linear
                outs.append(F.linear(x2, wc, None if bias is None else b))  # (N, out)
                continue
            xm = x2 * keep[d]  # (N, H): the masked copy, not kept
            outs.append(torch.addmm(b, xm, wc.t(), alpha=_RANGE / (_RANGE - t)))  # (N, out)
            d += 1
        ctx.save_for_backward(xc, weight, keep)
        ctx.rates, ctx.x_dtype, ctx.bias_dtype = rates, x.dtype, None if bias is None else bias.dtype
        return torch.stack(outs)  # (S, N, out)

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (S, N, out)
        xc, weight, keep = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        x2 = xc.reshape(-1, xc.shape[-1])  # (N, H)
        wc = weight.to(xc.dtype)  # (out, H)
        grad_x = torch.zeros(x2.shape, dtype=ctx.x_dtype, device=x2.device) if need_x else None  # (N, H)
        grad_w = torch.zeros_like(weight) if need_w else None  # (out, H)
        d = 0
        for s, rate in enumerate(ctx.rates):
            t = _threshold(rate)
            scale = 1.0 if t == 0 else _RANGE / (_RANGE - t)
            mask = None if t == 0 else keep[d]  # (N, H)
            d += t != 0
            g = grad_out[s]  # (N, out)
            if need_x:
                gx = g @ wc  # (N, H)
                grad_x = grad_x + (gx if mask is None else gx * mask * scale).to(ctx.x_dtype)
            if need_w:
                xm = x2 if mask is None else x2 * mask  # (N, H)
                grad_w = grad_w + (g.t() @ xm).to(weight.dtype) * scale  # (out, H)
        grad_b = grad_out.sum((0, 1), dtype=ctx.bias_dtype) if ctx.bias_dtype is not None and need_b else None
        return grad_x.view(xc.shape) if need_x else None, grad_w, grad_b, None, None, None


def _compiled_sampled_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, rates: tuple[float, ...], dtype: torch.dtype
) -> torch.Tensor:
    """`sampled_linear` under `torch.compile`: `(S, N, out)`, the masks drawn with `torch.randint` and kept for
    backward (see the module docstring)."""
    keep = _draw_compiled_masks(x.reshape(-1, x.shape[-1]), rates)  # (D, N, H) bool or None
    return _MaskedSamplesLinear.apply(x, weight, bias, keep, rates, dtype)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype of the product: the autocast dtype of `x.device` when autocast is on (not for float64), else
    `x.dtype`."""
    device_type = x.device.type
    if torch.is_autocast_enabled(device_type) and x.dtype != torch.float64:
        return torch.get_autocast_dtype(device_type)
    return x.dtype


def _any_dtensor(*tensors: torch.Tensor | None) -> bool:
    """Whether one of `tensors` is a DTensor (none can be before `torch.distributed.tensor` is imported)."""
    dtensor = getattr(sys.modules.get("torch.distributed.tensor"), "DTensor", None)
    return dtensor is not None and any(isinstance(t, dtensor) for t in tensors)


def sampled_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, rates: Sequence[float]
) -> torch.Tensor:
    """`F.linear` of S dropout samples of `x`, keeping at most one masked copy of `x` at any time.

    Sample `s` is `F.linear(dropout_s(x), weight, bias)`, where `dropout_s` zeroes each element of `x` independently
    with probability `rates[s]` and scales the kept ones by `1 / (1 - rates[s])` (realised rate: see the module
    docstring). Masks are independent across samples, elements and calls, and drawn from torch's default generator
    of `x.device`, so `torch.manual_seed` makes them reproducible. Eagerly, the backward pass redraws them from a
    saved generator state instead of keeping them. Under `torch.compile` (`torch.compiler.is_compiling()`), where the
    generator state cannot be traced, they are drawn with `torch.randint` (the same rate, exactly) and kept for the
    backward pass as bool tensors (`len(rates) * x.numel()` bytes at most); see the module docstring.

    DTensors (tensor parallelism, 1-D device mesh): `weight` `Replicate()`, `Shard(0)` (`ColwiseParallel`; output
    `Shard(-1)`) or `Shard(1)` (`RowwiseParallel`; output `Partial()`), the bias `Shard(0)` with a `Shard(0)` weight
    and `Replicate()` otherwise; `x` in any placement is redistributed to the one its weight needs (`Replicate()`,
    or `Shard(-1)` for a `Shard(1)` weight). Every rank draws each mask for the global shape of `x` (one chunk of
    it at a time, as above) and uses its shard's part, so with the default generator in the same state on every
    rank (one `torch.manual_seed` for all) the samples and gradients are the unsharded ones. Memory per rank: the
    local `x` and weight saved, and one global-width chunk of mask and random bits at a time.

    Args:
        x (`torch.Tensor`): The input, `(*, in_features)`, floating point.
        weight (`torch.Tensor`): `(out_features, in_features)`.
        bias (`torch.Tensor`, *optional*): `(out_features,)` or `None`.
        rates (`Sequence[float]`): One dropout rate in [0, 1) per sample (S = `len(rates)` >= 1); 0 means the
            sample is `F.linear(x, weight, bias)` exactly.

    Returns:
        `torch.Tensor`: `(S, *x.shape[:-1], out_features)`, in the autocast dtype under autocast.

    Raises:
        `ValueError`: for an empty or invalid `rates`, a non-floating `x`, or shapes / dtypes that do not match; for
            DTensors mixed with plain tensors, on different meshes or a mesh of more than one dim, or placed
            otherwise than above.
    """
    if isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence) or len(rates) == 0:
        raise ValueError(f"rates must be a non-empty sequence of floats in [0, 1), got {rates!r}.")
    rates = tuple(resolve_dropout(list(rates), len(rates), what="rates"))
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}.")
    if weight.dim() != 2 or x.dim() < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"x of shape {tuple(x.shape)} does not match weight of shape {tuple(weight.shape)}: "
            "expected x (*, in_features) and weight (out_features, in_features)."
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}.")
    dtype = _compute_dtype(x)
    autocast = torch.is_autocast_enabled(x.device.type) and x.dtype != torch.float64
    if not autocast and (weight.dtype != dtype or (bias is not None and bias.dtype != dtype)):
        raise ValueError(
            f"x is {x.dtype} but weight is {weight.dtype} and bias {None if bias is None else bias.dtype}: "
            "use one dtype (or autocast)."
        )
    if torch.compiler.is_compiling():  # the generator-state replay cannot be traced: masks from torch's RNG, kept
        out = _compiled_sampled_linear(x, weight, bias, rates, dtype)  # (S, N, out)
    elif _any_dtensor(x, weight, bias):  # tensor parallelism: the same masks, on each rank's shard
        from .sampled_linear_dtensor import sampled_linear_dtensor

        return sampled_linear_dtensor(x, weight, bias, rates, dtype)  # (S, *x.shape[:-1], out), a DTensor
    else:
        out = _SampledLinear.apply(x, weight, bias, rates, dtype)  # (S, N, out); no graph, nothing saved under no_grad
    return out.view(len(rates), *x.shape[:-1], weight.shape[0])  # (S, *x.shape[:-1], out)


class MultiSampleLinear(nn.Linear):
    """An `nn.Linear` that applies K dropout samples to its input: `(K, *x.shape[:-1], out_features)` in training.

    The fused form of `MultiSampleDropout` followed by a Linear (see `sampled_linear`): the K samples cost the memory
    of one, which matters for token states `(B, T, H)`. The parameters are `nn.Linear`'s (state-dict keys `weight`
    and `bias`); the rates are plain Python floats (no buffers, so meta-device loading cannot corrupt them). In eval
    mode dropout is the identity and `forward` returns the single sample `F.linear(x).unsqueeze(0)`. Sharded by
    `ColwiseParallel` / `RowwiseParallel` (DTensor weights), it draws the unsharded layer's samples (see
    `sampled_linear`).

    Args:
        in_features (`int`): Size of each input sample.
        out_features (`int`): Size of each output sample.
        bias (`bool`, *optional*, defaults to `True`): Whether the layer has a bias.
        num_samples (`int`, *optional*, defaults to 8): The number of dropout samples K (>= 1).
        dropout (`float`, `Sequence[float]` or `str`, *optional*, defaults to 0.1):
            One rate in [0, 1) for every sample, one rate per sample, or `"linspace(a, b)"`.
        device (`torch.device`, *optional*): Device of the parameters.
        dtype (`torch.dtype`, *optional*): Dtype of the parameters.

    Raises:
        `ValueError`: for a bad `num_samples` or `dropout`; in `forward`, when sampling (training, or Monte-Carlo)
            the local shards of a row-sharded layer as plain tensors (input and weight narrower than `in_features`:
            Transformers' rowwise tp styles run so without gradients), whose masks cannot be the unsharded ones.

    Example:

    ```python
    >>> head = MultiSampleLinear(384, 13, num_samples=5, dropout="linspace(0.1, 0.5)")
    >>> head(torch.randn(2, 7, 384)).shape
    torch.Size([5, 2, 7, 13])
    ```
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        num_samples: int = 8,
        dropout: DropoutSpec = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.num_samples = check_positive_int(num_samples, "num_samples")
        self.rates: tuple[float, ...] = tuple(resolve_dropout(dropout, self.num_samples, what="dropout"))
        warn_if_identical(self.num_samples, self.rates, type(self).__name__)

    monte_carlo = None  # the sampler of an `mc_dropout` context around the model, which then draws the samples

    @property
    def uniform(self) -> bool:
        """Whether every sample uses the same rate."""
        return len(set(self.rates)) == 1

    @classmethod
    def from_linear(cls, linear: nn.Linear, num_samples: int, dropout: DropoutSpec) -> MultiSampleLinear:
        """A `MultiSampleLinear` that shares `linear`'s `weight` and `bias` Parameter objects (a module swap keeps
        the weights and their names).

        Raises:
            `ValueError`: if `linear` is not an `nn.Linear`, or for a bad `num_samples` or `dropout`.
        """
        if not isinstance(linear, nn.Linear):
            raise ValueError(f"from_linear expects an nn.Linear, got {type(linear).__name__}.")
        module = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            num_samples=num_samples,
            dropout=dropout,
            device="meta",  # no allocation: the parameters are replaced by linear's
        )
        module.weight = linear.weight
        module.bias = linear.bias
        return module.train(linear.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local_row_shard = x.shape[-1] == self.weight.shape[-1] != self.in_features  # Transformers' rowwise, no grad
        if local_row_shard and (self.training or self.monte_carlo is not None):
            raise ValueError(  # the local shards of a row-sharded head: the masks of its columns would be wrong
                f"{type(self).__name__} got an input of {x.shape[-1]} features and a weight of as many, but has "
                f"in_features={self.in_features}: a row-sharded head run on local tensors (as Transformers' rowwise "
                "tp styles run without gradients) cannot draw the unsharded head's masks. Sample it with gradients "
                "enabled (torch.enable_grad()), where it runs on DTensors, or shard it by columns."
            )
        if self.monte_carlo is not None:  # inside `mc_dropout`: see `MonteCarloDropout.sample`
            return self.monte_carlo.sample(self, x)
        if not self.training:
            return F.linear(x, self.weight, self.bias).unsqueeze(0)  # (1, *x.shape[:-1], out): dropout is the identity
        return sampled_linear(x, self.weight, self.bias, self.rates)  # (K, *x.shape[:-1], out)

    def extra_repr(self) -> str:
        rates = self.rates[0] if self.uniform else list(self.rates)
        return f"{super().extra_repr()}, num_samples={self.num_samples}, dropout={rates}"
