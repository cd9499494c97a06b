"""The per-example predictions of a Monte-Carlo evaluation as JSON lines: `predictions.jsonl` beside a checkpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from transformers.trainer_utils import PredictionOutput

from .data import ROW_COLUMN, LabelInfo

#: Columns read as the example id, in this order; without one, the id is the example's row in its source file.
ID_COLUMNS: tuple[str, ...] = ("id", "idx", "guid")


def _label_set(names: list[str], row: np.ndarray) -> list[str]:
    return [name for name, on in zip(names, row > 0.5, strict=True) if on]


def example_ids(dataset: Dataset) -> list[Any]:
    """The id of each example that a user can join back to the data: the data's own id column (`id`, `idx` or
    `guid`) when it has one, else the example's row in its source file (from 0: the first data row of a csv or jsonl
    file is 0; for a validation part held out of the training file, the row in the training file)."""
    id_column = next((c for c in ID_COLUMNS if c in dataset.column_names), None)
    if id_column is not None:
        return dataset[id_column]
    return dataset[ROW_COLUMN] if ROW_COLUMN in dataset.column_names else list(range(len(dataset)))


def prediction_records(
    prediction: PredictionOutput,
    uncertainty: Mapping[str, np.ndarray],
    dataset: Dataset,
    label_info: LabelInfo,
    text_columns: tuple[str, ...] = ("text",),
) -> list[dict[str, Any]]:
    """One record per example of a Monte-Carlo prediction of [`MSDTrainer`] (`msd_eval_samples > 0`).

    Single-label: `{"id", "text", "label", "prediction", "probabilities": {name: p}, "entropy",
    "mutual_information"}`, the prediction the argmax of the mean probabilities. Multi-label: `label` and
    `prediction` are lists of names (mean probability > 0.5), and `entropy` and `mutual_information` dicts per label.
    Regression: `{"id", "text", "label", "prediction", "std"}`, the prediction the mean of the samples (lists for
    several outputs). `label` is `None` where the split has no labels; `id` as [`example_ids`].

    Args:
        prediction (`PredictionOutput`): `trainer.predict(dataset)` with Monte-Carlo dropout on.
        uncertainty (`Mapping[str, np.ndarray]`): `trainer.mc_uncertainty` after that prediction.
        dataset (`Dataset`): The split as read, before tokenization (for the ids and texts), in the order predicted.
        label_info (`LabelInfo`): The problem type and the label names.
        text_columns (`tuple[str, ...]`, *optional*): The text column(s) to copy into the records.

    Returns:
        `list[dict]`: JSON-serialisable records, in dataset order.

    Raises:
        `ValueError`: no uncertainty (not a Monte-Carlo prediction), or a number of predictions other than the
        dataset's.
    """
    p = uncertainty
    if not p:
        raise ValueError("prediction_records takes MSDTrainer's Monte-Carlo prediction (msd_eval_samples > 0).")
    n = len(prediction.predictions)
    if n != len(dataset):
        raise ValueError(f"{n} predictions for a dataset of {len(dataset)} examples.")
    ids = example_ids(dataset)
    texts = {c: dataset[c] for c in text_columns if c and c in dataset.column_names}
    labels = prediction.label_ids
    names = label_info.label_names
    records = []
    for i in range(n):
        record: dict[str, Any] = {"id": ids[i], **{c: v[i] for c, v in texts.items()}}
        if label_info.problem_type == "regression":
            mean, std = p["mean"][i], p["std"][i]  # (C,)
            record["label"] = None if labels is None else np.asarray(labels[i]).tolist()
            record["prediction"] = mean[0].item() if len(mean) == 1 else mean.tolist()
            record["std"] = std[0].item() if len(std) == 1 else std.tolist()
        elif label_info.problem_type == "single_label_classification":
            probs = p["probs"][i]
            record["label"] = None if labels is None else names[int(labels[i])]
            record["prediction"] = names[int(probs.argmax())]
            record["probabilities"] = {name: float(v) for name, v in zip(names, probs, strict=True)}
            record["entropy"] = float(p["entropy"][i])
            record["mutual_information"] = float(p["mutual_information"][i])
        else:
            probs = p["probs"][i]
            record["label"] = None if labels is None else _label_set(names, np.asarray(labels[i]))
            record["prediction"] = _label_set(names, probs)
            record["probabilities"] = {name: float(v) for name, v in zip(names, probs, strict=True)}
            record["entropy"] = {name: float(v) for name, v in zip(names, p["entropy"][i], strict=True)}
            record["mutual_information"] = {
                name: float(v) for name, v in zip(names, p["mutual_information"][i], strict=True)
            }
        records.append(record)
    return records


def write_predictions(path: str | Path, records: list[dict[str, Any]]) -> Path:
    """Write records (of [`prediction_records`], or token-level ones) as JSON lines to `path`; returns the path."""
    path = Path(path)
    lines = (json.dumps(r, default=lambda v: v.item()) for r in records)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path
