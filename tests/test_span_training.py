"""MSDTrainer, consistency and Monte-Carlo dropout on question answering: gradient accumulation (exact for equal
micro-batches, the mean of the micro-batch means otherwise), the consistency term over the start and end
distributions against a double loop, and the start / end uncertainty of padded batches against a direct computation.
(LoRA on question answering: tests/test_token_training.py.)"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import moved, trainer_args
from token_batches import (
    SPAN,
    capture,
    collate,
    pad_collator,
    sgd_step,
    span_dataset,
    span_model,
    uncertainty_alone_and_batched,
    with_fixed_masks,
)
from torch import nn

import msd_transformers as msd
from msd_transformers import MSDTrainer, mc_dropout

LENGTHS = [4, 9, 3, 5, 8, 6, 7, 6]


def span_ce(start, end, start_positions, end_positions):
    """Each sample's upstream loss, (CE(start) + CE(end)) / 2 with positions outside the sequence clamped to T and
    ignored, averaged over the samples. start, end: (S, B, T)"""
    t = start.shape[-1]
    s, e = start_positions.clamp(0, t), end_positions.clamp(0, t)
    losses = [
        (F.cross_entropy(a, s, ignore_index=t) + F.cross_entropy(b, e, ignore_index=t)) / 2
        for a, b in zip(start, end, strict=True)
    ]
    return torch.stack(losses).mean()


def kl(a, b):
    log_p, log_q = F.log_softmax(a, -1), F.log_softmax(b, -1)
    return (log_p.exp() * (log_p - log_q)).sum()


def double_loop(scores, keep):
    """For each kept example, 1 / (S (S - 1)) * the sum over ordered pairs i != j of KL(p_i || p_j) of the
    distributions over the T positions; the mean over the kept examples. scores: (S, B, T), keep: (B,) bool"""
    s = scores.shape[0]
    per_example = [
        sum(kl(scores[i, b], scores[j, b]) for i in range(s) for j in range(s) if i != j) / (s * (s - 1))
        for b in keep.nonzero().flatten().tolist()
    ]
    return torch.stack(per_example).mean()


def train(model, tmp_path, ds, collator, **kwargs):
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, **kwargs), train_dataset=ds, data_collator=collator)
    trainer.train()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fixed_model():
    """Every dropout off but the head's 4 fixed masks (`FixedSampleLinear`)."""
    return with_fixed_masks(span_model(dropout=0.0, msd_num_samples=4, msd_dropout=0.1), SPAN, 4)


# -------------------------------------------------------------------------------------- gradient accumulation
def span_loss(model, inputs, consistency=0.0):
    """The direct loss of a batch: the mean span loss of the samples plus `consistency` times the mean of the start
    and end double loops (every example counted)."""
    out = model(**{k: v for k, v in inputs.items() if not k.endswith("_positions")})
    start, end = out.sample_start_logits, out.sample_end_logits
    loss = span_ce(start, end, inputs["start_positions"], inputs["end_positions"])
    if consistency:
        every = torch.ones(start.shape[1], dtype=torch.bool)
        loss = loss + consistency * (double_loop(start, every) + double_loop(end, every)) / 2
    return loss


# One SGD step at this rate, without gradient clipping: a wrong scale of the loss changes the step.
STEP = dict(learning_rate=0.01, max_grad_norm=0.0, train_sampling_strategy="sequential")


def trainer_step(init, ds, tmp_path, **kwargs):
    """The weights after one MSDTrainer step from the weights `init` (`STEP`, `kwargs`), rows padded to 9 tokens."""
    model = fixed_model()
    model.load_state_dict(init)
    return train(model, tmp_path, ds, pad_collator(length=9), **STEP, **kwargs)


@pytest.mark.parametrize("consistency", [0.0, 0.5])
def test_gradient_accumulation_is_exact_for_equal_micro_batches(tmp_path, consistency):
    """The Trainer counts no items for question answering: each micro-batch's loss is divided by the accumulation
    steps. With micro-batches of equal size, every position counted and the same padded length (here 9 throughout),
    2 x 4 gives the weights of one batch of 8, the step of the direct loss."""
    ds = span_dataset(LENGTHS)
    torch.manual_seed(0)
    init = fixed_model().state_dict()
    full = trainer_step(init, ds, tmp_path / "full", per_device_train_batch_size=8, msd_consistency=consistency)
    accum = trainer_step(
        init, ds, tmp_path / "accum", per_device_train_batch_size=4, gradient_accumulation_steps=2,
        msd_consistency=consistency,
    )  # fmt: skip
    direct = sgd_step(fixed_model(), init, lambda m: span_loss(m, collate(ds, length=9), consistency), lr=0.01)
    assert moved(init, full) > 1e-3
    for key in full:
        torch.testing.assert_close(full[key], accum[key], atol=1e-6, rtol=1e-5, msg=key)
        torch.testing.assert_close(full[key], direct[key], atol=1e-6, rtol=1e-5, msg=key)


def test_unequal_micro_batches_average_the_micro_batch_means(tmp_path):
    """6 rows as 4 + 2: the step is the one of (L(rows 0-3) + L(rows 4-5)) / 2, the mean of the micro-batch means,
    as the upstream Trainer does for models it counts no items for; not the step of the mean over the 6 rows."""
    ds = span_dataset(LENGTHS[:6])
    torch.manual_seed(0)
    init = fixed_model().state_dict()
    accum = trainer_step(init, ds, tmp_path, per_device_train_batch_size=4, gradient_accumulation_steps=2)
    inputs = collate(ds, length=9)
    first, last = ({k: v[part] for k, v in inputs.items()} for part in (slice(0, 4), slice(4, 6)))
    means = sgd_step(fixed_model(), init, lambda m: (span_loss(m, first) + span_loss(m, last)) / 2, lr=0.01)
    pooled = sgd_step(fixed_model(), init, lambda m: span_loss(m, inputs), lr=0.01)
    for key in means:
        torch.testing.assert_close(accum[key], means[key], atol=1e-6, rtol=1e-5, msg=key)
    assert moved(pooled, accum) > 1e-3


# ----------------------------------------------------------------------------------------------- consistency
def test_consistency_over_start_and_end_distributions(tmp_path):
    """msd_consistency: (start term + end term) / 2, each the mean over the examples of the pairwise KL of the
    samples' distributions over the positions (the distributions the loss trains, as upstream: every position of the
    padded row); examples whose position the loss ignores (outside the sequence) are left out of that term."""
    model = span_model(dropout=0.1, msd_num_samples=3, msd_dropout=0.3)
    nn.init.normal_(model.qa_outputs.weight, std=1.0)
    ds = span_dataset(LENGTHS)
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, msd_consistency=0.7), train_dataset=ds,
                         data_collator=pad_collator())  # fmt: skip
    inputs = collate(ds)
    inputs["start_positions"][2] = 40  # outside the 9 positions: ignored by the start loss, counted by the end loss
    seen = capture(model, "sample_start_logits", "sample_end_logits")
    model.train()
    loss = trainer.compute_loss(model, inputs)
    ((start, end),) = seen  # (K, B, T) each
    assert start.shape == (3, 8, 9)
    counted = torch.ones(8, dtype=torch.bool)
    start_counted = counted.clone()
    start_counted[2] = False
    term = (double_loop(start, start_counted) + double_loop(end, counted)) / 2
    assert 0.7 * term > 1e-3
    direct = span_ce(start, end, inputs["start_positions"], inputs["end_positions"]) + 0.7 * term
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)
    assert abs(double_loop(start, counted) - double_loop(start, start_counted)) > 1e-3  # the ignored one matters


# ------------------------------------------------------------------------------------------ Monte-Carlo dropout
@pytest.mark.parametrize("layers", [0, 1, 2, "all"])  # 2: every layer of the tiny model
def test_mc_dropout_span_shapes(layers):
    """(N, B, T) start and end samples at every depth; head only, the start and end logits stay the eval ones (row
    0 without dropout); deeper, they are the MC predictive logits over the positions."""
    model = span_model(dropout=0.1, msd_num_samples=4, msd_dropout=0.3).eval()
    inputs = collate(span_dataset(LENGTHS[:4]))
    features = {k: v for k, v in inputs.items() if not k.endswith("_positions")}
    with torch.no_grad():
        expected = model(**features)
        with mc_dropout(model, num_samples=5, layers=layers):
            out = model(**inputs)
    for name in ("start_logits", "end_logits"):
        s = out[f"sample_{name}"]
        assert s.shape == (5, 4, 9) and out[name].shape == (4, 9) and not torch.allclose(s[0], s[1])
        if layers == 0:
            assert torch.equal(out[name], expected[name])
        else:
            torch.testing.assert_close(out[name], msd.predictive_logits(s, "single_label_classification"))
    scores = (out.start_logits, out.end_logits)
    predicted = span_ce(*(x.unsqueeze(0) for x in scores), inputs["start_positions"], inputs["end_positions"])
    torch.testing.assert_close(out.loss, predicted)


def entropy(p):
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)


def direct_span_uncertainty(samples, real):
    """Entropy and mutual information of the distributions over the real positions (padding left out), from the
    definitions (float64). samples: (N, B, T), real: (B, T) bool"""
    s = np.where(real, np.asarray(samples, dtype=np.float64), -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)  # (N, B, T), 0 on the padding
    h = entropy(p.mean(0))
    return {"entropy": h, "mutual_information": h - entropy(p).mean(0)}


@pytest.mark.parametrize("layers", [0, "all"])
def test_trainer_mc_predict_spans_over_the_real_positions(tmp_path, layers):
    """Batches of 3, 3 and 1 rows padded to 9, 8 and 7 tokens: the start and end uncertainty of each example is the
    one of its distributions over its real positions, from the samples the model gave; predictions are the MC
    predictive scores (padded by the Trainer with -100)."""
    model = span_model(dropout=0.1, msd_num_samples=4, msd_dropout=0.3)
    nn.init.normal_(model.qa_outputs.weight, std=1.0)
    ds = span_dataset(LENGTHS[:7])
    collator, batches = pad_collator(), []
    args = trainer_args(tmp_path, per_device_eval_batch_size=3, msd_eval_samples=5, msd_eval_layers=layers)
    trainer = MSDTrainer(model=model, args=args, data_collator=lambda f: batches.append(collator(f)) or batches[-1])
    seen = capture(model, "sample_start_logits", "sample_end_logits")
    pred = trainer.predict(ds)
    mc = trainer.mc_uncertainty
    keys = {f"{p}_{k}" for p in ("start", "end") for k in ("entropy", "mutual_information")}
    assert set(mc) == keys and all(mc[k].shape == (7,) for k in keys)
    start_pred, end_pred = pred.predictions
    assert start_pred.shape == end_pred.shape == (7, 9)
    first = 0
    for (start, end), inputs in zip(seen, batches, strict=True):
        b, t = start.shape[1:]
        real = inputs["attention_mask"].bool().numpy()
        for prefix, samples, predictions in (("start", start, start_pred), ("end", end, end_pred)):
            direct = direct_span_uncertainty(samples, real)
            for key, value in direct.items():
                np.testing.assert_allclose(mc[f"{prefix}_{key}"][first : first + b], value, atol=1e-5)
            predictive = msd.predictive_logits(samples, "single_label_classification").numpy()
            np.testing.assert_allclose(predictions[first : first + b, :t], predictive, atol=1e-5)
        first += b
    assert mc["start_mutual_information"].min() > 1e-4


def test_trainer_span_uncertainty_does_not_depend_on_padding(tmp_path):
    """With every rate 0 the samples are deterministic: each row's start and end entropies are the same alone (no
    padding) and in a batch padded to 9 tokens."""
    model = span_model(dropout=0.0, msd_num_samples=2, msd_dropout=0.0)
    nn.init.normal_(model.qa_outputs.weight, std=1.0)
    ds = span_dataset(LENGTHS[:6]).remove_columns(["start_positions", "end_positions"])
    alone, padded = uncertainty_alone_and_batched(model, ds, tmp_path, trainer_args)
    for key in ("start_entropy", "end_entropy"):
        np.testing.assert_allclose(padded[key], alone[key], atol=1e-6, err_msg=key)
