"""`sampled_linear` on DTensors: the sampled head under tensor parallelism.

`sampled_linear` hands its arguments here when any of them is a `torch.distributed.tensor.DTensor` (a head sharded
by `parallelize_module(model, mesh, {"classifier": ColwiseParallel(...)})`, by `RowwiseParallel`, or by a
Transformers tp plan that names the head). The samples are the ones the unsharded head draws: every rank draws each
sample's mask for the *global* shape of the input, chunk of rows by chunk and sample by sample, from its default
generator, exactly as `sampled_linear` does on a plain tensor, and uses the part of it that its shard needs. So with
the default generator in the same state on every rank (the same `torch.manual_seed` everywhere, as any replicated
computation needs) the masks, the outputs and the gradients are the unsharded head's (up to the order of the
floating-point sums across ranks), and the backward pass redraws them from the saved generator state as before.

Layouts, on a 1-D device mesh (the input is first redistributed to the layout its weight needs):

- `weight` `Replicate()` (bias `Replicate()`): the input is replicated; each rank computes every sample itself. The
  output is `Replicate()`.
- `weight` `Shard(0)` (bias `Shard(0)`; `ColwiseParallel`): the input is replicated; each rank computes its
  out-features of every sample with the full masks (`sampled_linear` on the local tensors, unchanged). The output is
  `Shard(-1)`; the input's gradient is `Partial()` (summed over ranks where the input came from).
- `weight` `Shard(1)` (bias `Replicate()`; `RowwiseParallel`): the input is sharded on its last (feature) dim; each
  rank draws the full mask of each chunk and uses its own columns of it. The output is `Partial()`: each rank's
  product of its columns, plus its part of the bias (DTensor's `Partial() + Replicate()`: `bias / n` on each of the
  n ranks); the caller reduces it (`RowwiseParallel` all-reduces to its `output_layouts`).

Transformers (5.24) tp plans: no family's own plan names `score` or `classifier` (the head stays whole and sees plain
tensors), and no plan is applied at `tp_size=1`; a plan that adds the head (`DistributedConfig(tp_plan={"score":
"colwise_gather_output"})`, or `"rowwise_split_input"`) runs it on DTensors with gradients enabled, and here. Without
gradients Transformers runs a sharded Linear on its local shards as plain tensors: by column that is the path of
`sampled_linear` on the replicated input (the same masks); by row the input holds only the rank's columns, and
`MultiSampleLinear` refuses to sample it (training or Monte-Carlo) with a `ValueError`: sample it under
`torch.enable_grad()`.

Memory per rank: as on one device, one chunk of the *global* input's width for the mask and its random bits (on CPU
about 2**19 elements, elsewhere all rows), plus, with `Shard(1)`, one local chunk for the masked copy; saved for
backward: the local input, the local weight and the generator state. Anything else (a mesh of more than one dim,
other weight placements, a bias placed otherwise than its weight, a DTensor mixed with a plain tensor, two meshes)
raises a `ValueError` that says which layouts are supported.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributed.tensor import DTensor, Partial, Placement, Replicate, Shard
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

from .sampled_linear import _chunk_rows, _default_generator, _draw_keep, _random_bits, _SampledLinear, _threshold

_SUPPORTED = (
    "weight Replicate() with bias Replicate(), weight Shard(0) with bias Shard(0) (ColwiseParallel), or weight "
    "Shard(1) with bias Replicate() (RowwiseParallel), on a 1-D device mesh"
)


def _placement(t: DTensor) -> Placement:
    """The one placement of a DTensor on a 1-D mesh, a `Shard` dim made non-negative."""
    (placement,) = t.placements
    if isinstance(placement, Shard) and placement.dim < 0:
        return Shard(placement.dim + t.dim())
    return placement


def _check_layout(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> Placement:
    """The weight's placement, after checking that `x`, `weight` and `bias` form a supported layout."""
    tensors = {"x": x, "weight": weight, "bias": bias}
    plain = [name for name, t in tensors.items() if t is not None and not isinstance(t, DTensor)]
    if plain:
        raise ValueError(
            f"sampled_linear got DTensors mixed with plain tensors ({', '.join(plain)}): pass every argument as a "
            "DTensor on the same mesh (for example DTensor.from_local(x, mesh, [Replicate()]))."
        )
    mesh = weight.device_mesh
    if any(t.device_mesh != mesh for t in tensors.values() if t is not None):
        raise ValueError("sampled_linear got DTensors on different device meshes: put x, weight and bias on one.")
    if mesh.ndim != 1:
        raise ValueError(f"sampled_linear supports DTensors on a 1-D device mesh, got a {mesh.ndim}-D mesh.")
    w_placement = _placement(weight)
    b_placement = None if bias is None else _placement(bias)
    expected_bias = Shard(0) if w_placement == Shard(0) else Replicate()
    if w_placement not in (Replicate(), Shard(0), Shard(1)) or b_placement not in (None, expected_bias):
        raise ValueError(
            f"sampled_linear got weight placed {w_placement!r} and bias {b_placement!r}: supported are {_SUPPORTED}."
        )
    return w_placement


def sampled_linear_dtensor(
    x: DTensor, weight: DTensor, bias: DTensor | None, rates: Sequence[float], dtype: torch.dtype
) -> DTensor:
    """`sampled_linear` of DTensors (arguments already checked there; `dtype` is the compute dtype): the samples
    `(S, *x.shape[:-1], out_features)` as a DTensor on the weight's mesh, with the unsharded head's masks."""
    w_placement = _check_layout(x, weight, bias)
    mesh, s, out_features = weight.device_mesh, len(rates), weight.shape[0]
    if w_placement == Shard(1):  # RowwiseParallel: each rank has its columns of x and of the weight
        if x.placements != (Shard(x.dim() - 1),):
            x = x.redistribute(mesh, [Shard(x.dim() - 1)])
        _, offset = compute_local_shape_and_global_offset(x.shape, mesh, x.placements)
        x_local = x.to_local()  # (*, h) columns offset[-1] : offset[-1] + h of x
        out = _SampledColumns.apply(x_local, weight.to_local(), rates, dtype, x.shape[-1], offset[-1])  # (S, N, out)
        out = DTensor.from_local(out.view(s, *x.shape[:-1], out_features), mesh, [Partial()], run_check=False)
        return out if bias is None else out + bias.to(dtype)  # still Partial(): each rank adds bias / n
    if x.placements != (Replicate(),):
        x = x.redistribute(mesh, [Replicate()])
    # With a sharded weight each rank's input gradient is its out-features' part: a partial sum over ranks.
    x_local = x.to_local(grad_placements=[Partial() if w_placement == Shard(0) else Replicate()])  # (*, in)
    b_local = None if bias is None else bias.to_local()
    out = _SampledLinear.apply(x_local, weight.to_local(), b_local, rates, dtype)  # (S, N, local out)
    out = out.view(s, *x.shape[:-1], -1)  # (S, *x.shape[:-1], local out)
    if w_placement == Replicate():
        return DTensor.from_local(out, mesh, [Replicate()], run_check=False)
    shape = torch.Size((s, *x.shape[:-1], out_features))
    stride = torch.empty(shape, device="meta").stride()  # the global tensor's (the local shards may be uneven)
    return DTensor.from_local(out, mesh, [Shard(out.dim() - 1)], run_check=False, shape=shape, stride=stride)


class _SampledColumns(torch.autograd.Function):
    """`sampled_linear` of this rank's columns `[start, start + h)` of an input `width` wide, without the bias: the
    rank's part of the sum over columns, `(S, N, out)`. Each chunk's mask is drawn for the full width (the draws of
    the unsharded input, in its order) and its columns are used; backward redraws them from the saved state."""

    @staticmethod
    def forward(ctx, x, weight, rates, dtype, width, start):  # x: (*, h); weight: (out, h)
        generator = _default_generator(x.device)
        ctx.state = generator.get_state()  # before the draws: backward replays them from here
        xc, wc = x.to(dtype), weight.to(dtype)
        x2 = xc.reshape(-1, xc.shape[-1])  # (N, h)
        out = x2.new_empty(len(rates), x2.shape[0], wc.shape[0])  # (S, N, out)
        zero = x2.new_zeros(())
        for s, rate in enumerate(rates):
            if _threshold(rate) == 0:  # no dropout: nothing drawn
                out[s] = x2 @ wc.t()  # (N, out)
        for chunk, s, scale, columns, scratch in _mask_columns(x2, rates, generator, width, start):
            if scale is not None:  # (out, n_c) = scale * W (x*keep)^T, then (n_c, out)
                out[s, chunk] = torch.addmm(zero, wc, torch.mul(columns, x2[chunk], out=scratch).t(), alpha=scale).t()
        ctx.save_for_backward(xc, weight)
        ctx.rates, ctx.width, ctx.start, ctx.x_dtype = rates, width, start, x.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (S, N, out), the same on every rank
        xc, weight = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[:2]
        x2 = xc.reshape(-1, xc.shape[-1])  # (N, h)
        wc = weight.to(xc.dtype)  # (out, h)
        generator = torch.Generator(device=xc.device)
        generator.set_state(ctx.state)
        grad_x = torch.zeros(x2.shape, dtype=ctx.x_dtype, device=x2.device) if need_x else None  # (N, h)
        grad_w = torch.zeros_like(weight) if need_w else None  # (out, h)
        with torch.autocast(xc.device.type, enabled=False):
            for chunk, s, scale, columns, scratch in _mask_columns(x2, ctx.rates, generator, ctx.width, ctx.start):
                g = grad_out[s, chunk]  # (n_c, out)
                if need_x:
                    if scale is None:
                        grad_x[chunk].add_(g @ wc)
                    else:
                        grad_x[chunk].addcmul_(g @ wc, columns, value=scale)  # scale * keep * (g W)
                if need_w:
                    xm = x2[chunk] if scale is None else torch.mul(columns, x2[chunk], out=scratch)  # (n_c, h)
                    grad_w.add_(g.t() @ xm, alpha=1.0 if scale is None else scale)  # (out, h)
        return grad_x.view(xc.shape) if need_x else None, grad_w, None, None, None, None


def _mask_columns(x2: torch.Tensor, rates: Sequence[float], generator: torch.Generator, width: int, start: int):
    """Yield `(rows, s, scale, columns, scratch)` for each chunk of rows and each sample, in the order of
    `sampled_linear` on an input `(N, width)`, each sample's mask of the chunk drawn as it draws it: `columns`
    `(n_c, h)` is this rank's columns `[start, start + h)` of the mask (`scale` is `None` for a sample without
    dropout: nothing drawn), `scratch` an `(n_c, h)` buffer for the masked copy, reused for the next one."""
    n, h = x2.shape
    full = x2[:, :1].expand(n, width)  # (N, width): the global input's shape, no memory, for the chunks and bits
    rows = _chunk_rows(full)  # the unsharded input's chunks
    bits = _random_bits(full[:rows])  # random bits of one chunk's global mask
    keep = x2.new_empty(rows, width)  # (rows, width): one chunk's global mask
    scratch = x2.new_empty(rows, h)  # (rows, h): the masked copy of the chunk's columns
    for first in range(0, n, rows):
        chunk = slice(first, min(first + rows, n))
        n_c = chunk.stop - first
        for s, rate in enumerate(rates):
            scale = _draw_keep(rate, generator, bits, keep[:n_c])
            yield chunk, s, scale, keep[:n_c, start : start + h], scratch[:n_c]
