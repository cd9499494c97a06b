"""Decoder LLMs: every GenericForSequenceClassification family and the older decoders, the last-token head, padding,
the required rate, the nested text configs, MoE checkpoints, and MSDTrainer's exact gradient accumulation.

The heavy checks of `tests/test_models.py` run on `DECODER_TYPES_TESTED`; here every decoder family gets the cheap
ones (eval logits equal upstream, the head sees the pooled token only, the loss is the mean of per-sample losses).
"""

import inspect
import logging

import pytest
import torch
import torch.nn.functional as F
import transformers
from conftest import (
    DECODER_TYPES,
    VOCAB,
    assert_same_weights,
    make_dataset,
    moved,
    msd_config_class,
    row,
    tiny_config,
    trained_weights,
)
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification
from transformers.modeling_layers import GenericForSequenceClassification
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
from transformers.utils.generic import find_labels

import msd_transformers as msd
from msd_transformers.heads import pool_last_token
from msd_transformers.registry import excluded_model_types

OLDER_DECODERS = [
    "gpt2", "gpt-sw3", "gpt_neo", "gpt_neox", "gpt_bigcode", "opt", "bloom", "falcon", "mpt", "biogpt", "ctrl",
    "openai-gpt", "zamba", "zamba2", "modernbert-decoder",
]  # fmt: skip


def decoder(model_type, num_labels=3, dropout=0.1, **msd_kwargs):
    msd_kwargs.setdefault("msd_dropout", 0.3)
    cfg = msd.msd_config(tiny_config(model_type, dropout=dropout), num_labels=num_labels, **msd_kwargs)
    return AutoModelForSequenceClassification.from_config(cfg)


def padded_ids(pad_token_id=0):
    """Three sequences: right-padded, left-padded, unpadded (token ids never equal the pad id otherwise)."""
    ids = torch.randint(3, 90, (3, 7), generator=torch.Generator().manual_seed(0))
    ids[0, -2:] = pad_token_id
    ids[1, :3] = pad_token_id
    return ids, (ids != pad_token_id).long()


def test_every_generic_family_has_a_row():
    """An independent class check over every sequence classifier Transformers lists (imports them all): the
    registry's reading of the modeling files' class statements finds exactly the generic families."""
    generic = []
    excluded, supported = excluded_model_types(), set(msd.supported_model_types())
    for model_type, class_name in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.items():
        model_class = getattr(transformers, class_name)
        if model_type in supported and not issubclass(model_class, GenericForSequenceClassification):
            assert row(model_type).pooling != "last_token" or row(model_type).dropout is not None or model_type in (
                "gpt2", "gpt_neo", "gpt_neox", "gpt_bigcode", "opt", "bloom", "falcon", "mpt", "biogpt", "ctrl",
                "openai-gpt", "zamba", "zamba2",
            ), model_type  # fmt: skip
        if issubclass(model_class, GenericForSequenceClassification):
            generic.append(model_type)
            arch = row(model_type) if model_type in supported else None
            assert arch is not None or model_type in excluded, model_type
            if arch is not None:
                assert arch.model_class is model_class and arch.pooling == "last_token" and arch.dropout is None
                assert type(AutoConfig.for_model(f"msd-{model_type}", msd_dropout=0.1)) is msd_config_class(model_type)
    assert len(generic) >= 49  # Transformers 5.24
    assert {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "gemma2", "gemma3_text", "phi3"} <= set(
        generic
    )


@pytest.mark.parametrize("model_type", OLDER_DECODERS)
def test_older_decoders_have_a_row_or_a_reason(model_type):
    if model_type in excluded_model_types():
        assert len(excluded_model_types()[model_type]) > 20  # a stated reason
        assert model_type not in msd.supported_model_types()
    else:
        assert row(model_type).pooling == "last_token"


def test_gpt_sw3_goes_through_the_gpt2_row():
    cfg = AutoConfig.for_model("gpt-sw3", n_layer=1, n_embd=8, n_head=2, vocab_size=VOCAB, pad_token_id=0)
    assert type(msd.msd_config(cfg, msd_dropout=0.1)) is msd.MSDGPT2Config


@pytest.mark.parametrize("model_type", DECODER_TYPES)
def test_every_decoder_family_matches_upstream(model_type):
    """Eval logits equal upstream's for left and right padding, the classifier runs on the pooled (B, H) only, and the
    training loss is the mean of the per-sample cross-entropies."""
    model = decoder(model_type, msd_num_samples=4, msd_dropout=0.3).eval()
    upstream = msd.to_vanilla(model).eval()  # strict load: same parameter names
    assert type(upstream) is row(model_type).model_class
    ids, mask = padded_ids()
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=ids, attention_mask=mask).logits,
            upstream(input_ids=ids, attention_mask=mask).logits,
            atol=1e-6,
            rtol=0,
        )
    classifier_inputs = []
    model.get_submodule(row(model_type).classifier).register_forward_pre_hook(
        lambda module, args: classifier_inputs.append(args[0].shape)
    )
    model.train()
    labels = torch.tensor([0, 2, 1])
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    hidden = model.get_submodule(row(model_type).classifier).in_features
    assert classifier_inputs == [(3, hidden)]  # the pooled tokens, never (B, L, H); the Linear draws the K samples
    assert out.sample_logits.shape == (4, 3, 3) and not torch.allclose(out.sample_logits[0], out.sample_logits[1])
    expected = torch.stack([F.cross_entropy(s, labels) for s in out.sample_logits]).mean()
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    assert model.get_submodule(row(model_type).classifier).weight.grad.abs().sum() > 0


def test_pool_last_token_picks_the_rightmost_non_padding_token():
    hidden = torch.arange(4 * 5).float().view(4, 5, 1)  # (B, L, 1): the value is b * 5 + position
    ids = torch.tensor(
        [
            [7, 8, 9, 0, 0],  # right padding -> 2
            [0, 0, 7, 8, 9],  # left padding -> 4
            [7, 8, 9, 8, 7],  # none -> 4
            [7, 0, 9, 0, 0],  # a pad id inside -> the rightmost non-pad, 2
        ]
    )
    pooled = pool_last_token(hidden, ids, pad_token_id=0, model_name="M")
    assert pooled.shape == (4, 1) and pooled.squeeze(-1).tolist() == [2, 9, 14, 17]


def test_pool_last_token_without_pad_token():
    hidden = torch.randn(1, 5, 3)
    torch.testing.assert_close(pool_last_token(hidden, torch.ones(1, 5, dtype=torch.long), None, "M"), hidden[:, -1])
    with pytest.raises(ValueError, match="Cannot handle batch sizes > 1 if no padding token is defined"):
        pool_last_token(torch.randn(2, 5, 3), torch.ones(2, 5, dtype=torch.long), None, "M")


@pytest.mark.parametrize("model_type", ["llama", "gpt2"])
def test_no_pad_token_is_the_upstream_error(model_type):
    model = decoder(model_type).eval()
    model.config.pad_token_id = None
    upstream = msd.to_vanilla(model).eval()
    ids = torch.randint(3, 90, (2, 6))
    with pytest.raises(ValueError, match="Cannot handle batch sizes > 1 if no padding token is defined"):
        upstream(input_ids=ids)
    with pytest.raises(ValueError, match="Cannot handle batch sizes > 1 if no padding token is defined"):
        model(input_ids=ids)
    with torch.no_grad():  # one sequence: its last position, as upstream
        torch.testing.assert_close(model(input_ids=ids[:1]).logits, upstream(input_ids=ids[:1]).logits)


def test_inputs_embeds_take_the_last_position_and_warn(caplog):
    model = decoder("qwen2").eval()
    upstream = msd.to_vanilla(model).eval()
    embeds = torch.randn(2, 6, 32)
    with caplog.at_level(logging.WARNING, logger="msd_transformers.heads"), torch.no_grad():
        ours = model(inputs_embeds=embeds).logits
    assert "will not detect padding tokens in `inputs_embeds`" in caplog.text
    with torch.no_grad():
        torch.testing.assert_close(ours, upstream(inputs_embeds=embeds).logits, atol=1e-6, rtol=0)


def test_msd_dropout_is_required_without_an_architecture_rate():
    cfg = tiny_config("llama")
    match = r"msd_dropout must be set for 'llama' \(sequence-classification\): LlamaForSequenceClassification has no "
    with pytest.raises(ValueError, match=match):
        msd.msd_config(cfg, task="sequence-classification")
    msd.msd_config(cfg)  # the family's config: its token head has a dropout, and no task is named
    with pytest.raises(ValueError, match=match):
        msd.AutoMSDModelForSequenceClassification.from_config(cfg, msd_num_samples=4)
    with pytest.raises(ValueError, match=match):  # a model from an MSD config without a rate
        AutoModelForSequenceClassification.from_config(msd.MSDLlamaConfig(**cfg.to_dict()))
    spec = msd.msd_config(cfg, msd_dropout="linspace(0.1, 0.3)", msd_num_samples=3)
    assert spec.msd_dropout == "linspace(0.1, 0.3)"  # the spec is kept; the model expands it to K rates
    assert AutoModelForSequenceClassification.from_config(spec).msd.rates == pytest.approx((0.1, 0.2, 0.3))
    # ModernBERT-decoder has a dropout before its classifier: its rate is the default.
    model = decoder("modernbert-decoder", dropout=0.25, msd_dropout=None)
    assert model.msd.rates == (0.25,) * 8 and model.msd is model.classifier
    assert isinstance(model.drop, torch.nn.Identity)


def test_decoder_head_placement_and_names(tmp_path):
    model = decoder("llama")
    assert model.msd is model.score and isinstance(model.msd, msd.MultiSampleLinear)
    assert not hasattr(model, "dropout") and list(model.state_dict())[-1] == "score.weight"
    assert type(AutoModel.from_config(model.config)) is transformers.LlamaModel  # AutoModel: the backbone
    model.save_pretrained(tmp_path)
    backbone = AutoModel.from_pretrained(tmp_path)
    assert type(backbone) is transformers.LlamaModel
    torch.testing.assert_close(backbone.embed_tokens.weight, model.model.embed_tokens.weight)


def test_nested_text_config_reads_the_pad_token_there():
    """Gemma 3 (multimodal config): `pad_token_id` lives in the text config only."""
    model = decoder("gemma3").eval()
    assert getattr(model.config, "pad_token_id", None) is None and model.config.get_text_config().pad_token_id == 0
    ids, mask = padded_ids()
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=ids, attention_mask=mask).logits,
            msd.to_vanilla(model).eval()(input_ids=ids, attention_mask=mask).logits,
        )


def test_labels_in_the_signature_where_upstream_takes_them_through_kwargs():
    """Qwen3.5's class takes `labels` only through `**kwargs`: the MSD class names it, so the Trainer finds it."""
    assert "labels" not in inspect.signature(transformers.Qwen3_5ForSequenceClassification.forward).parameters
    assert find_labels(msd.MSDQwen3_5ForSequenceClassification) == ["labels"]
    assert find_labels(msd.MSDLlamaForSequenceClassification) == ["labels"]


@pytest.mark.parametrize("model_type", ["mixtral"])  # qwen2_moe: in test_models.py's checkpoint test
def test_moe_checkpoints_load_both_ways(model_type, tmp_path):
    """MoE checkpoints store one tensor per expert; the models fuse them. The MSD model types get the conversion."""
    upstream = row(model_type).model_class(tiny_config(model_type, num_labels=3)).eval()
    upstream.save_pretrained(tmp_path / "upstream")
    model, info = msd.AutoMSDModelForSequenceClassification.from_pretrained(
        tmp_path / "upstream", msd_dropout=0.2, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    model.save_pretrained(tmp_path / "msd")
    back, info = row(model_type).model_class.from_pretrained(tmp_path / "msd", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids, mask = padded_ids()
    with torch.no_grad():
        reference = upstream(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(model.eval()(input_ids=ids, attention_mask=mask).logits, reference)
        torch.testing.assert_close(back.eval()(input_ids=ids, attention_mask=mask).logits, reference)


@pytest.mark.parametrize("model_type", ["llama"])
def test_trainer_gradient_accumulation_is_exact(model_type, tmp_path):
    """One MSDTrainer step: 2 x 4 accumulation == one batch of 8 (dropout off), and msd_loss_std is logged."""
    ds = make_dataset()
    torch.manual_seed(0)
    init = decoder(model_type, dropout=0.0, msd_dropout=0.0, msd_num_samples=2).state_dict()
    models = []
    for _ in range(2):
        m = decoder(model_type, dropout=0.0, msd_dropout=0.0, msd_num_samples=2)
        m.load_state_dict(init)
        models.append(m)
    full, trainer = trained_weights(models[0], tmp_path / "a", ds, per_device_train_batch_size=8)
    accum, _ = trained_weights(
        models[1], tmp_path / "b", ds, per_device_train_batch_size=4, gradient_accumulation_steps=2
    )
    assert moved(init, full) > 1e-3
    assert_same_weights(full, accum)
    assert any("msd_loss_std" in h for h in trainer.state.log_history)
