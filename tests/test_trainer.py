"""MSDTrainer: loss math against a direct computation, smoothing and weights per sample, exact gradient accumulation,
the whole-network variant, logging, evaluation and resume."""

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    assert_same_weights,
    batch,
    make_dataset,
    moved,
    msd_model,
    trained_weights,
    trainer_args,
    upstream_model,
)
from transformers import TrainerCallback

import msd_transformers as msd
from msd_transformers import MSDTrainer
from msd_transformers.trainer import repeat_batch


def trainer_loss(trainer, model, inputs, seed):
    model.train()
    torch.manual_seed(seed)
    return trainer.compute_loss(model, inputs)


def sample_logits_of(model, inputs, seed):
    torch.manual_seed(seed)
    return model(**{k: v for k, v in inputs.items() if k != "labels"}).sample_logits


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5]])
def test_single_label_loss_matches_direct_per_sample_computation(tmp_path, smoothing, weights):
    model = msd_model(msd_num_samples=4, msd_dropout="linspace(0.1, 0.4)")
    ds = make_dataset()
    trainer = MSDTrainer(
        model=model,
        args=trainer_args(tmp_path, label_smoothing_factor=smoothing, msd_class_weights=weights),
        train_dataset=ds,
    )
    inputs = batch(ds)
    loss = trainer_loss(trainer, model, inputs, seed=3)
    sample_logits = sample_logits_of(model, inputs, seed=3)
    w = torch.tensor(weights) if weights else None
    direct = torch.stack(
        [F.cross_entropy(s, inputs["labels"], weight=w, label_smoothing=smoothing) for s in sample_logits]
    ).mean()
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)
    if smoothing == 0 and weights is None:  # and the model's own loss agrees
        torch.manual_seed(3)
        torch.testing.assert_close(model(**inputs).loss, direct, atol=1e-6, rtol=1e-6)


def test_logit_averaging_mode(tmp_path):
    model = msd_model(msd_num_samples=4, msd_dropout=0.3, msd_average="logits")
    ds = make_dataset()
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, label_smoothing_factor=0.1), train_dataset=ds)
    inputs = batch(ds)
    loss = trainer_loss(trainer, model, inputs, seed=1)
    direct = F.cross_entropy(sample_logits_of(model, inputs, 1).mean(0), inputs["labels"], label_smoothing=0.1)
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)


def test_regression_and_multilabel_ignore_smoothing(tmp_path, caplog):
    cases = (("regression", 1, "regression"), ("multi", 3, "multi_label_classification"))
    for task, num_labels, problem_type in cases:
        model = msd_model(num_labels=num_labels, msd_num_samples=3, problem_type=problem_type)
        ds = make_dataset(task=task, num_labels=num_labels)
        caplog.clear()  # this case's warning, not the previous one's
        trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, label_smoothing_factor=0.2), train_dataset=ds)
        assert f"it is ignored for {problem_type}" in caplog.text
        inputs = batch(ds)
        loss = trainer_loss(trainer, model, inputs, seed=2)
        s = sample_logits_of(model, inputs, 2)
        if task == "regression":
            direct = torch.stack([F.mse_loss(x.squeeze(-1), inputs["labels"]) for x in s]).mean()
        else:
            direct = torch.stack([F.binary_cross_entropy_with_logits(x, inputs["labels"]) for x in s]).mean()
        torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)


def test_multilabel_class_weights(tmp_path):
    model = msd_model(num_labels=3, msd_num_samples=3, problem_type="multi_label_classification")
    ds = make_dataset(task="multi")
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, msd_class_weights=[1.0, 3.0, 0.5]), train_dataset=ds)
    inputs = batch(ds)
    loss = trainer_loss(trainer, model, inputs, seed=5)
    w = torch.tensor([1.0, 3.0, 0.5])
    s = sample_logits_of(model, inputs, 5)
    direct = torch.stack([F.binary_cross_entropy_with_logits(x, inputs["labels"], weight=w) for x in s]).mean()
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)


def test_deberta_loss_style_in_trainer(tmp_path):
    model = msd_model("deberta-v2", msd_num_samples=3)
    ds = make_dataset()
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path), train_dataset=ds)
    inputs = batch(ds)
    inputs["labels"][:3] = -1  # DeBERTa-v2 ignores class ids < 0
    loss = trainer_loss(trainer, model, inputs, seed=4)
    s = sample_logits_of(model, inputs, 4)
    keep = inputs["labels"] >= 0
    direct = torch.stack([F.cross_entropy(x[keep], inputs["labels"][keep]) for x in s]).mean()
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)
    assert model.config.problem_type is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"msd_forward_passes": 0}, "msd_forward_passes must be an int >= 1, got 0"),
        ({"msd_forward_passes": 2.0}, "msd_forward_passes must be an int >= 1, got 2.0"),
        ({"msd_forward_chunk_size": 0}, "msd_forward_chunk_size must be an int >= 1, got 0"),
        ({"msd_class_weights": [1.0, -1.0, 1.0]}, "numbers >= 0"),
        ({"msd_class_weights": [0.0, 0.0, 0.0]}, "a weight > 0"),
        ({"msd_class_weights": []}, "non-empty"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        trainer_args(tmp_path, **kwargs)


def test_class_weights_must_match_labels_and_task(tmp_path):
    ds = make_dataset()
    with pytest.raises(ValueError, match="has 2 weights but the model has num_labels=3"):
        MSDTrainer(model=msd_model(), args=trainer_args(tmp_path, msd_class_weights=[1.0, 2.0]), train_dataset=ds)
    with pytest.raises(ValueError, match="regression"):
        MSDTrainer(
            model=msd_model(num_labels=1), args=trainer_args(tmp_path, msd_class_weights=[1.0]), train_dataset=ds
        )


@pytest.mark.parametrize("kind", ["msd", "upstream"])
@pytest.mark.parametrize("task", ["single", "multi"])
def test_gradient_accumulation_is_exact(tmp_path, kind, task):
    """One optimizer step: 2 x 4 accumulation == one batch of 8 (dropout off)."""
    num_labels = 3
    make = (
        (lambda: msd_model(dropout=0.0, msd_dropout=0.0, msd_num_samples=2))
        if kind == "msd"
        else (lambda: upstream_model(dropout=0.0))
    )
    ds = make_dataset(task=task, num_labels=num_labels)
    torch.manual_seed(0)
    init = make().state_dict()
    models = []
    for _ in range(2):
        m = make()
        m.load_state_dict(init)
        if task == "multi":
            m.config.problem_type = "multi_label_classification"
        models.append(m)
    full, full_trainer = trained_weights(models[0], tmp_path / "a", ds, per_device_train_batch_size=8)
    accum, accum_trainer = trained_weights(
        models[1], tmp_path / "b", ds, per_device_train_batch_size=4, gradient_accumulation_steps=2
    )
    assert moved(init, full) > 1e-3  # the step did something
    assert_same_weights(full, accum)
    # The logged loss is the loss of the whole batch at the initial weights in both cases (dropout off: one sample).
    reference = make().eval()
    reference.load_state_dict(init)
    reference.config.problem_type = models[0].config.problem_type
    with torch.no_grad():
        expected = reference(**batch(ds)).loss.item()
    for trainer in (full_trainer, accum_trainer):
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        assert losses == [pytest.approx(expected, rel=1e-5)]


def test_uneven_accumulation_is_exact(tmp_path):
    """6 examples as 4 + 2 accumulate to the mean over all 6, not the mean of the two means."""
    ds = make_dataset(n=6)
    torch.manual_seed(0)
    init = upstream_model(dropout=0.0).state_dict()
    a, b = upstream_model(dropout=0.0), upstream_model(dropout=0.0)
    a.load_state_dict(init), b.load_state_dict(init)
    full, _ = trained_weights(a, tmp_path / "a", ds, per_device_train_batch_size=6)
    accum, _ = trained_weights(b, tmp_path / "b", ds, per_device_train_batch_size=4, gradient_accumulation_steps=2)
    assert_same_weights(full, accum)


@pytest.mark.parametrize("kind", ["msd", "upstream"])
@pytest.mark.parametrize("chunk", [None, 3])
def test_forward_passes_without_dropout_equal_single_pass(tmp_path, kind, chunk):
    make = (
        (lambda: msd_model(dropout=0.0, msd_dropout=0.0, msd_num_samples=2))
        if kind == "msd"
        else (lambda: upstream_model(dropout=0.0))
    )
    ds = make_dataset()
    torch.manual_seed(0)
    init = make().state_dict()
    a, b = make(), make()
    a.load_state_dict(init), b.load_state_dict(init)
    single, _ = trained_weights(a, tmp_path / "a", ds)
    calls = []
    b.register_forward_hook(lambda module, inp, out: calls.append(out.logits.shape[0]))
    multi, _ = trained_weights(b, tmp_path / "b", ds, msd_forward_passes=4, msd_forward_chunk_size=chunk)
    assert_same_weights(single, multi)
    # One batched forward over 4 x 8 rows, or chunks of 3 + 1 passes.
    assert calls == ([32] if chunk is None else [24, 8])


def test_forward_passes_sample_every_dropout(tmp_path):
    """With dropout on, the M copies of an example get different masks everywhere in the network."""
    model = upstream_model(dropout=0.3).train()
    inputs = {k: v for k, v in batch(make_dataset(n=2)).items() if k != "labels"}
    logits = model(**repeat_batch(inputs, 3)).logits.view(3, 2, -1)
    assert not torch.allclose(logits[0], logits[1]) and not torch.allclose(logits[1], logits[2])


def test_repeat_batch_layout():
    x = torch.arange(6).view(3, 2)
    out = repeat_batch({"x": x, "scalar": torch.tensor(1.0), "name": "a"}, 2)
    assert out["x"].tolist() == [[0, 1], [2, 3], [4, 5], [0, 1], [2, 3], [4, 5]]
    assert out["scalar"].item() == 1.0 and out["name"] == "a"


def test_msd_loss_std_is_logged(tmp_path):
    model = msd_model(msd_num_samples=4, msd_dropout=0.5)
    _, trainer = trained_weights(model, tmp_path, make_dataset(), max_steps=3)
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 3 and all(h["msd_loss_std"] > 0 for h in logged)
    upstream_logs = trained_weights(upstream_model(), tmp_path / "s", make_dataset(), max_steps=1)[1].state.log_history
    assert [h["msd_loss_std"] for h in upstream_logs if "loss" in h] == [0.0]  # one sample: no spread


@pytest.mark.parametrize("average", ["loss", "logits"])
def test_msd_loss_std_is_the_spread_of_the_per_sample_losses(tmp_path, average):
    """The logged `msd_loss_std` is the standard deviation (over the K samples, without Bessel's correction) of the
    losses the samples of the step have on their own, in both averaging modes: with `msd_average="logits"` the
    training loss is one loss of the mean logits, but the spread is still that of the samples."""
    model = msd_model(msd_num_samples=4, msd_dropout=0.5, msd_average=average)
    ds = make_dataset()
    label_of = {tuple(ids): label for ids, label in zip(ds["input_ids"], ds["labels"], strict=True)}
    seen = []  # (sample logits, labels) of the training forward, in the order the Trainer drew the examples
    model.register_forward_hook(
        lambda module, args, kwargs, out: seen.append(
            (out.sample_logits.detach(), torch.tensor([label_of[tuple(r)] for r in kwargs["input_ids"].tolist()]))
        ),
        with_kwargs=True,
    )
    _, trainer = trained_weights(model, tmp_path, ds, max_steps=1)
    ((sample_logits, labels),) = seen  # (K, B, C), (B,)
    losses = torch.stack([F.cross_entropy(s, labels) for s in sample_logits])  # (K,)
    (logged,) = [h for h in trainer.state.log_history if "loss" in h]
    assert losses.std(correction=0).item() > 1e-3  # the samples differ
    assert logged["msd_loss_std"] == pytest.approx(losses.std(correction=0).item(), abs=2e-6)
    expected_loss = F.cross_entropy(sample_logits.mean(0), labels) if average == "logits" else losses.mean()
    assert logged["loss"] == pytest.approx(expected_loss.item(), rel=1e-4)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"msd_eval_samples": 4}, "msd_eval_layers=0 samples the multi-sample dropout head, and "
         "BertForSequenceClassification has none. Use msd_eval_layers='all'"),
        ({"msd_eval_samples": 4, "msd_eval_layers": 3}, "msd_eval_layers=3 but BertForSequenceClassification has 2 "
         "layers"),
    ],
)  # fmt: skip
def test_mc_evaluation_errors_name_the_fields_set(tmp_path, fields, says):
    """A Monte-Carlo evaluation that does not fit the model is refused when the trainer is built, in the terms of the
    arguments the user set (`msd_eval_layers`), not those of `mc_dropout` (`layers`)."""
    with pytest.raises(ValueError) as info:
        MSDTrainer(model=upstream_model(), args=trainer_args(tmp_path, **fields))
    message = str(info.value)
    assert message.startswith(says), message
    assert "layers=" not in message.replace("msd_eval_layers=", ""), message


def test_evaluate_and_predict_like_upstream(tmp_path):
    model = msd_model(msd_num_samples=4, msd_dropout=0.4)
    ds = make_dataset(n=10)
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, per_device_eval_batch_size=4), eval_dataset=ds)
    metrics = trainer.evaluate()
    upstream = msd.to_vanilla(model).eval()
    with torch.no_grad():
        inputs = batch(ds)
        ref = upstream(**inputs)
    assert metrics["eval_loss"] == pytest.approx(ref.loss.item(), abs=1e-5)
    pred = trainer.predict(ds)
    assert pred.predictions.shape == (10, 3)  # logits only: no sample_logits in predictions
    torch.testing.assert_close(torch.from_numpy(pred.predictions), ref.logits, atol=1e-5, rtol=0)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


@pytest.mark.parametrize("kind", ["msd", "upstream"])
def test_resume_from_checkpoint_gives_same_weights(tmp_path, kind):
    ds = make_dataset(n=24)
    make = (lambda: msd_model(msd_num_samples=4, msd_dropout=0.3)) if kind == "msd" else (lambda: upstream_model())
    common = dict(
        max_steps=6, per_device_train_batch_size=4, save_strategy="steps", save_steps=3, learning_rate=0.05,
        optim="adamw_torch", lr_scheduler_type="linear",
    )  # fmt: skip
    torch.manual_seed(0)
    init = make().state_dict()

    def fresh():
        m = make()
        m.load_state_dict(init)
        return m

    full, _ = trained_weights(fresh(), tmp_path / "full", ds, **common)
    interrupted = MSDTrainer(model=fresh(), args=trainer_args(tmp_path / "run", **common), train_dataset=ds)
    interrupted.add_callback(StopAt(3))
    interrupted.train()
    assert (tmp_path / "run" / "checkpoint-3").is_dir()
    resumed = MSDTrainer(model=fresh(), args=trainer_args(tmp_path / "run", **common), train_dataset=ds)
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-3"))
    final = {k: v.detach() for k, v in resumed.model.state_dict().items()}
    assert moved(init, full) > 1e-3
    assert_same_weights(full, final, atol=1e-6)


def test_plain_training_arguments_work(tmp_path):
    from transformers import TrainingArguments

    model = msd_model(msd_num_samples=3)
    plain = TrainingArguments(output_dir=str(tmp_path), max_steps=1, report_to=[], use_cpu=True, disable_tqdm=True)
    trainer = MSDTrainer(model=model, args=plain, train_dataset=make_dataset())
    assert trainer.msd_args.forward_passes == 1 and trainer.msd_args.class_weights is None
    assert not hasattr(trainer.args, "msd_forward_passes")  # nothing written onto the user's arguments
    trainer.train()
    assert trainer.state.global_step == 1
