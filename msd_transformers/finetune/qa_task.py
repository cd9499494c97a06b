"""`task: question-answering` in `scripts/train.py`, as Transformers' `run_qa.py`: SQuAD-format data (a Hub dataset
or local JSON / JSON lines), strided features, the n-best post-processing, the SQuAD v1.1 / v2.0 metrics, and with
`msd_eval_samples` the Monte-Carlo uncertainty of each example's answer (see `qa.mc_span_uncertainty`), its
calibration against exact match and the coverage-accuracy curve.

Writes beside the checkpoint: `predictions.json` and `nbest_predictions.json` (and `null_odds.json` for v2) as
`run_qa.py` writes them, `predictions.jsonl` (per example: id, question, gold answers, prediction_text and under MC
its uncertainty) and, under MC, `risk_coverage.png`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from datasets import Dataset, DatasetDict

from . import qa
from .task_runner import confidence_metrics, default_best_metric, log_metrics, plot_risk_coverage, write_json_lines

logger = logging.getLogger("train")

PROBLEM_TYPE = "question_answering"
#: The columns of the validation features that only the post-processing reads.
POSTPROCESS_COLUMNS = ("example_id", "offset_mapping")

__all__ = ["load_datasets", "read_squad_file"]


# ------------------------------------------------------------------------------------------------------- data


def _flatten_squad(data: list[dict]) -> list[dict]:
    """The official SQuAD nesting (articles -> paragraphs -> qas) as one flat record per question."""
    rows = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa_ in paragraph["qas"]:
                answers = qa_.get("answers", [])
                rows.append(
                    {
                        "id": qa_["id"],
                        "title": article.get("title", ""),
                        "context": paragraph["context"],
                        "question": qa_["question"],
                        "answers": {
                            "text": [a["text"] for a in answers],
                            "answer_start": [a["answer_start"] for a in answers],
                        },
                    }
                )
    return rows


def read_squad_file(path: str) -> Dataset:
    """A local SQuAD-format file: JSON lines (one example a line), or JSON holding a list of examples, `{"data":
    [examples]}` (as `run_qa.py` reads JSON) or the official nesting (`data` -> `paragraphs` -> `qas`). An example
    without `id` gets its row (from 0) as id.

    Raises:
        `ValueError`: a missing file, invalid JSON (with the line), or no examples.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"Data file {path!r} does not exist.")
    text = file.read_text()
    try:
        if file.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path!r} is not valid JSON: {err.msg} (line {err.lineno}).") from None
    if isinstance(rows, dict):
        rows = rows.get("data", [])
        if rows and isinstance(rows[0], dict) and "paragraphs" in rows[0]:
            rows = _flatten_squad(rows)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path!r} holds no examples (a list of objects, or {{'data': [...]}}).")
    for i, row in enumerate(rows):
        row["id"] = str(row.get("id", i))
    return Dataset.from_list(rows)


def _check_split(ds: Dataset, split: str, source: str, args, need_answers: bool) -> None:
    """The columns are there, the ids unique, and every answer's text is the context at its `answer_start`."""
    needed = [args.question_column_name, args.context_column_name] + (
        [args.answer_column_name] if need_answers else []
    )
    for column in needed:
        if column not in ds.column_names:
            raise ValueError(
                f"Column {column!r} not found in the {split} data ({source}); columns: {ds.column_names}. Set "
                "question_column_name / context_column_name / answer_column_name."
            )
    ids = ds["id"]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        duplicate = next(i for i in ids if i in seen or seen.add(i))
        raise ValueError(f"The {split} data ({source}) has the id {duplicate!r} more than once; ids must be unique.")
    if args.answer_column_name not in ds.column_names:
        return
    for example_id, context, answers in zip(
        ids, ds[args.context_column_name], ds[args.answer_column_name], strict=True
    ):
        if not isinstance(answers, dict) or set(answers) < {"text", "answer_start"}:
            raise ValueError(
                f"Example {example_id!r} ({source}): {args.answer_column_name!r} must be {{'text': [...], "
                f"'answer_start': [...]}}, got {answers!r}."
            )
        if len(answers["text"]) != len(answers["answer_start"]):
            raise ValueError(f"Example {example_id!r} ({source}): {len(answers['text'])} answer texts but "
                             f"{len(answers['answer_start'])} answer_start values.")  # fmt: skip
        for text, start in zip(answers["text"], answers["answer_start"], strict=True):
            if context[start : start + len(text)] != text:
                raise ValueError(
                    f"Example {example_id!r} ({source}): the answer {text!r} is not at answer_start {start} of its "
                    f"context, which has {context[start : start + len(text)]!r} there."
                )
        if not answers["text"] and split == "train" and not args.version_2_with_negative:
            logger.warning("Training example %r has no answer: it teaches the null answer (CLS).", example_id)


def load_datasets(args) -> DatasetDict:
    """The splits "train", "validation" (and "test") of a question-answering run, read and checked: from the Hub
    (`dataset_name`, e.g. `squad` or `squad_v2`) or local files; without a validation split a seeded
    `validation_fraction` of the training examples is held out. `max_train_samples` / `max_eval_samples` keep the
    first examples (as `run_qa.py`).

    Raises:
        `ValueError`: a missing column, a duplicated id, an answer not at its `answer_start` (naming the example).
    """
    if args.dataset_name is not None:
        raw = datasets.load_dataset(args.dataset_name, args.dataset_config_name)
        sources = {split: f"{args.dataset_name!r} split {split!r}" for split in raw}
    else:
        files = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
        raw = DatasetDict({split: read_squad_file(path) for split, path in files.items() if path is not None})
        sources = {split: repr(path) for split, path in files.items() if path is not None}
    if "validation" not in raw:
        held_out = raw["train"].train_test_split(test_size=args.validation_fraction, seed=args.split_seed)
        raw = DatasetDict({**raw, "train": held_out["train"], "validation": held_out["test"]})
        sources["validation"] = f"{sources['train']}, held out"
    for split, ds in raw.items():
        if "id" not in ds.column_names:
            raw[split] = ds.add_column("id", [str(i) for i in range(len(ds))])
        _check_split(raw[split], split, sources[split], args, need_answers=split != "test")
    limits = {"train": args.max_train_samples, "validation": args.max_eval_samples}
    for split, n in limits.items():
        if n is not None and n < len(raw[split]):
            raw[split] = raw[split].select(range(n))
    return DatasetDict({split: raw[split] for split in ("train", "validation", "test") if split in raw})


def load_tokenizer(script, run):
    """The script's tokenizer, which must be fast (offsets, overflowing tokens)."""
    tokenizer = script.load_tokenizer(run)
    if not tokenizer.is_fast:
        raise ValueError(
            f"Question answering needs a fast tokenizer (offset mappings for the answer spans); "
            f"{type(tokenizer).__name__} is not. Use a model with a fast tokenizer (tokenizer.json) or tokenizer_name."
        )
    return tokenizer


# ----------------------------------------------------------------------------------------------------- features


@dataclass
class QAFeatures:
    """The features of a run: training features (with answer positions), and per evaluated split its examples, its
    features for the post-processing and the features the model sees."""

    train: Dataset
    examples: dict[str, Dataset]
    postprocess: dict[str, Dataset]
    model_inputs: dict[str, Dataset]


def _check_room(ds: Dataset, split: str, tokenizer, args, max_seq_length: int) -> None:
    """A context that needs several features needs room for more than `doc_stride` context tokens beside the
    question (the tokenizer's overflow would fail); `ValueError` naming the first example without it."""
    questions = [q.lstrip() for q in ds[args.question_column_name]]
    contexts = list(ds[args.context_column_name])
    question_lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    context_lengths = [len(ids) for ids in tokenizer(contexts, add_special_tokens=False)["input_ids"]]
    special = tokenizer.num_special_tokens_to_add(pair=True)
    for example_id, q, c in zip(ds["id"], question_lengths, context_lengths, strict=True):
        room = max_seq_length - q - special
        if c > room and room <= args.doc_stride:
            raise ValueError(
                f"Example {example_id!r} ({split}): its context of {c} tokens is longer than the {max(room, 0)} that "
                f"max_seq_length={max_seq_length} leaves beside its question ({q} tokens) and {special} special "
                f"tokens, and no stride is possible: each feature must hold more than doc_stride={args.doc_stride} "
                "context tokens. Raise max_seq_length or lower doc_stride."
            )


def prepare_features(run, tokenizer) -> QAFeatures:
    """The strided features of every split (`qa.prepare_train_features` / `prepare_validation_features`); the
    evaluated splits' features also carry the answer positions, for an evaluation loss and `compute_metrics`."""
    args = run.data_args
    max_seq_length = args.max_seq_length
    if max_seq_length > tokenizer.model_max_length:
        logger.warning(
            "max_seq_length %d exceeds the tokenizer's maximum %d; using %d.",
            max_seq_length, tokenizer.model_max_length, tokenizer.model_max_length,
        )  # fmt: skip
        max_seq_length = tokenizer.model_max_length
    common = dict(
        tokenizer=tokenizer,
        max_seq_length=max_seq_length,
        doc_stride=args.doc_stride,
        pad_to_max_length=args.pad_to_max_length,
        question_column_name=args.question_column_name,
        context_column_name=args.context_column_name,
    )
    train_kwargs = {**common, "answer_column_name": args.answer_column_name}
    for split, ds in run.raw.items():
        _check_room(ds, split, tokenizer, args, max_seq_length)
    num_proc = args.preprocessing_num_workers
    with run.training_args.main_process_first(desc="question-answering features"):
        raw = run.raw
        train = raw["train"].map(
            qa.prepare_train_features, batched=True, remove_columns=raw["train"].column_names,
            fn_kwargs=train_kwargs, num_proc=num_proc, desc="training features",
        )  # fmt: skip
        post, inputs = {}, {}
        for split in ("validation", "test"):
            if split not in raw:
                continue
            post[split] = raw[split].map(
                _validation_features, batched=True, remove_columns=raw[split].column_names,
                fn_kwargs={**train_kwargs, "with_answers": args.answer_column_name in raw[split].column_names},
                num_proc=num_proc, desc=f"{split} features",
            )  # fmt: skip
            inputs[split] = post[split].remove_columns(list(POSTPROCESS_COLUMNS))
    logger.info(
        "Features: %s (examples: %s).",
        {"train": len(train), **{s: len(d) for s, d in post.items()}},
        {s: len(d) for s, d in raw.items()},
    )
    return QAFeatures(train, {s: raw[s] for s in post}, post, inputs)


def _validation_features(examples, with_answers: bool, answer_column_name: str, **kwargs) -> dict[str, list]:
    """`prepare_validation_features`, and the answer positions of `prepare_train_features` (the same tokenization)
    when the split has answers."""
    features = qa.prepare_validation_features(examples, **kwargs)
    if with_answers:
        positions = qa.prepare_train_features(examples, answer_column_name=answer_column_name, **kwargs)
        features["start_positions"] = positions["start_positions"]
        features["end_positions"] = positions["end_positions"]
    return features


# ------------------------------------------------------------------------------------------ trainer and metrics


class SquadMetrics:
    """`compute_metrics` of a split: the post-processing of its features' predictions and the SQuAD v1.1 (or
    v2.0) metric against its examples' answers. Keeps the last post-processing (`last`), for the output files."""

    def __init__(self, examples: Dataset, features: Dataset, args):
        self.examples, self.features, self.args = examples, features, args
        self.last: qa.QAPostprocessed | None = None

    def postprocess(self, predictions) -> qa.QAPostprocessed:
        args = self.args
        self.last = qa.postprocess(
            self.examples,
            self.features,
            predictions,
            version_2_with_negative=args.version_2_with_negative,
            n_best_size=args.n_best_size,
            max_answer_length=args.max_answer_length,
            null_score_diff_threshold=args.null_score_diff_threshold,
            context_column_name=args.context_column_name,
            return_details=True,
        )
        return self.last

    def references(self) -> list[dict[str, Any]]:
        answers = self.examples[self.args.answer_column_name]
        return [{"id": i, "answers": a} for i, a in zip(self.examples["id"], answers, strict=True)]

    def formatted(self) -> list[dict[str, Any]]:
        """The predictions as `evaluate`'s squad / squad_v2 take them (`no_answer_probability` 0, as `run_qa.py`)."""
        extra = {"no_answer_probability": 0.0} if self.args.version_2_with_negative else {}
        return [{"id": k, "prediction_text": v, **extra} for k, v in self.last.predictions.items()]

    def __call__(self, eval_prediction) -> dict[str, float]:
        self.postprocess(eval_prediction.predictions)
        metric = qa.squad_v2 if self.args.version_2_with_negative else qa.squad
        return metric(self.formatted(), self.references())


def build_trainer(script, run, model, tokenizer, features: QAFeatures):
    """`MSDQuestionAnsweringTrainer` with `run_qa.py`'s collator (none needed when padded to `max_seq_length`) and
    the SQuAD metrics of the validation split; the best model by F1."""
    from transformers import DataCollatorWithPadding, default_data_collator

    training_args = run.training_args
    default_best_metric(training_args, "f1")
    if run.data_args.pad_to_max_length:
        collator = default_data_collator
    else:
        collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if training_args.fp16 else None)
    return qa.MSDQuestionAnsweringTrainer(
        model=model,
        args=training_args,
        train_dataset=features.train,
        eval_dataset=features.model_inputs["validation"],
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=SquadMetrics(
            features.examples["validation"], features.postprocess["validation"], run.data_args
        ),
    )


@dataclass
class QAResult:
    """The final evaluation of a split: its metric (with its last post-processing) and the MC uncertainty."""

    metrics: SquadMetrics
    uncertainty: dict[str, dict[str, Any]] | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None


def _predict(run, trainer, features: QAFeatures, split: str, prefix: str, metrics: dict[str, float]) -> QAResult:
    has_answers = run.data_args.answer_column_name in features.examples[split].column_names
    squad_metrics = SquadMetrics(features.examples[split], features.postprocess[split], run.data_args)
    trainer.compute_metrics = squad_metrics if has_answers else None
    prediction = trainer.predict(features.model_inputs[split], metric_key_prefix=prefix)
    if squad_metrics.last is None:  # no answers: post-process without a metric
        squad_metrics.postprocess(prediction.predictions)
    split_metrics = dict(prediction.metrics)
    result = QAResult(squad_metrics)
    if trainer.mc_uncertainty and "start_sample_logits" in trainer.mc_uncertainty:
        args = run.data_args
        mc = trainer.mc_uncertainty
        result.uncertainty = qa.mc_span_uncertainty(
            features.examples[split],
            features.postprocess[split],
            mc["start_sample_logits"],
            mc["end_sample_logits"],
            squad_metrics.last,
            version_2_with_negative=args.version_2_with_negative,
            n_best_size=args.n_best_size,
            max_answer_length=args.max_answer_length,
            null_score_diff_threshold=args.null_score_diff_threshold,
            context_column_name=args.context_column_name,
        )
        if has_answers:
            exact = exact_per_example(squad_metrics)
            confidence = np.array([result.uncertainty[k]["confidence"] for k in exact])
            extra, result.curve = confidence_metrics(
                confidence, np.array(list(exact.values())), f"{prefix}_span", "exact"
            )
            split_metrics.update(extra)
    log_metrics(trainer, split_metrics)
    metrics.update(split_metrics)
    return result


def exact_per_example(squad_metrics: SquadMetrics) -> dict[str, float]:
    """Per example id, its exact match (1 or 0) as the metric of the run scores it."""
    version_2 = squad_metrics.args.version_2_with_negative
    scores = qa.squad_scores(squad_metrics.formatted(), squad_metrics.references(), version_2=version_2)
    return {k: e for k, (e, _) in scores.items()}


def evaluate(run, trainer, features: QAFeatures, metrics: dict[str, float]) -> dict[str, QAResult]:
    """The final prediction of the validation (and test) split: the SQuAD metrics and, under Monte-Carlo dropout,
    the span uncertainty and its calibration (`eval_span_ece`, `eval_span_aurc`, `eval_span_exact_at_coverage_*`)."""
    results = {"validation": _predict(run, trainer, features, "validation", "eval", metrics)}
    if "test" in features.model_inputs:
        results["test"] = _predict(run, trainer, features, "test", "test", metrics)
    return results


def records(examples: Dataset, result: QAResult, args) -> list[dict[str, Any]]:
    """The rows of `predictions.jsonl`: per example its id, question, gold answers (texts), prediction_text and,
    under Monte-Carlo dropout, its uncertainty (`qa.mc_span_uncertainty`) and exact match."""
    predictions = result.metrics.last.predictions
    golds = examples[args.answer_column_name] if args.answer_column_name in examples.column_names else None
    exact = exact_per_example(result.metrics) if golds is not None else {}
    rows = []
    for i, (example_id, question) in enumerate(zip(examples["id"], examples[args.question_column_name], strict=True)):
        row: dict[str, Any] = {"id": example_id, "question": question}
        row["answers"] = None if golds is None else list(golds[i]["text"])
        row["prediction_text"] = predictions[example_id]
        if result.uncertainty is not None:
            row.update(result.uncertainty[example_id])
            if example_id in exact:
                row["exact_match"] = exact[example_id]
        rows.append(row)
    return rows


def write_outputs(run, trainer, features: QAFeatures, metrics: dict[str, float], results) -> list[str]:
    """`predictions.json`, `nbest_predictions.json` (and `null_odds.json`), `predictions.jsonl` (and the test
    split's files with the prefix `test_`), and under MC `risk_coverage.png`."""
    out = Path(run.training_args.output_dir)
    args = run.data_args
    names = []
    for split, result in results.items():
        prefix = None if split == "validation" else "test"
        qa.write_postprocessed(result.metrics.last, out, prefix, null_odds=args.version_2_with_negative)
        jsonl = "predictions.jsonl" if prefix is None else f"{prefix}_predictions.jsonl"
        write_json_lines(out / jsonl, records(features.examples[split], result, args))
        names += [f"{prefix + '_' if prefix else ''}{n}.json" for n in ("predictions", "nbest_predictions")]
        names.append(jsonl)
        if split == "validation" and result.curve is not None:
            plot_risk_coverage(*result.curve, out / "risk_coverage.png", "exact match", "Answering the most confident")
            names.append("risk_coverage.png")
    return names
