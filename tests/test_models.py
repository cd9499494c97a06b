"""The MSD *ForSequenceClassification classes of every supported architecture, against the upstream classes."""

import json

import pytest
import torch
from conftest import MODEL_TYPES, REPRESENTATIVE_TYPES, make_inputs, msd_class, msd_config_class, row, tiny_config
from transformers import AutoConfig, AutoModelForSequenceClassification

import msd_transformers as msd
from msd_transformers import MultiSampleLinear
from msd_transformers.auto import is_msd_config


def build(model_type, num_labels=3, dropout=0.1, **msd_kwargs):
    if row(model_type).dropout is None:  # decoders: no architecture rate, the samples take `dropout`
        msd_kwargs.setdefault("msd_dropout", dropout)
    cfg = msd.msd_config(tiny_config(model_type, dropout=dropout), num_labels=num_labels, **msd_kwargs)
    return AutoModelForSequenceClassification.from_config(cfg)


def upstream_loss(upstream, inputs, labels, logits):
    """The upstream class's own loss for `logits`: its forward runs with the final Linear's output replaced (decoder
    heads apply it to every position, (B, L, C), and then pick the last token)."""
    classifier = upstream.get_submodule(vanilla_arch(upstream).classifier)
    handle = classifier.register_forward_hook(
        lambda module, args, output: logits.unsqueeze(1).expand_as(output) if output.dim() == 3 else logits
    )
    try:
        return upstream(**inputs, labels=labels).loss
    finally:
        handle.remove()


def vanilla_arch(model):
    return msd.get_architecture(model.config.model_type)


LABELS = {
    "single": (3, lambda b: torch.tensor([0, 2, 1, 2][:b])),
    "regression": (1, lambda b: torch.tensor([0.5, -1.0, 2.0, 0.1][:b])),
    "multi": (3, lambda b: torch.tensor([[1.0, 0, 1], [0, 0, 0], [0, 1, 1], [1, 1, 1]][:b])),
}


def test_classes_names_and_registration(model_type):
    arch = row(model_type)
    cfg_cls, model_cls = msd_config_class(model_type), msd_class(model_type)
    assert cfg_cls.__name__ == f"MSD{arch.config_class.__name__}" and cfg_cls.model_type == f"msd-{model_type}"
    assert model_cls.__name__ == f"MSD{arch.model_class.__name__}"
    assert getattr(msd, model_cls.__name__) is model_cls and getattr(msd, cfg_cls.__name__) is cfg_cls
    assert issubclass(model_cls, arch.model_class) and model_cls.config_class is cfg_cls
    assert type(AutoConfig.for_model(f"msd-{model_type}", msd_dropout=0.1)) is cfg_cls
    assert is_msd_config(cfg_cls(msd_dropout=0.1)) and not is_msd_config(arch.config_class())
    # The upstream architecture is untouched: its config still maps to the upstream class.
    upstream = AutoModelForSequenceClassification.from_config(tiny_config(model_type))
    assert type(upstream) is arch.model_class


def test_head_placement(model_type):
    """The head's Linear is a MultiSampleLinear with the rate of the dropout before it, which is the identity now;
    upstream, that dropout runs once per forward (twice in a RoBERTa-style head) and feeds the Linear."""
    model = build(model_type, dropout=0.15)
    arch = row(model_type)
    linears = [m for m in model.modules() if isinstance(m, MultiSampleLinear)]
    assert len(linears) == 1 and linears[0] is model.msd is model.get_submodule(arch.classifier)
    assert model.msd.rates == (0.15,) * 8
    if arch.head:  # the head keeps its own first dropout before dense
        assert isinstance(model.get_submodule(arch.head).dropout, torch.nn.Dropout)
    elif arch.dropout is not None:
        assert isinstance(model.get_submodule(arch.dropout), torch.nn.Identity)
    # Same parameter names as upstream.
    upstream = arch.model_class(tiny_config(model_type, num_labels=3))
    assert list(model.state_dict()) == list(upstream.state_dict())
    if arch.dropout is not None:  # upstream: the row's dropout feeds the Linear, once (twice in a dense head)
        calls, linear_input = dropout_calls_and_linear_input(upstream, arch.dropout, arch.classifier)
        assert linear_input is calls[-1] and len(calls) == (2 if arch.head else 1)
    # The MSD model: the Linear's output carries the K samples (not K x K).
    outputs = []
    hook = model.msd.register_forward_hook(lambda m, args, out: outputs.append(out))
    model.train()(**make_inputs())
    hook.remove()
    assert len(outputs) == 1 and outputs[0].shape[:2] == (8, 4)  # (K, B, C)


def dropout_calls_and_linear_input(model, dropout, classifier):
    """In a training forward: the outputs of the module at `dropout`, and the input of the one at `classifier`."""
    calls, seen = [], {}
    hooks = [
        model.get_submodule(dropout).register_forward_hook(lambda m, args, out: calls.append(out)),
        model.get_submodule(classifier).register_forward_pre_hook(lambda m, args: seen.update(linear=args[0])),
    ]
    model.train()(**make_inputs(config=model.config))
    for hook in hooks:
        hook.remove()
    return calls, seen["linear"]


def test_eval_logits_and_loss_equal_upstream(model_type):
    model = build(model_type, msd_dropout="linspace(0.1, 0.5)").eval()
    upstream = msd.to_vanilla(model).eval()
    assert type(upstream) is row(model_type).model_class
    inputs = make_inputs(config=model.config)
    labels = torch.tensor([0, 2, 1, 2])
    with torch.no_grad():
        ours, theirs = model(**inputs, labels=labels), upstream(**inputs, labels=labels)
    torch.testing.assert_close(ours.logits, theirs.logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.loss, theirs.loss, atol=1e-6, rtol=0)
    # No extra output fields in eval (the Trainer would take them for predictions): at most upstream's, which for the
    # encoder-decoders include the encoder's last hidden state.
    assert ours.sample_logits is None and {"loss", "logits"} <= set(ours.keys()) <= set(theirs.keys())
    for key in set(ours.keys()) - {"loss", "logits"}:
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-6, rtol=0)


# The paper's loss average on every family; the logit average on one family per head shape.
@pytest.mark.parametrize(
    "model_type, task, average",
    [(t, task, "loss") for t in MODEL_TYPES for task in LABELS]
    + [(t, task, "logits") for t in REPRESENTATIVE_TYPES for task in LABELS],
)
def test_training_loss_is_upstream_loss_per_sample(model_type, task, average):
    num_labels, make_labels = LABELS[task]
    model = build(model_type, num_labels=num_labels, msd_num_samples=5, msd_dropout=0.4, msd_average=average).train()
    inputs = make_inputs(config=model.config)
    labels = make_labels(4)
    out = model(**inputs, labels=labels)
    k = 5
    assert out.sample_logits.shape == (k, 4, num_labels) and out.logits.shape == (4, num_labels)
    torch.testing.assert_close(out.logits, out.sample_logits.mean(0))
    assert not torch.allclose(out.sample_logits[0], out.sample_logits[1])  # the samples differ
    upstream = msd.to_vanilla(model)
    upstream.config.problem_type = model.config.problem_type
    sample_logits = out.sample_logits.detach()
    if average == "loss":
        expected = torch.stack([upstream_loss(upstream, inputs, labels, sample_logits[i]) for i in range(k)]).mean()
    else:
        expected = upstream_loss(upstream, inputs, labels, sample_logits.mean(0))
    torch.testing.assert_close(out.loss, expected, atol=1e-6, rtol=1e-6)
    out.loss.backward()
    assert model.get_submodule(row(model_type).classifier).weight.grad.abs().sum() > 0


def test_problem_type_inferred_like_upstream(model_type):
    model = build(model_type, num_labels=3).train()
    model(**make_inputs(config=model.config), labels=torch.tensor([0, 1, 2, 0]))
    # DeBERTa (v1 and v2) never sets it.
    expected = None if row(model_type).loss_style == "deberta" else "single_label_classification"
    assert model.config.problem_type == expected


@pytest.mark.parametrize("model_type", ["deberta", "deberta-v2"])
def test_deberta_semantics_ignored_and_soft_labels(model_type):
    """DeBERTa (v1 and v2) without problem_type: class ids < 0 are ignored; 2-D float labels are soft targets."""
    model = build(model_type, num_labels=3, msd_num_samples=4).train()
    upstream = msd.to_vanilla(model)
    inputs = make_inputs(config=model.config)
    for labels in (torch.tensor([0, -1, 2, -1]), torch.softmax(torch.randn(4, 3), -1), torch.tensor([-1, -1, -1, -1])):
        out = model(**inputs, labels=labels)
        expected = torch.stack([upstream_loss(upstream, inputs, labels, s) for s in out.sample_logits.detach()]).mean()
        torch.testing.assert_close(out.loss, expected.to(out.loss.dtype), atol=1e-6, rtol=1e-6)


def test_single_sample_and_zero_rate_match_upstream_training(model_type):
    """K samples at rate 0 with every other dropout off: each sample equals the upstream training forward."""
    model = build(model_type, dropout=0.0, msd_num_samples=3, msd_dropout=0.0).train()
    upstream = msd.to_vanilla(model).train()
    inputs = make_inputs(config=model.config)
    out, ref = model(**inputs), upstream(**inputs)
    for k in range(3):
        torch.testing.assert_close(out.sample_logits[k], ref.logits, atol=1e-6, rtol=0)


def test_upstream_checkpoint_loads_into_msd_and_back(model_type, tmp_path):
    arch = row(model_type)
    upstream = arch.model_class(tiny_config(model_type, num_labels=3)).eval()
    upstream.save_pretrained(tmp_path / "upstream")
    model, info = msd.AutoMSDModelForSequenceClassification.from_pretrained(
        tmp_path / "upstream", msd_num_samples=4, msd_dropout=0.3, output_loading_info=True
    )
    assert not info["missing_keys"]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert type(model).__name__ == f"MSD{arch.model_class.__name__}" and model.config.msd_num_samples == 4
    for key, value in upstream.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    # The config route: the upstream Auto class with config=msd_config(...).
    cfg = msd.msd_config(tmp_path / "upstream", msd_num_samples=2, msd_dropout=0.2)
    model2 = AutoModelForSequenceClassification.from_pretrained(tmp_path / "upstream", config=cfg)
    assert type(model2) is type(model) and model2.msd.num_samples == 2

    # ...and an MSD checkpoint loads into the upstream class with no missing or unexpected keys.
    model.save_pretrained(tmp_path / "msd")
    assert (tmp_path / "msd" / "model.safetensors").exists()
    back, info = arch.model_class.from_pretrained(tmp_path / "msd", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    inputs = make_inputs(config=model.config)
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(**inputs).logits, upstream(**inputs).logits, atol=1e-6, rtol=0)


@pytest.mark.parametrize("model_type", REPRESENTATIVE_TYPES)
def test_save_reload_through_upstream_auto_class(model_type, tmp_path):
    model = build(model_type, msd_num_samples=6, msd_dropout="linspace(0.1, 0.6)", msd_average="logits").eval()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == f"msd-{model_type}"
    assert saved["msd_num_samples"] == 6 and saved["msd_average"] == "logits"
    assert saved["msd_dropout"] == "linspace(0.1, 0.6)"  # the spec: it re-expands for another msd_num_samples
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    # Rates are plain floats, not buffers: from_pretrained's meta-device init cannot corrupt them.
    assert loaded.msd.rates == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5, 0.6))
    inputs = make_inputs(config=model.config)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, atol=0, rtol=0)


def test_default_msd_config_fields_are_written(tmp_path):
    model = build("bert")
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["msd_num_samples"] == 8 and saved["msd_average"] == "loss" and saved["msd_dropout"] is None


def test_to_vanilla_saves_upstream_model_type(model_type, tmp_path):
    model = build(model_type).eval()
    upstream = msd.to_vanilla(model)
    upstream.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == model_type and not any(k.startswith("msd_") for k in saved)
    assert saved["architectures"] == [row(model_type).model_class.__name__]
    # The weights are copies: training the MSD model does not change the export.
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert not torch.equal(next(model.parameters()), next(upstream.parameters()))


def test_return_dict_false_and_positional_labels():
    model = build("bert").train()
    inputs = make_inputs(config=model.config)
    labels = torch.tensor([0, 1, 2, 0])
    out = model(inputs["input_ids"], inputs["attention_mask"], None, None, None, labels, return_dict=False)
    assert isinstance(out, tuple) and out[0].dim() == 0 and out[1].shape == (4, 3) and out[2].shape == (8, 4, 3)


def test_hidden_states_pass_through():
    model = build("roberta").eval()
    out = model(**make_inputs(config=model.config), output_hidden_states=True)
    assert len(out.hidden_states) == 3


def test_gradient_checkpointing(model_type):
    """Checkpointed training gives the gradients of the plain forward (same seed: the same dropout masks)."""
    model = build(model_type).train()
    if not row(model_type).model_class.supports_gradient_checkpointing:  # e.g. ALBERT, upstream
        with pytest.raises(ValueError, match="does not support activation checkpointing"):
            model.activation_checkpointing_enable()
        return
    inputs, labels = make_inputs(config=model.config), torch.tensor([0, 1, 2, 0])

    def gradients():
        model.zero_grad()
        torch.manual_seed(1)
        model(**inputs, labels=labels).loss.backward()
        return {name: p.grad for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    assert model.is_activation_checkpointing
    checkpointed = gradients()
    # Parameters upstream leaves unused (e.g. ESM's contact head) get no gradient either way.
    assert checkpointed.keys() == plain.keys() and f"{row(model_type).classifier}.weight" in plain
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-5, msg=name)


def fp32_and_bf16(model_type, bf16_forward):
    """A training forward in float32 and one in bfloat16 (`bf16_forward(model, inputs, labels)`), with the same
    dropout masks: the backbone's dropout is off and the head's samples draw their masks in float32 from the same
    seed. Returns both outputs."""
    model = build(model_type, dropout=0.0, msd_dropout=0.3).train()
    inputs, labels = make_inputs(config=model.config), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(1)
    reference = model(**inputs, labels=labels)
    torch.manual_seed(1)
    return reference, bf16_forward(model, inputs, labels)


def assert_close_in_bf16(ours, reference):
    """Within bfloat16 precision (8 bits of mantissa: 2**-8 = 0.4% per rounding): 3% of the largest float32 value,
    far below the effect of the dropout masks (measured: 40-70% of it)."""
    torch.testing.assert_close(ours.float(), reference, atol=0.03 * reference.abs().max().item(), rtol=0)


@pytest.mark.parametrize("model_type", REPRESENTATIVE_TYPES)
def test_bf16_autocast_cpu(model_type):
    """Under bfloat16 autocast: the float32 forward's sample logits and loss within bfloat16 precision, a float32
    loss, and a backward pass."""

    def autocast(model, inputs, labels):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(**inputs, labels=labels)

    reference, out = fp32_and_bf16(model_type, autocast)
    assert out.loss.dtype == torch.float32
    assert_close_in_bf16(out.sample_logits, reference.sample_logits.detach())
    torch.testing.assert_close(out.loss, reference.loss, atol=0, rtol=1e-2)
    out.loss.backward()


@pytest.mark.parametrize("model_type", REPRESENTATIVE_TYPES)
def test_bf16_weights(model_type):
    """The model cast to bfloat16: bfloat16 sample logits, those of the float32 model within bfloat16 precision."""

    def cast(model, inputs, labels):
        return model.to(torch.bfloat16)(**inputs, labels=labels)

    reference, out = fp32_and_bf16(model_type, cast)
    assert out.sample_logits.dtype == torch.bfloat16
    assert_close_in_bf16(out.sample_logits, reference.sample_logits.detach())
    torch.testing.assert_close(out.loss.float(), reference.loss, atol=0, rtol=1e-2)


def test_torch_compile_smoke():
    model = build("bert").train()
    compiled = torch.compile(model, backend="aot_eager")
    out = compiled(**make_inputs(config=model.config), labels=torch.tensor([0, 1, 2, 0]))
    out.loss.backward()
    assert out.sample_logits.shape == (8, 4, 3) and torch.isfinite(out.loss)
    compiled.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            compiled(**make_inputs(config=model.config)).logits,
            model.eval()(**make_inputs(config=model.config)).logits,
        )


# ----------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"msd_num_samples": 0}, "msd_num_samples must be an int >= 1, got 0"),
        ({"msd_num_samples": 2.5}, r"msd_num_samples must be an int >= 1, got 2.5 \(float\)"),
        ({"msd_num_samples": "8"}, "got '8'"),
        ({"msd_dropout": 1.0}, r"msd_dropout must be in \[0, 1\), got 1.0"),
        ({"msd_dropout": -0.2}, r"msd_dropout must be in \[0, 1\)"),
        ({"msd_num_samples": 3, "msd_dropout": [0.1, 0.2]}, "lists 2 rates .* msd_num_samples is 3"),
        ({"msd_num_samples": 2, "msd_dropout": [0.1, 2.0]}, r"msd_dropout\[1\] must be in \[0, 1\)"),
        ({"msd_dropout": "linspace(0.1, 0.5"}, "Cannot parse dropout specification"),
        ({"msd_dropout": "uniform(0.1, 0.5)"}, "Cannot parse dropout specification"),
        ({"msd_average": "mean"}, r"msd_average must be one of \('loss', 'logits'\), got 'mean'"),
        ({"msd_samples": 4}, r"argument\(s\) 'msd_samples' \(did you mean 'msd_num_samples'\?\)"),
    ],
)
def test_bad_config_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        msd.msd_config(tiny_config("bert"), **kwargs)
    with pytest.raises(ValueError, match=match):
        msd.AutoMSDModelForSequenceClassification.from_config(tiny_config("bert"), **kwargs)


def test_bad_value_on_msd_config_class_directly():
    with pytest.raises(ValueError, match="msd_average"):
        msd.MSDBertConfig(msd_average="median")
    with pytest.raises(ValueError, match="msd_num_samples"):
        msd.MSDRobertaConfig(msd_num_samples=-1)


def test_unsupported_architecture_lists_supported(tmp_path):
    from transformers import ViTConfig  # no sequence classifier (an image classifier: the MSD config itself is made)

    tiny_vit = ViTConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    with pytest.raises(ValueError, match="does not support model_type 'vit' for sequence-classification. Supported: "
                       "albert, arcee"):  # fmt: skip
        msd.msd_config(tiny_vit, task="sequence-classification")
    assert msd.msd_config(tiny_vit).model_type == "msd-vit"  # its image-classification row
    tiny_vit.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="modernbert"):
        msd.AutoMSDModelForSequenceClassification.from_pretrained(tmp_path)


def test_to_vanilla_rejects_an_upstream_model():
    with pytest.raises(ValueError, match="got BertForSequenceClassification"):
        msd.to_vanilla(row("bert").model_class(tiny_config("bert")))


def test_zero_rate_warns_at_model_creation(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="msd_transformers.dropout"):
        build("modernbert", dropout=0.0)  # ModernBERT's default classifier_dropout is 0.0
    assert "samples are identical" in caplog.text


def test_mismatched_label_batch_is_clear():
    model = build("bert").train()
    with pytest.raises(ValueError, match="labels have batch size 3 but the logits have 4"):
        model(**make_inputs(config=model.config), labels=torch.tensor([0, 1, 2]))


def test_auto_msd_on_msd_checkpoint_overrides_fields(tmp_path):
    build("electra", msd_num_samples=6, msd_dropout=0.3).save_pretrained(tmp_path)
    model = msd.AutoMSDModelForSequenceClassification.from_pretrained(tmp_path, msd_num_samples=3)
    assert type(model) is msd.MSDElectraForSequenceClassification
    assert model.config.msd_num_samples == 3 and model.msd.rates == (0.3, 0.3, 0.3)
    # ...and without overrides it is the saved model, fields included.
    again = msd.AutoMSDModelForSequenceClassification.from_pretrained(tmp_path)
    assert again.config.msd_num_samples == 6 and again.config.num_labels == 3
