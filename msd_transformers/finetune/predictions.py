"""The per-example predictions of a Monte-Carlo evaluation as JSON lines: `predictions.jsonl` beside a checkpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from transformers.trainer_utils import PredictionOutput

from .data import LabelInfo

#: Columns read as the example id, in this order; without one, the id is the row number in the split.
ID_COLUMNS: tuple[str, ...] = ("id", "idx", "guid")


def _label_set(names: list[str], row: np.ndarray) -> list[str]:
    return [name for name, on in zip(names, row > 0.5, strict=True) if on]


def prediction_records(prediction: PredictionOutput, dataset: Dataset, label_info: LabelInfo) -> list[dict[str, Any]]:
    """One record per example of a Monte-Carlo prediction of [`MSDTrainer`] (`msd_eval_samples > 0`).

    Single-label: `{"id", "label", "prediction", "probabilities": {name: p}, "entropy", "mutual_information"}`, the
    prediction the argmax of the mean probabilities. Multi-label: `label` and `prediction` are lists of names (mean
    probability > 0.5), and `entropy` and `mutual_information` dicts per label. Regression: `{"id", "label",
    "prediction", "std"}`, the prediction the mean of the samples (lists for several outputs). `label` is `None`
    where the split has no labels.

    Args:
        prediction (`PredictionOutput`): `trainer.predict(dataset)` with Monte-Carlo dropout on.
        dataset (`Dataset`): The split as read, before tokenization (for the ids), in the order predicted.
        label_info (`LabelInfo`): The problem type and the label names.

    Returns:
        `list[dict]`: JSON-serialisable records, in dataset order.

    Raises:
        `ValueError`: the predictions are not Monte-Carlo ones (a dict), or their number differs from the dataset's.
    """
    p = prediction.predictions
    if not isinstance(p, Mapping):
        raise ValueError("prediction_records takes the predictions of MSDTrainer with msd_eval_samples > 0 (a dict).")
    n = len(p["logits"])
    if n != len(dataset):
        raise ValueError(f"{n} predictions for a dataset of {len(dataset)} examples.")
    id_column = next((c for c in ID_COLUMNS if c in dataset.column_names), None)
    ids = dataset[id_column] if id_column else list(range(n))
    labels = prediction.label_ids
    names = label_info.label_names
    records = []
    for i in range(n):
        record: dict[str, Any] = {"id": ids[i]}
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


def write_predictions(path: str | Path, prediction: PredictionOutput, dataset: Dataset, label_info: LabelInfo) -> Path:
    """Write [`prediction_records`] as JSON lines to `path`; returns the path."""
    path = Path(path)
    lines = (json.dumps(r, default=lambda v: v.item()) for r in prediction_records(prediction, dataset, label_info))
    path.write_text("".join(f"{line}\n" for line in lines))
    return path
