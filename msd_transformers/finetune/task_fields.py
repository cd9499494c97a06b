"""The data fields of the script's question-answering and multiple-choice tasks, with `run_qa.py`'s and
`run_swag.py`'s names, defaults and meanings. `DataArguments` has them all (the other tasks ignore them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..architectures import MULTIPLE_CHOICE, QUESTION_ANSWERING

#: `max_seq_length` when not set: `run_qa.py`'s 384 for question answering, `run_swag.py`'s None (the tokenizer's
#: maximum, at most 1024) for multiple choice, 128 for the other tasks.
DEFAULT_MAX_SEQ_LENGTH = {QUESTION_ANSWERING: 384, MULTIPLE_CHOICE: None}
#: `pad_to_max_length` when not set: True for question answering (as `run_qa.py`), False for multiple choice.
DEFAULT_PAD_TO_MAX_LENGTH = {QUESTION_ANSWERING: True, MULTIPLE_CHOICE: False}

__all__ = ["DEFAULT_MAX_SEQ_LENGTH", "DEFAULT_PAD_TO_MAX_LENGTH", "MultipleChoiceFields", "QuestionAnsweringFields"]


@dataclass
class QuestionAnsweringFields:
    """`task: question-answering`: the fields of Transformers' `run_qa.py`."""

    question_column_name: str = field(
        default="question", metadata={"help": "Question answering: the column of the questions."}
    )
    context_column_name: str = field(
        default="context", metadata={"help": "Question answering: the column of the contexts."}
    )
    answer_column_name: str = field(
        default="answers",
        metadata={
            "help": "Question answering: the column of the answers, `{text: [...], answer_start: [...]}` (empty "
            "lists for a question without answer)."
        },
    )
    doc_stride: int = field(
        default=128,
        metadata={"help": "Question answering: when a context is split into features, how many tokens they overlap."},
    )
    pad_to_max_length: bool | None = field(
        default=None,
        metadata={
            "help": "Pad every example to max_seq_length (else to the longest of its batch; multiple choice pads the "
            "number of choices per batch either way). Default: True for question answering (as run_qa.py), False "
            "for multiple choice (as run_swag.py)."
        },
    )
    n_best_size: int = field(
        default=20,
        metadata={"help": "Question answering: the number of n-best predictions kept per example (nbest file)."},
    )
    max_answer_length: int = field(
        default=30, metadata={"help": "Question answering: the longest answer, in tokens, that can be predicted."}
    )
    version_2_with_negative: bool = field(
        default=False, metadata={"help": "Question answering: some questions have no answer (SQuAD v2.0)."}
    )
    null_score_diff_threshold: float = field(
        default=0.0,
        metadata={
            "help": "Question answering, with version_2_with_negative: predict no answer when the null score exceeds "
            "the best span's score by more than this."
        },
    )

    def check_question_answering_fields(self, max_seq_length: int) -> None:
        """`ValueError` naming a bad question-answering field."""
        for name in ("doc_stride", "n_best_size", "max_answer_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "doc_stride" else 1):
                raise ValueError(f"`{name}` must be an integer >= {0 if name == 'doc_stride' else 1}; got {value!r}.")
        if self.doc_stride >= max_seq_length:
            raise ValueError(
                f"`doc_stride` ({self.doc_stride}) must be smaller than `max_seq_length` ({max_seq_length}): the "
                "features of a long context overlap by doc_stride tokens."
            )


@dataclass
class MultipleChoiceFields:
    """`task: multiple-choice`: the columns of the SWAG format (`run_swag.py`) or of a general one."""

    context_name: str = field(
        default="sent1", metadata={"help": "Multiple choice (SWAG format): the column of the context sentence."}
    )
    question_header_name: str = field(
        default="sent2",
        metadata={"help": "Multiple choice (SWAG format): the column of the start of each ending ('' for none)."},
    )
    ending_names: list[str] = field(
        default_factory=lambda: [f"ending{i}" for i in range(4)],
        metadata={"help": "Multiple choice (SWAG format): the columns of the endings, one per choice."},
    )
    choices_column: str | None = field(
        default=None,
        metadata={
            "help": "Multiple choice, general form: a column holding each example's list of choices (any number >= 2 "
            "per example, e.g. 2 for PIQA, 5 for CommonsenseQA, mixed in one file: each batch is padded to its "
            "largest number, the padded choices masked); the question is context_name. Replaces the endings."
        },
    )
