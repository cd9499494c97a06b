"""Token classification in `scripts/train.py`: its splits from the data arguments, and its predictions file.

The reading, checks, tokenization and metrics are in `tokens`, `token_tags`, `token_align` and `token_metrics`; this
module puts them together the way the script's arguments ask.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import datasets
import numpy as np
from datasets import Dataset, DatasetDict

from .arguments import WNUT16, DataArguments
from .token_align import token_prediction_records
from .token_tags import TagInfo
from .tokens import (
    FILE_COLUMN,
    LINE_COLUMN,
    ROW_COLUMN,
    TAGS_COLUMN,
    TOKENS_COLUMN,
    read_token_file,
    split_token_dataset,
    wnut16_splits,
)

__all__ = ["load_token_datasets", "token_records"]


def _from_hub(args: DataArguments) -> DatasetDict:
    """A Hub dataset's splits with the word and tag columns named `tokens` and `tags`, and source rows."""
    loaded = datasets.load_dataset(args.dataset_name, args.dataset_config_name)
    out = {}
    for split, ds in loaded.items():
        for column in (args.tokens_column, args.tags_column):
            if column not in ds.column_names:
                raise ValueError(
                    f"Column {column!r} not found in split {split!r} of {args.dataset_name!r}; columns: "
                    f"{ds.column_names}. Set tokens_column / tags_column."
                )
        names = {args.tokens_column: TOKENS_COLUMN, args.tags_column: TAGS_COLUMN}
        ds = ds.rename_columns({old: new for old, new in names.items() if old != new})
        ds = ds.add_column(FILE_COLUMN, [None] * len(ds)).add_column(LINE_COLUMN, [None] * len(ds))
        out[split] = ds.add_column(ROW_COLUMN, list(range(len(ds))))
    return DatasetDict(out)


def _select(ds: Dataset, n: int | None, seed: int) -> Dataset:
    """At most `n` examples, a seeded selection kept in source order."""
    if n is None or n >= len(ds):
        return ds
    return ds.select(sorted(random.Random(seed).sample(range(len(ds)), n)))


def load_token_datasets(args: DataArguments) -> DatasetDict:
    """The splits "train", "validation" (and "test" when given) of a token classification run.

    From `dataset_name="wnut16"` (the built-in WNUT-16 data, a fixed seeded split), local files (`read_token_file`:
    CoNLL-style text, jsonl, json, parquet), or a Hub dataset. Without a validation split, a fixed, seeded part of the
    training data (`validation_fraction`, `split_seed`) is held out. `max_train_samples` and `max_eval_samples`
    select seeded subsets (kept in source order).

    Raises:
        `ValueError`: a bad file or example (naming the file and line), or missing columns.
    """
    if args.dataset_name == WNUT16:
        raw = wnut16_splits(validation_fraction=args.validation_fraction, seed=args.split_seed)
    elif args.dataset_name is not None:
        raw = _from_hub(args)
    else:
        read = {"tokens_column": args.tokens_column, "tags_column": args.tags_column}
        raw = {"train": read_token_file(args.train_file, **read)}
        if args.validation_file is not None:
            raw["validation"] = read_token_file(args.validation_file, **read)
        if args.test_file is not None:
            raw["test"] = read_token_file(args.test_file, **read)
        raw = DatasetDict(raw)
    if "validation" not in raw:
        held_out = split_token_dataset(
            raw["train"], validation_fraction=args.validation_fraction, seed=args.split_seed
        )
        raw = DatasetDict({**raw, **held_out})
    raw["train"] = _select(raw["train"], args.max_train_samples, args.split_seed)
    raw["validation"] = _select(raw["validation"], args.max_eval_samples, args.split_seed)
    return DatasetDict({split: raw[split] for split in ("train", "validation", "test") if split in raw})


def token_records(
    dataset: Dataset,
    word_ids: list[list[int | None]],
    predictions: Any,
    tag_info: TagInfo,
    uncertainty: Mapping[str, np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """The records of `predictions.jsonl` for token classification: per example the words with the predicted tag,
    and with a Monte-Carlo evaluation (`uncertainty`, `MSDTrainer.mc_uncertainty`) the entropy of each word (its first
    sub-token's) and the example's score, the mean entropy over its words (`entropy_mean`)."""
    entropy = scores = None
    if uncertainty:
        entropy, scores = uncertainty.get("entropy"), uncertainty.get("entropy_mean")
    return token_prediction_records(dataset, word_ids, predictions, tag_info, entropy=entropy, sequence_scores=scores)
