"""The tags of a token classification task: their names and scheme (`infer_tag_info`), and the checks of every split
against them (`check_token_datasets`). Errors name the file and line (or row) where a bad tag first occurs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datasets import ClassLabel, Dataset, Value

from .token_metrics import OUTSIDE, SCHEMES, _tag_error, split_tag, to_iob2
from .tokens import FILE_COLUMN, LINE_COLUMN, ROW_COLUMN, TAGS_COLUMN, TOKENS_COLUMN, _check_example, _column, _places

__all__ = ["TagInfo", "infer_tag_info", "check_token_datasets"]

_MAX_SHOWN = 10


@dataclass
class TagInfo:
    """The tags of a token classification task.

    Args:
        label_names (`list[str]`): The tag names in id order.
        scheme (`str`, *optional*): The tag scheme (one of `SCHEMES`); `None` when entity metrics are not asked for.
    """

    label_names: list[str]
    scheme: str | None = None

    @property
    def id2label(self) -> dict[int, str]:
        """`{id: name}` for the model config."""
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        """`{name: id}` for the model config."""
        return {name: i for i, name in enumerate(self.label_names)}


def _tag_feature(ds: Dataset, split: str) -> Any:
    if TAGS_COLUMN not in ds.column_names or TOKENS_COLUMN not in ds.column_names:
        columns = [c for c in ds.column_names if c not in (FILE_COLUMN, LINE_COLUMN, ROW_COLUMN)]
        raise ValueError(f"Split {split!r} needs columns {TOKENS_COLUMN!r} and {TAGS_COLUMN!r}; it has {columns}.")
    feature = ds.features[TAGS_COLUMN]
    return getattr(feature, "feature", None)


def _is_int_feature(inner: Any) -> bool:
    return isinstance(inner, ClassLabel) or (isinstance(inner, Value) and inner.dtype.startswith(("int", "uint")))


def _sort_key(name: str) -> tuple:
    if name == OUTSIDE:
        return (0, "", 0)
    parts = split_tag(name)
    if parts is not None and parts[0] in "BIES":
        return (1, parts[1], "BIES".index(parts[0]))
    return (1, name, -1)


def _first_places(ds: Dataset, split: str) -> dict[Any, str]:
    """Each tag value of a split -> where it first occurs: "sentence at 'train.conll', line 3; word 2 ('Oslo')"."""
    places = _places(ds, split)
    first: dict[Any, str] = {}
    for words, tags, place in zip(_column(ds, TOKENS_COLUMN), _column(ds, TAGS_COLUMN), places, strict=True):
        for k, t in enumerate(tags):
            if t not in first:
                word = f", {words[k]!r}" if k < len(words) else ""
                first[t] = f"sentence at {place}; word {k + 1}{word}"
    return first


def _detect_scheme(names: list[str], sequences: list[list[str]], where: Mapping[str, str]) -> str:
    for name in names:
        reason = _tag_error(name, names)
        if reason is not None:
            at = f" ({where[name]})" if name in where else " (in label_names)"
            raise ValueError(f"Tag {name!r}{at} is not a valid IOB/BIOES tag: {reason}; or pass scheme='plain'.")
    prefixes = {parts[0] for parts in map(split_tag, names) if parts is not None}
    if not prefixes:
        return "plain"
    if prefixes & {"E", "S"}:
        return "BIOES"
    for tags in sequences:
        if to_iob2(tags, "IOB1") != list(tags):  # an I- that starts a chunk: IOB1
            return "IOB1"
    return "IOB2"


def infer_tag_info(
    train: Dataset,
    *,
    label_names: Sequence[str] | None = None,
    scheme: str | None = None,
    entity_metrics: bool = True,
) -> TagInfo:
    """The tag names and scheme of a task, from its training split.

    Names: `label_names` when given (needed for int tags unless the column is a `ClassLabel` sequence; for string
    tags, it fixes the order), else the training tags, `O` first, then sorted by entity type and prefix (B, I, E, S).
    Scheme (with `entity_metrics`): `scheme` when given, else detected: `plain` when no tag has a prefix, `BIOES` with
    any `E-` or `S-` tag, `IOB1` when an `I-` tag starts a chunk (first in a sentence, or after `O` or another type),
    else `IOB2`.

    Args:
        train (`datasets.Dataset`): The training split (columns `tokens` and `tags`).
        label_names (`Sequence[str]`, *optional*): The tag names in id order.
        scheme (`str`, *optional*): The tag scheme, one of `SCHEMES`; default: detected.
        entity_metrics (`bool`, *optional*, defaults to `True`):
            Whether entity metrics are asked for: then every tag must be valid in the scheme.

    Returns:
        `TagInfo`: The tag names and the scheme (`None` without entity metrics).

    Raises:
        `ValueError`: If a column is missing; int tags come without names or out of range; a training tag is not in
        `label_names` or names repeat; or, with entity metrics, a tag is not valid IOB/BIOES (e.g. `X-PER`, a tag
        without a prefix among prefixed ones) or not valid in the given `scheme`. Tag errors name the file and line
        (or row) where the tag first occurs.
    """
    inner = _tag_feature(train, "train")
    first = _first_places(train, "train")
    if label_names is None and isinstance(inner, ClassLabel):
        label_names = inner.names
    if _is_int_feature(inner):
        if label_names is None:
            raise ValueError(
                f"The training tags are ints ({next(iter(first.values()), 'split train')}): pass label_names, the "
                "tag names in id order."
            )
    elif label_names is None:
        label_names = sorted({t for t in first}, key=_sort_key)
    names = [str(n) for n in label_names]
    if len(set(names)) != len(names):
        raise ValueError(f"label_names repeat a name: {names}.")
    info = TagInfo(names)
    _check_tags(train, "train", info)
    if not entity_metrics:
        return info
    sequences = [[names[t] for t in tags] if _is_int_feature(inner) else tags for tags in _column(train, TAGS_COLUMN)]
    where = {names[t] if _is_int_feature(inner) else t: place for t, place in first.items()}
    if scheme is None:
        scheme = _detect_scheme(names, sequences, where)
    elif scheme not in SCHEMES:
        raise ValueError(f"Unknown tag scheme {scheme!r}; allowed: {list(SCHEMES)}.")
    elif scheme != "plain":
        for name in names:
            try:
                to_iob2([name], scheme)
            except ValueError as err:
                raise ValueError(f"{err} ({where.get(name, 'in label_names')})") from None
    info.scheme = scheme
    return info


def _check_tags(ds: Dataset, split: str, info: TagInfo) -> None:
    inner = _tag_feature(ds, split)
    first = _first_places(ds, split)
    if _is_int_feature(inner):
        bad = sorted(t for t in first if not 0 <= t < len(info.label_names))
        if bad:
            raise ValueError(
                f"Tag id {bad[0]} ({first[bad[0]]}) is out of range for {len(info.label_names)} label names "
                f"{info.label_names[:_MAX_SHOWN]}."
            )
        return
    known = set(info.label_names)
    unknown = sorted((t for t in first if t not in known), key=_sort_key)
    if unknown:
        more = f" (and {len(unknown) - 1} more: {unknown[1:_MAX_SHOWN]})" if len(unknown) > 1 else ""
        source = "label_names" if split == "train" else "the tags of the training data (or label_names)"
        raise ValueError(
            f"Tag {unknown[0]!r} in split {split!r} ({first[unknown[0]]}) is not among {source} "
            f"{info.label_names[:_MAX_SHOWN]}{more}."
        )


def check_token_datasets(splits: Mapping[str, Dataset], tag_info: TagInfo) -> None:
    """Checks every split before training, so that bad data fails early with a message naming the file and line.

    Args:
        splits (`Mapping[str, datasets.Dataset]`): The splits, e.g. a `DatasetDict` with "train" and "validation".
        tag_info (`TagInfo`): The tags (from `infer_tag_info` on the training split).

    Raises:
        `ValueError`: If a split lacks the `tokens` or `tags` column or is empty; an example is malformed (words that
        are not non-empty strings, word and tag lists of different lengths, an empty sentence); a string tag is not
        among the training tags (or `label_names`); an int tag is out of range.
    """
    for split, ds in splits.items():
        _tag_feature(ds, split)
        if len(ds) == 0:
            raise ValueError(f"Split {split!r} is empty.")
        for tokens, tags, where in zip(
            _column(ds, TOKENS_COLUMN), _column(ds, TAGS_COLUMN), _places(ds, split), strict=True
        ):
            _check_example(tokens, tags, where)
        _check_tags(ds, split, tag_info)
