"""Checks of the sequence-classification splits before training: bad data fails early, with a message that names
the file (or Hub split) and the lines or rows where the examples are."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict

from .arguments import BBC_NEWS, DataArguments
from .data import ROW_COLUMN, LabelInfo, _inner, _is_int_dtype, columns

_MAX_SHOWN = 10


def _shown(values: Iterable) -> str:
    values = sorted(set(values), key=str)
    more = f" (and {len(values) - _MAX_SHOWN} more)" if len(values) > _MAX_SHOWN else ""
    return f"{values[:_MAX_SHOWN]}{more}"


def _is_number(v: Any) -> bool:
    if isinstance(v, bool) or v is None:
        return False
    if isinstance(v, (int, float)):
        return not math.isnan(v)
    return False


def _origin(split: str, ds: Dataset) -> str:
    """The source split of a split's examples: "train" for a validation split held out from the training data."""
    return str(ds.split) if ds.split is not None else split


def _file(origin: str, args: DataArguments) -> str | None:
    if args.dataset_name is not None:
        return None
    return {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}[origin]


def _source(split: str, ds: Dataset, args: DataArguments) -> str:
    """Where the examples of a split come from, in the user's terms: a file, a Hub split or the BBC News corpus, and
    for a part held out for validation, that it was held out."""
    origin = _origin(split, ds)
    if args.dataset_name is None:
        where = f"the {origin} file {_file(origin, args)!r}"
    elif args.dataset_name == BBC_NEWS:
        where = "the BBC News corpus"
    else:
        where = f"split {origin!r} of {args.dataset_name!r}"
    return where if origin == split else f"{where} (in the part held out as the {split!r} split)"


def _rows(split: str, ds: Dataset, positions: list[int], args: DataArguments) -> str:
    """The rows at `positions` of a split, as the user finds them in its source: file lines for csv and jsonl files
    (a csv header is line 1), row numbers from 0 otherwise."""
    rows = ds[ROW_COLUMN] if ROW_COLUMN in ds.column_names else list(range(len(ds)))
    rows = sorted({rows[i] for i in positions})
    path = _file(_origin(split, ds), args)
    first = {".csv": 2, ".jsonl": 1}.get(os.path.splitext(path)[1].lower()) if path else None
    more = f" (and {len(rows) - _MAX_SHOWN} more)" if len(rows) > _MAX_SHOWN else ""
    if first is None:
        return f"row {', '.join(str(r) for r in rows[:_MAX_SHOWN])}{more} (counting from 0)"
    return f"line {', '.join(str(r + first) for r in rows[:_MAX_SHOWN])}{more}"


def check_datasets(raw: DatasetDict, args: DataArguments, label_info: LabelInfo) -> None:
    """Checks the raw splits before training, so that bad data fails early with a clear message.

    Messages name the source of the examples (the file, Hub split or corpus; for a held-out validation split, the
    training data) and the lines or rows where they are, from `ROW_COLUMN`.

    Args:
        raw (`datasets.DatasetDict`): The raw splits (from `load_raw_datasets`).
        args (`DataArguments`): The data arguments.
        label_info (`LabelInfo`): The label information (from `infer_label_info`).

    Raises:
        `ValueError`: If a split is empty or lacks a text, text-pair or label column; if a text column holds values
        that are not strings (or None); if a label is missing (None) or, for classification, not among the training
        labels (or a multi-hot vector has the wrong length or values other than 0/1); if a regression label is not a
        number; or if a single-label task has fewer than two classes.
    """
    text_columns = [c for c in (args.text_column, args.text_pair_column) if c is not None]
    for split, ds in raw.items():
        source = _source(split, ds, args)
        for col in [*text_columns, args.label_column]:
            if col not in ds.column_names:
                kind = "Label" if col == args.label_column else "Text"
                raise ValueError(
                    f"{kind} column {col!r} not found in split {split!r} ({source}); available columns: {columns(ds)}."
                )
        if len(ds) == 0:
            raise ValueError(f"Split {split!r} ({source}) is empty.")
        for col in text_columns:
            bad = [i for i, v in enumerate(ds[col]) if not isinstance(v, str)]
            if bad:
                raise ValueError(
                    f"Text column {col!r} has {len(bad)} value(s) that are not strings (e.g. empty or numbers) in "
                    f"{source}: {_rows(split, ds, bad, args)}; fix or drop them."
                )
        labels = ds[args.label_column]
        missing = [i for i, v in enumerate(labels) if v is None]
        if missing:
            raise ValueError(
                f"Label column {args.label_column!r} has {len(missing)} missing value(s) in {source}: "
                f"{_rows(split, ds, missing, args)}."
            )
        if label_info.problem_type == "regression":
            bad = [i for i, v in enumerate(labels) if not _is_number(v)]
            if bad:
                raise ValueError(
                    f"Regression needs numeric labels; column {args.label_column!r} has {len(bad)} non-numeric "
                    f"value(s) in {source}: {_shown(repr(labels[i]) for i in bad)}, {_rows(split, ds, bad, args)}."
                )
            continue
        if label_info.problem_type == "single_label_classification" and label_info.num_labels < 2:
            raise ValueError(
                f"Single-label classification needs at least two classes; the training labels have "
                f"{label_info.label_names}."
            )
        unknown = _unknown_labels(labels, ds.features[args.label_column], label_info)
        if unknown:
            raise ValueError(
                f"Label value(s) {_shown(v for _, v in unknown)} in {source} are not among the training labels "
                f"{_shown(label_info.label_names)}: {_rows(split, ds, [i for i, _ in unknown], args)}."
            )


def _unknown_labels(labels: list, feature: Any, label_info: LabelInfo) -> list[tuple[int, Any]]:
    """`(position, value)` of each label value that does not fit the training labels."""
    names = set(label_info.label_names)
    ids = set(range(label_info.num_labels))
    if label_info.problem_type == "single_label_classification":
        if isinstance(feature, ClassLabel) or _is_int_dtype(feature):
            return [(i, v) for i, v in enumerate(labels) if v not in ids]
        return [(i, v) for i, v in enumerate(labels) if str(v) not in names]
    inner = _inner(feature)
    if inner is None:
        return [(i, f"{v!r} (not a list)") for i, v in enumerate(labels)]
    if label_info.label_format == "multi_hot":
        return [
            (i, tuple(v))
            for i, v in enumerate(labels)
            if len(v) != label_info.num_labels or any(x not in (0, 1) for x in v)
        ]
    if isinstance(inner, ClassLabel) or _is_int_dtype(inner):
        return [(i, x) for i, v in enumerate(labels) for x in v if x not in ids]
    return [(i, x) for i, v in enumerate(labels) for x in v if str(x) not in names]
