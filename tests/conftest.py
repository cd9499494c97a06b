"""Shared fixtures: tiny configs of every supported architecture, built here (no download)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the suite may reach the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import (  # noqa: E402
    AlbertConfig,
    AutoConfig,
    BertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    ModernBertConfig,
    RobertaConfig,
    XLMRobertaConfig,
)

import msd_transformers  # noqa: E402,F401  (registers the MSD classes)

VOCAB = 99
_COMMON = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


def _tiny_stock_config(model_type: str, dropout: float):
    """One tiny config per model type: hidden size 32, 2 layers, every dropout at `dropout`."""
    if model_type == "bert":
        return BertConfig(**_COMMON, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    if model_type in ("roberta", "xlm-roberta"):
        cls = RobertaConfig if model_type == "roberta" else XLMRobertaConfig
        return cls(**_COMMON, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pad_token_id=1)
    if model_type == "electra":
        return ElectraConfig(
            **_COMMON, embedding_size=16, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout
        )
    if model_type == "distilbert":
        return DistilBertConfig(
            vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=37, dropout=dropout,
            attention_dropout=dropout, seq_classif_dropout=dropout,
        )  # fmt: skip
    if model_type == "albert":
        return AlbertConfig(
            **_COMMON, embedding_size=16, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
            classifier_dropout_prob=dropout,
        )  # fmt: skip
    if model_type == "deberta-v2":
        return DebertaV2Config(
            **_COMMON, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pooler_dropout=dropout,
            relative_attention=True, position_biased_input=False, pos_att_type=["p2c", "c2p"],
            max_position_embeddings=64,
        )  # fmt: skip
    if model_type == "modernbert":
        return ModernBertConfig(
            **_COMMON, pad_token_id=0, bos_token_id=2, eos_token_id=3, cls_token_id=2, sep_token_id=3,
            global_attn_every_n_layers=2, local_attention=8, max_position_embeddings=64,
            embedding_dropout=dropout, mlp_dropout=dropout, attention_dropout=dropout, classifier_dropout=dropout,
        )  # fmt: skip
    raise KeyError(f"No tiny test config for model_type {model_type!r}: add one to tests/conftest.py.")


# Decoder LLMs: one set of tiny sizes for every family, with the few family-specific fields their configs need.
_DECODER_COMMON = dict(
    vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=8, pad_token_id=0, bos_token_id=1, eos_token_id=2, max_position_embeddings=64,
    # mixture of experts
    num_experts=4, num_local_experts=4, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
    shared_expert_intermediate_size=32, n_shared_experts=1, n_group=1, topk_group=1,
)  # fmt: skip
_MLA = dict(q_lora_rank=16, kv_lora_rank=16, qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8, head_dim=4,
            num_key_value_heads=4)  # fmt: skip
_LINEAR_ATTENTION = dict(layer_types=["linear_attention", "full_attention"], linear_key_head_dim=8,
                         linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4)  # fmt: skip
# Per family: fields that replace (or, with None, remove) common ones; they keep their value (dropouts too).
_DECODER_FIELDS = {
    **{t: _MLA for t in ("axk1", "axk2", "deepseek_v2", "deepseek_v3", "minicpm3", "mistral4")},
    "qwen3_next": _LINEAR_ATTENTION,
    "qwen3_5_text": _LINEAR_ATTENTION,
    "jamba": dict(attn_layer_period=2, attn_layer_offset=1, expert_layer_period=2, expert_layer_offset=1),
    "cohere_compass_text": dict(rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
    "gptj": dict(rotary_dim=4),
    "gpt_neo": dict(attention_types=[[["global", "local"], 1]]),
    "falcon": dict(head_dim=None),
    "zamba": dict(layers_block_type=["hybrid", "hybrid"], head_dim=None),
    "zamba2": dict(layers_block_type=["mamba", "hybrid"], head_dim=None),
    "diffllama": dict(attention_dropout=0.0),  # DiffLlama refuses attention dropout
    "opt": dict(ffn_dim=64, word_embed_proj_dim=32),
    "ctrl": dict(dff=64),
}
# Multimodal families: the tiny decoder is the text config, with a tiny vision config beside it.
_NESTED_DECODERS = {
    "gemma3": dict(
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4,
                           image_size=28, patch_size=14),
        mm_tokens_per_image=4, image_token_id=98, boi_token_index=97, eoi_token_index=96,
    ),
    "qwen3_5": dict(
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=37, num_heads=4, out_hidden_size=32),
        image_token_id=98, video_token_id=97, vision_start_token_id=96, vision_end_token_id=95,
        text_fields=_LINEAR_ATTENTION,
    ),
}  # fmt: skip


def _tiny_decoder_config(model_type: str, dropout: float):
    """A tiny config of a decoder family (hidden size 32, 2 layers, pad token 0), every dropout field at `dropout`."""
    fields = _DECODER_FIELDS.get(model_type, {})
    if model_type in _NESTED_DECODERS:
        nested = dict(_NESTED_DECODERS[model_type])
        cfg = AutoConfig.for_model(
            model_type, text_config={**_DECODER_COMMON, **nested.pop("text_fields", {})}, **nested
        )
    else:
        cfg = AutoConfig.for_model(
            model_type, **{k: v for k, v in {**_DECODER_COMMON, **fields}.items() if v is not None}
        )
    for c in {id(cfg): cfg, id(cfg.get_text_config()): cfg.get_text_config()}.values():
        for key, value in list(vars(c).items()):
            if isinstance(value, float) and ("dropout" in key or key.endswith("pdrop")) and key not in fields:
                setattr(c, key, dropout)
    return cfg


def tiny_config(model_type: str, dropout: float = 0.1, **kwargs):
    """A tiny stock config of `model_type` with every dropout at `dropout`; `kwargs` set further attributes."""
    if model_type in DECODER_TYPES:
        cfg = _tiny_decoder_config(model_type, dropout)
    else:
        cfg = _tiny_stock_config(model_type, dropout)
    for key, value in kwargs.items():
        setattr(cfg, key, value)
    return cfg


# Decoder LLMs (`pooling="last_token"` rows) and the rest. The heavy parametrized tests run on every encoder and on a
# representative subset of decoders; `tests/test_decoders.py` checks every decoder family cheaply.
DECODER_TYPES = [t for t, arch in msd_transformers.ARCHITECTURES.items() if arch.pooling == "last_token"]
ENCODER_TYPES = [t for t in msd_transformers.supported_model_types() if t not in DECODER_TYPES]
DECODER_TYPES_TESTED = ["llama", "qwen2", "qwen3", "mistral", "gemma2", "phi3", "qwen2_moe", "gpt2"]
MODEL_TYPES = ENCODER_TYPES + DECODER_TYPES_TESTED


@pytest.fixture(params=MODEL_TYPES)
def model_type(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make_inputs(batch_size: int = 4, seq_len: int = 9, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(4, VOCAB, (batch_size, seq_len), generator=g)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, -3:] = 0  # some padding
    return {"input_ids": input_ids, "attention_mask": attention_mask}
