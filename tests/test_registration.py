"""register_architecture, from_config with config attributes, and the old import paths of the fine-tuning kit."""

import dataclasses
import importlib
import sys
import warnings

import pytest
import torch
from conftest import make_inputs, tiny_config
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
    SqueezeBertConfig,
    SqueezeBertForSequenceClassification,
)

import msd_transformers as msd
from msd_transformers import modeling


@pytest.fixture
def scratch_table():
    """Rows registered by a test are removed afterwards, so other tests see the built-in table."""
    before = dict(modeling.ARCHITECTURES)
    yield
    for model_type in set(modeling.ARCHITECTURES) - set(before):
        for table in (modeling.ARCHITECTURES, modeling.MSD_CONFIG_CLASSES, modeling.MSD_MODEL_CLASSES):
            table.pop(model_type, None)


def squeezebert_row(**kwargs):
    return msd.MSDArchitecture(
        "squeezebert",
        SqueezeBertConfig,
        SqueezeBertForSequenceClassification,
        **{"dropout": "dropout", "classifier": "classifier", **kwargs},
    )


def tiny_squeezebert():
    return SqueezeBertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        embedding_size=32, q_groups=1, k_groups=1, v_groups=1, post_attention_groups=1,
        intermediate_groups=1, output_groups=1, num_labels=3,
    )  # fmt: skip


def test_register_architecture_at_run_time(scratch_table):
    """One row, at run time, gives every entry point: classes, Auto registration, msd_config, to_vanilla."""
    assert "squeezebert" not in msd.supported_model_types()
    with pytest.raises(ValueError, match="register_architecture"):
        msd.msd_config(tiny_squeezebert())
    config_cls, model_cls = msd.register_architecture(squeezebert_row())
    assert "squeezebert" in msd.supported_model_types()
    assert msd.MSDSqueezeBertForSequenceClassification is model_cls
    assert msd.MSDSqueezeBertConfig is config_cls and config_cls.model_type == "msd-squeezebert"
    assert "MSDSqueezeBertForSequenceClassification" in dir(msd)

    stock = SqueezeBertForSequenceClassification(tiny_squeezebert()).eval()
    model = msd.AutoMSDModelForSequenceClassification.from_config(stock.config, msd_num_samples=4, msd_dropout=0.3)
    assert type(model) is model_cls and model.msd.rates == (0.3,) * 4
    assert type(AutoModelForSequenceClassification.from_config(model.config)) is model_cls
    model.load_state_dict(stock.state_dict(), strict=True)
    inputs = make_inputs()
    model.eval()
    torch.testing.assert_close(model(**inputs).logits, stock(**inputs).logits, rtol=0, atol=1e-6)
    model.train()
    out = model(**inputs, labels=torch.tensor([0, 1, 2, 0]))
    assert out.sample_logits.shape == (4, 4, 3)
    assert type(msd.to_vanilla(model)) is SqueezeBertForSequenceClassification


def test_register_architecture_refuses_a_duplicate(scratch_table):
    with pytest.raises(ValueError, match="already registered.*exist_ok=True"):
        msd.register_architecture(msd.ARCHITECTURES["bert"])
    msd.register_architecture(squeezebert_row())
    with pytest.raises(ValueError, match="'squeezebert' is already registered"):
        msd.register_architecture(squeezebert_row())
    msd.register_architecture(squeezebert_row(), exist_ok=True)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("not a row", "takes an MSDArchitecture"),
        (squeezebert_row(dropout="nope"), r"has no submodule 'nope' \(the row's `dropout`\)"),
        (squeezebert_row(dropout="classifier"), r"is a Linear, not a torch\.nn\.Dropout"),
        (squeezebert_row(classifier="dropout"), r"is a Dropout, not a torch\.nn\.Linear"),
        (squeezebert_row(head="transformer"), r"lacks \['dense', 'dropout', 'out_proj'\]"),
        (squeezebert_row(loss_style="other"), "loss_style"),
        (squeezebert_row(head_activation="hidden_act"), r"head_activation .* needs a `head`"),
        (squeezebert_row(head_input="first"), "head_input of 'squeezebert' must be 'sequence' or 'pooled'"),
        (squeezebert_row(head_input="pooled"), "head_input='pooled' of 'squeezebert' needs a `head`"),
        (msd.MSDArchitecture("bert", SqueezeBertConfig, SqueezeBertForSequenceClassification, "dropout", "classifier"),
         "has model_type 'squeezebert', but the row says 'bert'"),
        (squeezebert_row().__class__("msd-x", SqueezeBertConfig, SqueezeBertForSequenceClassification, "a", "b"),
         "must be the upstream model_type"),
        (msd.MSDArchitecture("squeezebert", SqueezeBertConfig, torch.nn.Linear, "dropout", "classifier"),
         "must be a PreTrainedModel subclass"),
        (squeezebert_row(pooling="mean"), "pooling of 'squeezebert' must be None or 'last_token', got 'mean'"),
        (squeezebert_row(dropout=None), "needs `dropout`"),
        (squeezebert_row(pooled_head="classifier"), "`pooled_head` are for decoder heads"),
        (squeezebert_row(pooling="last_token", head="classifier"), "does not go with pooling='last_token'"),
        (squeezebert_row(pooling="last_token", pooled_head="nope"), r"'nope' \(the row's `pooled_head`\)"),
        (squeezebert_row(dropout=None, pooling="last_token"), "already has an attribute 'dropout'"),
    ],
)  # fmt: skip
def test_register_architecture_checks_the_row(scratch_table, row, match):
    with pytest.raises(ValueError, match=match):
        msd.register_architecture(row)
    assert "squeezebert" not in msd.ARCHITECTURES


def test_head_activation_must_name_an_activation(scratch_table):
    row = dataclasses.replace(msd.ARCHITECTURES["roberta"], head_activation="no_such_attribute")
    with pytest.raises(ValueError, match=r"RobertaConfig\(\)\.no_such_attribute is None, not a name in ACT2FN"):
        msd.register_architecture(row, exist_ok=True)
    assert msd.ARCHITECTURES["roberta"].head_activation is None


def test_from_config_takes_config_attributes():
    cfg = tiny_config("bert")
    model = msd.AutoMSDModelForSequenceClassification.from_config(
        cfg, num_labels=5, problem_type="multi_label_classification", msd_num_samples=3, dtype=torch.float64
    )
    assert model.num_labels == 5 and model.config.problem_type == "multi_label_classification"
    assert model.classifier.out_features == 5 and model.msd.num_samples == 3
    assert model.classifier.weight.dtype == torch.float64
    assert cfg.num_labels == 2 and cfg.problem_type is None  # the caller's config is not modified


def test_a_subclass_with_its_own_config_registers(scratch_table):
    """Any *ForSequenceClassification with a dropout and a Linear fits, also one defined by the user."""

    class ToyConfig(BertConfig):
        model_type = "toy-bert"

    class ToyForSequenceClassification(BertForSequenceClassification):
        config_class = ToyConfig

    msd.register_architecture(
        msd.MSDArchitecture("toy-bert", ToyConfig, ToyForSequenceClassification, "dropout", "classifier")
    )
    cfg = ToyConfig(**{k: v for k, v in tiny_config("bert").to_dict().items() if k != "model_type"})
    model = msd.AutoMSDModelForSequenceClassification.from_config(cfg)
    assert type(model).__name__ == "MSDToyForSequenceClassification" and model.msd.num_samples == 8


def test_register_a_decoder_row_at_run_time(scratch_table):
    """A decoder head (last-token pooling, no dropout before `score`) registers from one row too."""

    class ToyGPT2Config(GPT2Config):
        model_type = "toy-gpt2"

    class ToyGPT2ForSequenceClassification(GPT2ForSequenceClassification):
        config_class = ToyGPT2Config

    msd.register_architecture(
        msd.MSDArchitecture(
            "toy-gpt2", ToyGPT2Config, ToyGPT2ForSequenceClassification, None, "score", pooling="last_token"
        )
    )
    cfg = ToyGPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=99, pad_token_id=0, num_labels=3)
    with pytest.raises(ValueError, match="msd_dropout must be set for 'toy-gpt2'"):
        msd.msd_config(cfg)
    model = msd.AutoMSDModelForSequenceClassification.from_config(cfg, msd_dropout=0.2, msd_num_samples=4).eval()
    assert type(model).__name__ == "MSDToyGPT2ForSequenceClassification" and model.msd is model.dropout
    vanilla = msd.to_vanilla(model).eval()
    inputs = make_inputs()
    inputs["input_ids"][0, -3:] = 0  # right padding
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, vanilla(**inputs).logits, rtol=0, atol=1e-6)
    assert model.train()(**inputs).sample_logits.shape == (4, 4, 3)


@pytest.mark.parametrize("name", ["cli", "data", "metrics", "offline", "reporting"])
def test_old_import_paths_still_work(name):
    sys.modules.pop(f"msd_transformers.{name}", None)
    with pytest.warns(FutureWarning, match=f"moved to `msd_transformers.finetune.{name}`"):
        old = importlib.import_module(f"msd_transformers.{name}")
    new = importlib.import_module(f"msd_transformers.finetune.{name}")
    public = [k for k in vars(new) if not k.startswith("_") and callable(getattr(new, k))]
    assert public and all(getattr(old, k) is getattr(new, k) for k in public)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(f"from msd_transformers.{name} import {public[0]}", {})  # already imported: no second warning
