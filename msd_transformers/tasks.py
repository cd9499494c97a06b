"""What differs between the tasks: one [`TaskSpec`] per task, its output classes, and its per-sample loss.

| task | upstream class | sample fields (training: K samples) | loss per sample |
|---|---|---|---|
| `sequence-classification` | `*ForSequenceClassification` | `sample_logits` `(K, B, C)` | [`sample_losses`] |
| `token-classification` | `*ForTokenClassification` | `sample_logits` `(K, B, T, C)` | [`token_sample_losses`] |
| `question-answering` | `*ForQuestionAnswering` | `sample_start_logits`, `sample_end_logits` `(K, B, T)` | spans |
| `multiple-choice` | `*ForMultipleChoice` | `sample_logits` `(K, B, n_choices)` | [`choice_sample_losses`] |
| `image-classification` | `*ForImageClassification` | `sample_logits` `(K, B, C)` | [`sample_losses`] |
| `audio-classification` | `*ForAudioClassification`, wav2vec2's `*ForSequenceClassification` | same | same |
| `video-classification` | `*ForVideoClassification` | `sample_logits` `(K, B, C)` | [`sample_losses`] |

Spans: [`span_sample_losses`]. Each output class is the upstream one plus the sample fields; the upstream fields
(`logits`, `start_logits`, ...) hold the mean over the samples in training and the upstream values in eval. The image,
audio and video heads return many output classes (`ImageClassifierOutputWithNoAttention`, Swin's with
`reshaped_hidden_states`, ...): their MSD output class is the upstream one plus `sample_logits` ([`msd_output_class`]).
A multiple-choice batch whose examples have different numbers of choices is padded to its largest number and carries
a [`CHOICE_MASK`]: the padded choices count nowhere.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from transformers.modeling_outputs import (
    ImageClassifierOutput,
    ImageClassifierOutputWithNoAttention,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    Seq2SeqQuestionAnsweringModelOutput,
    Seq2SeqSequenceClassifierOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.models.auto import modeling_auto

from .architectures import (
    AUDIO_CLASSIFICATION,
    IMAGE_CLASSIFICATION,
    MULTIPLE_CHOICE,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    VIDEO_CLASSIFICATION,
)
from .loss import (
    IGNORE_INDEX,
    choice_sample_losses,
    resolve_problem_type,
    sample_losses,
    span_sample_losses,
    token_sample_losses,
)

#: The batch field of a multiple-choice batch whose examples' choices were padded to the batch's largest number:
#: `(batch_size, num_choices)`, 1 at the real choices. Not a model input: [`MSDTrainer`] takes it out of the batch and
#: leaves the padded choices out of the loss, the predictions and the uncertainty ([`mask_choices`]).
CHOICE_MASK = "choice_mask"


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
    """`Seq2SeqSequenceClassifierOutput` (BART, T5, ...) plus `sample_logits`, as [`MSDSequenceClassifierOutput`]."""

    sample_logits: torch.FloatTensor | None = None


@dataclass
class MSDTokenClassifierOutput(TokenClassifierOutput):
    """`TokenClassifierOutput` plus the logits of every dropout sample.

    Args:
        sample_logits (`torch.FloatTensor` of shape `(num_samples, batch_size, seq_len, num_labels)`, *optional*):
            The token logits of each dropout sample: in training mode, and inside [`mc_dropout`].
    """

    sample_logits: torch.FloatTensor | None = None


@dataclass
class MSDQuestionAnsweringModelOutput(QuestionAnsweringModelOutput):
    """`QuestionAnsweringModelOutput` plus the start and end scores of every dropout sample.

    Args:
        sample_start_logits (`torch.FloatTensor` of shape `(num_samples, batch_size, seq_len)`, *optional*)
        sample_end_logits (`torch.FloatTensor` of shape `(num_samples, batch_size, seq_len)`, *optional*)
    """

    sample_start_logits: torch.FloatTensor | None = None
    sample_end_logits: torch.FloatTensor | None = None


@dataclass
class MSDSeq2SeqQuestionAnsweringModelOutput(Seq2SeqQuestionAnsweringModelOutput):
    """`Seq2SeqQuestionAnsweringModelOutput` plus the sample scores, as [`MSDQuestionAnsweringModelOutput`]."""

    sample_start_logits: torch.FloatTensor | None = None
    sample_end_logits: torch.FloatTensor | None = None


@dataclass
class MSDMultipleChoiceModelOutput(MultipleChoiceModelOutput):
    """`MultipleChoiceModelOutput` plus the logits of every dropout sample.

    Args:
        sample_logits (`torch.FloatTensor` of shape `(num_samples, batch_size, num_choices)`, *optional*)
    """

    sample_logits: torch.FloatTensor | None = None


@dataclass
class MSDImageClassifierOutput(ImageClassifierOutput):
    """`ImageClassifierOutput` plus the logits of every dropout sample.

    Args:
        sample_logits (`torch.FloatTensor` of shape `(num_samples, batch_size, num_labels)`, *optional*): The logits
            of each dropout sample: in training mode, and inside [`mc_dropout`] (N Monte-Carlo samples).
    """

    sample_logits: torch.FloatTensor | None = None


@dataclass
class MSDImageClassifierOutputWithNoAttention(ImageClassifierOutputWithNoAttention):
    """`ImageClassifierOutputWithNoAttention` (the convolutional families) plus `sample_logits`, as
    [`MSDImageClassifierOutput`]."""

    sample_logits: torch.FloatTensor | None = None


# Upstream output class -> its MSD output class; others are made by `msd_output_class`.
_OUTPUT_CLASSES: dict[type, type] = {
    SequenceClassifierOutput: MSDSequenceClassifierOutput,
    ImageClassifierOutput: MSDImageClassifierOutput,
    ImageClassifierOutputWithNoAttention: MSDImageClassifierOutputWithNoAttention,
}


@functools.cache
def msd_output_class(upstream: type[ModelOutput], sample_fields: tuple[str, ...] = ("sample_logits",)) -> type:
    """The MSD output class of an upstream output class: its fields plus `sample_fields` (`None` by default), named
    `MSD<upstream name>` (e.g. `MSDSwinImageClassifierOutput`, which keeps `reshaped_hidden_states`)."""
    known = _OUTPUT_CLASSES.get(upstream)
    if known is not None and all(f in {f.name for f in dataclasses.fields(known)} for f in sample_fields):
        return known
    name = f"MSD{upstream.__name__}"
    cls = dataclasses.make_dataclass(
        name,
        [(field, torch.FloatTensor | None, dataclasses.field(default=None)) for field in sample_fields],
        bases=(upstream,),
        namespace={"__doc__": f"`{upstream.__name__}` plus the logits of every dropout sample ({sample_fields})."},
    )
    cls.__module__ = __name__
    return cls


@dataclass(frozen=True)
class TaskSpec:
    """What the MSD classes of one task need to know.

    Args:
        name (`str`): The task, as Transformers' pipelines name it.
        class_suffix (`str`): The upstream class name's suffix, e.g. `"ForTokenClassification"`.
        auto_class (`str`): The Transformers Auto class, e.g. `"AutoModelForTokenClassification"`.
        mapping (`str`): The name of Transformers' mapping of model types to class names for the task.
        logit_fields (`tuple[str, ...]`): The output fields the samples give.
        label_fields (`tuple[str, ...]`): The forward's label arguments.
        output_class (`type`): The MSD output class.
        seq2seq_output_class (`type`, *optional*): The MSD output class of encoder-decoders.
        peft_task_type (`str`): PEFT's `task_type` for LoRA on the task.
        upstream_outputs (`bool`, *optional*, defaults to `False`): Whether the MSD output class is made from the
            upstream forward's output class ([`msd_output_class`]) instead of `output_class` (the image, audio and
            video heads, whose output classes differ between families).
    """

    name: str
    class_suffix: str
    auto_class: str
    mapping: str
    logit_fields: tuple[str, ...]
    label_fields: tuple[str, ...]
    output_class: type
    seq2seq_output_class: type | None
    peft_task_type: str
    upstream_outputs: bool = False

    @property
    def sample_fields(self) -> tuple[str, ...]:
        """The output fields of the samples: `sample_logits`, or `sample_start_logits` and `sample_end_logits`."""
        return tuple(f"sample_{name}" for name in self.logit_fields)

    @property
    def mapping_names(self) -> Mapping[str, str]:
        """Transformers' `{model_type: class name}` of the task (where Transformers lists several classes for one
        model type, DeiT's and LeViT's with and without a distillation teacher, the first: the one its Auto class
        loads)."""
        return _mapping_names(self.mapping)

    def output_class_for(self, outputs: Any) -> type:
        """The MSD output class of a forward whose upstream (or backbone) output is `outputs`."""
        if isinstance(outputs, (Seq2SeqSequenceClassifierOutput, Seq2SeqQuestionAnsweringModelOutput)):
            return self.seq2seq_output_class
        if self.upstream_outputs and isinstance(outputs, ModelOutput) and "logits" in outputs:
            return msd_output_class(type(outputs), self.sample_fields)
        return self.output_class


@functools.cache
def _mapping_names(mapping: str) -> dict[str, str]:
    return {
        model_type: names if isinstance(names, str) else names[0]
        for model_type, names in getattr(modeling_auto, mapping).items()
    }


TASK_SPECS: dict[str, TaskSpec] = {
    SEQUENCE_CLASSIFICATION: TaskSpec(
        SEQUENCE_CLASSIFICATION, "ForSequenceClassification", "AutoModelForSequenceClassification",
        "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES", ("logits",), ("labels",),
        MSDSequenceClassifierOutput, MSDSeq2SeqSequenceClassifierOutput, "SEQ_CLS",
    ),
    TOKEN_CLASSIFICATION: TaskSpec(
        TOKEN_CLASSIFICATION, "ForTokenClassification", "AutoModelForTokenClassification",
        "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES", ("logits",), ("labels",),
        MSDTokenClassifierOutput, None, "TOKEN_CLS",
    ),
    QUESTION_ANSWERING: TaskSpec(
        QUESTION_ANSWERING, "ForQuestionAnswering", "AutoModelForQuestionAnswering",
        "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES", ("start_logits", "end_logits"),
        ("start_positions", "end_positions"), MSDQuestionAnsweringModelOutput,
        MSDSeq2SeqQuestionAnsweringModelOutput, "QUESTION_ANS",
    ),
    MULTIPLE_CHOICE: TaskSpec(
        MULTIPLE_CHOICE, "ForMultipleChoice", "AutoModelForMultipleChoice",
        "MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES", ("logits",), ("labels",),
        MSDMultipleChoiceModelOutput, None, "SEQ_CLS",
    ),
    IMAGE_CLASSIFICATION: TaskSpec(
        IMAGE_CLASSIFICATION, "ForImageClassification", "AutoModelForImageClassification",
        "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES", ("logits",), ("labels",), MSDImageClassifierOutput, None,
        "SEQ_CLS", upstream_outputs=True,
    ),
    AUDIO_CLASSIFICATION: TaskSpec(
        AUDIO_CLASSIFICATION, "ForAudioClassification", "AutoModelForAudioClassification",
        "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES", ("logits",), ("labels",), MSDSequenceClassifierOutput, None,
        "SEQ_CLS", upstream_outputs=True,
    ),
    VIDEO_CLASSIFICATION: TaskSpec(
        VIDEO_CLASSIFICATION, "ForVideoClassification", "AutoModelForVideoClassification",
        "MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES", ("logits",), ("labels",), MSDImageClassifierOutput, None,
        "SEQ_CLS", upstream_outputs=True,
    ),
}  # fmt: skip

#: Every output field that holds samples, kept out of evaluation predictions (`config.keys_to_ignore_at_inference`).
SAMPLE_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for spec in TASK_SPECS.values() for f in spec.sample_fields))


def get_task(task: str) -> TaskSpec:
    """The [`TaskSpec`] of `task`; `ValueError` naming the tasks otherwise."""
    if task not in TASK_SPECS:
        raise ValueError(f"Unknown task {task!r}; the tasks are {list(TASK_SPECS)}.")
    return TASK_SPECS[task]


def task_of(model: Any) -> TaskSpec:
    """The task of a model: an MSD model's own, else the one its class name ends in (`*ForTokenClassification`, ...;
    sequence classification for other names)."""
    spec = getattr(model, "msd_task", None)
    if isinstance(spec, TaskSpec):
        return spec
    name = type(model).__name__.removesuffix("Simple")  # XLNetForQuestionAnsweringSimple
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    # Wav2Vec2ForSequenceClassification: an audio class whose name says sequence classification
    for task in (AUDIO_CLASSIFICATION, IMAGE_CLASSIFICATION, VIDEO_CLASSIFICATION):
        if TASK_SPECS[task].mapping_names.get(model_type) == name:
            return TASK_SPECS[task]
    return next((s for s in TASK_SPECS.values() if name.endswith(s.class_suffix)), TASK_SPECS[SEQUENCE_CLASSIFICATION])


def loss_rules(config: Any, labels: torch.Tensor | None, loss_style: str = "default") -> tuple[str, str]:
    """The problem type and loss style of a sequence classifier's loss, as its upstream class works them out.

    DeBERTa's rules (`loss_style="deberta"` in its row) apply only where `config.problem_type` is unset; elsewhere an
    unset problem type is inferred from the labels and stored in the config, as the upstream forward does.

    Returns:
        `tuple[str, str]`: the problem type (see [`resolve_problem_type`]) and the loss style to compute it with.
    """
    if loss_style == "cross_entropy":  # upstream: CrossEntropyLoss whatever config.problem_type, which it never sets
        return "single_label_classification", "default"
    style = loss_style if config.problem_type is None else "default"
    return resolve_problem_type(config, labels, loss_style=style, store=True), style


def loss_labels(
    labels: Mapping[str, torch.Tensor], inputs: Mapping[str, Any], loss_mask: str | None
) -> dict[str, torch.Tensor]:
    """The labels as upstream's loss counts them: where the row has a `loss_mask` (see [`MSDArchitecture`]) and the
    inputs hold it, token labels at its zero entries become -100.

    Args:
        labels (`Mapping[str, torch.Tensor]`): The label tensors by label field.
        inputs (`Mapping[str, Any]`): The forward's other arguments.
        loss_mask (`str`, *optional*): The row's `loss_mask`, e.g. `"attention_mask"`.

    Returns:
        `dict[str, torch.Tensor]`: the labels, `labels` masked where it applies.
    """
    mask = inputs.get(loss_mask) if loss_mask is not None else None
    if mask is None or labels.get("labels") is None:
        return dict(labels)
    targets = labels["labels"]
    if tuple(mask.shape) != tuple(targets.shape):
        raise ValueError(
            f"{loss_mask} must have the shape of the token labels {tuple(targets.shape)}, got {tuple(mask.shape)}."
        )
    return {**labels, "labels": targets.masked_fill(~mask.to(targets.device).bool(), IGNORE_INDEX)}


def task_sample_losses(
    task: str,
    samples: Mapping[str, torch.Tensor],
    labels: Mapping[str, torch.Tensor],
    config: Any,
    *,
    loss_style: str = "default",
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
    choice_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """One upstream loss of `task` per sample.

    Args:
        task (`str`): One of the tasks.
        samples (`Mapping[str, torch.Tensor]`): The sample tensors by logit field (`logits`, or `start_logits` and
            `end_logits`), each with the samples on dim 0.
        labels (`Mapping[str, torch.Tensor]`): The label tensors by label field.
        config (`PretrainedConfig`): The model's config (problem type, number of labels).
        loss_style (`str`, *optional*): The row's loss style (sequence classification).
        label_smoothing (`float`, *optional*): Cross-entropy label smoothing (single-label, token, multiple choice).
        class_weights (`torch.Tensor`, *optional*): Cross-entropy class weights (sequence and token classification).
        choice_mask (`torch.Tensor` of shape `(batch_size, num_choices)`, *optional*): Multiple choice with the
            choices padded per batch: 1 at each example's real choices (see [`choice_sample_losses`]).

    Returns:
        `torch.Tensor` of shape `(S,)`.
    """
    if task == QUESTION_ANSWERING:
        return span_sample_losses(
            samples["start_logits"], samples["end_logits"], labels["start_positions"], labels["end_positions"]
        )
    logits, targets = samples["logits"], labels["labels"]
    if task == TOKEN_CLASSIFICATION:
        return token_sample_losses(logits, targets, label_smoothing=label_smoothing, class_weights=class_weights)
    if task == MULTIPLE_CHOICE:
        return choice_sample_losses(logits, targets, choice_mask=choice_mask, label_smoothing=label_smoothing)
    problem_type, style = loss_rules(config, targets, loss_style)
    return sample_losses(
        logits,
        targets,
        num_labels=config.num_labels,
        problem_type=problem_type,
        loss_style=style,
        label_smoothing=label_smoothing,
        class_weights=class_weights,
    )
