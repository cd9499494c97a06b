"""Contracts a user relies on where the MSD classes and the trainer must behave as upstream's: Monte-Carlo evaluation
on every evaluate/predict path, options changed after the trainer is built, label dtypes refused as upstream refuses
them, the msd config fields validated on every load route, a `linspace` spec that re-expands for another K, plain
`transformers.Trainer` gradient accumulation and label smoothing, and the documentation a user reaches first."""

import numpy as np
import pytest
import torch
from conftest import make_dataset, msd_model, trainer_args
from token_batches import SPAN, TOKEN, collate, span_dataset, span_model, token_dataset, token_model

from msd_transformers import MSDTrainer, MSDTrainingArguments, predictive_uncertainty

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
    model.register_forward_hook(lambda m, args, kwargs, out: seen.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
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


__all__ = ["MSDTrainingArguments", "predictive_uncertainty", "SPAN", "TOKEN"]
