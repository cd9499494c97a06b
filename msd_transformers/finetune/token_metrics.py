"""Token classification (NER) metrics that work offline, through the `evaluate` API.

The Hub's "seqeval" metric is a script fetched from the Hub and fails without a network. The metrics here are
`evaluate.Metric` subclasses instantiated directly, computed with the `seqeval` package (`pip install seqeval`, part of
the `train` extra):

- Entity-level precision, recall and F1, micro-averaged over exact (type, start, end) matches, with seqeval's default
  (conlleval-compatible) chunking of IOB2 tags: a chunk starts at `B-X`, and also at an `I-X` that follows `O` or a
  tag of another type. Per entity type: F1 and support (the number of reference entities).
- Token accuracy: the fraction of labelled tokens (words) whose predicted tag is the reference tag, `O` included.

Tag schemes: IOB2 is scored as is; IOB1 and BIOES tags are converted to IOB2 first (`to_iob2`: in IOB1 an `I-X` that
starts a chunk becomes `B-X`; in BIOES `S-X` becomes `B-X` and `E-X` becomes `I-X`); with plain tags (no prefixes,
e.g. `PER`, `LOC`, `O`) each maximal run of one tag other than `O` is an entity.

Example:

```python
>>> from msd_transformers.finetune.token_metrics import EntityScores
>>> scores = EntityScores().compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "B-LOC"]])
>>> scores["precision"], scores["recall"], scores["f1_PER"], scores["f1_LOC"], scores["support_LOC"]
(1.0, 0.5, 1.0, 0.0, 1)
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import datasets
import evaluate
import numpy as np
from seqeval.metrics.sequence_labeling import get_entities
from transformers import EvalPrediction

from ..loss import IGNORE_INDEX
from .metrics import _LocalMetric

__all__ = [
    "SCHEMES",
    "OUTSIDE",
    "TOKEN_METRIC_NAMES",
    "TOKEN_DEFAULT_METRIC",
    "split_tag",
    "scheme_of_names",
    "to_iob2",
    "entity_spans",
    "EntityScores",
    "TokenAccuracy",
    "word_level_tags",
    "build_token_compute_metrics",
]

#: The tag schemes: IOB1 and IOB2 (`B-`/`I-` prefixes), BIOES (also `E-`, `S-`), and plain tags without prefixes.
SCHEMES = ("IOB1", "IOB2", "BIOES", "plain")
#: The tag outside every entity.
OUTSIDE = "O"
#: The keys that `build_token_compute_metrics` always returns (and `f1_<type>`, `support_<type>` per entity type).
TOKEN_METRIC_NAMES = ["precision", "recall", "f1", "accuracy"]
#: The metric to select the best checkpoint by (`TrainingArguments.metric_for_best_model`); higher is better.
TOKEN_DEFAULT_METRIC = "f1"

_PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOES": "BIES"}

_INPUTS = """
Args:
    predictions (`list` of `list` of `str`): Predicted tags, one list per sentence.
    references (`list` of `list` of `str`): Reference tags, one list per sentence, each as long as its prediction.
    scheme (`str`, *optional*, defaults to `"IOB2"`): The tag scheme, one of `SCHEMES`.
"""
_SEQEVAL_CITATION = """\
@misc{seqeval,
  title={{seqeval}: A Python framework for sequence labeling evaluation},
  url={https://github.com/chakki-works/seqeval},
  note={Software available from https://github.com/chakki-works/seqeval},
  author={Hiroki Nakayama},
  year={2018},
}
@inproceedings{ramshaw-marcus-1995-text,
  title = "Text Chunking using Transformation-Based Learning",
  author = "Ramshaw, Lance and Marcus, Mitch",
  booktitle = "Third Workshop on Very Large Corpora",
  year = "1995",
}
"""
_FEATURES = datasets.Features(
    {
        "predictions": datasets.List(datasets.Value("string")),
        "references": datasets.List(datasets.Value("string")),
    }
)


def split_tag(tag: str) -> tuple[str, str] | None:
    """Splits a prefixed tag into its prefix and entity type.

    Args:
        tag (`str`): A tag, e.g. `"B-PER"`, `"I-geo-loc"`, `"O"` or `"PER"`.

    Returns:
        `tuple[str, str]` or `None`: `(prefix, type)` for a tag of one letter, a hyphen and more (`"B-PER"` ->
        `("B", "PER")`; `"X-PER"` -> `("X", "PER")`, whether or not the letter is a valid prefix); `None` for any
        other tag (`"O"`, `"PER"`, `"geo-loc"`).
    """
    if len(tag) > 2 and tag[1] == "-" and tag[0].isalpha():
        return tag[0], tag[2:]
    return None


def _tag_error(tag: str, names: Sequence[str]) -> str | None:
    """Why `tag` is not a valid IOB/BIOES tag among `names` (None when it is)."""
    if tag == OUTSIDE:
        return None
    parts = split_tag(tag)
    if parts is not None:
        if parts[0] not in "BIES":
            return f"its prefix {parts[0]!r} is not one of B, I, E, S"
        return None
    if tag in ("B", "I", "E", "S") or (len(tag) == 2 and tag[1] == "-"):
        return "it has a prefix but no entity type (e.g. 'B-PER')"
    prefixed = next((n for n in names if split_tag(n) is not None), None)
    if prefixed is not None:
        return f"it has no B-/I- prefix while other tags have one (e.g. {prefixed!r}), and it is not 'O'"
    return None


def scheme_of_names(names: Sequence[str]) -> str:
    """The tag scheme that a set of tag names implies: `"BIOES"` with any `E-` or `S-` tag, `"plain"` without prefixed
    tags, else `"IOB2"` (IOB1 tags score the same as IOB2: see `to_iob2`; telling them apart needs tag sequences).

    Args:
        names (`Sequence[str]`): The tag names, e.g. a model's labels.

    Returns:
        `str`: One of `SCHEMES`.

    Raises:
        `ValueError`: If a tag is not valid in IOB/BIOES (e.g. `X-PER`, a bare `B`, or a tag without a prefix among
        prefixed ones).
    """
    for name in names:
        reason = _tag_error(name, names)
        if reason is not None:
            raise ValueError(f"Tag {name!r} is not a valid IOB/BIOES tag: {reason}.")
    prefixes = {parts[0] for parts in map(split_tag, names) if parts is not None}
    if not prefixes:
        return "plain"
    return "BIOES" if prefixes & {"E", "S"} else "IOB2"


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown tag scheme {scheme!r}; allowed: {list(SCHEMES)}.")


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Converts one sentence's tags to IOB2.

    - IOB1: an `I-X` that starts a chunk (first, or after `O` or a tag of another type) becomes `B-X`.
    - IOB2: unchanged.
    - BIOES: `S-X` becomes `B-X` and `E-X` becomes `I-X`.
    - plain: the first tag of each maximal run of one tag `X` other than `O` becomes `B-X`, the rest `I-X`.

    Args:
        tags (`Sequence[str]`): The tags of one sentence.
        scheme (`str`): Their scheme, one of `SCHEMES`.

    Returns:
        `list[str]`: The IOB2 tags.

    Raises:
        `ValueError`: If `scheme` is unknown, or (not plain) a tag has a prefix the scheme does not allow or none.
    """
    _check_scheme(scheme)
    out = []
    prev = OUTSIDE
    for tag in tags:
        if tag == OUTSIDE:
            out.append(tag)
        elif scheme == "plain":
            out.append(("I-" if tag == prev else "B-") + tag)
        else:
            parts = split_tag(tag)
            if parts is None or parts[0] not in _PREFIXES[scheme]:
                raise ValueError(
                    f"Tag {tag!r} is not a valid {scheme} tag (prefixes {', '.join(_PREFIXES[scheme])}, or 'O')."
                )
            prefix, kind = parts
            prev_parts = split_tag(prev)
            if scheme == "IOB1" and prefix == "I" and (prev_parts is None or prev_parts[1] != kind):
                prefix = "B"  # an I- that starts a chunk
            out.append({"S": "B", "E": "I"}.get(prefix, prefix) + "-" + kind)
        prev = tag
    return out


def entity_spans(tags: Sequence[str], scheme: str = "IOB2") -> list[tuple[str, int, int]]:
    """The entities of one sentence, by seqeval's default (conlleval-compatible) chunking of its IOB2 tags.

    Args:
        tags (`Sequence[str]`): The tags of one sentence.
        scheme (`str`, *optional*, defaults to `"IOB2"`): Their scheme, one of `SCHEMES` (converted with `to_iob2`).

    Returns:
        `list[tuple[str, int, int]]`: `(type, start, end)` per entity, `end` inclusive, in order.
    """
    return [tuple(e) for e in get_entities(to_iob2(tags, scheme))] if tags else []


def _check_pairs(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predicted sentences but {len(references)} reference sentences.")
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        if len(p) != len(r):
            raise ValueError(f"Sentence {i} has {len(p)} predicted tags but {len(r)} reference tags.")


def _safe_div(a: int, b: int) -> float:
    return a / b if b else 0.0


class EntityScores(_LocalMetric):
    """Entity-level precision, recall and F1 (micro-averaged over exact (type, start, end) matches, seqeval's default
    chunking of IOB2 tags; IOB1 and BIOES converted to IOB2, plain tags as runs), and per entity type that occurs in
    the references or predictions, `f1_<type>` and `support_<type>` (the number of reference entities). A ratio with
    a zero denominator is 0. Returns `{"precision", "recall", "f1", "f1_<type>", "support_<type>", ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.__doc__, citation=_SEQEVAL_CITATION, inputs_description=_INPUTS, features=_FEATURES
        )

    def _compute(self, predictions, references, scheme: str = "IOB2") -> dict[str, float]:
        _check_pairs(predictions, references)
        gold: dict[str, set] = {}
        pred: dict[str, set] = {}
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            for spans, tags in ((gold, r), (pred, p)):
                for kind, start, end in entity_spans(tags, scheme):
                    spans.setdefault(kind, set()).add((i, start, end))
        result: dict[str, float] = {}
        tp_all = n_gold = n_pred = 0
        for kind in sorted(gold.keys() | pred.keys()):
            g, p = gold.get(kind, set()), pred.get(kind, set())
            tp = len(g & p)
            tp_all, n_gold, n_pred = tp_all + tp, n_gold + len(g), n_pred + len(p)
            result[f"f1_{kind}"] = _safe_div(2 * tp, len(g) + len(p))
            result[f"support_{kind}"] = len(g)
        precision, recall = _safe_div(tp_all, n_pred), _safe_div(tp_all, n_gold)
        return {"precision": precision, "recall": recall, "f1": _safe_div(2 * tp_all, n_gold + n_pred), **result}


class TokenAccuracy(_LocalMetric):
    """Token accuracy: the fraction of tokens whose predicted tag is the reference tag (`O` included), over all
    sentences. Returns `{"accuracy": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.__doc__, citation=_SEQEVAL_CITATION, inputs_description=_INPUTS, features=_FEATURES
        )

    def _compute(self, predictions, references, scheme: str = "IOB2") -> dict[str, float]:
        _check_pairs(predictions, references)
        total = sum(len(r) for r in references)
        correct = sum(a == b for p, r in zip(predictions, references, strict=True) for a, b in zip(p, r, strict=True))
        return {"accuracy": _safe_div(correct, total)}


def _first_token_mask(word_ids: Sequence[Sequence[int | None]], shape: tuple[int, int]) -> np.ndarray:
    """`(N, T)` bool: True at the first token of each word (`word_ids` from the tokenizer; None or < 0: no word)."""
    mask = np.zeros(shape, dtype=bool)
    for i, ids in enumerate(word_ids):
        prev = None
        for t, w in enumerate(ids[: shape[1]]):
            word = w if w is not None and w >= 0 else None
            mask[i, t] = word is not None and word != prev
            prev = word
    return mask


def _predicted_ids(predictions) -> np.ndarray:
    """Predicted tag ids `(N, T)` from logits or probabilities `(N, T, C)` (a tuple: its first element; a dict: its
    `probs`, else `logits`), or from ids `(N, T)`."""
    if isinstance(predictions, Mapping):
        predictions = predictions["probs"] if "probs" in predictions else predictions["logits"]
    elif isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    scores = np.asarray(predictions)
    if scores.ndim == 3:
        return scores.argmax(axis=-1)  # (N, T, C) -> (N, T)
    if scores.ndim == 2:
        return scores.astype(np.int64)
    raise ValueError(f"Token predictions must be (N, T, C) scores or (N, T) tag ids; got shape {scores.shape}.")


def word_level_tags(
    predictions,
    label_ids: np.ndarray,
    label_names: Sequence[str],
    word_ids: Sequence[Sequence[int | None]] | None = None,
) -> tuple[list[list[str]], list[list[str]]]:
    """Turns token-level predictions and labels into tag sequences, one per example: the positions whose label is
    -100 (special tokens, padding, and the later sub-tokens of a word) are dropped.

    With labels on every sub-token (`label_all_tokens=True`), pass `word_ids` to keep only the first sub-token of each
    word (tags per word); without them every labelled sub-token counts.

    Args:
        predictions (`np.ndarray` or `tuple` or `dict`):
            `(N, T, C)` logits or probabilities (a tuple: its first element; a dict: `probs`, else `logits`), or
            `(N, T)` predicted tag ids.
        label_ids (`np.ndarray`): `(N, T)` reference tag ids, -100 where there is no label.
        label_names (`Sequence[str]`): The tag names in id order.
        word_ids (`Sequence[Sequence[int | None]]`, *optional*):
            Per example, the word index of each token position (the tokenizer's `word_ids()`; None or -1 where no
            word).

    Returns:
        `tuple[list[list[str]], list[list[str]]]`: `(references, predictions)`, tag names per example.

    Raises:
        `ValueError`: If the shapes of the predictions, labels and `word_ids` do not match, or an id is out of range.
    """
    pred_ids = _predicted_ids(predictions)  # (N, T)
    labels = np.asarray(label_ids)  # (N, T)
    if pred_ids.shape != labels.shape:
        raise ValueError(f"Predictions of shape {pred_ids.shape} do not match labels of shape {labels.shape}.")
    keep = labels != IGNORE_INDEX  # (N, T)
    if word_ids is not None:
        if len(word_ids) != len(labels):
            raise ValueError(f"{len(word_ids)} word_ids lists for {len(labels)} examples.")
        keep &= _first_token_mask(word_ids, labels.shape)
    names = np.asarray(list(label_names), dtype=object)
    kept = np.concatenate([pred_ids[keep], labels[keep]])
    if kept.size and (kept.min() < 0 or kept.max() >= len(names)):
        raise ValueError(
            f"Tag ids must be in [0, {len(names)}) for {len(names)} label names; got {kept.min()}..{kept.max()}."
        )
    references = [names[labels[i][keep[i]]].tolist() for i in range(len(labels))]
    predicted = [names[pred_ids[i][keep[i]]].tolist() for i in range(len(labels))]
    return references, predicted


def build_token_compute_metrics(
    label_names: Sequence[str],
    *,
    scheme: str | None = None,
    entity_metrics: bool = True,
    word_ids: Sequence[Sequence[int | None]] | None = None,
) -> Callable[[EvalPrediction], dict[str, float]]:
    """Builds a `compute_metrics` function of token classification for `transformers.Trainer`.

    The predictions (`(N, T, C)` logits, possibly in a tuple, or `(N, T)` ids, e.g. from a `preprocess_logits_for_
    metrics` argmax) and the label ids (`(N, T)`, -100 where there is no label) become tag sequences with
    `word_level_tags`, then `EntityScores` and `TokenAccuracy` score them. Words without a labelled token (cut by
    truncation, or dropped by the tokenizer) are not scored, as in Transformers' `run_ner.py` example.

    Args:
        label_names (`Sequence[str]`): The tag names in id order (the model's `id2label`).
        scheme (`str`, *optional*):
            The tag scheme, one of `SCHEMES`; default: `scheme_of_names(label_names)`.
        entity_metrics (`bool`, *optional*, defaults to `True`):
            Whether to compute the entity metrics; without them only `accuracy` (any tags allowed).
        word_ids (`Sequence[Sequence[int | None]]`, *optional*):
            The `word_ids` of the evaluation examples, in order, when every sub-token is labelled
            (`label_all_tokens=True`): the metrics then score one tag per word, its first sub-token's.

    Returns:
        `Callable[[EvalPrediction], dict[str, float]]`: A function returning `{"precision", "recall", "f1",
        "accuracy"}` and per entity type `f1_<type>` and `support_<type>` (only `accuracy` without entity metrics).

    Raises:
        `ValueError`: If `scheme` is unknown, or the tag names are not valid in it (see `scheme_of_names`).
    """
    names = list(label_names)
    if entity_metrics:
        if scheme is None:
            scheme = scheme_of_names(names)
        _check_scheme(scheme)
        if scheme != "plain":
            for name in names:
                to_iob2([name], scheme)  # raises on a tag the scheme does not allow
    if word_ids is not None:
        word_ids = list(word_ids[:])  # a list, or a `datasets` column read in one batch
    entity, accuracy = EntityScores(), TokenAccuracy()

    def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
        references, predicted = word_level_tags(eval_pred.predictions, eval_pred.label_ids, names, word_ids)
        result: dict[str, float] = {}
        if entity_metrics:
            scores = entity.compute(predictions=predicted, references=references, scheme=scheme)
            result.update({k: scores[k] for k in ("precision", "recall", "f1")})
            result.update(accuracy.compute(predictions=predicted, references=references))
            result.update({k: v for k, v in scores.items() if k not in result})
        else:
            result.update(accuracy.compute(predictions=predicted, references=references))
        return result

    return compute_metrics
