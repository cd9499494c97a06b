"""sampled_linear and MultiSampleLinear: values and gradients against K explicit masked copies with the same masks,
mask statistics, reproducibility, what is saved for backward, autocast, eval mode and bad inputs."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import msd_transformers.sampled_linear as sampled_linear_module
from msd_transformers.sampled_linear import (
    _LOW,
    _RANGE,
    MultiSampleLinear,
    _chunk_rows,
    _draw_keep,
    _random_bits,
    _threshold,
    sampled_linear,
)


def used_masks(state: torch.Tensor, x: torch.Tensor, rates) -> list[torch.Tensor | None]:
    """The masks `sampled_linear` drew from the generator `state` it started from: `scale * keep` per sample, shaped
    like `x` (`None` for a sample without dropout), drawn chunk of rows by chunk, each chunk's samples in turn."""
    generator = torch.Generator().set_state(state)
    x2 = x.detach().reshape(-1, x.shape[-1])
    rows = _chunk_rows(x2)
    masks = [None if _threshold(rate) == 0 else torch.empty_like(x2) for rate in rates]
    bits, keep = _random_bits(x2[:rows]), torch.empty_like(x2[:rows])
    for start in range(0, x2.shape[0], rows):
        chunk = keep[: min(rows, x2.shape[0] - start)]
        for rate, mask in zip(rates, masks, strict=True):
            scale = _draw_keep(rate, generator, bits, chunk)
            if scale is not None:
                mask[start : start + chunk.shape[0]] = chunk * scale
    return [None if mask is None else mask.view(x.shape) for mask in masks]


def naive(x, weight, bias, masks) -> torch.Tensor:
    """The reference: K explicit masked copies of `x`, `F.linear` on each, stacked."""
    return torch.stack([F.linear(x if m is None else x * m, weight, bias) for m in masks])


def leaves(shape, out_features, dtype, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=dtype).requires_grad_()
    w = torch.randn(out_features, shape[-1], generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(out_features, generator=g, dtype=dtype).requires_grad_() if bias else None
    return x, w, b


@pytest.mark.parametrize(
    # float32: torch's default tolerances (a sum of 16 products in another order differs by a few ulps of its terms)
    "dtype, tol",
    [(torch.float32, dict(rtol=1.3e-6, atol=1e-5)), (torch.float64, dict(rtol=1e-12, atol=1e-12))],
)
@pytest.mark.parametrize("shape", [(6, 16), (3, 5, 16), (2, 3, 4, 16)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("chunk_elements", [None, 80])  # 80: chunks of 5 rows, the last one shorter
def test_values_and_gradients_match_masked_copies(dtype, tol, shape, bias, chunk_elements, monkeypatch):
    if chunk_elements is not None:
        monkeypatch.setattr(sampled_linear_module, "_CHUNK_ELEMENTS", chunk_elements)
    rates = [0.1, 0.0, 0.5, 0.3, 0.1]
    x, w, b = leaves(shape, 7, dtype, bias)
    torch.manual_seed(0)  # the same masks whatever ran before in this process
    state = torch.get_rng_state()
    y = sampled_linear(x, w, b, rates)
    assert y.shape == (len(rates), *shape[:-1], 7) and y.dtype == dtype
    masks = used_masks(state, x, rates)
    ref = naive(x, w, b, masks)
    torch.testing.assert_close(y, ref, **tol)

    # The same loss as training uses: the mean over samples of a cross-entropy per sample.
    labels = torch.randint(0, 7, shape[:-1])
    params = [t for t in (x, w, b) if t is not None]

    def loss(out):
        return torch.stack([F.cross_entropy(o.reshape(-1, 7), labels.reshape(-1)) for o in out]).mean()

    grads = torch.autograd.grad(loss(y), params)
    ref_grads = torch.autograd.grad(loss(ref), params)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, **tol)


def test_non_contiguous_input():
    base = torch.randn(5, 4, 16, dtype=torch.float64)
    x = base.transpose(0, 1).requires_grad_()  # (4, 5, 16), not contiguous
    _, w, b = leaves((4, 5, 16), 3, torch.float64)
    rates = [0.2, 0.0, 0.6]
    state = torch.get_rng_state()
    y = sampled_linear(x, w, b, rates)
    ref = naive(x, w, b, used_masks(state, x, rates))
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(
        torch.autograd.grad(y.square().sum(), (x, w, b)),
        torch.autograd.grad(ref.square().sum(), (x, w, b)),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_rate_zero_samples_are_exactly_linear():
    x, w, b = leaves((4, 9, 16), 3, torch.float32)
    y = sampled_linear(x, w, b, [0.0, 0.4, 0.0])
    exact = F.linear(x, w, b)
    assert torch.equal(y[0], exact) and torch.equal(y[2], exact)
    assert not torch.equal(y[1], exact)
    before = torch.get_rng_state()
    y = sampled_linear(x, w, b, [0.0, 0.0])  # no dropout at all: no draws, two exact copies
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(y, exact.expand(2, *exact.shape))


def test_realised_rate_and_scale_are_exact():
    """The threshold rounds the rate to a multiple of 2**-31; kept values are scaled by exactly 1 / (1 - that)."""
    for p in [1e-9, 0.1, 1 / 3, 0.5, 0.9, 1 - 2**-31]:
        t = _threshold(p)
        assert 0 < t < _RANGE and abs(t / _RANGE - p) <= 2**-32
    assert _threshold(0.0) == 0 and _threshold(2**-34) == 0  # below the resolution: no dropout
    assert _threshold(1 - 2**-40) == _RANGE - 1  # the highest realised rate is 1 - 2**-31: something is kept
    p = 0.1
    x = torch.ones(5000, 1, dtype=torch.float64)
    y = sampled_linear(x, torch.ones(1, 1, dtype=torch.float64), None, [p])  # (1, 5000, 1): the mask times the scale
    kept = y[y != 0]
    realised = _threshold(p) / _RANGE
    assert torch.all(kept == 1 / (1 - realised))  # E[keep * scale] = (1 - realised) / (1 - realised) = 1 exactly


@pytest.mark.parametrize("p", [0.1, 0.5, 3.5 * 2**-16, 0.9])
def test_cpu_mask_is_the_full_31_bit_comparison(p):
    """On CPU a mask compares the 16-bit prefixes of its random integers with the threshold's and draws the 15 low
    bits only where the prefixes tie: exactly the mask `u >= t` of the whole integers u = u_hi * 2**15 + u_lo,
    written out here element by element from the same draws (the ties' low bits in row-major order)."""
    rows, cols = 1024, 1024  # 2**20 elements: about 16 ties per mask
    t = _threshold(p)
    t_hi, t_lo = divmod(t, _LOW)
    keep = torch.empty(rows, cols)
    bits = _random_bits(keep)
    assert bits.dtype == torch.int64 and bits.numel() == rows * cols // 4
    scale = _draw_keep(p, torch.Generator().manual_seed(1), bits, keep)
    assert scale == _RANGE / (_RANGE - t)

    generator = torch.Generator().manual_seed(1)
    words = torch.empty(rows * cols // 4, dtype=torch.int64).random_(-(2**63), None, generator=generator)
    u_hi = words.view(torch.int16).long() + 2**15  # (rows * cols,) uniform on [0, 2**16)
    ties = (u_hi == t_hi).nonzero().squeeze(1)
    u_lo = torch.zeros_like(u_hi)
    if t_lo:  # with t_lo = 0 the prefixes decide alone and nothing more is drawn
        u_lo[ties] = torch.empty(len(ties), dtype=torch.int32).random_(0, _LOW, generator=generator).long()
        assert len(ties) > 0
    reference = (u_hi * _LOW + u_lo >= t).float().view(rows, cols)
    assert torch.equal(keep, reference)
    assert abs((1 - keep.mean().item()) - t / _RANGE) < 6 * (t / _RANGE / (rows * cols)) ** 0.5 + 1e-6


@pytest.mark.parametrize("rates", [[0.3] * 4, [0.05, 0.6, 0.2, 0.45]])
def test_keep_rates_unbiased_mean_and_independence(rates):
    """Each sample keeps 1 - p of the elements, its mean is the input's, and masks are independent across samples
    (P(kept in both) = product) and across calls."""
    n = 200_000
    x = torch.ones(n, 1, dtype=torch.float64)
    w = torch.ones(1, 1, dtype=torch.float64)
    y = torch.cat([sampled_linear(x, w, None, rates), sampled_linear(x, w, None, rates)])[..., 0]  # (2K, n)
    keep = 1 - torch.tensor(rates * 2, dtype=torch.float64)
    kept = (y != 0).double()
    sigma = (keep * (1 - keep) / n).sqrt()
    assert ((kept.mean(1) - keep).abs() < 5 * sigma).all()
    mean_sigma = (keep * (1 / keep - 1) ** 2 + (1 - keep)).sqrt() / n**0.5  # std of the mean of scale * keep
    assert ((y.mean(1) - 1).abs() < 5 * mean_sigma).all()
    both = kept @ kept.T / n  # (2K, 2K): P(kept in i and in j)
    expected = keep[:, None] * keep[None, :]
    off = ~torch.eye(len(keep), dtype=torch.bool)
    sigma_both = (expected * (1 - expected) / n).sqrt()
    assert ((both - expected).abs()[off] < 5 * sigma_both[off]).all()


def test_reproducible_under_manual_seed():
    x, w, b = leaves((3, 5, 16), 4, torch.float32)

    def run(seed):
        torch.manual_seed(seed)
        y = sampled_linear(x, w, b, [0.2] * 3)
        return (y, *torch.autograd.grad(y.square().sum(), (x, w, b)))

    first, again, other = run(1), run(1), run(2)
    assert all(torch.equal(a, c) for a, c in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


def test_backward_redraws_the_forward_masks_whatever_happens_in_between():
    """Backward replays the masks from its saved state, even after other draws from the default generator."""
    x, w, b = leaves((4, 16), 3, torch.float64)
    state = torch.get_rng_state()
    y = sampled_linear(x, w, b, [0.5, 0.5])
    torch.rand(1000)  # other random work between forward and backward (e.g. the encoder's dropout)
    after = torch.get_rng_state()
    grads = torch.autograd.grad(y.sum(), (x, w, b))
    assert torch.equal(torch.get_rng_state(), after)  # backward does not draw from the default generator
    ref = naive(x, w, b, used_masks(state, x, [0.5, 0.5]))
    for got, want in zip(grads, torch.autograd.grad(ref.sum(), (x, w, b)), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_gradcheck():
    x, w, b = leaves((2, 3, 5), 4, torch.float64)

    def f(x, w, b):
        torch.manual_seed(0)  # the function is deterministic given the generator state
        return sampled_linear(x, w, b, [0.0, 0.3, 0.6])

    assert torch.autograd.gradcheck(f, (x, w, b))
    assert torch.autograd.gradcheck(lambda x, w: f(x, w, None), (x, w))


def test_saves_only_x_and_weight_and_nothing_without_grad():
    x, w, b = leaves((4, 6, 16), 3, torch.float32)
    packed = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t) or t, lambda t: t):
        y = sampled_linear(x, w, b, [0.1] * 8)
        assert len(packed) == 2  # no mask, no masked copy: x itself and the weight
        assert packed[0].untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        assert packed[1] is w or packed[1].data_ptr() == w.data_ptr()
        packed.clear()
        with torch.no_grad():
            z = sampled_linear(x, w, b, [0.1] * 8)
        assert packed == [] and z.grad_fn is None and y.grad_fn is not None


def test_autocast_bf16_close_to_fp32():
    x, w, b = leaves((4, 8, 32), 5, torch.float32)
    rates = [0.1, 0.0, 0.3]
    weights = torch.randn(len(rates), 4, 8, 5)  # a fixed linear loss: the gradients only see the bf16 rounding
    torch.manual_seed(0)
    y32 = sampled_linear(x, w, b, rates)
    g32 = torch.autograd.grad((y32 * weights).sum(), (x, w, b))
    torch.manual_seed(0)  # the same masks: the random bits do not depend on the dtype
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y16 = sampled_linear(x, w, b, rates)
        assert y16.dtype == torch.bfloat16 and y16.dtype == F.linear(x, w, b).dtype
    g16 = torch.autograd.grad((y16.float() * weights).sum(), (x, w, b))
    assert (y16.float() - y32).norm() < 1e-2 * y32.norm()
    for a, c, leaf in zip(g16, g32, (x, w, b), strict=True):
        assert a.dtype == leaf.dtype == torch.float32
        assert (a - c).norm() < 1e-2 * c.norm()


def test_module_training_eval_and_parameters():
    torch.manual_seed(0)
    linear = nn.Linear(16, 13)
    head = MultiSampleLinear.from_linear(linear, 5, "linspace(0.1, 0.5)")
    assert head.weight is linear.weight and head.bias is linear.bias and head.training
    assert not MultiSampleLinear.from_linear(linear.eval(), 5, 0.1).training  # the mode is kept too
    assert list(head.state_dict()) == ["weight", "bias"] and list(head.buffers()) == []
    assert head.rates == (0.1, 0.2, 0.3, 0.4, 0.5) and all(type(r) is float for r in head.rates)
    assert "num_samples=5" in repr(head) and "dropout=[0.1, 0.2, 0.3, 0.4, 0.5]" in repr(head)
    x = torch.randn(2, 7, 16)
    torch.manual_seed(3)
    y = head.train()(x)
    torch.manual_seed(3)
    assert y.shape == (5, 2, 7, 13) and torch.equal(y, sampled_linear(x, linear.weight, linear.bias, head.rates))
    before = torch.get_rng_state()
    y = head.eval()(x)
    assert torch.equal(y, linear(x).unsqueeze(0)) and torch.equal(torch.get_rng_state(), before)
    plain = MultiSampleLinear(16, 2, bias=False, num_samples=3, dropout=0.2)
    assert plain.bias is None and plain.rates == (0.2,) * 3 and "dropout=0.2" in repr(plain)
    assert plain(x).shape == (3, 2, 7, 2)


def test_bad_inputs_raise():
    x, w, b = leaves((4, 16), 3, torch.float32)
    for rates in ([], "0.1", 0.1, [1.0], [-0.1], [float("nan")], [True]):
        with pytest.raises(ValueError, match="rates"):
            sampled_linear(x, w, b, rates)
    with pytest.raises(ValueError, match="floating-point"):
        sampled_linear(torch.ones(4, 16, dtype=torch.long), w, b, [0.1])
    with pytest.raises(ValueError, match="does not match weight"):
        sampled_linear(torch.randn(4, 15), w, b, [0.1])
    with pytest.raises(ValueError, match="bias must have shape"):
        sampled_linear(x, w, torch.zeros(4), [0.1])
    with pytest.raises(ValueError, match="one dtype"):
        sampled_linear(x.double(), w, b, [0.1])
    for num_samples in (0, 1.5, True, "8"):
        with pytest.raises(ValueError, match="num_samples"):
            MultiSampleLinear(16, 3, num_samples=num_samples)
    for dropout in ([0.1, 0.2], 1.0, "linspace(0.1, 1.2)", "uniform"):
        with pytest.raises(ValueError):
            MultiSampleLinear(16, 3, num_samples=3, dropout=dropout)
    with pytest.raises(ValueError, match="nn.Linear"):
        MultiSampleLinear.from_linear(nn.Conv1d(3, 3, 1), 4, 0.1)


def test_swap_into_a_token_classification_model():
    """The intended use: a token head's dropout and classifier become one MultiSampleLinear; the state dict keys stay
    and the model returns the K samples per token in training, one in eval."""
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, num_labels=5
    )
    model = BertForTokenClassification(config)
    keys = list(model.state_dict())
    model.dropout = nn.Identity()
    model.classifier = MultiSampleLinear.from_linear(model.classifier, 4, 0.1)
    assert list(model.state_dict()) == keys
    input_ids = torch.randint(1, 99, (2, 6))
    logits = model.train()(input_ids).logits
    assert logits.shape == (4, 2, 6, 5)
    labels = torch.randint(0, 5, (2, 6))
    F.cross_entropy(logits.flatten(0, 2), labels.expand(4, 2, 6).flatten()).backward()
    assert model.classifier.weight.grad is not None and model.bert.embeddings.word_embeddings.weight.grad is not None
    assert model.eval()(input_ids).logits.shape == (1, 2, 6, 5)
