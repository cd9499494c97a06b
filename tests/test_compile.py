"""torch.compile: the MSD models compile with no graph break in training and eval, the compiled path of
`sampled_linear` (masks from torch's RNG, kept for backward) has the rate, independence, loss and gradients of the
method, and eager training is bit-for-bit what it was (a recorded reference)."""

from pathlib import Path

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from conftest import make_inputs, tiny_config
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

import msd_transformers as msd
import msd_transformers.sampled_linear as sampled_linear_module
from msd_transformers.loss import sample_losses, token_sample_losses
from msd_transformers.sampled_linear import (
    _RANGE,
    _compiled_sampled_linear,
    _draw_compiled_masks,
    _threshold,
    sampled_linear,
)

REFERENCE = Path(__file__).resolve().parent / "data" / "sampled_linear_eager_reference.pt"

# Rates whose scales are powers of two (2, 4 and 2**17) and integer inputs: every sum the eager path forms is exact in
# float32 whatever the order of the summation, so the reference holds bit for bit on any CPU. 1 - 2**-17 is
# t = 2**31 - 2**14: every kept element is a tie of the 16-bit prefixes resolved by its 15 low bits.
_TIE_RATE = 1 - 2**-17


def _integers(shape, generator, low=-3, high=4) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=generator).float()


def eager_reference() -> dict[str, torch.Tensor]:
    """Outputs, gradients and the generator's next draws of two eager `sampled_linear` calls from `manual_seed(0)`:
    a 3-D input in chunks of 5 rows with rates 0.5, 0, 0.75, 0.5, and a (64, 2048) input in chunks of 16 rows at the
    tie rate (stored sparse: few elements are kept). `tests/data/sampled_linear_eager_reference.pt` holds them as the
    eager path computed them before the compiled path existed."""
    g = torch.Generator().manual_seed(1)
    cases = {
        "small": ((3, 5, 16), 4, (0.5, 0.0, 0.75, 0.5), 80),
        "ties": ((64, 2048), 1, (_TIE_RATE,) * 3, 2**15),
    }
    result = {}
    torch.manual_seed(0)
    for name, (shape, out_features, rates, chunk) in cases.items():
        x = _integers(shape, g).requires_grad_()
        w, b = _integers((out_features, shape[-1]), g).requires_grad_(), _integers((out_features,), g).requires_grad_()
        cotangent = _integers((len(rates), *shape[:-1], out_features), g, -2, 3)
        saved, sampled_linear_module._CHUNK_ELEMENTS = sampled_linear_module._CHUNK_ELEMENTS, chunk
        try:
            y = sampled_linear(x, w, b, rates)
            result[f"{name}_next_draws_after_forward"] = torch.randint(0, 2**31, (4,))
            grads = torch.autograd.grad((y * cotangent).sum(), (x, w, b))
        finally:
            sampled_linear_module._CHUNK_ELEMENTS = saved
        sparse = name == "ties"
        for key, value in zip(("out", "grad_x", "grad_weight", "grad_bias"), (y.detach(), *grads), strict=True):
            result[f"{name}_{key}"] = value.to_sparse() if sparse and key != "grad_bias" else value
        result[f"{name}_next_draws_after_backward"] = torch.randint(0, 2**31, (4,))
    return result


def test_eager_path_is_bit_for_bit_the_recorded_reference():
    """Eager `sampled_linear` (forward, backward and how far it advances the default generator) is exactly what it
    was when the reference was recorded: the compiled path changed nothing outside compilation."""
    recorded = torch.load(REFERENCE)
    now = eager_reference()
    assert recorded.keys() == now.keys()
    for key, value in now.items():
        want = recorded[key]
        if want.layout == torch.sparse_coo:
            want, value = want.to_dense(), value.to_dense()
        assert value.dtype == want.dtype and torch.equal(value, want), key
    assert recorded["ties_grad_x"]._nnz() > 0  # the tie rate kept something: the ties were resolved


# ------------------------------------------------------------------------------------ the compiled path, head level
def _leaves(shape, out_features, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=dtype).requires_grad_()
    w = torch.randn(out_features, shape[-1], generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(out_features, generator=g, dtype=dtype).requires_grad_()
    return x, w, b


def _direct(x, w, b, rates, keep):
    """The reference: one explicit masked copy per sample, `F.linear(x * keep_s / (1 - realised rate))`."""
    outs, d = [], 0
    for rate in rates:
        t = _threshold(rate)
        if t == 0:
            outs.append(F.linear(x, w, b))
            continue
        mask = keep[d].view(x.shape).to(x.dtype) * (_RANGE / (_RANGE - t))
        outs.append(F.linear(x * mask, w, b))
        d += 1
    return torch.stack(outs)


def _compiled(fn, backend="aot_eager"):
    torch._dynamo.reset()
    return torch.compile(fn, fullgraph=True, backend=backend)


RATES = (0.1, 0.0, 0.5, 0.3)


def test_compiled_path_values_and_gradients_match_masked_copies():
    """The compiled path (`torch.compile`, `aot_eager`: torch's RNG in graph order) draws the masks
    `_draw_compiled_masks` draws from the same seed, and its samples and gradients are those of explicit masked
    copies with them; nothing but x, the weight and the bool masks is saved for backward."""
    x, w, b = _leaves((3, 5, 16), 7)
    cotangent = torch.randn(len(RATES), 3, 5, 7, dtype=torch.float64)
    fn = _compiled(lambda x, w, b: sampled_linear(x, w, b, RATES))
    torch.manual_seed(3)
    y = fn(x, w, b)
    grads = torch.autograd.grad((y * cotangent).sum(), (x, w, b))
    torch.manual_seed(3)
    keep = _draw_compiled_masks(x.detach().reshape(-1, 16), RATES)  # (3, 15, 16): the samples with dropout
    assert keep.dtype == torch.bool and keep.shape == (3, 15, 16)
    ref = _direct(x, w, b, RATES, keep)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(y[1], F.linear(x, w, b))  # rate 0: exactly the Linear
    for got, want in zip(grads, torch.autograd.grad((ref * cotangent).sum(), (x, w, b)), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    packed = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t) or t, lambda t: t):
        _compiled_sampled_linear(x, w, b, RATES, x.dtype)
    assert [(t.dtype, tuple(t.shape)) for t in packed] == [
        (torch.float64, (3, 5, 16)),
        (torch.float64, (7, 16)),
        (torch.bool, (3, 15, 16)),
    ]
    assert torch.autograd.gradcheck(
        lambda x, w, b: torch.manual_seed(0) and _compiled_sampled_linear(x, w, b, RATES, x.dtype), (x, w, b)
    )


def test_compiled_path_rate_exact_and_masks_independent():
    """Under compile each sample keeps 1 - t / 2**31 of the elements, scaled by exactly 2**31 / (2**31 - t); masks
    are independent across samples and across calls (P(kept in both) = product)."""
    n = 100_000
    rates = (0.3, 0.05, 0.6, 0.3)
    x, w = torch.ones(n, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    fn = _compiled(lambda x: sampled_linear(x, w, None, rates))
    y = torch.cat([fn(x), fn(x)])[..., 0]  # (2K, n): two calls, each sample's scale * keep
    realised = torch.tensor([_threshold(p) / _RANGE for p in rates * 2], dtype=torch.float64)
    kept = (y != 0).double()
    assert torch.equal(y, kept / (1 - realised)[:, None])  # kept elements carry exactly the scale
    keep = 1 - realised
    assert ((kept.mean(1) - keep).abs() < 5 * (keep * (1 - keep) / n).sqrt()).all()
    both, expected = kept @ kept.T / n, keep[:, None] * keep[None, :]  # (2K, 2K)
    off = ~torch.eye(len(keep), dtype=torch.bool)
    assert ((both - expected).abs()[off] < 5 * (expected * (1 - expected) / n).sqrt()[off]).all()


def test_compiled_path_autocast_and_no_dropout():
    """Under bf16 autocast the compiled samples are bf16 and the gradients come back in float32, close to the float32
    ones with the same masks; rates that are all 0 draw nothing and give the Linear exactly."""
    x, w, b = (t.detach().float().requires_grad_() for t in _leaves((4, 8, 32), 5))
    fn = _compiled(lambda x, w, b: sampled_linear(x, w, b, RATES))
    torch.manual_seed(0)
    y32 = fn(x, w, b)
    g32 = torch.autograd.grad(y32.sum(), (x, w, b))
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y16 = fn(x, w, b)
    g16 = torch.autograd.grad(y16.float().sum(), (x, w, b))
    assert y16.dtype == torch.bfloat16 and (y16.float() - y32).norm() < 1e-2 * y32.norm()
    for a, c in zip(g16, g32, strict=True):
        assert a.dtype == torch.float32 and (a - c).norm() < 1e-2 * c.norm()
    before = torch.get_rng_state()
    assert _draw_compiled_masks(x.reshape(-1, 32), (0.0, 0.0)) is None
    y = _compiled_sampled_linear(x, w, b, (0.0, 0.0), x.dtype)
    assert torch.equal(y, F.linear(x, w, b).reshape(1, 32, 5).expand(2, 32, 5))
    assert torch.equal(torch.get_rng_state(), before)


def test_eager_calls_take_the_generator_path(monkeypatch):
    """Outside compilation `sampled_linear` never takes the compiled path (which would change eager training)."""

    def refuse(*args):
        raise AssertionError("the compiled path ran eagerly")

    monkeypatch.setattr(sampled_linear_module, "_compiled_sampled_linear", refuse)
    x, w, b = _leaves((4, 16), 3)
    sampled_linear(x, w, b, RATES).sum().backward()
    assert x.grad is not None


# ---------------------------------------------------------------------------------------------------- the models
MODELS = [("bert", "sequence"), ("bert", "token"), ("llama", "sequence")]


def _model(model_type, task, dropout=0.1):
    """A tiny MSD model with one layer (tracing time), K = 4 at rate 0.3, its inputs and labels."""
    config = msd.msd_config(
        tiny_config(model_type, dropout=dropout, num_hidden_layers=1), num_labels=3, msd_num_samples=4, msd_dropout=0.3
    )
    auto = AutoModelForSequenceClassification if task == "sequence" else AutoModelForTokenClassification
    model = auto.from_config(config)
    inputs = make_inputs(config=config)
    g = torch.Generator().manual_seed(1)
    inputs["labels"] = torch.randint(0, 3, (4,) if task == "sequence" else (4, 9), generator=g)
    return model, inputs


@pytest.mark.parametrize("model_type, task", MODELS)
@pytest.mark.parametrize("training", [True, False])
def test_no_graph_breaks(model_type, task, training):
    """`torch._dynamo.explain`: one graph, no break, in training (loss and samples) and in eval, as upstream."""
    model, inputs = _model(model_type, task)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model.train(training))(**inputs)
    assert explanation.graph_break_count == 0, [str(b.reason) for b in explanation.break_reasons]
    assert explanation.graph_count == 1


@pytest.mark.parametrize("model_type, task", MODELS)
def test_compiled_training_step_and_eval(model_type, task):
    """`torch.compile(model, fullgraph=True)`: in training the loss is the mean of the per-sample losses of the
    returned samples and the gradients are those of a direct computation with the compiled path's masks (the
    backbone without dropout, so the head's masks are the only draws); in eval the logits equal eager to 1e-6."""
    model, inputs = _model(model_type, task, dropout=0.0)
    labels = inputs["labels"]
    compiled = _compiled(model)
    torch.manual_seed(7)
    out = compiled(**inputs)
    out.loss.backward()
    params = dict(model.named_parameters())
    grads = {name: p.grad.clone() for name, p in params.items() if p.grad is not None}
    model.zero_grad()
    losses = (
        sample_losses(out.sample_logits, labels, num_labels=3, problem_type="single_label_classification")
        if task == "sequence"
        else token_sample_losses(out.sample_logits, labels)
    )
    assert torch.isfinite(out.loss) and out.sample_logits.shape[0] == 4
    torch.testing.assert_close(out.loss, losses.mean(), rtol=1e-6, atol=1e-7)

    # The direct computation: the classifier's input from the eager model, the masks from the same seed.
    head = model.msd
    captured = {}
    handle = head.register_forward_pre_hook(lambda module, args: captured.update(x=args[0]))
    model.train()(**inputs)
    handle.remove()
    model.zero_grad()
    torch.manual_seed(7)
    hidden = captured["x"]
    keep = _draw_compiled_masks(hidden.detach().reshape(-1, hidden.shape[-1]), head.rates)
    torch.manual_seed(0)
    captured.clear()
    handle = head.register_forward_hook(
        lambda module, args, output: _direct(args[0], module.weight, module.bias, module.rates, keep)
    )
    direct = model(**inputs)
    handle.remove()
    torch.testing.assert_close(direct.sample_logits, out.sample_logits, rtol=1e-5, atol=1e-6)
    direct.loss.backward()
    assert grads.keys() == {name for name, p in params.items() if p.grad is not None}
    for name, grad in grads.items():
        torch.testing.assert_close(grad, params[name].grad, rtol=1e-4, atol=1e-6, msg=name)

    model.eval()
    inputs.pop("labels")
    with torch.no_grad():
        want = model(**inputs).logits
        got = _compiled(model, backend="eager")(**inputs).logits
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
