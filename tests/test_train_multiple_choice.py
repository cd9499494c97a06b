"""scripts/train.py with `task: multiple-choice` (as run_swag.py): SWAG-format csv with Monte-Carlo evaluation, the
general form (a question and a list of choices) in JSON lines, metrics equal to those recomputed from
`predictions.jsonl`, and one error line before the model loads per bad input."""

import csv
import json
import random
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import assert_one_error_line_before_the_model, load_train_script, run_config

from msd_transformers.calibration import coverage_accuracy, expected_calibration_error
from msd_transformers.finetune.multiple_choice_task import choice_pairs

train_script = load_train_script()

THINGS = {"knife": "cuts the bread", "ball": "kicks it far", "piano": "plays a song", "book": "reads a page"}


def swag_rows(n: int, seed: int = 0) -> list[dict]:
    """SWAG-format rows: the right ending goes with the thing named in `sent1`, the others with other things."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        thing = rng.choice(list(THINGS))
        endings = rng.sample([v for k, v in THINGS.items() if k != thing], 3)
        label = rng.randrange(4)
        endings.insert(label, THINGS[thing])
        rows.append({"video-id": f"v{i}", "sent1": f"the man holds the {thing} .", "sent2": "he",
                     **{f"ending{j}": e for j, e in enumerate(endings)}, "label": label})  # fmt: skip
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def fields(tiny_bert, out, **extra):
    return {
        "model_name_or_path": tiny_bert, "output_dir": str(out), "task": "multiple-choice",
        "num_train_epochs": 2, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 8,
        "learning_rate": 3e-3, "eval_strategy": "epoch", "save_strategy": "no", "logging_steps": 2,
        "max_seq_length": 32, "report_to": "none", "disable_tqdm": True, "use_cpu": True, "msd_num_samples": 2,
        "msd_dropout": 0.2, **extra,
    }  # fmt: skip


def run_main(tmp_path, config, extra=()):
    return run_config(train_script, tmp_path, config, extra)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_swag_pairs_as_run_swag():
    """SWAG: each ending's second text is `f"{sent2} {ending}"` beside `sent1`, four per example, in order."""
    rows = swag_rows(2)
    batch = {k: [r[k] for r in rows] for k in rows[0]}
    args = SimpleNamespace(context_name="sent1", question_header_name="sent2", choices_column=None,
                           ending_names=[f"ending{i}" for i in range(4)])  # fmt: skip
    first, second, n = choice_pairs(batch, args)
    assert n == 4 and first == [rows[0]["sent1"]] * 4 + [rows[1]["sent1"]] * 4
    assert second[5] == f"he {rows[1]['ending1']}"


def test_swag_csv_end_to_end_with_monte_carlo(tiny_bert, tmp_path):
    """SWAG csv files, MC evaluation: predictions.jsonl one row per validation example, accuracy, ECE and the
    coverage-accuracy numbers recomputed from its probabilities, entropy of the MC distribution, the picture."""
    val_rows = swag_rows(16, seed=1)
    train = write_csv(tmp_path / "train.csv", swag_rows(48))
    val = write_csv(tmp_path / "val.csv", val_rows)
    out = tmp_path / "out"
    metrics = run_main(tmp_path, fields(tiny_bert, out, train_file=train, validation_file=val),
                       ["--msd_eval_samples", "4"])  # fmt: skip
    records = read_jsonl(out / "predictions.jsonl")
    assert [r["id"] for r in records] == list(range(16)) and [r["label"] for r in records] == [
        r["label"] for r in val_rows
    ]
    probs = np.array([r["probabilities"] for r in records])
    labels = np.array([r["label"] for r in records])
    assert probs.shape == (16, 4) and np.allclose(probs.sum(1), 1)
    assert [r["prediction"] for r in records] == probs.argmax(1).tolist()
    written = json.loads((out / "metrics.json").read_text())
    assert written["eval_accuracy"] == pytest.approx((probs.argmax(1) == labels).mean())
    assert written["eval_ece"] == pytest.approx(expected_calibration_error(probs, labels), abs=1e-6)
    _, accuracy = coverage_accuracy(probs.max(1), probs.argmax(1) == labels)
    assert written["eval_accuracy_at_coverage_50"] == pytest.approx(accuracy[7])
    assert written["eval_aurc"] == pytest.approx((1 - accuracy).mean())
    for r, p in zip(records, probs, strict=True):
        assert r["entropy"] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-4)
        assert 0 <= r["mutual_information"] <= r["entropy"] + 1e-6
    assert (out / "risk_coverage.png").stat().st_size > 1000 and metrics["eval_accuracy"] == written["eval_accuracy"]
    assert "AutoModelForMultipleChoice" in (out / "README.md").read_text()


def test_general_form_jsonl(tiny_bert, tmp_path):
    """The general form: a question and a list of 3 choices, ids from the data, a validation part held out, no MC:
    the softmax per choice and the accuracy recomputed from predictions.jsonl."""
    rng = random.Random(4)
    rows = []
    for i in range(40):
        thing = rng.choice(list(THINGS))
        choices = [THINGS[thing], *rng.sample([v for k, v in THINGS.items() if k != thing], 2)]
        rng.shuffle(choices)
        rows.append({"id": f"c{i}", "question": f"what does one do with the {thing} ?", "choices": choices,
                     "answer": choices.index(THINGS[thing])})  # fmt: skip
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    extra = dict(train_file=str(train), context_name="question", choices_column="choices", label_column="answer")
    metrics = run_main(tmp_path, fields(tiny_bert, out, **extra))
    records = read_jsonl(out / "predictions.jsonl")
    by_id = {r["id"]: r for r in rows}
    assert len(records) == 8 and all(r["label"] == by_id[r["id"]]["answer"] for r in records)
    assert all(len(r["probabilities"]) == 3 and "entropy" not in r for r in records)
    assert metrics["eval_accuracy"] == pytest.approx(np.mean([r["prediction"] == r["label"] for r in records]))


def bad_runs(tmp_path):
    rows = swag_rows(6)
    good = write_csv(tmp_path / "good.csv", rows)
    out_of_range = [dict(r) for r in rows]
    out_of_range[3]["label"] = 4
    no_ending = [{k: v for k, v in r.items() if k != "ending3"} for r in rows]
    general = tmp_path / "general.jsonl"
    general.write_text("".join(json.dumps({"id": f"g{i}", "question": "q ?", "choices": ["a", "b"] + ["c"] * (i == 2),
                                           "label": 0}) + "\n" for i in range(6)))  # fmt: skip
    return [
        (dict(train_file=write_csv(tmp_path / "range.csv", out_of_range)), r"Example 3 \(train.*label 4 .*\[0, 4\)"),
        (dict(train_file=write_csv(tmp_path / "noend.csv", no_ending)), r"\['ending3'\] not found in the train data"),
        (dict(train_file=str(general), context_name="question", choices_column="choices"),
         r"Example 'g2' \(train.*has 3 choices in 'choices', the data 2"),
        (dict(train_file=good, ending_names=["ending0", "ending9"]), r"\['ending9'\] not found"),
    ]  # fmt: skip


def test_bad_inputs_are_one_error_line_before_the_model_loads(tiny_bert, tmp_path, monkeypatch, capsys):
    runs = [(fields(tiny_bert, tmp_path / "out", **extra), match) for extra, match in bad_runs(tmp_path)]
    assert_one_error_line_before_the_model(train_script, runs, tmp_path, monkeypatch, capsys)


def test_readme_general_form_route(tiny_bert, tmp_path, monkeypatch):
    """The README's multiple-choice command as written, on a file of the lines it shows (its example line first),
    with a tiny model."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = re.search(r"`(\{\"question\": \"Which melts\?\".*?\})`", readme).group(1)
    command = re.search(r"(python scripts/train.py --task multiple-choice .*?)\n```", readme, flags=re.S).group(1)
    command = shlex.split(command.replace("\\\n", " "))
    rng = random.Random(0)
    rows = [json.loads(line)]
    for thing in rng.choices(list(THINGS), k=15):
        choices = [THINGS[thing], rng.choice([v for k, v in THINGS.items() if k != thing])]
        rng.shuffle(choices)
        rows.append({"question": f"what does one do with the {thing} ?", "choices": choices,
                     "answer": choices.index(THINGS[thing])})  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    size = ["--model_name_or_path", tiny_bert, "--max_seq_length", "24", "--use_cpu", "true", "--report_to", "none"]
    metrics = train_script.main([*command[2:], *size])
    records = read_jsonl(tmp_path / "outputs" / "mc" / "predictions.jsonl")
    assert len(records) == 4 and all(len(r["probabilities"]) == 2 and "entropy" in r for r in records)
    assert "eval_ece" in metrics
