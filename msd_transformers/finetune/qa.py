"""Extractive question answering as Transformers' `run_qa.py` does it, usable with `MSDTrainer` without the script.

- [`prepare_train_features`] and [`prepare_validation_features`]: the strided features of `run_qa.py`
  (`max_seq_length`, `doc_stride`, `pad_to_max_length`, the context truncated only, the CLS index for answers outside
  a feature; the validation features keep `example_id` and an `offset_mapping` that is `None` outside the context).
- [`postprocess`]: `utils_qa.postprocess_qa_predictions` (`n_best_size`, `max_answer_length`, the null answer with
  `version_2_with_negative` and `null_score_diff_threshold`, the best span over all the features of an example;
  `predictions.json`, `nbest_predictions.json` and `null_odds.json` written as upstream writes them).
- [`squad`] and [`squad_v2`]: the SQuAD v1.1 and v2.0 metrics as the official evaluation scripts define them (answer
  normalisation included), with the inputs and result names of `evaluate`'s `squad` and `squad_v2`, computed offline.
- [`mc_span_uncertainty`]: per example, the Monte-Carlo dropout uncertainty of the answer from the samples'
  start and end scores (`MSDQuestionAnsweringTrainer` keeps them): the span's MC probability, the agreement of the
  samples' answers and, for SQuAD v2.0, the MC probability of no answer.

Example:

```python
>>> features = prepare_validation_features(examples, tokenizer, max_seq_length=384, doc_stride=128)
>>> out = trainer.predict(features.remove_columns(["example_id", "offset_mapping"]))
>>> answers = postprocess(examples, features, out.predictions)  # {id: text}
>>> squad([{"id": k, "prediction_text": v} for k, v in answers.items()],
...       [{"id": e["id"], "answers": e["answers"]} for e in examples])
{'exact_match': ..., 'f1': ...}
```
"""

from __future__ import annotations

import collections
import json
import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..trainer import MSDTrainer

__all__ = [
    "MSDQuestionAnsweringTrainer",
    "QAPostprocessed",
    "mc_span_uncertainty",
    "normalize_answer",
    "postprocess",
    "prepare_train_features",
    "prepare_validation_features",
    "squad",
    "squad_v2",
]

# ----------------------------------------------------------------------------------------------------- features


def _tokenize(examples, tokenizer, question_column_name, context_column_name, max_seq_length, doc_stride, pad):
    pad_on_right = tokenizer.padding_side == "right"
    questions = [q.lstrip() for q in examples[question_column_name]]  # leading spaces waste the truncation room
    contexts = examples[context_column_name]
    return tokenizer(
        questions if pad_on_right else contexts,
        contexts if pad_on_right else questions,
        truncation="only_second" if pad_on_right else "only_first",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length" if pad else False,
    )


def _cls_index(input_ids: list[int], tokenizer) -> int:
    if tokenizer.cls_token_id in input_ids:
        return input_ids.index(tokenizer.cls_token_id)
    if tokenizer.bos_token_id in input_ids:
        return input_ids.index(tokenizer.bos_token_id)
    return 0


def prepare_train_features(
    examples: Mapping[str, list],
    tokenizer,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    pad_to_max_length: bool = True,
    question_column_name: str = "question",
    context_column_name: str = "context",
    answer_column_name: str = "answers",
) -> dict[str, list]:
    """The training features of a batch of examples (for `Dataset.map(batched=True)`), as `run_qa.py` makes them.

    A context too long for `max_seq_length` gives several features that overlap by `doc_stride` tokens; only the
    context is truncated (the second sequence, or the first for a tokenizer that pads on the left). A feature's
    `start_positions` and `end_positions` are the tokens of the first answer, or the CLS index (the CLS token, else the
    BOS token, else 0) when the answer is not wholly inside the feature or the example has none.

    Args:
        examples (`Mapping[str, list]`): A batch of examples with the question, context and answer columns (answers
            as `{"text": [...], "answer_start": [...]}`).
        tokenizer: A fast tokenizer (offsets and overflowing tokens).

    Returns:
        `dict[str, list]`: The tokenizer's fields and `start_positions`, `end_positions`, one row per feature.
    """
    tokenized = _tokenize(
        examples, tokenizer, question_column_name, context_column_name, max_seq_length, doc_stride, pad_to_max_length
    )
    context_index = 1 if tokenizer.padding_side == "right" else 0
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")
    offset_mapping = tokenized.pop("offset_mapping")
    starts, ends = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = tokenized["input_ids"][i]
        cls_index = _cls_index(input_ids, tokenizer)
        sequence_ids = tokenized.sequence_ids(i)
        answers = examples[answer_column_name][sample_mapping[i]]
        if len(answers["answer_start"]) == 0:
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        token_start = 0  # the first and last tokens of the context in this feature
        while sequence_ids[token_start] != context_index:
            token_start += 1
        token_end = len(input_ids) - 1
        while sequence_ids[token_end] != context_index:
            token_end -= 1
        if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
            starts.append(cls_index)  # the answer is outside this feature
            ends.append(cls_index)
            continue
        while token_start < len(offsets) and offsets[token_start][0] <= start_char:
            token_start += 1
        starts.append(token_start - 1)
        while offsets[token_end][1] >= end_char:
            token_end -= 1
        ends.append(token_end + 1)
    tokenized["start_positions"] = starts
    tokenized["end_positions"] = ends
    return dict(tokenized)


def prepare_validation_features(
    examples: Mapping[str, list],
    tokenizer,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    pad_to_max_length: bool = True,
    question_column_name: str = "question",
    context_column_name: str = "context",
    id_column_name: str = "id",
) -> dict[str, list]:
    """The evaluation features of a batch of examples, as `run_qa.py` makes them: the tokenizer's fields, the
    `example_id` of each feature and its `offset_mapping` with `None` for every token outside the context (the
    post-processing maps spans back to the context through it).

    Args:
        examples (`Mapping[str, list]`): A batch of examples with the id, question and context columns.
        tokenizer: A fast tokenizer.

    Returns:
        `dict[str, list]`: One row per feature.
    """
    tokenized = _tokenize(
        examples, tokenizer, question_column_name, context_column_name, max_seq_length, doc_stride, pad_to_max_length
    )
    context_index = 1 if tokenizer.padding_side == "right" else 0
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")
    tokenized["example_id"] = []
    for i in range(len(tokenized["input_ids"])):
        sequence_ids = tokenized.sequence_ids(i)
        tokenized["example_id"].append(examples[id_column_name][sample_mapping[i]])
        tokenized["offset_mapping"][i] = [
            (o if sequence_ids[k] == context_index else None) for k, o in enumerate(tokenized["offset_mapping"][i])
        ]
    return dict(tokenized)


# ------------------------------------------------------------------------------------------------ post-processing


@dataclass
class QAPostprocessed:
    """What [`postprocess`] found, beyond the answers: per example id its n-best list (as `nbest_predictions.json`),
    the null-score difference (`version_2_with_negative`, as `null_odds.json`), and where its answer is: `(feature
    index, start token, end token)` of the chosen span, or `None` for the null answer (or no span at all)."""

    predictions: dict[str, str]
    nbest: dict[str, list[dict[str, Any]]]
    null_odds: dict[str, float] = field(default_factory=dict)
    spans: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)


def _features_per_example(examples, features) -> list[list[int]]:
    index = {k: i for i, k in enumerate(examples["id"])}
    per_example: list[list[int]] = [[] for _ in range(len(index))]
    for i, example_id in enumerate(features["example_id"]):
        per_example[index[example_id]].append(i)
    return per_example


def _nbest(
    feature_indices: list[int],
    all_start_logits: np.ndarray,
    all_end_logits: np.ndarray,
    offsets: list,
    max_context: list | None,
    version_2_with_negative: bool,
    n_best_size: int,
    max_answer_length: int,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """`utils_qa`'s candidate search of one example: its n-best candidates (with their feature and tokens) and its
    minimum null prediction."""
    min_null, prelim = None, []
    for feature_index in feature_indices:
        start_logits, end_logits = all_start_logits[feature_index], all_end_logits[feature_index]
        offset_mapping = offsets[feature_index]
        token_is_max_context = max_context[feature_index] if max_context is not None else None
        feature_null_score = start_logits[0] + end_logits[0]
        if min_null is None or min_null["score"] > feature_null_score:
            min_null = {
                "offsets": (0, 0),
                "score": feature_null_score,
                "start_logit": start_logits[0],
                "end_logit": end_logits[0],
            }
        start_indexes = np.argsort(start_logits)[-1 : -n_best_size - 1 : -1].tolist()
        end_indexes = np.argsort(end_logits)[-1 : -n_best_size - 1 : -1].tolist()
        for start_index in start_indexes:
            for end_index in end_indexes:
                if (
                    start_index >= len(offset_mapping)
                    or end_index >= len(offset_mapping)
                    or offset_mapping[start_index] is None
                    or offset_mapping[end_index] is None
                ):
                    continue
                if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                    continue
                if token_is_max_context is not None and not token_is_max_context.get(str(start_index), False):
                    continue
                prelim.append(
                    {
                        "offsets": (offset_mapping[start_index][0], offset_mapping[end_index][1]),
                        "score": start_logits[start_index] + end_logits[end_index],
                        "start_logit": start_logits[start_index],
                        "end_logit": end_logits[end_index],
                        "_span": (feature_index, start_index, end_index),
                    }
                )
    if version_2_with_negative:
        prelim.append(min_null)
    best = sorted(prelim, key=lambda x: x["score"], reverse=True)[:n_best_size]
    if version_2_with_negative and not any(p["offsets"] == (0, 0) for p in best):
        best.append(min_null)
    return best, min_null


def postprocess(
    examples,
    features,
    predictions: tuple[np.ndarray, np.ndarray],
    version_2_with_negative: bool = False,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
    output_dir: str | os.PathLike | None = None,
    prefix: str | None = None,
    context_column_name: str = "context",
    return_details: bool = False,
) -> dict[str, str] | QAPostprocessed:
    """The answer text of each example from the start and end scores of its features: Transformers'
    `utils_qa.postprocess_qa_predictions`, the same candidates, scores, choices and files.

    Per feature, the `n_best_size` best starts and ends form the candidate spans that lie in the context, end after
    they start and are at most `max_answer_length` tokens long, scored `start_logit + end_logit`; an example's
    candidates from all its features compete, its best `n_best_size` get a softmax `probability`. With
    `version_2_with_negative` the null answer (position 0; the lowest null score over the example's features)
    competes too, and the answer is `""` when the null score exceeds the best non-null span's score by more than
    `null_score_diff_threshold`.

    Args:
        examples: The examples (a `Dataset` or mapping of columns) with `id` and the context column.
        features: Their features from [`prepare_validation_features`] (`example_id`, `offset_mapping`, and optionally
            `token_is_max_context`), in the order of `predictions`.
        predictions (`tuple[np.ndarray, np.ndarray]`): The start and end scores, each `(num_features, seq_len)`
            (e.g. `trainer.predict(features).predictions`; padding columns of -100 are never chosen).
        output_dir (`str`, *optional*): Write `predictions.json`, `nbest_predictions.json` (and `null_odds.json` for
            v2) there, as upstream writes them (with `prefix_` before the names when `prefix` is given).
        return_details (`bool`, *optional*): Return the [`QAPostprocessed`] (n-best, null odds, spans), not only the
            answers.

    Returns:
        `dict[str, str]` (example id -> answer text), or [`QAPostprocessed`] with `return_details`.

    Raises:
        `ValueError`: `predictions` not two arrays, or not one row per feature.
    """
    if len(predictions) != 2:
        raise ValueError("`predictions` should be a tuple with two elements (start_logits, end_logits).")
    all_start_logits, all_end_logits = predictions
    num_features = len(features["example_id"])
    if len(all_start_logits) != num_features:
        raise ValueError(f"Got {len(all_start_logits)} predictions and {num_features} features.")
    offsets = features["offset_mapping"]
    columns = getattr(features, "column_names", None) or list(features)
    max_context = features["token_is_max_context"] if "token_is_max_context" in columns else None
    out = QAPostprocessed(collections.OrderedDict(), collections.OrderedDict())
    ids, contexts = examples["id"], examples[context_column_name]
    for example_index, feature_indices in enumerate(_features_per_example(examples, features)):
        example_id = ids[example_index]
        best, min_null = _nbest(
            feature_indices,
            all_start_logits,
            all_end_logits,
            offsets,
            max_context,
            version_2_with_negative,
            n_best_size,
            max_answer_length,
        )
        null_score = min_null["score"] if min_null is not None else None  # before the scores become probabilities
        context = contexts[example_index]
        for pred in best:
            start, end = pred.pop("offsets")
            pred["text"] = context[start:end]
        if len(best) == 0 or (len(best) == 1 and best[0]["text"] == ""):
            best.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})
        scores = np.array([pred.pop("score") for pred in best])
        exp_scores = np.exp(scores - np.max(scores))
        for prob, pred in zip(exp_scores / exp_scores.sum(), best, strict=True):
            pred["probability"] = prob
        if not version_2_with_negative:
            chosen = best[0]
        else:
            chosen = next(pred for pred in best if pred["text"] != "")
            score_diff = null_score - chosen["start_logit"] - chosen["end_logit"]
            out.null_odds[example_id] = float(score_diff)
            if score_diff > null_score_diff_threshold:
                chosen = None
        out.predictions[example_id] = "" if chosen is None else chosen["text"]
        out.spans[example_id] = None if chosen is None else chosen.get("_span")
        out.nbest[example_id] = [
            {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in pred.items() if k != "_span"}
            for pred in best
        ]
    if output_dir is not None:
        write_postprocessed(out, output_dir, prefix, version_2_with_negative)
    return out if return_details else out.predictions


def write_postprocessed(
    out: QAPostprocessed, output_dir: str | os.PathLike, prefix: str | None = None, null_odds: bool = False
) -> None:
    """Write `predictions.json`, `nbest_predictions.json` (and `null_odds.json`) as `utils_qa` writes them."""
    if not os.path.isdir(output_dir):
        raise ValueError(f"{output_dir} is not a directory.")
    files = [("predictions", out.predictions), ("nbest_predictions", out.nbest)]
    if null_odds:
        files.append(("null_odds", out.null_odds))
    for name, content in files:
        path = os.path.join(output_dir, f"{name}.json" if prefix is None else f"{prefix}_{name}.json")
        with open(path, "w") as writer:
            writer.write(json.dumps(content, indent=4) + "\n")


# -------------------------------------------------------------------------------------------------------- metrics


def normalize_answer(s: str) -> str:
    """Lower case, drop punctuation and the articles a, an, the, and collapse white space: the official SQuAD
    scripts' answer normalisation (v1.1 and v2.0 alike)."""
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s, flags=re.UNICODE)
    return " ".join(s.split())


def _f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(prediction_tokens), num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _f1_v2(prediction: str, gold: str) -> float:
    """SQuAD v2.0's F1: an empty answer (after normalisation) scores 1 against an empty one, else 0."""
    pred_toks, gold_toks = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    return _f1(pred_toks, gold_toks)


def _check_ids(predictions: Sequence[Mapping], references: Sequence[Mapping]) -> dict[str, Mapping]:
    by_id = {p["id"]: p for p in predictions}
    missing = [r["id"] for r in references if r["id"] not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} references have no prediction, e.g. id {missing[0]!r}.")
    return by_id


def squad_scores(predictions: Sequence[Mapping], references: Sequence[Mapping], version_2: bool = False) -> dict:
    """Per reference id, its `(exact, f1)` (each in [0, 1], the maximum over the gold answers) as the official script
    of SQuAD v1.1 (`version_2=False`) or v2.0 scores it (v2.0: gold answers that normalise to nothing are dropped;
    none left means the gold answer is `""`)."""
    by_id = _check_ids(predictions, references)
    out = {}
    for ref in references:
        prediction = by_id[ref["id"]]["prediction_text"]
        golds = list(ref["answers"]["text"])
        if version_2:
            golds = [a for a in golds if normalize_answer(a)] or [""]
            exact = max(float(normalize_answer(a) == normalize_answer(prediction)) for a in golds)
            f1 = max(_f1_v2(prediction, a) for a in golds)
        else:
            exact = max(float(normalize_answer(prediction) == normalize_answer(a)) for a in golds)
            f1 = max(_f1(normalize_answer(prediction).split(), normalize_answer(a).split()) for a in golds)
        out[ref["id"]] = (exact, f1)
    return out


def squad(predictions: Sequence[Mapping], references: Sequence[Mapping]) -> dict[str, float]:
    """The SQuAD v1.1 metric, as `evaluate.load("squad").compute(predictions=..., references=...)`.

    Args:
        predictions (`Sequence[Mapping]`): `{"id": str, "prediction_text": str}` per question.
        references (`Sequence[Mapping]`): `{"id": str, "answers": {"text": [...], "answer_start": [...]}}`.

    Returns:
        `dict[str, float]`: `exact_match` and `f1` in percent, averaged over the references.
    """
    scores = squad_scores(predictions, references)
    total = len(references)
    return {
        "exact_match": 100.0 * sum(e for e, _ in scores.values()) / total,
        "f1": 100.0 * sum(f for _, f in scores.values()) / total,
    }


def _best_threshold(preds, scores, na_probs, has_ans) -> tuple[float, float]:
    """The official v2.0 script's `find_best_thresh`: the score with the best no-answer probability threshold."""
    cur_score = best_score = sum(1 for k in has_ans if not has_ans[k])
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        diff = scores[qid] if has_ans[qid] else (-1 if preds[qid] else 0)
        cur_score += diff
        if cur_score > best_score:
            best_score, best_thresh = cur_score, na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def squad_v2(
    predictions: Sequence[Mapping], references: Sequence[Mapping], no_answer_threshold: float = 1.0
) -> dict[str, float]:
    """The SQuAD v2.0 metric, as `evaluate.load("squad_v2").compute(predictions=..., references=...)`.

    A question whose `no_answer_probability` exceeds `no_answer_threshold` counts as answered with nothing. The
    `HasAns_*` and `NoAns_*` entries are present only when there are questions of that kind.

    Args:
        predictions (`Sequence[Mapping]`): `{"id", "prediction_text", "no_answer_probability"}` per question.
        references (`Sequence[Mapping]`): `{"id", "answers": {"text": [...], "answer_start": [...]}}` (empty lists
            for a question without answer).

    Returns:
        `dict[str, float]`: `exact`, `f1`, `total`, `HasAns_exact`, `HasAns_f1`, `HasAns_total`, `NoAns_exact`,
        `NoAns_f1`, `NoAns_total`, `best_exact`, `best_exact_thresh`, `best_f1`, `best_f1_thresh`.
    """
    raw = squad_scores(predictions, references, version_2=True)
    by_id = {p["id"]: p for p in predictions}
    preds = {k: by_id[k]["prediction_text"] for k in raw}
    na_probs = {k: by_id[k]["no_answer_probability"] for k in raw}
    has_ans = {r["id"]: bool(r["answers"]["text"]) for r in references}
    exact_raw = {k: e for k, (e, _) in raw.items()}
    f1_raw = {k: f for k, (_, f) in raw.items()}

    def thresholded(scores):
        return {k: float(not has_ans[k]) if na_probs[k] > no_answer_threshold else s for k, s in scores.items()}

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)

    def averages(qids):
        total = len(qids)
        return {
            "exact": 100.0 * sum(exact[k] for k in qids) / total,
            "f1": 100.0 * sum(f1[k] for k in qids) / total,
            "total": total,
        }

    out = averages(list(raw))
    for prefix, qids in (("HasAns", [k for k in raw if has_ans[k]]), ("NoAns", [k for k in raw if not has_ans[k]])):
        if qids:
            out.update({f"{prefix}_{k}": v for k, v in averages(qids).items()})
    out["best_exact"], out["best_exact_thresh"] = _best_threshold(preds, exact_raw, na_probs, has_ans)
    out["best_f1"], out["best_f1_thresh"] = _best_threshold(preds, f1_raw, na_probs, has_ans)
    return out


# -------------------------------------------------------------------------------------- Monte-Carlo uncertainty


class MSDQuestionAnsweringTrainer(MSDTrainer):
    """`MSDTrainer` that also keeps, in a Monte-Carlo evaluation (`msd_eval_samples = N`), every sample's start and
    end scores per feature: `mc_uncertainty["start_sample_logits"]` and `["end_sample_logits"]`, `(num_features,
    seq_len, N)` float32, the padding positions at the float32 minimum (and NaN where the Trainer pads batches to one
    length), what [`mc_span_uncertainty`] takes. They cost `2 * N` floats per token of the evaluated features."""

    def _sample_records(self, samples: dict[str, torch.Tensor], features: dict[str, Any]) -> dict[str, torch.Tensor]:
        real = features.get("attention_mask")
        out = {}
        for name in ("start_logits", "end_logits"):
            scores = samples[name]  # (N, B, T)
            if real is not None:
                scores = scores.masked_fill(~real.bool(), torch.finfo(scores.dtype).min)
            out[f"{name.removesuffix('_logits')}_sample_logits"] = scores.permute(1, 2, 0)  # (B, T, N)
        return out


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    """Log-softmax over axis 0 (positions) of `(T, N)` scores, NaN (padding of the batches) excluded."""
    x = torch.from_numpy(np.nan_to_num(scores.astype(np.float64), nan=-np.inf))
    return torch.log_softmax(x, dim=0).numpy()


def _sample_best(
    feature_indices: list[int],
    log_start: list[np.ndarray],
    log_end: list[np.ndarray],
    raw_start: list[np.ndarray],
    raw_end: list[np.ndarray],
    offsets: list,
    version_2_with_negative: bool,
    n_best_size: int,
    max_answer_length: int,
    null_score_diff_threshold: float,
) -> tuple[list[tuple[int, int, int] | None], np.ndarray]:
    """Per sample, the span the n-best step would choose on that sample's scores alone (`None`: the null answer, or
    no span), and per sample the null probability combined over the features as the n-best step combines null
    scores (the feature with the lowest null score)."""
    num_samples = raw_start[0].shape[1]
    best_score = np.full(num_samples, -np.inf)
    best_span: list[tuple[int, int, int] | None] = [None] * num_samples
    null_score = np.full(num_samples, np.inf)
    null_prob = np.zeros(num_samples)
    for k, feature_index in enumerate(feature_indices):
        s, e = raw_start[k], raw_end[k]  # (T, N)
        length = min(len(offsets[feature_index]), s.shape[0])
        s = np.nan_to_num(s[:length].astype(np.float64), nan=-np.inf)  # float64: padding at the float32 minimum
        e = np.nan_to_num(e[:length].astype(np.float64), nan=-np.inf)
        feature_null = s[0] + e[0]  # (N,)
        lower = feature_null < null_score
        null_score = np.where(lower, feature_null, null_score)
        null_prob = np.where(lower, np.exp(log_start[k][0] + log_end[k][0]), null_prob)
        valid = np.array([o is not None for o in offsets[feature_index][:length]])
        n = min(n_best_size, length)
        top_s = np.argsort(-s, axis=0, kind="stable")[:n]  # (n, N)
        top_e = np.argsort(-e, axis=0, kind="stable")[:n]
        cols = np.arange(num_samples)
        score = s[top_s, cols][:, None, :] + e[top_e, cols][None, :, :]  # (n, n, N)
        width = top_e[None, :, :] - top_s[:, None, :]
        ok = valid[top_s][:, None, :] & valid[top_e][None, :, :] & (width >= 0) & (width + 1 <= max_answer_length)
        score = np.where(ok, score, -np.inf).reshape(n * n, num_samples)
        flat = score.argmax(0)  # (N,)
        top = score[flat, cols]
        for j in np.nonzero(top > best_score)[0]:
            best_score[j] = top[j]
            best_span[j] = (feature_index, int(top_s[flat[j] // n, j]), int(top_e[flat[j] % n, j]))
    if version_2_with_negative:
        for j in range(num_samples):
            # An example without any span compares the null score with the "empty" stand-in's 0.
            non_null = best_score[j] if np.isfinite(best_score[j]) else 0.0
            if null_score[j] - non_null > null_score_diff_threshold:
                best_span[j] = None
    return best_span, null_prob


def _span_text(span: tuple[int, int, int] | None, offsets: list, context: str, empty: str) -> str:
    if span is None:
        return empty
    feature_index, start, end = span
    return context[offsets[feature_index][start][0] : offsets[feature_index][end][1]]


def mc_span_uncertainty(
    examples,
    features,
    start_sample_logits: np.ndarray,
    end_sample_logits: np.ndarray,
    postprocessed: QAPostprocessed,
    version_2_with_negative: bool = False,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
    context_column_name: str = "context",
) -> dict[str, dict[str, Any]]:
    """The Monte-Carlo uncertainty of each example's answer, from the scores of N dropout samples per feature.

    Each sample `n` gives, per feature, a start and an end distribution over the feature's positions (softmax of its
    scores; padding excluded): `p_n^s`, `p_n^e`. For the span `(f, i, j)` that [`postprocess`] chose (on the MC
    predictive scores, `log mean_n p_n`):

    - `start_probability`, `end_probability`: the MC predictive probabilities `mean_n p_n^s(f, i)` and
      `mean_n p_n^e(f, j)` (the MC predictive start and end distributions at the span), and `start_entropy`,
      `end_entropy` (nats) of those distributions over feature `f`;
    - `span_probability`: `mean_n p_n^s(f, i) * p_n^e(f, j)`, the MC probability of the span (the samples' own
      start-end products averaged, not the product of the means);
    - `agreement`: the fraction of the N samples whose own best span (the n-best step on that sample's scores over
      all the example's features, with the same rules) gives the same answer text;
    - `no_answer_probability` (`version_2_with_negative`): `mean_n p_n^s(f0, 0) * p_n^e(f0, 0)`, with `f0` per sample
      the feature with the lowest null score, as the n-best step combines null scores across features;
    - `confidence`: the probability of the answer given, `span_probability` for a span and `no_answer_probability`
      for the null answer (0 for no span at all): the confidence whose calibration against exact match the script
      reports.

    Args:
        examples, features: As for [`postprocess`].
        start_sample_logits, end_sample_logits (`np.ndarray` of shape `(num_features, seq_len, N)`): The samples'
            scores (`MSDQuestionAnsweringTrainer.mc_uncertainty`; NaN or the float minimum at padding).
        postprocessed ([`QAPostprocessed`]): `postprocess(..., return_details=True)` of the same features.

    Returns:
        `dict[str, dict]`: Per example id, the values above (floats).
    """
    offsets = features["offset_mapping"]
    out = {}
    for example_index, feature_indices in enumerate(_features_per_example(examples, features)):
        example_id = examples["id"][example_index]
        raw_s = [start_sample_logits[f] for f in feature_indices]  # (T, N) each
        raw_e = [end_sample_logits[f] for f in feature_indices]
        log_s, log_e = [_log_softmax(x) for x in raw_s], [_log_softmax(x) for x in raw_e]
        spans, null_prob = _sample_best(
            feature_indices, log_s, log_e, raw_s, raw_e, offsets, version_2_with_negative, n_best_size,
            max_answer_length, null_score_diff_threshold,
        )  # fmt: skip
        context = examples[context_column_name][example_index]
        answer = postprocessed.predictions[example_id]
        empty = "" if version_2_with_negative else "empty"
        texts = [_span_text(span, offsets, context, empty) for span in spans]
        record: dict[str, Any] = {"agreement": float(np.mean([t == answer for t in texts]))}
        chosen = postprocessed.spans[example_id]
        if chosen is not None:
            k = feature_indices.index(chosen[0])
            ps, pe = np.exp(log_s[k]), np.exp(log_e[k])  # (T, N)
            mean_s, mean_e = ps.mean(1), pe.mean(1)  # (T,): the MC predictive distributions of the feature
            record["start_probability"] = float(mean_s[chosen[1]])
            record["end_probability"] = float(mean_e[chosen[2]])
            record["start_entropy"] = float(-(mean_s * np.log(np.where(mean_s > 0, mean_s, 1.0))).sum())
            record["end_entropy"] = float(-(mean_e * np.log(np.where(mean_e > 0, mean_e, 1.0))).sum())
            record["span_probability"] = float((ps[chosen[1]] * pe[chosen[2]]).mean())
        if version_2_with_negative:
            record["no_answer_probability"] = float(null_prob.mean())
        if chosen is not None:
            record["confidence"] = record["span_probability"]
        else:
            record["confidence"] = record.get("no_answer_probability", 0.0) if answer == "" else 0.0
        out[example_id] = record
    return out
