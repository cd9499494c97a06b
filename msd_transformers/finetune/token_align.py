"""Token classification (NER): tokenization with word-level labels aligned to sub-tokens, and per-example records of
the predictions, mapped back to the words.

A word-level tag goes to the first sub-token of its word; the other sub-tokens and the special tokens get -100 (no
label), unless `label_all_tokens=True` labels every sub-token of a word (a `B-X` becomes `I-X` after the first, as in
Transformers' `run_ner.py` example). Each tokenized example keeps `word_ids` (the word of each token position), which
maps predictions back to words: a word's prediction is its first sub-token's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np
from datasets import Dataset, Value

from ..loss import IGNORE_INDEX
from .token_metrics import _predicted_ids
from .token_tags import TagInfo, _is_int_feature
from .tokens import ID_COLUMN, LINE_COLUMN, ROW_COLUMN, TAGS_COLUMN, TOKENS_COLUMN, _column

logger = logging.getLogger(__name__)

__all__ = ["WORD_IDS_COLUMN", "align_labels", "tokenize_and_align_labels", "token_prediction_records"]

#: The column of the tokenized examples that holds, per token position, the index of its word (None: no word).
WORD_IDS_COLUMN = "word_ids"


def align_labels(
    word_ids: Sequence[int | None],
    word_labels: Sequence[int],
    *,
    label_all_tokens: bool = False,
    b_to_i: Sequence[int] | None = None,
) -> list[int]:
    """Aligns word-level label ids to the token positions of one example.

    Args:
        word_ids (`Sequence[int | None]`): The word index of each token position (None for special tokens).
        word_labels (`Sequence[int]`): The label id of each word.
        label_all_tokens (`bool`, *optional*, defaults to `False`):
            Whether the later sub-tokens of a word get a label too (else -100).
        b_to_i (`Sequence[int]`, *optional*):
            With `label_all_tokens`, the label id of a later sub-token for each label id (`B-X` -> `I-X`); default:
            the same id.

    Returns:
        `list[int]`: One label id per token position: the word's label on its first sub-token, -100 on special tokens
        and (unless `label_all_tokens`) on the later sub-tokens.
    """
    labels = []
    prev = None
    for w in word_ids:
        if w is None:
            labels.append(IGNORE_INDEX)
        elif w != prev:
            labels.append(int(word_labels[w]))
        elif label_all_tokens:
            label = int(word_labels[w])
            labels.append(int(b_to_i[label]) if b_to_i is not None else label)
        else:
            labels.append(IGNORE_INDEX)
        prev = w
    return labels


def _b_to_i(names: Sequence[str]) -> list[int]:
    index = {name: i for i, name in enumerate(names)}
    return [index.get("I-" + name[2:], i) if name.startswith("B-") else i for i, name in enumerate(names)]


def tokenize_and_align_labels(
    dataset: Dataset,
    tokenizer: Any,
    tag_info: TagInfo,
    *,
    max_length: int = 128,
    label_all_tokens: bool = False,
    num_proc: int | None = None,
) -> Dataset:
    """Tokenizes the words of every example (`is_split_into_words=True`, truncated to `max_length`, not padded: pad
    per batch with `DataCollatorForTokenClassification`) and aligns the tags to the tokens with `align_labels`.

    Words that end up with no token (cut by truncation, or dropped by the tokenizer) get no label and no prediction;
    a warning counts them. Tokenizers of the RoBERTa family must be loaded with `add_prefix_space=True`.

    Args:
        dataset (`datasets.Dataset`): Examples with `tokens` and (optionally) `tags`, checked with
            `check_token_datasets`.
        tokenizer (`transformers.PreTrainedTokenizerFast`): A fast tokenizer (it provides `word_ids`).
        tag_info (`TagInfo`): The tag names (string tags are mapped by name, int tags taken as ids).
        max_length (`int`, *optional*, defaults to 128): The maximum number of tokens per example.
        label_all_tokens (`bool`, *optional*, defaults to `False`): Whether every sub-token of a word gets a label.
        num_proc (`int`, *optional*): The number of processes for `Dataset.map`.

    Returns:
        `datasets.Dataset`: The tokenizer's columns (`input_ids`, `attention_mask`, ...), `labels` (int64, -100 where
        no label; with tags only) and `word_ids` (`WORD_IDS_COLUMN`: the word of each token position, None for
        special tokens), in the order of `dataset`. `Trainer` drops `word_ids` before the model (unused column).

    Raises:
        `ValueError`: If the tokenizer is not a fast one, `max_length` is not positive, or a string tag is not among
        the tag names.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"Token classification needs a fast tokenizer (for word_ids); got {type(tokenizer).__name__}."
        )
    if max_length < 1:
        raise ValueError(f"max_length must be a positive integer; got {max_length!r}.")
    model_max = getattr(tokenizer, "model_max_length", None)
    if model_max is not None and model_max < max_length:
        logger.warning("max_length %d exceeds the tokenizer's maximum %d; using %d.", max_length, model_max, model_max)
        max_length = model_max
    has_tags = TAGS_COLUMN in dataset.column_names
    int_tags = has_tags and _is_int_feature(getattr(dataset.features[TAGS_COLUMN], "feature", None))
    label2id = tag_info.label2id
    if has_tags and not int_tags:
        unknown = sorted({t for tags in _column(dataset, TAGS_COLUMN) for t in tags} - set(label2id))
        if unknown:
            raise ValueError(f"Tags {unknown[:10]} are not among the tag names {tag_info.label_names[:10]}.")
    b_to_i = _b_to_i(tag_info.label_names)

    def preprocess(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch[TOKENS_COLUMN], is_split_into_words=True, truncation=True, max_length=max_length)
        word_ids = [encoded.word_ids(i) for i in range(len(batch[TOKENS_COLUMN]))]
        if has_tags:
            encoded["labels"] = [
                align_labels(
                    wids,
                    tags if int_tags else [label2id[t] for t in tags],
                    label_all_tokens=label_all_tokens,
                    b_to_i=b_to_i,
                )
                for wids, tags in zip(word_ids, batch[TAGS_COLUMN], strict=True)
            ]
        encoded[WORD_IDS_COLUMN] = word_ids
        return encoded

    tokenized = dataset.map(
        preprocess, batched=True, num_proc=num_proc, remove_columns=dataset.column_names, desc="Tokenizing"
    )
    if has_tags:
        tokenized = tokenized.cast_column("labels", datasets.List(Value("int64")))
    _warn_unlabelled_words(_column(dataset, TOKENS_COLUMN), _column(tokenized, WORD_IDS_COLUMN), max_length)
    return tokenized


def _warn_unlabelled_words(words: list[list[str]], word_ids: list[list[int | None]], max_length: int) -> None:
    truncated = dropped = 0
    for ws, ids in zip(words, word_ids, strict=True):
        seen = {w for w in ids if w is not None}
        last = max(seen, default=-1)
        truncated += len(ws) - 1 - last
        dropped += sum(1 for w in range(last + 1) if w not in seen)
    if truncated:
        logger.warning(
            "%d words fall beyond max_length %d (truncated): they get no prediction.", truncated, max_length
        )
    if dropped:
        logger.warning("%d words have no token (the tokenizer drops them): they get no prediction.", dropped)


def _first_positions(word_ids: Sequence[int | None]) -> dict[int, int]:
    """Each word index -> its first token position (None or a negative word index: no word)."""
    first: dict[int, int] = {}
    for t, w in enumerate(word_ids):
        if w is not None and w >= 0:
            first.setdefault(int(w), t)
    return first


def token_prediction_records(
    dataset: Dataset,
    word_ids: Sequence[Sequence[int | None]],
    predictions: Any,
    tag_info: TagInfo,
    *,
    entropy: np.ndarray | None = None,
    sequence_scores: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One record per example of a token classification prediction, for `predictions.jsonl`.

    Each record holds `id` (the example's `id` column when the data has one, else its source row from 0), `line` (its
    first line in a line-based source file; None otherwise), `tokens` (the words), `tags` (the reference tag of each
    word; only when the data has tags) and `predictions` (the predicted tag of each word: the prediction of its first
    sub-token; None for a word with no token, e.g. cut by truncation). With `entropy`, `entropy` holds each word's
    value at its first sub-token (None likewise); with `sequence_scores`, `score` holds the example's value.

    Args:
        dataset (`datasets.Dataset`): The examples as read (before tokenization), in the order predicted.
        word_ids (`Sequence[Sequence[int | None]]`):
            Per example, the word of each token position: the `word_ids` column of `tokenize_and_align_labels`.
        predictions (`np.ndarray` or `tuple` or `dict`):
            `(N, T, C)` logits or probabilities (a tuple: its first element; a dict: `probs`, else `logits`), or `(N,
            T)` predicted tag ids, e.g. `trainer.predict(tokenized).predictions`.
        tag_info (`TagInfo`): The tag names in id order.
        entropy (`np.ndarray`, *optional*): `(N, T)` per-token uncertainty, e.g. the predictive entropy.
        sequence_scores (`np.ndarray`, *optional*): `(N,)` one score per example.

    Returns:
        `list[dict]`: JSON-serialisable records, in dataset order.

    Raises:
        `ValueError`: If the numbers of examples of the inputs differ, or a token position lies beyond the predictions.
    """
    pred_ids = _predicted_ids(predictions)  # (N, T)
    n = len(dataset)
    sizes = {"word_ids": len(word_ids), "predictions": len(pred_ids)}
    if entropy is not None:
        entropy = np.asarray(entropy, dtype=np.float64)  # (N, T)
        sizes["entropy"] = len(entropy)
    if sequence_scores is not None:
        sequence_scores = np.asarray(sequence_scores, dtype=np.float64).reshape(-1)  # (N,)
        sizes["sequence_scores"] = len(sequence_scores)
    wrong = {k: v for k, v in sizes.items() if v != n}
    if wrong:
        raise ValueError(f"The dataset has {n} examples but {wrong}.")
    names = tag_info.label_names
    columns = dataset.column_names
    id_column = ID_COLUMN if ID_COLUMN in columns else ROW_COLUMN if ROW_COLUMN in columns else None
    ids = _column(dataset, id_column) if id_column else list(range(n))
    lines = _column(dataset, LINE_COLUMN) if LINE_COLUMN in columns else [None] * n
    gold = _column(dataset, TAGS_COLUMN) if TAGS_COLUMN in columns else None
    word_ids = list(word_ids[:])  # a list, or a `datasets` column read in one batch
    records = []
    for i, words in enumerate(_column(dataset, TOKENS_COLUMN)):
        first = _first_positions(word_ids[i])
        if first and max(first.values()) >= pred_ids.shape[1]:
            raise ValueError(f"Example {i} has tokens up to position {max(first.values())} beyond the predictions.")
        positions = [first.get(w) for w in range(len(words))]
        record: dict[str, Any] = {"id": ids[i], "line": lines[i], "tokens": list(words)}
        if gold is not None:
            record["tags"] = [names[t] if isinstance(t, int) else t for t in gold[i]]
        record["predictions"] = [None if t is None else names[int(pred_ids[i, t])] for t in positions]
        if entropy is not None:
            record["entropy"] = [None if t is None else float(entropy[i, t]) for t in positions]
        if sequence_scores is not None:
            record["score"] = float(sequence_scores[i])
        records.append(record)
    return records
