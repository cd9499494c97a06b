"""Shared fixtures: tiny configs of every supported architecture, built here (no download)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the suite may reach the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import (  # noqa: E402
    AlbertConfig,
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


def tiny_config(model_type: str, dropout: float = 0.1, **kwargs):
    """A tiny stock config of `model_type` with every dropout at `dropout`; `kwargs` set further attributes."""
    cfg = _tiny_stock_config(model_type, dropout)
    for key, value in kwargs.items():
        setattr(cfg, key, value)
    return cfg


MODEL_TYPES = msd_transformers.supported_model_types()


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
