"""`task: multiple-choice` in `scripts/train.py`, as Transformers' `run_swag.py`: the SWAG format (`sent1`, `sent2`,
`ending0..3`, `label`; the Hub's `swag` / `regular` or local csv/json/jsonl/parquet), or a general form (a question
column, `context_name`, and a list-of-choices column, `choices_column`, with one number of choices in the data: 2 for
PIQA-style, 5 for CommonsenseQA-style); the choices' tokens padded per batch (`DataCollatorForMultipleChoice`) unless
`pad_to_max_length`. Metric: accuracy; with `msd_eval_samples` the Monte-Carlo distribution over the choices per
example, its entropy and mutual information, the ECE of the top choice and the coverage-accuracy curve.

Writes beside the checkpoint `predictions.jsonl` (per example: id, label, prediction, the probability of each choice
and under MC its uncertainty) and, under MC, `risk_coverage.png`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from datasets import Dataset, DatasetDict

from .data import _load_file, _with_rows
from .predictions import example_ids
from .task_runner import confidence_metrics, default_best_metric, log_metrics, plot_risk_coverage, write_json_lines

logger = logging.getLogger("train")

PROBLEM_TYPE = "multiple_choice"
#: `max_seq_length` when not set: the tokenizer's maximum, at most this (as `run_swag.py`).
MAX_SEQ_LENGTH_CAP = 1024

__all__ = ["choice_pairs", "load_datasets", "preprocess_choices"]


# ------------------------------------------------------------------------------------------------------- data


def load_datasets(args) -> DatasetDict:
    """The splits "train", "validation" (and "test") of a multiple-choice run, read and checked: a Hub dataset
    (`dataset_name`, e.g. `swag` with `dataset_config_name: regular`) or local files; without a validation split a
    seeded `validation_fraction` is held out. `max_train_samples` / `max_eval_samples` keep the first examples (as
    `run_swag.py`). Each example keeps its row in its source (`id` in `predictions.jsonl` without an id column).

    Raises:
        `ValueError`: a missing column, a label out of range or not an integer, or (general form) an example with
            another number of choices than the data's.
    """
    bars = not datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()  # a bad file stops the run with one line, not progress bars before it
    try:
        if args.dataset_name is not None:
            raw = datasets.load_dataset(args.dataset_name, args.dataset_config_name)
            sources = {split: f"{args.dataset_name!r} split {split!r}" for split in raw}
        else:
            files = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
            files = {split: path for split, path in files.items() if path is not None}
            raw = DatasetDict({split: _load_file(split, path) for split, path in files.items()})
            sources = {split: repr(path) for split, path in files.items()}
    finally:
        if bars:
            datasets.utils.enable_progress_bars()
    raw = DatasetDict({split: _with_rows(ds) for split, ds in raw.items()})
    num_choices = None
    for split in ("train", "validation", "test"):
        if split in raw:
            num_choices = _check_split(raw[split], split, sources[split], args, num_choices)
    if "validation" not in raw:
        held_out = raw["train"].train_test_split(test_size=args.validation_fraction, seed=args.split_seed)
        raw = DatasetDict({**raw, "train": held_out["train"], "validation": held_out["test"]})
    limits = {"train": args.max_train_samples, "validation": args.max_eval_samples}
    for split, n in limits.items():
        if n is not None and n < len(raw[split]):
            raw[split] = raw[split].select(range(n))
    return DatasetDict({split: raw[split] for split in ("train", "validation", "test") if split in raw})


def _check_split(ds: Dataset, split: str, source: str, args, num_choices: int | None) -> int:
    """The columns of the format are there, every example has the data's number of choices (general form) and a
    label in range (for the splits that have labels); returns the number of choices."""
    general = args.choices_column is not None
    needed = [args.context_name] + (
        [args.choices_column] if general else [args.question_header_name, *args.ending_names]
    )
    if split != "test" or args.label_column in ds.column_names:
        needed.append(args.label_column)
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        what = "choices_column" if general else "ending_names / context_name / question_header_name"
        raise ValueError(
            f"Column(s) {missing} not found in the {split} data ({source}); columns: {ds.column_names}. Set {what} "
            "(and label_column)."
        )
    ids = example_ids(ds)
    if general:
        counts = [len(c) if isinstance(c, list) else -1 for c in ds[args.choices_column]]
        num_choices = num_choices or counts[0]
        for example_id, count in zip(ids, counts, strict=True):
            if count != num_choices or count < 2:
                raise ValueError(
                    f"Example {example_id!r} ({split}, {source}) has {count if count >= 0 else 'no list of'} choices "
                    f"in {args.choices_column!r}, the data {num_choices}: every example needs the same number (>= 2)."
                )
    else:
        num_choices = len(args.ending_names)
    if args.label_column in ds.column_names:
        for example_id, label in zip(ids, ds[args.label_column], strict=True):
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_choices:
                raise ValueError(
                    f"Example {example_id!r} ({split}, {source}): label {label!r} is not a choice index in [0, "
                    f"{num_choices})."
                )
    return num_choices


def choice_pairs(examples: dict[str, list], args) -> tuple[list[str], list[str], int]:
    """The (first, second) text of every choice of a batch, flattened example after example, and the number of
    choices: SWAG's `(sent1, f"{sent2} {ending_i}")` as `run_swag.py`, or `(question, choice)` in the general
    form."""
    contexts = examples[args.context_name]
    if args.choices_column is not None:
        choices = examples[args.choices_column]
        n = len(choices[0])
        return [c for c in contexts for _ in range(n)], [str(x) for row in choices for x in row], n
    n = len(args.ending_names)
    headers = examples[args.question_header_name]
    second = [[f"{header} {examples[end][i]}" for end in args.ending_names] for i, header in enumerate(headers)]
    return list(chain(*[[c] * n for c in contexts])), list(chain(*second)), n


def preprocess_choices(examples: dict[str, list], tokenizer, args, max_seq_length: int) -> dict[str, list]:
    """`run_swag.py`'s `preprocess_function`: every choice tokenized with its context (truncated to `max_seq_length`,
    padded to it with `pad_to_max_length`), regrouped per example (`(n, T)` per field)."""
    first, second, n = choice_pairs(examples, args)
    tokenized = tokenizer(
        first,
        second,
        truncation=True,
        max_length=max_seq_length,
        padding="max_length" if args.pad_to_max_length else False,
    )
    return {k: [v[i : i + n] for i in range(0, len(v), n)] for k, v in tokenized.items()}


def load_tokenizer(script, run):
    return script.load_tokenizer(run)


@dataclass
class ChoiceFeatures:
    """The tokenized splits (the model's inputs, with `label`) and the splits as read."""

    tokenized: dict[str, Dataset]
    examples: dict[str, Dataset]


def prepare_features(run, tokenizer) -> ChoiceFeatures:
    args = run.data_args
    max_seq_length = args.max_seq_length
    if max_seq_length is None:
        max_seq_length = min(tokenizer.model_max_length, MAX_SEQ_LENGTH_CAP)
    elif max_seq_length > tokenizer.model_max_length:
        logger.warning(
            "max_seq_length %d exceeds the tokenizer's maximum %d.", max_seq_length, tokenizer.model_max_length
        )
        max_seq_length = tokenizer.model_max_length
    tokenized = {}
    with run.training_args.main_process_first(desc="multiple-choice features"):
        for split, ds in run.raw.items():
            keep = [args.label_column] if args.label_column in ds.column_names else []
            tokenized[split] = ds.map(
                preprocess_choices, batched=True, remove_columns=[c for c in ds.column_names if c not in keep],
                fn_kwargs={"tokenizer": tokenizer, "args": args, "max_seq_length": max_seq_length},
                num_proc=args.preprocessing_num_workers, desc=f"{split} choices",
            )  # fmt: skip
            if keep and args.label_column != "label":
                tokenized[split] = tokenized[split].rename_column(args.label_column, "label")
    return ChoiceFeatures(tokenized, dict(run.raw))


# ------------------------------------------------------------------------------------------ trainer and metrics


def accuracy(eval_prediction) -> dict[str, float]:
    """`run_swag.py`'s metric: the share of examples whose highest-scoring choice is the label."""
    predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
    return {"accuracy": float((np.argmax(predictions, axis=1) == labels).astype(np.float32).mean().item())}


def build_trainer(script, run, model, tokenizer, features: ChoiceFeatures):
    """`MSDTrainer` with `run_swag.py`'s collator (`DataCollatorForMultipleChoice`, or none when padded to
    `max_seq_length`) and accuracy; the best model by accuracy."""
    from transformers import DataCollatorForMultipleChoice, default_data_collator

    import msd_transformers as msd

    training_args = run.training_args
    default_best_metric(training_args, "accuracy")
    if run.data_args.pad_to_max_length:
        collator = default_data_collator
    else:
        collator = DataCollatorForMultipleChoice(tokenizer, pad_to_multiple_of=8 if training_args.fp16 else None)
    return msd.MSDTrainer(
        model=model,
        args=training_args,
        train_dataset=features.tokenized["train"],
        eval_dataset=features.tokenized["validation"],
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=accuracy,
    )


@dataclass
class ChoiceResult:
    """The final prediction of a split: the probabilities per choice, the labels, the MC uncertainty and curve."""

    probs: np.ndarray  # (n, C)
    labels: np.ndarray | None
    uncertainty: dict[str, np.ndarray] | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None


def _predict(run, trainer, features: ChoiceFeatures, split: str, prefix: str, metrics: dict) -> ChoiceResult:
    import torch

    ds = features.tokenized[split]
    trainer.compute_metrics = accuracy if "label" in ds.column_names else None
    prediction = trainer.predict(ds, metric_key_prefix=prefix)
    # The MC predictions are log mean probabilities: their softmax is the MC predictive distribution.
    probs = torch.softmax(torch.as_tensor(prediction.predictions, dtype=torch.float64), dim=-1).numpy()
    labels = None if prediction.label_ids is None else np.asarray(prediction.label_ids)
    result = ChoiceResult(probs, labels)
    split_metrics = dict(prediction.metrics)
    if trainer.mc_uncertainty:
        result.uncertainty = trainer.mc_uncertainty
        if labels is not None:
            correct = probs.argmax(1) == labels
            extra, result.curve = confidence_metrics(probs.max(1), correct, prefix, "accuracy")
            split_metrics.update(extra)
    log_metrics(trainer, split_metrics)
    metrics.update(split_metrics)
    return result


def evaluate(run, trainer, features: ChoiceFeatures, metrics: dict[str, float]) -> dict[str, ChoiceResult]:
    """The final prediction of the validation (and test) split: accuracy, and under Monte-Carlo dropout the ECE of
    the top choice (`eval_ece`), `eval_aurc` and `eval_accuracy_at_coverage_*`."""
    results = {"validation": _predict(run, trainer, features, "validation", "eval", metrics)}
    if "test" in features.tokenized:
        results["test"] = _predict(run, trainer, features, "test", "test", metrics)
    return results


def records(examples: Dataset, result: ChoiceResult) -> list[dict[str, Any]]:
    """The rows of `predictions.jsonl`: per example its id, label, prediction (choice indices), the probability of
    each choice (MC predictive under Monte-Carlo dropout, else the softmax) and under MC `entropy` and
    `mutual_information` (nats) of the distribution over the choices."""
    ids = example_ids(examples)
    rows = []
    for i, example_id in enumerate(ids):
        row: dict[str, Any] = {"id": example_id}
        row["label"] = None if result.labels is None else int(result.labels[i])
        row["prediction"] = int(result.probs[i].argmax())
        row["probabilities"] = [float(p) for p in result.probs[i]]
        if result.uncertainty is not None:
            row["entropy"] = float(result.uncertainty["entropy"][i])
            row["mutual_information"] = float(result.uncertainty["mutual_information"][i])
        rows.append(row)
    return rows


def write_outputs(run, trainer, features: ChoiceFeatures, metrics: dict[str, float], results) -> list[str]:
    out = Path(run.training_args.output_dir)
    names = []
    for split, result in results.items():
        name = "predictions.jsonl" if split == "validation" else "test_predictions.jsonl"
        write_json_lines(out / name, records(features.examples[split], result))
        names.append(name)
        if split == "validation" and result.curve is not None:
            plot_risk_coverage(*result.curve, out / "risk_coverage.png", "accuracy", "Answering the most confident")
            names.append("risk_coverage.png")
    return names
