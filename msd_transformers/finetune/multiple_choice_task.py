"""`task: multiple-choice` in `scripts/train.py`, as Transformers' `run_swag.py`: the SWAG format (`sent1`, `sent2`,
`ending0..3`, `label`: the number of choices fixed by `ending_names`; the Hub's `swag` / `regular` or local
csv/json/jsonl/parquet), or a general form (a question column, `context_name`, and a list-of-choices column,
`choices_column`) with any number of choices per example, at least 2 (2 for PIQA-style, 5 for CommonsenseQA-style,
mixed in one file). Each batch is padded to its largest number of choices ([`ChoiceCollator`]: a `choice_mask`, the
padded choices left out of the loss, the predictions and the uncertainty by `MSDTrainer`) and its choices' tokens to
the longest (or to `max_seq_length` with `pad_to_max_length`). Metric: accuracy; with `msd_eval_samples` the
Monte-Carlo distribution over each example's choices, its entropy and mutual information, the ECE of the top choice
and the coverage-accuracy curve.

Writes beside the checkpoint `predictions.jsonl` (per example: id, label, prediction, the probability of each of its
choices and under MC its uncertainty) and, under MC, `risk_coverage.png`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import accumulate, chain
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

__all__ = [
    "ChoiceCollator",
    "choice_counts",
    "choice_pairs",
    "choice_probabilities",
    "load_datasets",
    "preprocess_choices",
]


# ------------------------------------------------------------------------------------------------------- data


def load_datasets(args) -> DatasetDict:
    """The splits "train", "validation" (and "test") of a multiple-choice run, read and checked: a Hub dataset
    (`dataset_name`, e.g. `swag` with `dataset_config_name: regular`) or local files; without a validation split a
    seeded `validation_fraction` is held out. `max_train_samples` / `max_eval_samples` keep the first examples (as
    `run_swag.py`). Each example keeps its row in its source (`id` in `predictions.jsonl` without an id column).

    Raises:
        `ValueError`: a missing column, an example without its choices (general form: not a list of at least 2, or a
            null choice; SWAG: an empty ending), or a label that is not an integer index of the example's choices.
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
    for split in ("train", "validation", "test"):
        if split in raw:
            _check_split(raw[split], split, sources[split], args)
    if "validation" not in raw:
        held_out = raw["train"].train_test_split(test_size=args.validation_fraction, seed=args.split_seed)
        raw = DatasetDict({**raw, "train": held_out["train"], "validation": held_out["test"]})
    limits = {"train": args.max_train_samples, "validation": args.max_eval_samples}
    for split, n in limits.items():
        if n is not None and n < len(raw[split]):
            raw[split] = raw[split].select(range(n))
    return DatasetDict({split: raw[split] for split in ("train", "validation", "test") if split in raw})


def _check_split(ds: Dataset, split: str, source: str, args) -> None:
    """The columns of the format are there, every example has its choices (general form: a list of at least 2, none
    null; SWAG: a text in each of the `ending_names`) and a label in range of its own choices (for the splits that
    have labels)."""
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
    where = f"({split}, {source})"
    if general:
        for example_id, choices in zip(ids, ds[args.choices_column], strict=True):
            problem = _choices_problem(choices)
            if problem is not None:
                raise ValueError(
                    f"Example {example_id!r} {where} has {problem} in {args.choices_column!r}: each example needs a "
                    "list of at least 2 choices (any number per example)."
                )
    else:
        for name in args.ending_names:
            for example_id, ending in zip(ids, ds[name], strict=True):
                if ending is None:
                    raise ValueError(
                        f"Example {example_id!r} {where} has no {name!r}: the SWAG format fixes "
                        f"{len(args.ending_names)} choices per example (ending_names {args.ending_names})."
                    )
    if args.label_column in ds.column_names:
        counts = choice_counts(ds, args)
        for example_id, label, count in zip(ids, ds[args.label_column], counts, strict=True):
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < count:
                raise ValueError(
                    f"Example {example_id!r} {where}: label {label!r} is not a choice index in [0, {count}) (its "
                    f"{count} choices)."
                )


def _choices_problem(choices: Any) -> str | None:
    """What is wrong with an example's list of choices (general form), or `None`."""
    if not isinstance(choices, list):
        return f"no list of choices ({choices!r})"
    if len(choices) < 2:
        return f"{len(choices)} choice(s)"
    if any(c is None for c in choices):
        return f"a null choice ({choices!r})"
    return None


def choice_counts(ds: Dataset, args) -> np.ndarray:
    """The number of choices of each example of `ds` (as read): the length of its list in `choices_column`, or the
    number of `ending_names` (SWAG)."""
    if args.choices_column is not None:
        return np.array([len(c) for c in ds[args.choices_column]], dtype=np.int64)
    return np.full(len(ds), len(args.ending_names), dtype=np.int64)


def choice_pairs(examples: dict[str, list], args) -> tuple[list[str], list[str], list[int]]:
    """The (first, second) text of every choice of a batch, flattened example after example, and the number of
    choices of each example: SWAG's `(sent1, f"{sent2} {ending_i}")` as `run_swag.py`, or `(question, choice)` in the
    general form (any number per example)."""
    contexts = examples[args.context_name]
    if args.choices_column is not None:
        choices = examples[args.choices_column]
        counts = [len(row) for row in choices]
        first = [c for c, n in zip(contexts, counts, strict=True) for _ in range(n)]
        return first, [str(x) for row in choices for x in row], counts
    n = len(args.ending_names)
    headers = examples[args.question_header_name]
    second = [[f"{header} {examples[end][i]}" for end in args.ending_names] for i, header in enumerate(headers)]
    return list(chain(*[[c] * n for c in contexts])), list(chain(*second)), [n] * len(contexts)


def preprocess_choices(examples: dict[str, list], tokenizer, args, max_seq_length: int) -> dict[str, list]:
    """`run_swag.py`'s `preprocess_function`: every choice tokenized with its context (truncated to `max_seq_length`,
    padded to it with `pad_to_max_length`), regrouped per example (`(n_i, T)` per field, n_i the example's number of
    choices)."""
    first, second, counts = choice_pairs(examples, args)
    tokenized = tokenizer(
        first,
        second,
        truncation=True,
        max_length=max_seq_length,
        padding="max_length" if args.pad_to_max_length else False,
    )
    ends = list(accumulate(counts))
    return {k: [v[end - n : end] for n, end in zip(counts, ends, strict=True)] for k, v in tokenized.items()}


def load_tokenizer(script, run):
    return script.load_tokenizer(run)


@dataclass
class ChoiceFeatures:
    """The tokenized splits (the model's inputs, with `label`), the splits as read and the number of choices of each
    example per split."""

    tokenized: dict[str, Dataset]
    examples: dict[str, Dataset]
    counts: dict[str, np.ndarray]


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
    counts = {split: choice_counts(ds, args) for split, ds in run.raw.items()}
    return ChoiceFeatures(tokenized, dict(run.raw), counts)


# ------------------------------------------------------------------------------------------ trainer and metrics


@dataclass
class ChoiceCollator:
    """`DataCollatorForMultipleChoice` for examples with any number of choices: each batch is padded to its largest
    number of choices, then every choice's tokens to the longest (`tokenizer.pad`), and gets a `choice_mask` `(B, C)`
    (`msd_transformers.tasks.CHOICE_MASK`: 1 at the real choices), which `MSDTrainer` takes out of the batch and
    applies: the padded choices count in no loss, prediction or uncertainty.

    A padded choice repeats its example's first choice (its tokens and attention mask) rather than being all padding:
    a row of the encoder with no real token gives NaN in some families (ModernBERT's mean pooling divides by its 0
    tokens), and a NaN would reach the gradients through the masked logit. Its logit is masked whatever it is.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): Pads the tokens (its padding side and pad token).
        pad_to_multiple_of (`int`, *optional*): Pad the tokens to a multiple of this.

    Returns (on call, a list of tokenized examples, each field `(n_i, T_ij)`, with `label` or `labels` or neither):
        `dict[str, torch.Tensor]`: each token field `(B, C, T)`, `labels` `(B,)` when the examples have labels, and
        `choice_mask` `(B, C)` (bool).
    """

    tokenizer: Any
    pad_to_multiple_of: int | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from ..tasks import CHOICE_MASK

        label_name = next((name for name in ("label", "labels") if name in examples[0]), None)
        counts = [len(example["input_ids"]) for example in examples]
        width = max(counts)
        flat = [
            {k: v[i if i < n else 0] for k, v in example.items() if k != label_name}
            for example, n in zip(examples, counts, strict=True)
            for i in range(width)
        ]  # B * C rows, each example's padded choices repeating its first
        batch = self.tokenizer.pad(flat, padding=True, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")
        batch = {k: v.view(len(examples), width, -1) for k, v in batch.items()}  # (B * C, T) -> (B, C, T)
        if label_name is not None:
            batch["labels"] = torch.tensor([example[label_name] for example in examples], dtype=torch.int64)
        batch[CHOICE_MASK] = torch.arange(width) < torch.tensor(counts).unsqueeze(1)  # (B, C)
        return batch


def choice_probabilities(logits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The softmax of each example's logits over its real choices, its first `counts[i]` (float64), 0 at the others:
    `(n, C)`. The Trainer's predictions hold each example's real choices first, then the padding of its batch (the
    dtype's lowest value) or of the concatenation of batches with fewer choices (-100): neither counts."""
    logits = np.asarray(logits, dtype=np.float64)
    real = np.arange(logits.shape[1]) < np.asarray(counts)[:, None]  # (n, C)
    shifted = np.where(real, logits - np.where(real, logits, -np.inf).max(1, keepdims=True), -np.inf)
    exp = np.exp(shifted)
    return exp / exp.sum(1, keepdims=True)


def accuracy_of(counts: np.ndarray):
    """`run_swag.py`'s metric, the share of examples whose highest-scoring choice is the label, over each example's
    real choices (`counts`: the number of choices of each example of the evaluated split, in order)."""

    def accuracy(eval_prediction) -> dict[str, float]:
        predictions = choice_probabilities(eval_prediction.predictions, counts).argmax(1)
        return {"accuracy": float((predictions == eval_prediction.label_ids).astype(np.float32).mean().item())}

    return accuracy


def build_trainer(script, run, model, tokenizer, features: ChoiceFeatures):
    """`MSDTrainer` with [`ChoiceCollator`] (choices padded per batch; the tokens padded to the longest as
    `run_swag.py`'s `DataCollatorForMultipleChoice`, to a multiple of 8 under fp16, or already to `max_seq_length`)
    and accuracy; the best model by accuracy."""
    import msd_transformers as msd

    training_args = run.training_args
    default_best_metric(training_args, "accuracy")
    multiple = 8 if training_args.fp16 and not run.data_args.pad_to_max_length else None
    return msd.MSDTrainer(
        model=model,
        args=training_args,
        train_dataset=features.tokenized["train"],
        eval_dataset=features.tokenized["validation"],
        processing_class=tokenizer,
        data_collator=ChoiceCollator(tokenizer, pad_to_multiple_of=multiple),
        compute_metrics=accuracy_of(features.counts["validation"]),
    )


@dataclass
class ChoiceResult:
    """The final prediction of a split: the probabilities per choice (0 past an example's own), the number of
    choices of each example, the labels, the MC uncertainty and curve."""

    probs: np.ndarray  # (n, C)
    counts: np.ndarray  # (n,)
    labels: np.ndarray | None
    uncertainty: dict[str, np.ndarray] | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None


def _predict(run, trainer, features: ChoiceFeatures, split: str, prefix: str, metrics: dict) -> ChoiceResult:
    ds, counts = features.tokenized[split], features.counts[split]
    trainer.compute_metrics = accuracy_of(counts) if "label" in ds.column_names else None
    prediction = trainer.predict(ds, metric_key_prefix=prefix)
    # The MC predictions are log mean probabilities: their softmax is the MC predictive distribution.
    probs = choice_probabilities(prediction.predictions, counts)
    labels = None if prediction.label_ids is None else np.asarray(prediction.label_ids)
    result = ChoiceResult(probs, counts, labels)
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
    each of its choices (MC predictive under Monte-Carlo dropout, else the softmax; as many as it has) and under MC
    `entropy` and `mutual_information` (nats) of the distribution over its choices."""
    ids = example_ids(examples)
    rows = []
    for i, example_id in enumerate(ids):
        row: dict[str, Any] = {"id": example_id}
        row["label"] = None if result.labels is None else int(result.labels[i])
        row["prediction"] = int(result.probs[i].argmax())
        row["probabilities"] = [float(p) for p in result.probs[i, : result.counts[i]]]
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
