"""Multi-sample dropout `*ForSequenceClassification` classes for Transformers encoders, encoder-decoders and decoders.

Every supported architecture is one row of `ARCHITECTURES`: the encoders, the encoder-decoders (BART, T5, ...) and the
older decoders (GPT-2, OPT, BLOOM, ...) are written out, and every decoder family whose head Transformers builds from
`GenericForSequenceClassification` (Llama, Mistral, Qwen, Gemma, Phi, ...) gets a row from `generic_decoder_rows()` at
import time. The sequence-classification families of Transformers without one are listed, each with its reason, in
`EXCLUDED_ARCHITECTURES` (`msd_transformers.docs` prints both as the README's tables). From a row, `_build_classes`
makes two classes:

- `MSD<Upstream>Config`, a subclass of the upstream config with the fields `msd_num_samples`, `msd_dropout` and
  `msd_average`, `model_type = "msd-<upstream model_type>"`;
- `MSD<Upstream>ForSequenceClassification`, a subclass of the upstream class whose `__init__` puts a
  `MultiSampleDropout` in place of the dropout directly before the final `nn.Linear` (or, for decoders, which have
  none, adds one as `dropout`), and whose `forward` computes the multi-sample dropout loss.

Both register with `AutoConfig` and `AutoModelForSequenceClassification` when `msd_transformers` is imported. The
upstream parameter names are kept, so stock checkpoints load into the MSD classes, and MSD checkpoints into the stock
classes, with no missing or unexpected keys.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import transformers
from transformers import (
    AlbertConfig,
    AlbertForSequenceClassification,
    AutoConfig,
    AutoModelForSequenceClassification,
    BartConfig,
    BartForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BigBirdConfig,
    BigBirdForSequenceClassification,
    BigBirdPegasusConfig,
    BigBirdPegasusForSequenceClassification,
    BioGptConfig,
    BioGptForSequenceClassification,
    BloomConfig,
    BloomForSequenceClassification,
    CamembertConfig,
    CamembertForSequenceClassification,
    CanineConfig,
    CanineForSequenceClassification,
    ConvBertConfig,
    ConvBertForSequenceClassification,
    CTRLConfig,
    CTRLForSequenceClassification,
    Data2VecTextConfig,
    Data2VecTextForSequenceClassification,
    DebertaConfig,
    DebertaForSequenceClassification,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    ErnieConfig,
    ErnieForSequenceClassification,
    EsmConfig,
    EsmForSequenceClassification,
    FalconConfig,
    FalconForSequenceClassification,
    FlaubertConfig,
    FlaubertForSequenceClassification,
    FNetConfig,
    FNetForSequenceClassification,
    FunnelConfig,
    FunnelForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
    GPTBigCodeConfig,
    GPTBigCodeForSequenceClassification,
    GPTNeoConfig,
    GPTNeoForSequenceClassification,
    GPTNeoXConfig,
    GPTNeoXForSequenceClassification,
    IBertConfig,
    IBertForSequenceClassification,
    LayoutLMConfig,
    LayoutLMForSequenceClassification,
    LayoutLMv3Config,
    LayoutLMv3ForSequenceClassification,
    LiltConfig,
    LiltForSequenceClassification,
    LongformerConfig,
    LongformerForSequenceClassification,
    LukeConfig,
    LukeForSequenceClassification,
    MarkupLMConfig,
    MarkupLMForSequenceClassification,
    MBartConfig,
    MBartForSequenceClassification,
    MegatronBertConfig,
    MegatronBertForSequenceClassification,
    MobileBertConfig,
    MobileBertForSequenceClassification,
    ModernBertConfig,
    ModernBertDecoderConfig,
    ModernBertDecoderForSequenceClassification,
    ModernBertForSequenceClassification,
    MPNetConfig,
    MPNetForSequenceClassification,
    MptConfig,
    MptForSequenceClassification,
    MraConfig,
    MraForSequenceClassification,
    MT5Config,
    MT5ForSequenceClassification,
    MvpConfig,
    MvpForSequenceClassification,
    NystromformerConfig,
    NystromformerForSequenceClassification,
    OpenAIGPTConfig,
    OpenAIGPTForSequenceClassification,
    OPTConfig,
    OPTForSequenceClassification,
    PLBartConfig,
    PLBartForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    ReformerConfig,
    ReformerForSequenceClassification,
    RemBertConfig,
    RemBertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    RobertaPreLayerNormConfig,
    RobertaPreLayerNormForSequenceClassification,
    RoCBertConfig,
    RoCBertForSequenceClassification,
    RoFormerConfig,
    RoFormerForSequenceClassification,
    SqueezeBertConfig,
    SqueezeBertForSequenceClassification,
    T5Config,
    T5ForSequenceClassification,
    TapasConfig,
    TapasForSequenceClassification,
    UMT5Config,
    UMT5ForSequenceClassification,
    XLMConfig,
    XLMForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
    XLMRobertaXLConfig,
    XLMRobertaXLForSequenceClassification,
    XLNetConfig,
    XLNetForSequenceClassification,
    XmodConfig,
    XmodForSequenceClassification,
    YosoConfig,
    YosoForSequenceClassification,
    Zamba2Config,
    Zamba2ForSequenceClassification,
    ZambaConfig,
    ZambaForSequenceClassification,
)
from transformers.activations import ACT2FN
from transformers.conversion_mapping import get_checkpoint_conversion_mapping, register_checkpoint_conversion_mapping
from transformers.modeling_layers import GenericForSequenceClassification
from transformers.modeling_outputs import Seq2SeqSequenceClassifierOutput, SequenceClassifierOutput
from transformers.models.auto.configuration_auto import CONFIG_MAPPING, model_type_to_module_name
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES, MODEL_MAPPING

from .dropout import MultiSampleDropout, check_num_samples, resolve_dropout
from .heads import MSDDenseClassificationHead, pool_last_token
from .loss import infer_problem_type, sample_losses

logger = logging.getLogger(__name__)

MSD_AVERAGES: tuple[str, ...] = ("loss", "logits")
MSD_CONFIG_FIELDS: tuple[str, ...] = ("msd_num_samples", "msd_dropout", "msd_average")
MODEL_TYPE_PREFIX = "msd-"
ADDED_DROPOUT_NAME = "dropout"  # where the `MultiSampleDropout` goes in heads that have no dropout to replace


@dataclass(frozen=True)
class MSDArchitecture:
    """Where the multi-sample dropout head goes in one upstream `*ForSequenceClassification` class.

    Args:
        model_type (`str`): The upstream `model_type`.
        config_class (`type`): The upstream config class.
        model_class (`type`): The upstream `*ForSequenceClassification` class.
        dropout (`str`, *optional*): Path of the `nn.Dropout` directly before the final `nn.Linear`; its rate is the
            default rate of the samples (`msd_dropout=None`). `None` for heads without one (the decoder LLMs): the
            `MultiSampleDropout` is then added as `dropout`, and `msd_dropout` must be set (no rate to inherit).
        classifier (`str`): Path of the final `nn.Linear`.
        head (`str`, *optional*): Path of a head module that calls its one dropout module twice (RoBERTa style); it
            is swapped for an `MSDDenseClassificationHead` that samples only before `classifier`. Without it, the
            module at `dropout` is swapped for the `MultiSampleDropout`.
        head_activation (`str`, *optional*): For a `head` that applies `ACT2FN[config.<name>]` after `dense` (BigBird,
            ConvBERT, RoFormer, ...: `"hidden_act"`), the name of that config attribute. Without it, the head's own
            `activation` module (ELECTRA) or else `tanh` (RoBERTa).
        head_input (`str`, *optional*, defaults to `"sequence"`): What the upstream forward passes to the `head`:
            `"sequence"`, the hidden states `(batch_size, seq_len, hidden_size)`, of which the head takes the first
            token (RoBERTa); `"pooled"`, a state `(batch_size, hidden_size)` that the forward has already picked (the
            encoder-decoders BART and T5: the decoder state at the last end-of-sequence token; LayoutLMv3: [CLS]).
        loss_style (`str`, *optional*, defaults to `"default"`): `"deberta"` for DeBERTa-v2's loss rules.
        pooling (`str`, *optional*): `"last_token"` for decoder heads, which apply `classifier` to every position and
            then pick each sequence's last non-padding token. The MSD class runs the backbone
            (`model_class.base_model_prefix`) itself, picks the token first ([`pool_last_token`]), and applies the
            samples and `classifier` to the pooled `(batch_size, hidden_size)` only. `None`: the upstream forward runs,
            with the `MultiSampleDropout` in place of its dropout.
        pooled_head (`str`, *optional*): With `pooling="last_token"`, path of a per-token module that upstream applies
            before the dropout (ModernBERT-decoder's `head`); the MSD class applies it to the picked token.
    """

    model_type: str
    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]
    dropout: str | None
    classifier: str
    head: str | None = None
    head_activation: str | None = None
    head_input: Literal["sequence", "pooled"] = "sequence"
    loss_style: Literal["default", "deberta"] = "default"
    pooling: Literal["last_token"] | None = None
    pooled_head: str | None = None

    @property
    def msd_path(self) -> str:
        """Path of the `MultiSampleDropout` in the MSD model."""
        if self.head:
            return f"{self.head}.msd"
        return self.dropout if self.dropout is not None else ADDED_DROPOUT_NAME

    @property
    def msd_model_type(self) -> str:
        return MODEL_TYPE_PREFIX + self.model_type


def _if_available(model_type: str, name: str, **paths: Any) -> list[MSDArchitecture]:
    """The row of a family that Transformers added after 5.0 (`<name>Config`, `<name>ForSequenceClassification`),
    or no row with a Transformers release that lacks it."""
    config_class = getattr(transformers, f"{name}Config", None)
    model_class = getattr(transformers, f"{name}ForSequenceClassification", None)
    if config_class is None or model_class is None:
        return []
    return [MSDArchitecture(model_type, config_class, model_class, **paths)]


# The one table: add a row here to support another architecture (see the README, "Adding an architecture").
ARCHITECTURES: dict[str, MSDArchitecture] = {
    a.model_type: a
    for a in [
        # pooler_output -> dropout -> classifier
        MSDArchitecture("bert", BertConfig, BertForSequenceClassification, dropout="dropout", classifier="classifier"),
        # classifier: x[:, 0] -> dropout -> dense -> tanh -> dropout (same module) -> out_proj
        MSDArchitecture(
            "roberta", RobertaConfig, RobertaForSequenceClassification,
            dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier",
        ),
        MSDArchitecture(
            "xlm-roberta", XLMRobertaConfig, XLMRobertaForSequenceClassification,
            dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier",
        ),
        # classifier: x[:, 0] -> dropout -> dense -> gelu -> dropout (same module) -> out_proj
        MSDArchitecture(
            "electra", ElectraConfig, ElectraForSequenceClassification,
            dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier",
        ),
        # h[:, 0] -> pre_classifier -> ReLU -> dropout -> classifier
        MSDArchitecture(
            "distilbert", DistilBertConfig, DistilBertForSequenceClassification,
            dropout="dropout", classifier="classifier",
        ),
        # pooler_output -> dropout -> classifier
        MSDArchitecture(
            "albert", AlbertConfig, AlbertForSequenceClassification, dropout="dropout", classifier="classifier"
        ),
        # pooler (dropout -> dense -> act) -> dropout -> classifier
        MSDArchitecture(
            "deberta-v2", DebertaV2Config, DebertaV2ForSequenceClassification,
            dropout="dropout", classifier="classifier", loss_style="deberta",
        ),
        # pooling (cls | mean) -> head (dense -> act -> norm) -> drop -> classifier
        MSDArchitecture(
            "modernbert", ModernBertConfig, ModernBertForSequenceClassification,
            dropout="drop", classifier="classifier",
        ),
        # pooler_output -> dropout -> classifier
        MSDArchitecture("canine", CanineConfig, CanineForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture("ernie", ErnieConfig, ErnieForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture("fnet", FNetConfig, FNetForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture("layoutlm", LayoutLMConfig, LayoutLMForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture("luke", LukeConfig, LukeForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture("markuplm", MarkupLMConfig, MarkupLMForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture(
            "megatron-bert", MegatronBertConfig, MegatronBertForSequenceClassification, "dropout", "classifier"
        ),
        MSDArchitecture("mobilebert", MobileBertConfig, MobileBertForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture("rembert", RemBertConfig, RemBertForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture("roc_bert", RoCBertConfig, RoCBertForSequenceClassification, "dropout", "classifier"),
        MSDArchitecture(
            "squeezebert", SqueezeBertConfig, SqueezeBertForSequenceClassification, "dropout", "classifier"
        ),
        MSDArchitecture("tapas", TapasConfig, TapasForSequenceClassification, "dropout", "classifier"),
        # ContextPooler (dropout -> dense -> act) -> dropout -> classifier; DeBERTa's loss rules, as v2
        MSDArchitecture(
            "deberta", DebertaConfig, DebertaForSequenceClassification,
            dropout="dropout", classifier="classifier", loss_style="deberta",
        ),
        # h[:, 0] -> classifier (linear_hidden -> tanh -> dropout -> linear_out)
        MSDArchitecture(
            "funnel", FunnelConfig, FunnelForSequenceClassification,
            dropout="classifier.dropout", classifier="classifier.linear_out",
        ),
        # sequence_summary (h[:, -1] -> summary Linear -> tanh -> last_dropout) -> logits_proj
        MSDArchitecture(
            "xlnet", XLNetConfig, XLNetForSequenceClassification,
            dropout="sequence_summary.last_dropout", classifier="logits_proj",
        ),
        # sequence_summary (h[:, 0] -> first_dropout -> summary, a Linear to num_labels)
        MSDArchitecture(
            "xlm", XLMConfig, XLMForSequenceClassification,
            dropout="sequence_summary.first_dropout", classifier="sequence_summary.summary",
        ),
        MSDArchitecture(
            "flaubert", FlaubertConfig, FlaubertForSequenceClassification,
            dropout="sequence_summary.first_dropout", classifier="sequence_summary.summary",
        ),
        # classifier: x[:, 0] -> dropout -> dense -> tanh -> dropout (same module) -> out_proj
        *(
            MSDArchitecture(
                model_type, config_class, model_class,
                dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier",
            )
            for model_type, config_class, model_class in [
                ("camembert", CamembertConfig, CamembertForSequenceClassification),
                ("data2vec-text", Data2VecTextConfig, Data2VecTextForSequenceClassification),
                ("esm", EsmConfig, EsmForSequenceClassification),
                ("ibert", IBertConfig, IBertForSequenceClassification),
                ("lilt", LiltConfig, LiltForSequenceClassification),
                ("longformer", LongformerConfig, LongformerForSequenceClassification),
                ("mpnet", MPNetConfig, MPNetForSequenceClassification),
                ("reformer", ReformerConfig, ReformerForSequenceClassification),
                ("roberta-prelayernorm", RobertaPreLayerNormConfig, RobertaPreLayerNormForSequenceClassification),
                ("xlm-roberta-xl", XLMRobertaXLConfig, XLMRobertaXLForSequenceClassification),
                ("xmod", XmodConfig, XmodForSequenceClassification),
            ]
        ),
        # classifier: x[:, 0] -> dropout -> dense -> ACT2FN[config.hidden_act] -> dropout (same module) -> out_proj
        *(
            MSDArchitecture(
                model_type, config_class, model_class,
                dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier",
                head_activation="hidden_act",
            )
            for model_type, config_class, model_class in [
                ("big_bird", BigBirdConfig, BigBirdForSequenceClassification),
                ("convbert", ConvBertConfig, ConvBertForSequenceClassification),
                ("mra", MraConfig, MraForSequenceClassification),
                ("nystromformer", NystromformerConfig, NystromformerForSequenceClassification),
                ("roformer", RoFormerConfig, RoFormerForSequenceClassification),
                ("yoso", YosoConfig, YosoForSequenceClassification),
            ]
        ),
        # Encoder-decoders. The forward picks the decoder state at each sequence's last end-of-sequence token (B, H);
        # classification_head: dropout -> dense -> tanh -> dropout (same module) -> out_proj
        *(
            MSDArchitecture(
                model_type, config_class, model_class,
                dropout="classification_head.dropout", classifier="classification_head.out_proj",
                head="classification_head", head_input="pooled",
            )
            for model_type, config_class, model_class in [
                ("bart", BartConfig, BartForSequenceClassification),
                ("bigbird_pegasus", BigBirdPegasusConfig, BigBirdPegasusForSequenceClassification),
                ("mbart", MBartConfig, MBartForSequenceClassification),
                ("mt5", MT5Config, MT5ForSequenceClassification),
                ("mvp", MvpConfig, MvpForSequenceClassification),
                ("plbart", PLBartConfig, PLBartForSequenceClassification),
                ("t5", T5Config, T5ForSequenceClassification),
                ("umt5", UMT5Config, UMT5ForSequenceClassification),
            ]
        ),
        # The forward picks x[:, 0] (B, H); classifier: dropout -> dense -> tanh -> dropout (same module) -> out_proj
        MSDArchitecture(
            "layoutlmv3", LayoutLMv3Config, LayoutLMv3ForSequenceClassification,
            dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier", head_input="pooled",
        ),
        # Families newer than Transformers 5.0: a row where the installed Transformers has them.
        *_if_available("gte", "Gte", dropout="dropout", classifier="classifier"),
        *_if_available("nomic_bert", "NomicBert", dropout="dropout", classifier="classifier"),
        # pooling (cls | mean) -> head (identity) -> drop -> classifier
        *_if_available("ultrabert", "Ultrabert", dropout="drop", classifier="classifier"),
        # vision-language, text pooling as ModernBERT / Ultrabert: pooling -> head -> drop -> classifier
        *_if_available("modernvbert", "ModernVBert", dropout="drop", classifier="classifier"),
        *_if_available("ultravbert", "UltraVBert", dropout="drop", classifier="classifier"),
        # classifier: x[:, 0] -> dropout -> dense -> tanh -> dropout (same module) -> out_proj
        *_if_available(
            "esmc", "Esmc", dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier"
        ),
        *_if_available(
            "jina_embeddings_v3", "JinaEmbeddingsV3",
            dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier",
        ),
        # Decoders with their own copy of the last-token head: backbone -> score on every position -> last
        # non-padding token. No dropout before score: the samples are added (msd_dropout required).
        *(
            MSDArchitecture(model_type, config_class, model_class, None, classifier, pooling="last_token")
            for model_type, config_class, model_class, classifier in [
                ("gpt2", GPT2Config, GPT2ForSequenceClassification, "score"),
                ("gpt_neo", GPTNeoConfig, GPTNeoForSequenceClassification, "score"),
                ("gpt_neox", GPTNeoXConfig, GPTNeoXForSequenceClassification, "score"),
                ("gpt_bigcode", GPTBigCodeConfig, GPTBigCodeForSequenceClassification, "score"),
                ("opt", OPTConfig, OPTForSequenceClassification, "score"),
                ("bloom", BloomConfig, BloomForSequenceClassification, "score"),
                ("falcon", FalconConfig, FalconForSequenceClassification, "score"),
                ("mpt", MptConfig, MptForSequenceClassification, "score"),
                ("biogpt", BioGptConfig, BioGptForSequenceClassification, "score"),
                ("ctrl", CTRLConfig, CTRLForSequenceClassification, "classifier"),
                ("openai-gpt", OpenAIGPTConfig, OpenAIGPTForSequenceClassification, "score"),
                ("zamba", ZambaConfig, ZambaForSequenceClassification, "score"),
                ("zamba2", Zamba2Config, Zamba2ForSequenceClassification, "score"),
            ]
        ),
        # backbone -> head (dense -> act -> norm) -> drop -> classifier on every position -> last non-padding token
        MSDArchitecture(
            "modernbert-decoder", ModernBertDecoderConfig, ModernBertDecoderForSequenceClassification,
            dropout="drop", classifier="classifier", pooling="last_token", pooled_head="head",
        ),
    ]
}  # fmt: skip


def generic_decoder_rows() -> list[MSDArchitecture]:
    """A `pooling="last_token"` row for every model type whose `*ForSequenceClassification` the installed Transformers
    builds from `GenericForSequenceClassification` (llama, mistral, mixtral, qwen2, qwen3, gemma2, phi3, olmo2, ...).

    The list comes from `MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES` by a class check, so the families of later
    Transformers versions are picked up. Only the modeling modules whose source file names
    `GenericForSequenceClassification` are imported for the check: importing all ~130 sequence-classification modules
    would add seconds to `import msd_transformers`.

    Returns:
        `list[MSDArchitecture]`: one row per family (`dropout=None`, `classifier="score"`), minus the model types
        already in `ARCHITECTURES` or in `EXCLUDED_ARCHITECTURES`.
    """
    models_dir = Path(transformers.models.__file__).parent
    rows = []
    for model_type, class_name in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.items():
        if model_type in ARCHITECTURES or model_type in EXCLUDED_ARCHITECTURES:
            continue
        module = model_type_to_module_name(model_type)  # e.g. "llama" or "deprecated.<name>"
        *parents, name = module.split(".")
        source = models_dir.joinpath(*parents, name, f"modeling_{name}.py")
        if not source.is_file() or b"GenericForSequenceClassification" not in source.read_bytes():
            continue
        model_class = getattr(importlib.import_module(f"transformers.models.{module}"), class_name)
        config_class = CONFIG_MAPPING[model_type]
        if issubclass(model_class, GenericForSequenceClassification) and config_class.model_type == model_type:
            rows.append(MSDArchitecture(model_type, config_class, model_class, None, "score", pooling="last_token"))
    return rows


# Sequence-classification model types of Transformers that have no MSD class, and why.
EXCLUDED_ARCHITECTURES: dict[str, str] = {
    "gpt-sw3": (
        "GPT-SW3 checkpoints use `GPT2Config` (model_type `gpt2`) and `GPT2ForSequenceClassification`: the `gpt2` "
        "row serves them"
    ),
    "t5gemma": (
        "encoder-decoder whose forward shifts `input_ids` right into `decoder_input_ids`, applies `score` (dropout, "
        "Linear) to every decoder position and then picks the one after the last non-padding input token: the "
        "samples belong after that pick, and the decoders' last-token path (backbone, then the last non-padding "
        "token of `input_ids`) has neither the shift nor the offset; it needs a forward of its own"
    ),
    "t5gemma2": (
        "as `t5gemma`: `decoder_input_ids` shifted from `input_ids` inside the forward, `score` on every decoder "
        "position, then the last non-padding token of the shifted ids"
    ),
    "eurobert": "no dropout in the head (pooling -> dense -> GELU -> classifier): no dropout to replace",
    "perceiver": "no dropout before the final Linear (the classification decoder's `final_layer`)",
    "layoutlmv2": "needs the detectron2 visual backbone: no model can be built without it",
}


def supported_model_types() -> list[str]:
    """The upstream `model_type`s that have a multi-sample dropout class."""
    return list(ARCHITECTURES)


def get_architecture(model_type: str) -> MSDArchitecture:
    """The table row for an upstream or MSD `model_type`; `ValueError` listing the supported ones otherwise."""
    key = model_type.removeprefix(MODEL_TYPE_PREFIX) if model_type else model_type
    if key not in ARCHITECTURES:
        reason = f" ({EXCLUDED_ARCHITECTURES[key]})" if key in EXCLUDED_ARCHITECTURES else ""
        raise ValueError(
            f"Multi-sample dropout does not support model_type {model_type!r}{reason}. Supported: "
            f"{', '.join(ARCHITECTURES)}. To add one, call "
            "msd_transformers.register_architecture(MSDArchitecture(...))."
        )
    return ARCHITECTURES[key]


@dataclass
class MSDSequenceClassifierOutput(SequenceClassifierOutput):
    """`SequenceClassifierOutput` plus the logits of every dropout sample.

    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*): The training loss: the mean of the per-sample losses
            (`msd_average="loss"`) or the loss of the mean logits (`"logits"`); in eval, the upstream loss.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`): In training the mean of the sample logits,
            in eval the upstream logits; inside [`mc_dropout`] with `layers` k or `"all"`, the Monte-Carlo predictive
            logits (see [`predictive_logits`]).
        sample_logits (`torch.FloatTensor` of shape `(num_samples, batch_size, num_labels)`, *optional*): The logits
            of each dropout sample: in training mode, and inside [`mc_dropout`] (N Monte-Carlo samples).
    """

    sample_logits: torch.FloatTensor | None = None


@dataclass
class MSDSeq2SeqSequenceClassifierOutput(Seq2SeqSequenceClassifierOutput):
    """`Seq2SeqSequenceClassifierOutput` (the encoder-decoders: BART, T5, ...) plus the logits of every dropout
    sample, as [`MSDSequenceClassifierOutput`].

    Args:
        sample_logits (`torch.FloatTensor` of shape `(num_samples, batch_size, num_labels)`, *optional*): The logits
            of each dropout sample: in training mode, and inside [`mc_dropout`] with `layers=0`.
    """

    sample_logits: torch.FloatTensor | None = None


def validate_msd_fields(
    msd_num_samples: Any, msd_dropout: Any, msd_average: Any
) -> tuple[int, float | list[float] | None, str]:
    """Check the three MSD config fields and resolve `msd_dropout` (a float stays a float, a list or
    `"linspace(a, b)"` becomes the list of rates). Raises `ValueError` naming the bad value and what is allowed."""
    msd_num_samples = check_num_samples(msd_num_samples)
    if isinstance(msd_dropout, (str, list, tuple)):
        msd_dropout = resolve_dropout(msd_dropout, msd_num_samples)
    elif msd_dropout is not None:
        msd_dropout = resolve_dropout(msd_dropout, msd_num_samples)[0]
    if msd_average not in MSD_AVERAGES:
        raise ValueError(f"msd_average must be one of {MSD_AVERAGES}, got {msd_average!r}.")
    return msd_num_samples, msd_dropout, msd_average


class MSDConfigMixin:
    """The multi-sample dropout fields and their validation, mixed into each upstream config class.

    Fields (declared on each generated config class, so they are dataclass fields written to `config.json`):

    - `msd_num_samples` (`int`, defaults to 8): the number of dropout samples K, >= 1.
    - `msd_dropout` (`float`, `list[float]`, `str` or `None`, defaults to `None`): one rate in [0, 1) for every sample,
      a list of `msd_num_samples` rates, or `"linspace(a, b)"` (resolved here to the list of rates). `None` means the
      architecture's own classifier dropout rate; architectures without one (the decoder LLMs) require a value
      ([`msd_config`] and the model classes raise a `ValueError` otherwise).
    - `msd_average` (`str`, defaults to `"loss"`): `"loss"` averages the per-sample losses (the paper); `"logits"`
      computes one loss on the mean logits.
    """

    # Kept out of evaluation predictions by `Trainer.prediction_step`.
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["sample_logits"]
    msd_architecture: ClassVar[MSDArchitecture]

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.msd_num_samples, self.msd_dropout, self.msd_average = validate_msd_fields(
            self.msd_num_samples, self.msd_dropout, self.msd_average
        )

    def check_msd_dropout(self) -> None:
        """Raise a `ValueError` naming `msd_dropout` when it is `None` for an architecture without a dropout before
        its classifier (the decoder LLMs): there is no rate to inherit. `msd_config` and the model classes call it;
        the config class itself does not, so that Transformers and PEFT can read a stock config through it
        (PEFT's adapter saving calls `type(model.config).from_pretrained(base_checkpoint)`)."""
        arch = self.msd_architecture
        if self.msd_dropout is None and arch.dropout is None:
            raise ValueError(
                f"msd_dropout must be set for {arch.model_type!r}: {arch.model_class.__name__} has no dropout before "
                f"`{arch.classifier}`, so there is no architecture rate to default to (samples at rate 0 are "
                "identical). Give a rate in [0, 1), a list of rates, or 'linspace(a, b)', e.g. msd_dropout=0.1."
            )


class MSDModelMixin:
    """Multi-sample dropout behaviour, mixed into each upstream `*ForSequenceClassification` class.

    `__init__` swaps the dropout before the final Linear for a `MultiSampleDropout` (or adds one as `dropout` where
    upstream has none); `forward` runs the upstream forward without labels (everything after the dropout broadcasts
    over the new sample dimension, so the logits come back as `(K, B, C)`), then computes the loss with the upstream
    semantics, vectorized over the samples. Decoder heads (`pooling="last_token"`) run `_last_token_forward` instead.
    """

    msd_architecture: ClassVar[MSDArchitecture]
    # The loss is a per-batch mean that ignores `num_items_in_batch`: the Trainer must scale it for gradient
    # accumulation (see transformers#37766).
    accepts_loss_kwargs = False
    _upstream_signature: ClassVar[inspect.Signature]
    _backbone_takes_cache: ClassVar[bool]  # whether the upstream forward passes `use_cache` to the backbone

    def __init__(self, config: PretrainedConfig, *args: Any, **kwargs: Any):
        config.check_msd_dropout()  # before the backbone is built
        super().__init__(config, *args, **kwargs)
        arch = self.msd_architecture
        _check_modules(arch, self)
        if arch.dropout is None:
            self.add_module(ADDED_DROPOUT_NAME, MultiSampleDropout(config.msd_num_samples, config.msd_dropout))
            return
        dropout = self.get_submodule(arch.dropout)
        default_rate = dropout.p if isinstance(dropout, torch.nn.Dropout) else 0.0  # nn.Identity: a rate-0 dropout
        rates = config.msd_dropout if config.msd_dropout is not None else default_rate
        msd = MultiSampleDropout(config.msd_num_samples, rates)
        if arch.head:
            activation = ACT2FN[getattr(config, arch.head_activation)] if arch.head_activation else None
            head = MSDDenseClassificationHead(
                self.get_submodule(arch.head), msd, activation, pooled_input=arch.head_input == "pooled"
            )
            self.set_submodule(arch.head, head)
        else:
            self.set_submodule(arch.dropout, msd)

    @property
    def msd(self) -> MultiSampleDropout:
        """The model's `MultiSampleDropout` module."""
        return self.get_submodule(self.msd_architecture.msd_path)

    def msd_loss(self, sample_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The model's loss from the sample logits `(K, B, C)`: upstream semantics, averaged per `msd_average`."""
        problem_type = self.config.problem_type
        if problem_type is None and self.msd_architecture.loss_style == "default":
            # As upstream: inferred on the first labelled batch and stored in the config.
            problem_type = self.config.problem_type = infer_problem_type(self.config.num_labels, labels)
        if self.config.msd_average == "logits":
            sample_logits = sample_logits.mean(0, keepdim=True)  # (1, B, C)
        losses = sample_losses(
            sample_logits,
            labels,
            num_labels=self.config.num_labels,
            problem_type=problem_type,
            loss_style=self.msd_architecture.loss_style,
        )
        return losses.mean()

    def _bind(self, args: tuple, kwargs: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor | None, bool]:
        """The call's arguments by name as the upstream forward binds them (`**kwargs` flattened), without `labels`
        and `return_dict`.

        Returns:
            `tuple`: the arguments, `labels` and `return_dict` (the config's when not given).
        """
        bound = self._upstream_signature.bind(self, *args, **kwargs).arguments
        bound.pop("self")
        for name, param in self._upstream_signature.parameters.items():
            if param.kind is param.VAR_KEYWORD:
                bound.update(bound.pop(name, {}))
        labels = bound.pop("labels", None)
        return_dict = bound.pop("return_dict", None)
        return bound, labels, self.config.return_dict if return_dict is None else return_dict

    def forward(self, *args: Any, **kwargs: Any) -> MSDSequenceClassifierOutput | tuple:
        inputs, labels, return_dict = self._bind(args, kwargs)
        if labels is not None and self._backbone_takes_cache:
            inputs["use_cache"] = False  # as upstream with labels (the encoder-decoders), which it does not see here
        outputs = super().forward(**inputs, return_dict=True)
        # Everything after the MultiSampleDropout broadcasts over its sample dimension: (S, B, C) logits.
        return self._msd_output(outputs.logits, labels, outputs, return_dict)

    def _last_token_forward(self, *args: Any, **kwargs: Any) -> MSDSequenceClassifierOutput | tuple:
        """The decoder head: backbone, then the last non-padding token, then samples and classifier on `(B, H)` only.

        Takes the upstream forward's arguments; all but `labels` and `return_dict` go to the backbone, as upstream.
        """
        arch = self.msd_architecture
        bound, labels, return_dict = self._bind(args, kwargs)
        if self._backbone_takes_cache:
            bound.setdefault("use_cache", False)  # no generation here: a key/value cache would only cost memory
        outputs = self.base_model(**bound)
        pad_token_id = self.config.get_text_config().pad_token_id
        x = pool_last_token(outputs[0], bound.get("input_ids"), pad_token_id, type(self).__name__)  # (B, H)
        if arch.pooled_head:
            x = self.get_submodule(arch.pooled_head)(x)  # (B, H)
        x = self.msd(x)  # (S, B, H), S = K in training, 1 in eval
        sample_logits = self.get_submodule(arch.classifier)(x)  # (S, B, C)
        return self._msd_output(sample_logits, labels, outputs, return_dict)

    def _msd_output(
        self, sample_logits: torch.Tensor, labels: torch.Tensor | None, outputs: Any, return_dict: bool
    ) -> MSDSequenceClassifierOutput | MSDSeq2SeqSequenceClassifierOutput | tuple:
        """The model output from the head's logits `(S, B, C)` (S = K in training, 1 in eval, 1 + N in head-only
        Monte-Carlo dropout): `logits` (B, C), the loss when `labels` are given, and `sample_logits` in training and
        in head-only MC dropout. `outputs` supplies the other fields: `hidden_states` and `attentions`, or, from an
        encoder-decoder, those of `Seq2SeqSequenceClassifierOutput` (`encoder_last_hidden_state`, ...). Every MSD
        class's `forward` ends here."""
        returned_samples = sample_logits if self.training else None
        if getattr(self.msd, "mc_mode", None) == "head":  # a swapped-in module may have no MC state
            # Row 0 is the deterministic eval sample: the logits and the loss are the upstream eval ones.
            returned_samples = sample_logits[1:]  # (N, B, C)
            sample_logits = sample_logits[:1]  # (1, B, C)
        logits = sample_logits[0] if sample_logits.shape[0] == 1 else sample_logits.mean(0)  # (B, C)
        loss = self.msd_loss(sample_logits, labels) if labels is not None else None
        seq2seq = isinstance(outputs, Seq2SeqSequenceClassifierOutput)
        output_class = MSDSeq2SeqSequenceClassifierOutput if seq2seq else MSDSequenceClassifierOutput
        passed = {
            f.name: getattr(outputs, f.name, None)
            for f in fields(output_class)
            if f.name not in ("loss", "logits", "sample_logits")
        }
        output = output_class(loss=loss, logits=logits, sample_logits=returned_samples, **passed)
        return output if return_dict else output.to_tuple()


def _build_classes(arch: MSDArchitecture) -> tuple[type[PretrainedConfig], type[PreTrainedModel]]:
    """Make `MSD<Upstream>Config` and `MSD<Upstream>ForSequenceClassification` for one table row."""
    config_name = f"MSD{arch.config_class.__name__}"
    config_cls = type(
        config_name,
        (MSDConfigMixin, arch.config_class),
        {
            "__module__": __name__,
            "__qualname__": config_name,
            "__doc__": (
                f"[`{arch.config_class.__name__}`] with multi-sample dropout fields (`msd_num_samples`, "
                f"`msd_dropout`, `msd_average`; see [`MSDConfigMixin`]). `model_type`: `{arch.msd_model_type}`."
            ),
            "model_type": arch.msd_model_type,
            "msd_architecture": arch,
            # The Trainer's default where the upstream config sets none (it leaves out the encoder-decoders' `cache`).
            "keys_to_ignore_at_inference": [
                *getattr(arch.config_class, "keys_to_ignore_at_inference", ["cache"]),
                *MSDConfigMixin.keys_to_ignore_at_inference,
            ],
            "__annotations__": {
                "msd_num_samples": int,
                "msd_dropout": float | list[float] | str | None,
                "msd_average": str,
            },
            "msd_num_samples": 8,
            "msd_dropout": None,
            "msd_average": "loss",
        },
    )

    upstream_forward = _with_labels(inspect.signature(arch.model_class.forward))
    if arch.pooling == "last_token":

        def forward(self, *args: Any, **kwargs: Any) -> MSDSequenceClassifierOutput | tuple:
            return MSDModelMixin._last_token_forward(self, *args, **kwargs)

        placement = "added" if arch.dropout is None else f"in place of `{arch.dropout}`"
        doc = f"multi-sample dropout ({placement}) on the last non-padding token only, before `{arch.classifier}`"
    else:

        def forward(self, *args: Any, **kwargs: Any) -> MSDSequenceClassifierOutput | tuple:
            return MSDModelMixin.forward(self, *args, **kwargs)

        doc = f"multi-sample dropout in place of `{arch.dropout}` before `{arch.classifier}`"

    # The Trainer (unused-column removal, label names) and pipelines read the forward's signature: the upstream one.
    forward.__signature__ = upstream_forward
    forward.__doc__ = arch.model_class.forward.__doc__
    model_name = f"MSD{arch.model_class.__name__}"
    forward.__qualname__ = f"{model_name}.forward"

    model_cls = type(
        model_name,
        (MSDModelMixin, arch.model_class),
        {
            "__module__": __name__,
            "__qualname__": model_name,
            "__doc__": f"[`{arch.model_class.__name__}`] with {doc}. See [`MSDModelMixin`].",
            "__annotations__": {"config": config_cls},
            "config_class": config_cls,
            "msd_architecture": arch,
            "_upstream_signature": upstream_forward,
            "_backbone_takes_cache": "use_cache" in upstream_forward.parameters,
            "forward": forward,
        },
    )
    return config_cls, model_cls


def _with_labels(signature: inspect.Signature) -> inspect.Signature:
    """`signature` with a keyword-only `labels=None` where it takes `labels` only through `**kwargs` (Qwen3.5's
    `GenericForSequenceClassification` subclass), so that the Trainer finds the label column."""
    params = list(signature.parameters.values())
    if "labels" in signature.parameters or not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        return signature
    labels = inspect.Parameter("labels", inspect.Parameter.KEYWORD_ONLY, default=None)
    return signature.replace(parameters=[*params[:-1], labels, params[-1]])


MSD_CONFIG_CLASSES: dict[str, type[PretrainedConfig]] = {}
MSD_MODEL_CLASSES: dict[str, type[PreTrainedModel]] = {}


def _check_row(arch: MSDArchitecture) -> None:
    """Static checks of a table row: names and classes. Raises `ValueError` saying what to fix."""
    if not isinstance(arch, MSDArchitecture):
        raise ValueError(f"register_architecture takes an MSDArchitecture, got {type(arch).__name__}.")
    if not isinstance(arch.model_type, str) or not arch.model_type or arch.model_type.startswith(MODEL_TYPE_PREFIX):
        raise ValueError(
            f"MSDArchitecture.model_type must be the upstream model_type (e.g. 'mpnet'), got {arch.model_type!r}."
        )
    if not (isinstance(arch.config_class, type) and issubclass(arch.config_class, PretrainedConfig)):
        raise ValueError(
            f"config_class of {arch.model_type!r} must be a PretrainedConfig subclass, got {arch.config_class!r}."
        )
    if arch.config_class.model_type != arch.model_type:
        raise ValueError(
            f"config_class {arch.config_class.__name__} has model_type {arch.config_class.model_type!r}, but the row "
            f"says {arch.model_type!r}: they must be equal."
        )
    if not (isinstance(arch.model_class, type) and issubclass(arch.model_class, PreTrainedModel)):
        raise ValueError(
            f"model_class of {arch.model_type!r} must be a PreTrainedModel subclass, got {arch.model_class!r}."
        )
    generic = issubclass(arch.model_class, GenericForSequenceClassification)  # takes `labels` through `**kwargs`
    if "labels" not in inspect.signature(arch.model_class.forward).parameters and not generic:
        raise ValueError(
            f"{arch.model_class.__name__}.forward takes no `labels`: model_class must be a "
            "*ForSequenceClassification class."
        )
    if arch.loss_style not in ("default", "deberta"):
        raise ValueError(f"loss_style of {arch.model_type!r} must be 'default' or 'deberta', got {arch.loss_style!r}.")
    if arch.head_activation is not None and not (arch.head and isinstance(arch.head_activation, str)):
        raise ValueError(
            f"head_activation of {arch.model_type!r} must be the name of a config attribute (e.g. 'hidden_act') and "
            f"needs a `head`, got head_activation={arch.head_activation!r}, head={arch.head!r}."
        )
    if arch.head_input not in ("sequence", "pooled"):
        raise ValueError(f"head_input of {arch.model_type!r} must be 'sequence' or 'pooled', got {arch.head_input!r}.")
    if arch.head_input == "pooled" and not arch.head:
        raise ValueError(
            f"head_input='pooled' of {arch.model_type!r} needs a `head` (a RoBERTa-style head that the forward gives "
            "the pooled state); without one, the `dropout` module is swapped and takes whatever the forward gives it."
        )
    if arch.pooling not in (None, "last_token"):
        raise ValueError(f"pooling of {arch.model_type!r} must be None or 'last_token', got {arch.pooling!r}.")
    if arch.pooling is None and (arch.dropout is None or arch.pooled_head is not None):
        raise ValueError(
            f"The row of {arch.model_type!r} needs `dropout` (the path of the dropout before the final Linear); "
            "`dropout=None` and `pooled_head` are for decoder heads, with pooling='last_token'."
        )
    if arch.pooling == "last_token" and arch.head is not None:
        raise ValueError(f"`head` (RoBERTa-style heads) does not go with pooling='last_token' ({arch.model_type!r}).")


def _check_paths(arch: MSDArchitecture) -> None:
    """Build the upstream model on the meta device (no memory, no init) from a default config and check that the
    row's paths name an `nn.Dropout` and an `nn.Linear` (and, for `head`, a module with `dense`, `dropout`,
    `out_proj`)."""
    try:
        config = arch.config_class()
        with torch.device("meta"):
            model = arch.model_class(config)
    except Exception as err:  # a config that cannot be built with defaults: the paths are checked at model init
        logger.info("Cannot build %s from a default config to check its paths: %s", arch.model_class.__name__, err)
        return
    _check_modules(arch, model)
    if arch.head_activation and getattr(config, arch.head_activation, None) not in ACT2FN:
        raise ValueError(
            f"head_activation of {arch.model_type!r} is {arch.head_activation!r}, but {type(config).__name__}()."
            f"{arch.head_activation} is {getattr(config, arch.head_activation, None)!r}, not a name in ACT2FN."
        )


def _check_modules(arch: MSDArchitecture, model: torch.nn.Module) -> None:
    def module(path: str, kinds: tuple[type, ...], what: str) -> torch.nn.Module:
        try:
            mod = model.get_submodule(path)
        except AttributeError:
            raise ValueError(
                f"{arch.model_class.__name__} has no submodule {path!r} (the row's `{what}`); see "
                f"`print(model)` for its module names."
            ) from None
        if not isinstance(mod, kinds):
            allowed = " or ".join(f"torch.nn.{kind.__name__}" for kind in kinds)
            raise ValueError(
                f"{arch.model_class.__name__}.{path} (the row's `{what}`) is a {type(mod).__name__}, not a {allowed}."
            )
        return mod

    # Upstream builds an nn.Identity where a configured rate is 0 (XLNet's and XLM's sequence_summary).
    if arch.dropout is not None:
        module(arch.dropout, (torch.nn.Dropout, torch.nn.Identity), "dropout")
    elif hasattr(model, ADDED_DROPOUT_NAME):
        raise ValueError(
            f"{arch.model_class.__name__} already has an attribute {ADDED_DROPOUT_NAME!r}, where `dropout=None` adds "
            "the MultiSampleDropout."
        )
    module(arch.classifier, (torch.nn.Linear,), "classifier")
    if arch.pooling == "last_token":
        backbone = getattr(model, model.base_model_prefix, None)
        if not isinstance(backbone, torch.nn.Module) or backbone is model:
            raise ValueError(
                f"{arch.model_class.__name__} has no backbone at `{model.base_model_prefix}` (its "
                "`base_model_prefix`): pooling='last_token' runs the backbone itself."
            )
        if arch.pooled_head:
            module(arch.pooled_head, (torch.nn.Module,), "pooled_head")
    if arch.head:
        head = model.get_submodule(arch.head)
        missing = [name for name in ("dense", "dropout", "out_proj") if not hasattr(head, name)]
        if missing:
            raise ValueError(
                f"{arch.model_class.__name__}.{arch.head} (the row's `head`) lacks {missing}: `head` is for "
                "RoBERTa-style heads (dense, dropout, out_proj); leave it out for other heads."
            )


def _register_checkpoint_conversions(arch: MSDArchitecture, model_cls: type[PreTrainedModel]) -> None:
    """Give the MSD class the checkpoint key renamings that Transformers applies to the upstream class.

    Transformers looks these up by class name, then by `model_type` (GTE, NomicBERT, ESM, Jina v3, Ultrabert, ...
    rename their original checkpoint keys on load and back on save); the MSD names would find none, so the upstream
    entries are registered under the MSD class name and the MSD `model_type`.
    """
    for upstream, ours in ((arch.model_class.__name__, model_cls.__name__), (arch.model_type, arch.msd_model_type)):
        conversions = get_checkpoint_conversion_mapping(upstream)
        if conversions is not None:
            register_checkpoint_conversion_mapping(ours, conversions, overwrite=True)


def _register(arch: MSDArchitecture) -> tuple[type[PretrainedConfig], type[PreTrainedModel]]:
    """Build the classes of one row, register them with the Auto classes, and add them to the tables."""
    config_cls, model_cls = _build_classes(arch)
    AutoConfig.register(arch.msd_model_type, config_cls, exist_ok=True)
    AutoModelForSequenceClassification.register(config_cls, model_cls, exist_ok=True)
    if arch.config_class in MODEL_MAPPING:
        # `AutoModel` on an MSD config gives the upstream backbone: `GenericForSequenceClassification` builds its
        # backbone with `AutoModel.from_config(config)`. (`AutoModel.register` refuses a backbone class whose
        # `config_class` is the upstream one, so the mapping's own `register` is used.)
        MODEL_MAPPING.register(config_cls, MODEL_MAPPING[arch.config_class], exist_ok=True)
    _register_checkpoint_conversions(arch, model_cls)
    ARCHITECTURES[arch.model_type] = arch
    MSD_CONFIG_CLASSES[arch.model_type] = config_cls
    MSD_MODEL_CLASSES[arch.model_type] = model_cls
    globals()[config_cls.__name__] = config_cls
    globals()[model_cls.__name__] = model_cls
    return config_cls, model_cls


def register_architecture(
    arch: MSDArchitecture, *, exist_ok: bool = False, check: bool = True
) -> tuple[type[PretrainedConfig], type[PreTrainedModel]]:
    """Add an architecture: add its row to `ARCHITECTURES`, build `MSD<Upstream>Config` and
    `MSD<Upstream>ForSequenceClassification`, and register them with `AutoConfig` and
    `AutoModelForSequenceClassification` under `msd-<model_type>`.

    After this call every entry point takes the architecture: [`msd_config`],
    [`AutoMSDModelForSequenceClassification`], [`to_vanilla`], [`MSDTrainer`], and
    `msd_transformers.MSD<Upstream>ForSequenceClassification`.

    Args:
        arch (`MSDArchitecture`):
            The row: the upstream `model_type`, config class, `*ForSequenceClassification` class, and the paths of
            the dropout before the final Linear and of that Linear.
        exist_ok (`bool`, *optional*, defaults to `False`):
            Replace a row already registered for the same `model_type` instead of raising.
        check (`bool`, *optional*, defaults to `True`):
            Build the upstream model from a default config on the meta device (no memory) and check that the paths
            name an `nn.Dropout` and an `nn.Linear`.

    Returns:
        `tuple`: the generated config class and model class.

    Raises:
        `ValueError`: the row is not an `MSDArchitecture`, its names or classes do not fit, its `model_type` is
        already registered (and `exist_ok` is `False`), or a path does not name the right kind of module.

    Example:

    A model of one's own (`MyConfig`, `model_type = "my-bert"`; `MyForSequenceClassification`, a
    `BertForSequenceClassification` whose `classifier` is a head with `dropout` before its final Linear `out`):

    ```python
    >>> import msd_transformers as msd
    >>> msd.register_architecture(msd.MSDArchitecture(
    ...     "my-bert", MyConfig, MyForSequenceClassification,
    ...     dropout="classifier.dropout", classifier="classifier.out"))
    >>> model = msd.AutoMSDModelForSequenceClassification.from_pretrained("my-checkpoint", msd_num_samples=8)
    ```
    """
    _check_row(arch)
    if arch.model_type in ARCHITECTURES and not exist_ok:
        raise ValueError(
            f"model_type {arch.model_type!r} is already registered "
            f"(as {MSD_MODEL_CLASSES[arch.model_type].__name__}); pass exist_ok=True to replace it."
        )
    if check:
        _check_paths(arch)
    return _register(arch)


ARCHITECTURES.update((arch.model_type, arch) for arch in generic_decoder_rows())
for _arch in list(ARCHITECTURES.values()):
    _register(_arch)
