"""The architecture table: where the dropout samples go in each upstream head, per task. Data only.

A row ([`MSDArchitecture`]) names, for one upstream family (`model_type`) and one task, the dropout directly before
the head's final `nn.Linear` (`dropout`, or `None` where there is none) and that Linear (`classifier`). The MSD class
turns the dropout into the identity and the Linear into a [`MultiSampleLinear`], which draws the K dropout samples
itself; everything else in the upstream class, and every parameter name, stays as it is.

Rows come from three places, in this order (see `msd_transformers.registry`):

1. the explicit rows below (`SEQUENCE_CLASSIFICATION`, `TOKEN_CLASSIFICATION`, `QUESTION_ANSWERING`,
   `MULTIPLE_CHOICE`), and rows registered at run time with `register_architecture`;
2. `GENERIC_HEADS`: every family whose task class the installed Transformers builds from its generic class
   (`GenericForSequenceClassification`, ...: Llama, Mistral, Qwen, Gemma, Phi, ...);
3. `DEFAULT_HEADS`: the head most families of a task share (token classification: `dropout` then `classifier`).

The families of a Transformers task mapping that get no row are in `EXCLUDED`, each with its reason. Upstream config
and model classes are named, not imported: the registry resolves them when a family is first used, so importing the
package stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

SEQUENCE_CLASSIFICATION = "sequence-classification"
TOKEN_CLASSIFICATION = "token-classification"
QUESTION_ANSWERING = "question-answering"
MULTIPLE_CHOICE = "multiple-choice"
IMAGE_CLASSIFICATION = "image-classification"
AUDIO_CLASSIFICATION = "audio-classification"
VIDEO_CLASSIFICATION = "video-classification"
#: The tasks, named as Transformers' pipelines name them.
TASKS: tuple[str, ...] = (
    SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION, QUESTION_ANSWERING, MULTIPLE_CHOICE, IMAGE_CLASSIFICATION,
    AUDIO_CLASSIFICATION, VIDEO_CLASSIFICATION,
)  # fmt: skip
#: The tasks with one set of logits per example and the sequence classifiers' loss rules (`problem_type`).
POOLED_TASKS: tuple[str, ...] = (
    SEQUENCE_CLASSIFICATION, IMAGE_CLASSIFICATION, AUDIO_CLASSIFICATION, VIDEO_CLASSIFICATION,
)  # fmt: skip

MODEL_TYPE_PREFIX = "msd-"


@dataclass(frozen=True)
class MSDArchitecture:
    """Where the multi-sample dropout goes in one upstream head (one family, one task).

    Args:
        model_type (`str`): The upstream `model_type`.
        config_class (`type`, *optional*): The upstream config class. Default: Transformers' class for `model_type`.
        model_class (`type`, *optional*): The upstream task class (e.g. a `*ForSequenceClassification`). Default:
            Transformers' class for `model_type` and `task`.
        dropout (`str`, *optional*): Path of the `nn.Dropout` directly before `classifier`; the MSD class makes it the
            identity, and its rate is the default rate of the samples (`msd_dropout=None`). `None` where the head has
            none (decoder LLMs' `score`, most question-answering heads): the samples are added, and `msd_dropout`
            must be set (there is no rate to inherit).
        classifier (`str`, *optional*, defaults to `"classifier"`): Path of the `nn.Linear` that the samples go
            through; it becomes a [`MultiSampleLinear`] with the same parameters.
        head (`str`, *optional*): Path of a RoBERTa-style head that calls its one dropout module twice (before
            `dense` and before `out_proj`); it is swapped for an [`MSDDenseClassificationHead`] that keeps the first
            dropout and samples only before `classifier` (its `out_proj`).
        head_activation (`str`, *optional*): For a `head` that applies `ACT2FN[config.<name>]` after `dense` (BigBird,
            ConvBERT, RoFormer, ...: `"hidden_act"`), the name of that config attribute. Without it, the head's own
            `activation` module (ELECTRA) or else `tanh` (RoBERTa).
        head_input (`str`, *optional*, defaults to `"sequence"`): What the upstream forward passes to the `head`:
            `"sequence"`, hidden states `(batch_size, seq_len, hidden_size)` whose first token it takes (RoBERTa);
            `"pooled"`, a state it uses as given (BART and T5: the decoder state at the last end-of-sequence token;
            LayoutLMv3's sequence head: [CLS]; its question-answering head: every token).
        loss_style (`str`, *optional*, defaults to `"default"`): `"deberta"` for DeBERTa's sequence-classification
            loss rules where `problem_type` is unset; `"cross_entropy"` for heads whose loss is single-label
            cross-entropy whatever the `problem_type` (the wav2vec2 family's and Whisper's audio heads).
        pooling (`str`, *optional*): `"last_token"` for decoder sequence heads, which upstream apply `classifier` to
            every position and then pick each sequence's last non-padding token. The MSD class runs the backbone
            (`model_class.base_model_prefix`) itself, picks the token first ([`pool_last_token`]), and applies the
            samples and `classifier` to `(batch_size, hidden_size)` only.
        pooled_head (`str`, *optional*): With `pooling="last_token"`, path of a per-token module upstream applies
            before the dropout (ModernBERT-decoder's `head`); the MSD class applies it to the picked token.
        loss_mask (`str`, *optional*): For token classification, the forward argument whose zero (`False`) entries
            upstream's loss leaves out, as if their labels were -100: `"attention_mask"` where the upstream loss skips
            padding tokens (BioGPT, MRA, XLM-RoBERTa-XL, YOSO), `"bbox_first_token_mask"` (BROS). Without it, only
            labels -100 are left out.
        head_modules (`tuple[str, ...]`, *optional*): Top-level modules of the task class, other than the paths
            above, that upstream builds for the head and a backbone checkpoint does not hold (the wav2vec2 family's and
            Whisper's `projector`, before the pooling): [`lora_modules_to_save`] names them, so that LoRA trains and
            saves them.
        task (`str`, *optional*, defaults to `"sequence-classification"`): One of `TASKS`.
        resolve_head (`str`, *optional*): `"timm"` where the head's paths depend on the model rather than on the
            family: TimmWrapper's head is the wrapped timm architecture's own (`config.architecture`). The MSD class
            then resolves `classifier` (`timm_model.get_classifier()`, an `nn.Linear`) and `dropout` (the head
            dropout feeding it: `head_drop`, the head module's `drop`, or `F.dropout` at the model's `drop_rate`)
            when it is built ([`resolve_timm_head`]); the row's `classifier` names the module they lie under.
    """

    model_type: str
    config_class: type | None = None
    model_class: type | None = None
    dropout: str | None = None
    classifier: str = "classifier"
    head: str | None = None
    head_activation: str | None = None
    head_input: Literal["sequence", "pooled"] = "sequence"
    loss_style: Literal["default", "deberta", "cross_entropy"] = "default"
    pooling: Literal["last_token"] | None = None
    pooled_head: str | None = None
    loss_mask: str | None = None
    head_modules: tuple[str, ...] = ()
    task: str = SEQUENCE_CLASSIFICATION
    resolve_head: Literal["timm"] | None = None

    @property
    def msd_model_type(self) -> str:
        """The `model_type` of the MSD config: `msd-<model_type>`."""
        return MODEL_TYPE_PREFIX + self.model_type


def _rows(task: str, *rows: tuple[Any, ...] | MSDArchitecture, **shared: Any) -> list[MSDArchitecture]:
    """Rows of one task: `(model_type, dropout, classifier)` tuples, or full rows, with `shared` options."""
    return [
        row if isinstance(row, MSDArchitecture)
        else MSDArchitecture(row[0], dropout=row[1], classifier=row[2], task=task, **shared)
        for row in rows
    ]  # fmt: skip


def _seq(*rows: Any, **shared: Any) -> list[MSDArchitecture]:
    return _rows(SEQUENCE_CLASSIFICATION, *rows, **shared)


def _row(model_type: str, task: str = SEQUENCE_CLASSIFICATION, **paths: Any) -> MSDArchitecture:
    return MSDArchitecture(model_type, task=task, **paths)


# A RoBERTa-style head: x[:, 0] -> dropout -> dense -> act -> dropout (same module) -> out_proj
_DENSE = dict(dropout="classifier.dropout", classifier="classifier.out_proj", head="classifier")
# The encoder-decoders' head on the pooled decoder state: dropout -> dense -> tanh -> dropout (same) -> out_proj
_ENC_DEC = dict(
    dropout="classification_head.dropout", classifier="classification_head.out_proj", head="classification_head",
    head_input="pooled",
)  # fmt: skip

SEQUENCE_CLASSIFICATION_ROWS: list[MSDArchitecture] = [
    # pooler_output (or h[:, 0] -> pre_classifier -> ReLU) -> dropout -> classifier
    *_seq(
        ("bert", "dropout", "classifier"), ("albert", "dropout", "classifier"), ("canine", "dropout", "classifier"),
        ("distilbert", "dropout", "classifier"), ("ernie", "dropout", "classifier"), ("fnet", "dropout", "classifier"),
        ("layoutlm", "dropout", "classifier"), ("luke", "dropout", "classifier"),
        ("markuplm", "dropout", "classifier"), ("megatron-bert", "dropout", "classifier"),
        ("mobilebert", "dropout", "classifier"), ("rembert", "dropout", "classifier"),
        ("roc_bert", "dropout", "classifier"), ("squeezebert", "dropout", "classifier"),
        ("tapas", "dropout", "classifier"), ("gte", "dropout", "classifier"), ("nomic_bert", "dropout", "classifier"),
    ),
    # ContextPooler (dropout -> dense -> act) -> dropout -> classifier, DeBERTa's loss rules
    *_seq(("deberta", "dropout", "classifier"), ("deberta-v2", "dropout", "classifier"), loss_style="deberta"),
    # pooling (cls | mean) -> head (dense -> act -> norm, or identity) -> drop -> classifier
    *_seq(
        ("modernbert", "drop", "classifier"), ("ultrabert", "drop", "classifier"),
        ("modernvbert", "drop", "classifier"), ("ultravbert", "drop", "classifier"),
    ),
    # h[:, 0] -> classifier (linear_hidden -> tanh -> dropout -> linear_out)
    _row("funnel", dropout="classifier.dropout", classifier="classifier.linear_out"),
    # sequence_summary (h[:, -1] -> summary Linear -> tanh -> last_dropout) -> logits_proj
    _row("xlnet", dropout="sequence_summary.last_dropout", classifier="logits_proj"),
    # sequence_summary (h[:, 0] -> first_dropout -> summary, a Linear to num_labels)
    _row("xlm", dropout="sequence_summary.first_dropout", classifier="sequence_summary.summary"),
    _row("flaubert", dropout="sequence_summary.first_dropout", classifier="sequence_summary.summary"),
    *(
        _row(model_type, **_DENSE)
        for model_type in (
            "roberta", "xlm-roberta", "camembert", "data2vec-text", "esm", "esmc", "ibert", "jina_embeddings_v3",
            "lilt", "longformer", "mpnet", "reformer", "roberta-prelayernorm", "xlm-roberta-xl", "xmod",
            "electra",  # the head's own activation module (GELU)
        )
    ),
    # the dense head with ACT2FN[config.hidden_act] after dense
    *(
        _row(model_type, **_DENSE, head_activation="hidden_act")
        for model_type in ("big_bird", "convbert", "mra", "nystromformer", "roformer", "yoso")
    ),
    # encoder-decoders: the forward picks the decoder state at each sequence's last end-of-sequence token
    *(
        _row(model_type, **_ENC_DEC)
        for model_type in ("bart", "bigbird_pegasus", "mbart", "mt5", "mvp", "plbart", "t5", "umt5")
    ),
    # the forward picks x[:, 0]
    _row("layoutlmv3", **_DENSE, head_input="pooled"),
    # decoders with their own copy of the last-token head: no dropout before `score`, the samples are added
    *(
        _row(model_type, classifier="score", pooling="last_token")
        for model_type in (
            "gpt2", "gpt_neo", "gpt_neox", "gpt_bigcode", "opt", "bloom", "falcon", "mpt", "biogpt", "openai-gpt",
            "zamba", "zamba2",
        )
    ),
    _row("ctrl", classifier="classifier", pooling="last_token"),
    # backbone -> head (dense -> act -> norm) -> drop -> classifier on every position -> last non-padding token
    _row("modernbert-decoder", dropout="drop", classifier="classifier", pooling="last_token", pooled_head="head"),
]  # fmt: skip

# Token classification: most families are `dropout` -> `classifier` on the token states (DEFAULT_HEADS); these differ.
TOKEN_CLASSIFICATION_ROWS: list[MSDArchitecture] = [
    # token states -> head (dense -> act -> norm, or identity) -> drop -> classifier
    *_rows(
        TOKEN_CLASSIFICATION,
        ("modernbert", "drop", "classifier"), ("modernvbert", "drop", "classifier"),
        ("ultrabert", "drop", "classifier"), ("ultravbert", "drop", "classifier"),
    ),
    # no dropout before the classifier: the samples are added (MarkupLM builds `dropout` but never calls it)
    *_rows(
        TOKEN_CLASSIFICATION, ("xlnet", None, "classifier"), ("eurobert", None, "classifier"),
        ("markuplm", None, "classifier"),
    ),
    # dropout -> classifier, and a loss that leaves out the padding tokens (labels there count as -100)
    *_rows(
        TOKEN_CLASSIFICATION, ("biogpt", "dropout", "classifier"), ("mra", "dropout", "classifier"),
        ("xlm-roberta-xl", "dropout", "classifier"), ("yoso", "dropout", "classifier"), loss_mask="attention_mask",
    ),
    # dropout -> classifier, and a loss over the tokens of `bbox_first_token_mask` only (when it is given)
    _row("bros", TOKEN_CLASSIFICATION, dropout="dropout", classifier="classifier", loss_mask="bbox_first_token_mask"),
    # score: a head of its own (dropout -> out_proj) on every decoder position
    *_rows(TOKEN_CLASSIFICATION, ("t5gemma", "score.dropout", "score.out_proj"),
           ("t5gemma2", "score.dropout", "score.out_proj")),
]  # fmt: skip

# Question answering: most families apply `qa_outputs` (Linear(H, 2)) to the token states with no dropout before it
# (DEFAULT_HEADS: the samples are added, `msd_dropout` required); these differ.
QUESTION_ANSWERING_ROWS: list[MSDArchitecture] = [
    _row("distilbert", QUESTION_ANSWERING, dropout="dropout", classifier="qa_outputs"),
    _row("modernbert", QUESTION_ANSWERING, dropout="drop", classifier="classifier"),
    # qa_classifier: dropout -> intermediate -> output (dense, dropout, residual LayerNorm) -> qa_outputs
    _row("big_bird", QUESTION_ANSWERING, classifier="qa_classifier.qa_outputs"),
    # qa_outputs on the decoder stack's output, whose last step is the stack's `dropout`: that module also drops the
    # embeddings (one module, called twice), so it stays, and the samples come after it
    *_rows(QUESTION_ANSWERING, ("t5", None, "qa_outputs"), ("mt5", None, "qa_outputs"), ("umt5", None, "qa_outputs")),
    # qa_outputs: a RoBERTa-style head (dropout -> dense -> tanh -> dropout -> out_proj) on every token
    _row(
        "layoutlmv3", QUESTION_ANSWERING, dropout="qa_outputs.dropout", classifier="qa_outputs.out_proj",
        head="qa_outputs", head_input="pooled",
    ),
]  # fmt: skip

# Multiple choice: most families are pooled state -> `dropout` -> `classifier` (DEFAULT_HEADS); these differ.
MULTIPLE_CHOICE_ROWS: list[MSDArchitecture] = [
    _row("modernbert", MULTIPLE_CHOICE, dropout="drop", classifier="classifier"),
    _row("funnel", MULTIPLE_CHOICE, dropout="classifier.dropout", classifier="classifier.linear_out"),
    # sequence_summary (summary -> activation -> last_dropout) -> classifier / logits_proj
    *(
        _row(model_type, MULTIPLE_CHOICE, dropout="sequence_summary.last_dropout", classifier="classifier")
        for model_type in ("convbert", "electra", "roformer")
    ),
    _row("xlnet", MULTIPLE_CHOICE, dropout="sequence_summary.last_dropout", classifier="logits_proj"),
    # sequence_summary (first_dropout -> summary Linear -> ...) -> logits_proj: the samples go through both Linears
    *(
        _row(model_type, MULTIPLE_CHOICE, dropout="sequence_summary.first_dropout",
             classifier="sequence_summary.summary")
        for model_type in ("flaubert", "xlm")
    ),
    # pre_classifier -> ReLU -> classifier, no dropout: the samples are added
    *(_row(model_type, MULTIPLE_CHOICE, classifier="classifier") for model_type in ("mra", "nystromformer", "yoso")),
]  # fmt: skip

# Image classification: most families apply `classifier` (a Linear) to the pooled features with no dropout before it
# (DEFAULT_HEADS: the samples are added, `msd_dropout` required); these differ.
IMAGE_CLASSIFICATION_ROWS: list[MSDArchitecture] = [
    # pooled features -> dropout (the classifier rate) -> classifier
    *_rows(
        IMAGE_CLASSIFICATION, ("efficientnet", "dropout", "classifier"), ("mobilenet_v1", "dropout", "classifier"),
        ("mobilenet_v2", "dropout", "classifier"), ("mobilevit", "dropout", "classifier"),
    ),
    # classifier = Sequential(Flatten, Linear): the samples go before the Linear
    *_rows(IMAGE_CLASSIFICATION, ("bit", None, "classifier.1"), ("regnet", None, "classifier.1"),
           ("resnet", None, "classifier.1")),
    # classifier = ModuleList(AdaptiveAvgPool2d, Flatten), then the Linear `fc`
    *_rows(IMAGE_CLASSIFICATION, ("hgnet_v2", None, "fc"), ("textnet", None, "fc")),
    # classifier = LevitClassificationLayer (BatchNorm1d, then `linear`) on the mean token
    _row("levit", IMAGE_CLASSIFICATION, classifier="classifier.linear"),
    # the mean of the token states -> score
    _row("imagegpt", IMAGE_CLASSIFICATION, classifier="score"),
    # the wrapped timm model's own head (forward_head: pooling, ..., head dropout, then get_classifier()): its paths
    # depend on the timm architecture and are resolved when the model is built (needs the `timm` extra)
    _row("timm_wrapper", IMAGE_CLASSIFICATION, classifier="timm_model", resolve_head="timm"),
]  # fmt: skip

# Audio classification: the wav2vec2 family and Whisper: projector -> mean over the frames (the attention mask) ->
# classifier, no dropout, and a cross-entropy loss whatever the `problem_type` (DEFAULT_HEADS gives the path).
AUDIO_CLASSIFICATION_ROWS: list[MSDArchitecture] = [
    *(
        _row(
            model_type, AUDIO_CLASSIFICATION, classifier="classifier", loss_style="cross_entropy",
            head_modules=("projector",),
        )
        for model_type in (
            "data2vec-audio", "hubert", "sew", "sew-d", "unispeech", "unispeech-sat", "wav2vec2", "wav2vec2-bert",
            "wav2vec2-conformer", "wavlm", "whisper",
        )
    ),
    # classifier = ASTMLPHead (LayerNorm, then `dense`) on the mean of the two distillation tokens
    _row("audio-spectrogram-transformer", AUDIO_CLASSIFICATION, classifier="classifier.dense"),
]  # fmt: skip

#: The explicit rows of each task.
ROWS: dict[str, list[MSDArchitecture]] = {
    SEQUENCE_CLASSIFICATION: SEQUENCE_CLASSIFICATION_ROWS,
    TOKEN_CLASSIFICATION: TOKEN_CLASSIFICATION_ROWS,
    QUESTION_ANSWERING: QUESTION_ANSWERING_ROWS,
    MULTIPLE_CHOICE: MULTIPLE_CHOICE_ROWS,
    IMAGE_CLASSIFICATION: IMAGE_CLASSIFICATION_ROWS,
    AUDIO_CLASSIFICATION: AUDIO_CLASSIFICATION_ROWS,
    VIDEO_CLASSIFICATION: [],
}

#: Per task: Transformers' generic class, and the head of every family built from it.
GENERIC_HEADS: dict[str, tuple[str, dict[str, Any]]] = {
    # score on every position, then the last non-padding token: the MSD class picks the token first
    SEQUENCE_CLASSIFICATION: ("GenericForSequenceClassification", dict(classifier="score", pooling="last_token")),
    TOKEN_CLASSIFICATION: ("GenericForTokenClassification", dict(dropout="dropout", classifier="score")),
    QUESTION_ANSWERING: ("GenericForQuestionAnswering", dict(classifier="qa_outputs")),
}

#: Per task: the head of a family that has no explicit row and is not generic (`None`: every family needs a row).
DEFAULT_HEADS: dict[str, dict[str, Any] | None] = {
    SEQUENCE_CLASSIFICATION: None,
    TOKEN_CLASSIFICATION: dict(dropout="dropout", classifier="classifier"),
    QUESTION_ANSWERING: dict(classifier="qa_outputs"),
    MULTIPLE_CHOICE: dict(dropout="dropout", classifier="classifier"),
    # pooled features (a [CLS] token, the mean token, pooled feature maps) -> classifier, no dropout
    IMAGE_CLASSIFICATION: dict(classifier="classifier"),
    AUDIO_CLASSIFICATION: dict(classifier="classifier"),
    VIDEO_CLASSIFICATION: dict(classifier="classifier"),
}

_LAYOUTLMV2 = "needs the detectron2 visual backbone: no model can be built without it"
_GPT_SW3 = "GPT-SW3 checkpoints use `GPT2Config` (model_type `gpt2`) and the GPT-2 classes: the `gpt2` row serves them"

#: Per task: the families of Transformers' task mapping without an MSD class, and why.
EXCLUDED: dict[str, dict[str, str]] = {
    SEQUENCE_CLASSIFICATION: {
        "gpt-sw3": _GPT_SW3,
        "t5gemma": (
            "encoder-decoder whose forward shifts `input_ids` right into `decoder_input_ids`, applies `score` "
            "(dropout, Linear) to every decoder position and then picks the one after the last non-padding input "
            "token: the samples belong after that pick, and the decoders' last-token path (backbone, then the last "
            "non-padding token of `input_ids`) has neither the shift nor the offset; it needs a forward of its own"
        ),
        "t5gemma2": (
            "as `t5gemma`: `decoder_input_ids` shifted from `input_ids` inside the forward, `score` on every decoder "
            "position, then the last non-padding token of the shifted ids"
        ),
        "eurobert": "no dropout in the head (pooling -> dense -> GELU -> classifier): no dropout to replace",
        "perceiver": "no dropout before the final Linear (the classification decoder's `final_layer`)",
        "layoutlmv2": _LAYOUTLMV2,
    },
    TOKEN_CLASSIFICATION: {"gpt-sw3": _GPT_SW3, "layoutlmv2": _LAYOUTLMV2},
    QUESTION_ANSWERING: {
        "layoutlmv2": _LAYOUTLMV2,
        "lxmert": (
            "visual question answering over a fixed answer vocabulary (an MLP `answer_head` on the pooled "
            "cross-modal state), not span extraction"
        ),
        "splinter": (
            "question-aware span selection: start and end scores are bilinear forms of transformed question and "
            "token states (`splinter_qass`), not a Linear on the token states"
        ),
    },
    MULTIPLE_CHOICE: {},
    IMAGE_CLASSIFICATION: {
        "dinat": (
            "needs the natten library (compiled neighbourhood-attention kernels, no wheel for this torch): no model "
            "can be built without it"
        ),
        "perceiver": (
            "the final Linear (`decoder.decoder.final_layer`) is inside the backbone, which indexes its output by "
            "position (`logits[:, 0, :]`) before the head sees it: the sample dimension would be taken for the "
            "batch"
        ),
        "pp_lcnet": (
            "its forward takes no labels and returns the scores as `last_hidden_state` (no `logits`), scaled by "
            "(1 - hidden_dropout_prob) in place of a dropout: not a classification head"
        ),
        "shieldgemma2": (
            "the scores are a language model's next-token logits of the Yes and No tokens: there is no "
            "classification Linear"
        ),
        "swiftformer": (
            "two Linears on the same pooled features (`head` and `dist_head`, averaged) and no dropout before "
            "them: whether a sample's two Linears see one dropout mask or two is not defined upstream"
        ),
    },
    AUDIO_CLASSIFICATION: {},
    VIDEO_CLASSIFICATION: {
        "videoprism_vision_model": (
            "its logits are `(batch_size, 1, num_labels)` (the attention-pooling head keeps its one query), which "
            "its regression and multi-label losses broadcast against `(batch_size, num_labels)` labels: no "
            "per-example loss to give each sample"
        ),
    },
}
