"""scripts/train.py with `task: multiple-choice` (as run_swag.py): SWAG-format csv with Monte-Carlo evaluation, the
general form (a question and a list of choices, any number per example) in JSON lines, metrics equal to those
recomputed from `predictions.jsonl`, and one error line before the model loads per bad input. Choices padded per batch
(`ChoiceCollator`, `MSDTrainer`'s choice mask) against the examples computed one by one, unpadded."""

import csv
import json
import random
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import (
    VOCAB,
    assert_one_error_line_before_the_model,
    assert_same_weights,
    load_train_script,
    moved,
    run_config,
    tiny_config,
    trainer_args,
)
from datasets import Dataset
from transformers import AutoModelForMultipleChoice

import msd_transformers as msd
from msd_transformers.calibration import coverage_accuracy, expected_calibration_error
from msd_transformers.finetune.multiple_choice_task import ChoiceCollator, choice_pairs, choice_probabilities
from msd_transformers.loss import choice_sample_losses, consistency_loss, mask_choices

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
    first, second, counts = choice_pairs(batch, args)
    assert counts == [4, 4] and first == [rows[0]["sent1"]] * 4 + [rows[1]["sent1"]] * 4
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
    """The general form: a question and a list of 3 choices, ids from the data, a validation part held out, no MC,
    the tokens padded to max_seq_length: the softmax per choice and the accuracy recomputed from predictions.jsonl."""
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
    extra = dict(train_file=str(train), context_name="question", choices_column="choices", label_column="answer",
                 pad_to_max_length=True)  # fmt: skip
    metrics = run_main(tmp_path, fields(tiny_bert, out, **extra))
    records = read_jsonl(out / "predictions.jsonl")
    by_id = {r["id"]: r for r in rows}
    assert len(records) == 8 and all(r["label"] == by_id[r["id"]]["answer"] for r in records)
    assert all(len(r["probabilities"]) == 3 and "entropy" not in r for r in records)
    assert metrics["eval_accuracy"] == pytest.approx(np.mean([r["prediction"] == r["label"] for r in records]))


# ------------------------------------------------------------------ any number of choices, padded per batch
COUNTS = (2, 3, 5, 2, 3, 5)


def mixed_examples(counts=COUNTS, seed=0) -> list[dict]:
    """Tokenized examples with `counts` choices: random token ids, each choice its own length, a label in range."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i, n in enumerate(counts):
        lengths = torch.randint(3, 9, (n,), generator=g).tolist()
        ids = [torch.randint(4, VOCAB, (t,), generator=g).tolist() for t in lengths]
        rows.append({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids], "label": (2 * i + 1) % n})
    return rows


def choice_model(kind="msd", average="loss", head_dropout=0.0):
    """A tiny multiple-choice BERT with every dropout off (the samples equal: the comparisons are exact), but for
    `head_dropout` in the MSD head."""
    torch.manual_seed(0)
    if kind == "upstream":
        return AutoModelForMultipleChoice.from_config(tiny_config("bert", dropout=0.0))
    cfg = msd.msd_config(
        tiny_config("bert", dropout=0.0), msd_num_samples=3, msd_dropout=head_dropout, msd_average=average
    )
    return msd.AutoMSDModelForMultipleChoice.from_config(cfg)


def one_by_one(model, rows, collator):
    """The upstream logits `(n_i,)` of each example alone, unpadded (eval mode, the model called directly)."""
    model.eval()
    alone = [collator([row]) for row in rows]
    return [model(input_ids=a["input_ids"], attention_mask=a["attention_mask"]).logits[0] for a in alone]


def test_choice_collator_pads_choices_per_batch(word_tokenizer):
    """The batch's largest number of choices, the tokens to the longest, the mask of the real choices; a padded
    choice repeats the example's first one (no row all padding); no `labels` without labels."""
    rows = mixed_examples((2, 5, 3))
    batch = ChoiceCollator(word_tokenizer)(rows)
    longest = max(len(x) for row in rows for x in row["input_ids"])
    assert batch["input_ids"].shape == (3, 5, longest) and batch["labels"].tolist() == [r["label"] for r in rows]
    assert batch["choice_mask"].tolist() == [[True] * 2 + [False] * 3, [True] * 5, [True] * 3 + [False] * 2]
    for i, row in enumerate(rows):
        for j, ids in enumerate(row["input_ids"]):
            assert batch["input_ids"][i, j, : len(ids)].tolist() == ids
            assert batch["attention_mask"][i, j].sum() == len(ids)
        assert torch.equal(batch["input_ids"][i, len(row["input_ids"]) :], batch["input_ids"][i, :1].expand(
            5 - len(row["input_ids"]), -1))  # fmt: skip
    unlabelled = ChoiceCollator(word_tokenizer, pad_to_multiple_of=8)([{k: v for k, v in r.items() if k != "label"}
                                                                      for r in rows])  # fmt: skip
    assert "labels" not in unlabelled and unlabelled["input_ids"].shape == (3, 5, 8)


def test_choice_losses_over_the_real_choices():
    """`choice_sample_losses` with a mask (label smoothing too) and the consistency term of masked samples equal the
    unpadded examples' own, whatever the padded logits hold (NaN, huge values); no gradient reaches the padding."""
    counts = torch.tensor([2, 5, 3, 4])
    k, c = 3, 5
    mask = torch.arange(c) < counts[:, None]  # (B, C)
    logits = torch.randn(k, 4, c, dtype=torch.float64)
    logits = torch.where(mask, logits, torch.tensor([float("nan"), 1e30])[torch.arange(c) % 2]).requires_grad_()
    labels = torch.tensor([1, 4, -100, 3])
    for smoothing in (0.0, 0.2):
        losses = choice_sample_losses(logits, labels, choice_mask=mask, label_smoothing=smoothing)
        expected = torch.stack([
            torch.stack([F.cross_entropy(logits[s, i, :n], labels[i], label_smoothing=smoothing)
                         for i, n in enumerate(counts.tolist()) if labels[i] != -100]).mean() for s in range(k)
        ])  # fmt: skip
        torch.testing.assert_close(losses, expected)
        (grad,) = torch.autograd.grad(losses.sum(), logits)
        assert (grad[:, ~mask] == 0).all() and grad[:, mask].abs().sum() > 0
    masked = mask_choices(logits, mask)
    assert (masked[:, ~mask] == torch.finfo(torch.float64).min).all()
    consistency = consistency_loss(masked, "single_label_classification")
    each = [consistency_loss(logits[:, i : i + 1, :n], "single_label_classification") for i, n in
            enumerate(counts.tolist())]  # fmt: skip
    torch.testing.assert_close(consistency, torch.stack(each).mean())
    with pytest.raises(ValueError, match=r"choice_mask must have the shape \(batch_size, num_choices\) = \(4, 5\)"):
        mask_choices(logits, mask[:, :3])


PADDED_CASES = [("msd", "loss", 0.0), ("msd", "loss", 0.1), ("msd", "logits", 0.1), ("upstream", "loss", 0.1)]


@pytest.mark.parametrize(("kind", "average", "smoothing"), PADDED_CASES)
def test_padded_batch_equals_the_examples_one_by_one(tmp_path, word_tokenizer, kind, average, smoothing):
    """A batch of 2, 3 and 5 choices padded to 5: MSDTrainer's training loss and gradients, its eval loss, logits
    and probabilities (with and without labels) equal those of each example alone, unpadded, with upstream's
    cross-entropy (computed here directly); the padded choices' logits are the dtype's lowest value."""
    rows = mixed_examples()
    model, collator = choice_model(kind, average), ChoiceCollator(word_tokenizer)
    params = [p for p in model.parameters() if p.requires_grad]
    expected_logits = one_by_one(model, rows, collator)
    labels = torch.tensor([r["label"] for r in rows])
    losses = [F.cross_entropy(z[None], labels[i : i + 1], label_smoothing=smoothing)
              for i, z in enumerate(expected_logits)]  # fmt: skip
    expected = torch.stack(losses).mean()
    expected_grads = torch.autograd.grad(expected, params)
    trainer = msd.MSDTrainer(model=model, args=trainer_args(tmp_path, label_smoothing_factor=smoothing),
                             data_collator=collator)  # fmt: skip
    batch = trainer._prepare_inputs(collator(rows))
    assert batch["input_ids"].shape[:2] == (6, 5)
    model.train()
    loss = trainer.compute_loss(model, batch)
    torch.testing.assert_close(loss, expected, atol=1e-6, rtol=1e-5)
    for grad, want in zip(torch.autograd.grad(loss, params), expected_grads, strict=True):
        torch.testing.assert_close(grad, want, atol=1e-6, rtol=1e-4)
    model.eval()
    unlabelled = {k: v for k, v in batch.items() if k != "labels"}
    for inputs in (batch, unlabelled):
        eval_loss, logits, _ = trainer.prediction_step(model, inputs, prediction_loss_only=False)
        if inputs is batch:
            torch.testing.assert_close(eval_loss, expected.detach(), atol=1e-6, rtol=1e-5)
        probs = torch.softmax(logits, -1)
        for i, n in enumerate(COUNTS):
            torch.testing.assert_close(logits[i, :n], expected_logits[i].detach(), atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(probs[i, :n], torch.softmax(expected_logits[i].detach(), -1))
            assert (logits[i, n:] == torch.finfo(logits.dtype).min).all() and (probs[i, n:] == 0).all()


def test_consistency_of_a_padded_batch(tmp_path, word_tokenizer):
    """MSDTrainer's consistency term (head-only, `msd_consistency`) of padded samples equals the mean of the
    examples' own terms over their real choices, whatever the padded logits hold; a padded training batch with
    dropout on gives a finite loss."""
    model = choice_model()
    trainer = msd.MSDTrainer(model=model, args=trainer_args(tmp_path, msd_consistency=0.5), data_collator=None)
    mask = torch.arange(5) < torch.tensor(COUNTS)[:, None]  # (6, 5)
    logits = torch.where(mask, torch.randn(3, 6, 5), 7.0)
    labels = torch.tensor([r["label"] for r in mixed_examples()])
    term = trainer._consistency({"logits": logits}, {"labels": labels}, model.config, mask)
    each = [consistency_loss(logits[:, i : i + 1, :n], "single_label_classification") for i, n in enumerate(COUNTS)]
    torch.testing.assert_close(term, torch.stack(each).mean())
    model = choice_model(head_dropout=0.5).train()
    trainer = msd.MSDTrainer(model=model, args=trainer_args(tmp_path, msd_consistency=0.5), data_collator=None)
    batch = trainer._prepare_inputs(ChoiceCollator(word_tokenizer)(mixed_examples()))
    assert torch.isfinite(trainer.compute_loss(model, batch))
    assert trainer._logged["msd_consistency_loss"][-1] > 0  # the samples differ


def test_accuracy_and_probabilities_over_each_examples_choices():
    """The script's metric and probabilities read each example's first `counts[i]` predictions: the padding of its
    batch (the dtype's lowest value) and of the concatenation (-100) never wins, even over real logits below -100."""
    from msd_transformers.finetune.multiple_choice_task import accuracy_of

    lowest = np.finfo(np.float32).min
    predictions = np.array([[-150.0, -120.0, -100.0], [0.5, 2.0, lowest], [3.0, 1.0, 2.0]], dtype=np.float32)
    counts = np.array([2, 2, 3])
    probs = choice_probabilities(predictions, counts)
    np.testing.assert_allclose(probs[0], [np.exp(-30) / (1 + np.exp(-30)), 1 / (1 + np.exp(-30)), 0])
    assert probs[1, 2] == 0 and probs.sum(1) == pytest.approx(1)
    prediction = SimpleNamespace(predictions=predictions, label_ids=np.array([1, 1, 2]))
    assert accuracy_of(counts)(prediction) == {"accuracy": pytest.approx(2 / 3)}


def test_padded_choices_in_bfloat16(tmp_path, word_tokenizer):
    """In bfloat16 the padded choices' logits are its lowest finite value (not -inf: no NaN from -inf - -inf): the
    training loss with a consistency term and its gradients are finite, and the predictions' probabilities (plain
    and Monte-Carlo) are 0 there and sum to 1 over each example's choices."""
    rows = mixed_examples()
    model, collator = choice_model(head_dropout=0.3).to(torch.bfloat16), ChoiceCollator(word_tokenizer)
    args = trainer_args(tmp_path, per_device_eval_batch_size=4, msd_consistency=0.5)
    trainer = msd.MSDTrainer(model=model, args=args, data_collator=collator)
    model.train()
    loss = trainer.compute_loss(model, trainer._prepare_inputs(collator(rows)))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    for samples in (0, 4):
        trainer.args.msd_eval_samples = samples
        predictions = trainer.predict(Dataset.from_list(rows)).predictions  # batches of widths 5 and 5
        assert (predictions[0, 2:] == torch.finfo(torch.bfloat16).min).all() and np.isfinite(predictions).all()
        probs = choice_probabilities(predictions, np.array(COUNTS))
        assert probs.sum(1) == pytest.approx(1) and all((probs[i, n:] == 0).all() for i, n in enumerate(COUNTS))


def test_accumulation_of_padded_batches_is_exact(tmp_path, word_tokenizer):
    """One optimizer step on 4 examples of 2, 3, 5, 2 choices: 2 x 2 accumulation (batches padded to their own
    widths) == one batch padded to 5."""
    rows = mixed_examples(COUNTS[:4])
    ds = Dataset.from_list(rows)
    init = choice_model().state_dict()
    weights = []
    for name, size, steps in (("full", 4, 1), ("accum", 2, 2)):
        model = choice_model()
        model.load_state_dict(init)
        args = trainer_args(tmp_path / name, per_device_train_batch_size=size, gradient_accumulation_steps=steps)
        msd.MSDTrainer(model=model, args=args, train_dataset=ds, data_collator=ChoiceCollator(word_tokenizer)).train()
        weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    assert moved(init, weights[0]) > 1e-3
    assert_same_weights(*weights)


@pytest.mark.parametrize("samples", [0, 4])
def test_predict_mixed_counts_over_batches(tmp_path, word_tokenizer, samples):
    """`trainer.predict` in batches of 2 (widths 3, 5, 5): each example's probabilities over its own choices equal
    its softmax alone, unpadded; under MC (dropout off, the samples equal) its entropy is that of its own softmax
    and the mutual information 0, with labels or without."""
    rows = mixed_examples()
    model, collator = choice_model(), ChoiceCollator(word_tokenizer)
    expected = [torch.softmax(z, -1).detach().numpy() for z in one_by_one(model, rows, collator)]
    args = trainer_args(tmp_path, per_device_eval_batch_size=2, msd_eval_samples=samples)
    trainer = msd.MSDTrainer(model=model, args=args, data_collator=collator)
    ds = Dataset.from_list(rows)
    for data in (ds, ds.remove_columns("label")):
        prediction = trainer.predict(data)
        assert prediction.predictions.shape == (6, 5)
        probs = choice_probabilities(prediction.predictions, np.array(COUNTS))
        for i, n in enumerate(COUNTS):
            np.testing.assert_allclose(probs[i, :n], expected[i], atol=1e-6)
            assert (probs[i, n:] == 0).all()
        if samples:
            entropy = [-(p * np.log(p)).sum() for p in expected]
            np.testing.assert_allclose(trainer.mc_uncertainty["entropy"], entropy, atol=1e-5)
            np.testing.assert_allclose(trainer.mc_uncertainty["mutual_information"], 0, atol=1e-6)


def general_rows(n: int, counts=(2, 3, 5), seed: int = 4, ids: bool = True) -> list[dict]:
    """General-form rows with a number of choices from `counts` in turn: the right one goes with the thing asked
    about, the others are taken from the other things (and filler)."""
    rng = random.Random(seed)
    others = list(THINGS.values()) + ["sings loudly", "sleeps all day"]
    rows = []
    for i in range(n):
        thing = rng.choice(list(THINGS))
        choices = [THINGS[thing], *rng.sample([v for v in others if v != THINGS[thing]], counts[i % len(counts)] - 1)]
        rng.shuffle(choices)
        row = {"question": f"what does one do with the {thing} ?", "choices": choices,
               "answer": choices.index(THINGS[thing])}  # fmt: skip
        rows.append({"id": f"m{i}", **row} if ids else row)
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_mixed_choice_counts_end_to_end_with_monte_carlo(tiny_bert, tmp_path):
    """2, 3 and 5 choices in one file, MC evaluation: each record's probabilities are its own choices' (as many,
    summing to 1), its entropy theirs; accuracy, ECE and coverage recomputed from them; the test file without labels
    gets its records too."""
    train = write_jsonl(tmp_path / "train.jsonl", general_rows(48))
    val_rows = general_rows(15, seed=5)
    val = write_jsonl(tmp_path / "val.jsonl", val_rows)
    test_rows = [{k: v for k, v in r.items() if k != "answer"} for r in general_rows(5, counts=(5, 2), seed=6)]
    test = write_jsonl(tmp_path / "test.jsonl", test_rows)
    out = tmp_path / "out"
    extra = dict(train_file=train, validation_file=val, test_file=test, context_name="question",
                 choices_column="choices", label_column="answer", per_device_eval_batch_size=4)  # fmt: skip
    metrics = run_main(tmp_path, fields(tiny_bert, out, **extra), ["--msd_eval_samples", "4"])
    records = read_jsonl(out / "predictions.jsonl")
    assert [r["id"] for r in records] == [r["id"] for r in val_rows]
    assert [len(r["probabilities"]) for r in records] == [len(r["choices"]) for r in val_rows] == [2, 3, 5] * 5
    labels = np.array([r["answer"] for r in val_rows])
    assert [r["label"] for r in records] == labels.tolist()
    for r in records:
        p = np.array(r["probabilities"])
        assert p.sum() == pytest.approx(1) and r["prediction"] == p.argmax()
        assert r["entropy"] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-4)
        assert 0 <= r["mutual_information"] <= r["entropy"] + 1e-6
    top = np.array([max(r["probabilities"]) for r in records])
    correct = np.array([r["prediction"] for r in records]) == labels
    padded = np.zeros((15, 5))
    for i, r in enumerate(records):
        padded[i, : len(r["probabilities"])] = r["probabilities"]
    written = json.loads((out / "metrics.json").read_text())
    assert written["eval_accuracy"] == pytest.approx(correct.mean()) == metrics["eval_accuracy"]
    assert written["eval_ece"] == pytest.approx(expected_calibration_error(padded, labels), abs=1e-6)
    _, accuracy = coverage_accuracy(top, correct)
    assert written["eval_aurc"] == pytest.approx((1 - accuracy).mean())
    tests = read_jsonl(out / "test_predictions.jsonl")
    assert [len(r["probabilities"]) for r in tests] == [5, 2, 5, 2, 5] and all(r["label"] is None for r in tests)
    assert all(r["probabilities"] and sum(r["probabilities"]) == pytest.approx(1) and "entropy" in r for r in tests)


def bad_runs(tmp_path):
    rows = swag_rows(6)
    good = write_csv(tmp_path / "good.csv", rows)
    out_of_range = [dict(r) for r in rows]
    out_of_range[3]["label"] = 4
    no_ending = [{k: v for k, v in r.items() if k != "ending3"} for r in rows]
    empty_ending = [dict(r) for r in rows]
    empty_ending[4]["ending2"] = ""  # an empty csv cell: the SWAG format fixes 4 choices
    general = [{"id": f"g{i}", "question": "q ?", "choices": ["a", "b", "c"][: 2 + i % 2], "label": i % 2}
               for i in range(6)]  # fmt: skip
    one_choice, not_a_list, null_choice, out_of_its_range = ([dict(r) for r in general] for _ in range(4))
    one_choice[3]["choices"] = ["a"]
    not_a_list[4]["choices"] = None
    null_choice[2]["choices"] = ["a", None]
    out_of_its_range[0]["label"] = 2  # example g0 has 2 choices; g1 has 3
    general_form = dict(context_name="question", choices_column="choices")
    return [
        (dict(train_file=write_csv(tmp_path / "range.csv", out_of_range)), r"Example 3 \(train.*label 4 .*\[0, 4\)"),
        (dict(train_file=write_csv(tmp_path / "noend.csv", no_ending)), r"\['ending3'\] not found in the train data"),
        (dict(train_file=write_csv(tmp_path / "empty.csv", empty_ending)),
         r"Example 4 \(train, '.*empty.csv'\) has no 'ending2': the SWAG format fixes 4 choices per example"),
        (dict(train_file=write_jsonl(tmp_path / "one.jsonl", one_choice), **general_form),
         r"Example 'g3' \(train, '.*one.jsonl'\) has 1 choice\(s\) in 'choices': .*at least 2 choices"),
        (dict(train_file=write_jsonl(tmp_path / "none.jsonl", not_a_list), **general_form),
         r"Example 'g4' \(train.*has no list of choices \(None\) in 'choices'"),
        (dict(train_file=write_jsonl(tmp_path / "null.jsonl", null_choice), **general_form),
         r"Example 'g2' \(train.*has a null choice \(\['a', None\]\)"),
        (dict(train_file=write_jsonl(tmp_path / "label.jsonl", out_of_its_range), **general_form),
         r"Example 'g0' \(train.*label 2 is not a choice index in \[0, 2\) \(its 2 choices\)"),
        (dict(train_file=good, ending_names=["ending0", "ending9"]), r"\['ending9'\] not found"),
    ]  # fmt: skip


def test_bad_inputs_are_one_error_line_before_the_model_loads(tiny_bert, tmp_path, monkeypatch, capsys):
    runs = [(fields(tiny_bert, tmp_path / "out", **extra), match) for extra, match in bad_runs(tmp_path)]
    assert_one_error_line_before_the_model(train_script, runs, tmp_path, monkeypatch, capsys)


def test_readme_general_form_route(tiny_bert, tmp_path, monkeypatch):
    """The README's multiple-choice command as written, on a file of the lines it shows (its example line of 3
    choices first, then lines of 2), with a tiny model: each record has its example's number of choices."""
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
    assert len(records) == 4 and all("entropy" in r for r in records)
    assert [len(r["probabilities"]) for r in records] == [len(rows[r["id"]]["choices"]) for r in records]
    assert len(rows[0]["choices"]) == 3
    assert "eval_ece" in metrics
