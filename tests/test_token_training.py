"""MSDTrainer, consistency, Monte-Carlo dropout and LoRA on token classification, with padded examples of different
lengths and -100 labels: exact gradient accumulation over labelled tokens, the whole-network variant, class weights
and label smoothing, the consistency term per labelled token against a double loop, per-token and per-sequence
uncertainty against a direct computation, and adapters of both token-level tasks saved and reloaded as MSD models."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import moved, pad_token_id, row, tiny_config, trainer_args
from peft import LoraConfig, get_peft_model
from token_batches import (
    NUM_TAGS,
    SPAN,
    TOKEN,
    capture,
    collate,
    head_path,
    pad_collator,
    sgd_step,
    span_dataset,
    token_dataset,
    token_model,
    uncertainty_alone_and_batched,
    with_fixed_masks,
)
from torch import nn

import msd_transformers as msd
from msd_transformers import MSDTrainer, mc_dropout, predictive_uncertainty

# Eight rows of 3 to 9 tokens: the first four hold 10 labelled tokens and pad to 9, the last four 16 and pad to 8.
LENGTHS = [4, 9, 3, 5, 8, 6, 7, 6]


def token_ce(sample_logits, labels, weight=None, smoothing=0.0):
    """Each sample's upstream token loss, `CrossEntropyLoss(weight, label_smoothing)` over the flattened tokens
    (-100 ignored), averaged over the samples. sample_logits: (S, B, T, C)"""
    c = sample_logits.shape[-1]
    return torch.stack(
        [F.cross_entropy(s.reshape(-1, c), labels.reshape(-1), weight=weight, label_smoothing=smoothing)
         for s in sample_logits]
    ).mean()  # fmt: skip


def kl(a, b):
    """KL(softmax(a) || softmax(b)) of two logit vectors."""
    log_p, log_q = F.log_softmax(a, -1), F.log_softmax(b, -1)
    return (log_p.exp() * (log_p - log_q)).sum()


def token_double_loop(sample_logits, keep):
    """For each kept token, 1 / (S (S - 1)) * the sum over ordered pairs of samples i != j of KL(p_i || p_j); the
    mean over the kept tokens. sample_logits: (S, B, T, C), keep: (B, T) bool"""
    s = sample_logits.shape[0]
    per_token = [
        sum(kl(sample_logits[i, b, t], sample_logits[j, b, t]) for i in range(s) for j in range(s) if i != j)
        / (s * (s - 1))
        for b, t in keep.nonzero().tolist()
    ]
    return torch.stack(per_token).mean()


def train_step_loss(trainer, model, inputs):
    model.train()
    return trainer.compute_loss(model, inputs)


# -------------------------------------------------------------------------------------------- training loss
def train(model, tmp_path, ds, collator=None, **kwargs):
    """Train `model` on `ds` with `trainer_args(tmp_path, **kwargs)`, batches padded by `collator`; returns (its
    weights after, the trainer)."""
    args = trainer_args(tmp_path, **kwargs)
    trainer = MSDTrainer(model=model, args=args, train_dataset=ds, data_collator=collator or pad_collator())
    trainer.train()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, trainer


@pytest.mark.parametrize("consistency", [0.0, 0.5])
@pytest.mark.parametrize("family", ["bert", "llama"])
def test_gradient_accumulation_is_exact_over_labelled_tokens(tmp_path, family, consistency):
    """One SGD step: 2 x 4 accumulation == one batch of 8 == the step of the direct loss over the 8 rows (to 1e-6),
    though the two micro-batches hold 10 and 16 labelled tokens and the second is padded to another length than the
    batch of 8. Every dropout off but the head's, whose 4 masks are fixed, so the samples differ but do not depend on
    the split; a small step without gradient clipping, so that a wrong scale of the loss shows."""
    ds = token_dataset(LENGTHS)
    counted = [sum(v != -100 for r in ds[i : i + 4]["labels"] for v in r) for i in (0, 4)]
    assert counted == [10, 16]

    def make():
        return with_fixed_masks(token_model(family, dropout=0.0, msd_num_samples=4, msd_dropout=0.1), TOKEN, 4)

    torch.manual_seed(0)
    init = make().state_dict()

    def run(name, **kwargs):
        model = make()
        model.load_state_dict(init)
        return train(
            model, tmp_path / name, ds, pad_collator(pad_token_id(model.config)), train_sampling_strategy="sequential",
            msd_consistency=consistency, learning_rate=0.01, max_grad_norm=0.0, **kwargs,
        )  # fmt: skip

    full, trainer = run("full", per_device_train_batch_size=8)
    accum, _ = run("accum", per_device_train_batch_size=4, gradient_accumulation_steps=2)

    def direct_loss(model):
        inputs = collate(ds, model.config)
        labels = inputs.pop("labels")
        s = model(**inputs).sample_logits  # (K, B, T, C)
        return token_ce(s, labels) + consistency * token_double_loop(s, labels != -100)

    direct = sgd_step(make(), init, direct_loss, lr=0.01)
    assert moved(init, full) > 1e-3
    for key in full:
        torch.testing.assert_close(full[key], accum[key], atol=1e-6, rtol=1e-5, msg=key)
        torch.testing.assert_close(full[key], direct[key], atol=1e-6, rtol=1e-5, msg=key)
    (logged,) = [h for h in trainer.state.log_history if "loss" in h]
    assert logged["msd_loss_std"] > 0 and (consistency == 0) == ("msd_consistency_loss" not in logged)


@pytest.mark.parametrize(
    "smoothing, weights, average", [(0.0, None, "loss"), (0.2, None, "loss"), (0.0, [1.0, 3.0, 0.5], "loss"),
                                    (0.1, [0.5, 2.0, 1.0], "loss"), (0.1, [0.5, 2.0, 1.0], "logits")],
)  # fmt: skip
def test_token_loss_with_smoothing_and_class_weights_matches_direct(tmp_path, smoothing, weights, average):
    """The trainer's loss: weighted / smoothed cross-entropy of each sample over the labelled tokens, averaged over the
    samples (or of the mean logits with msd_average="logits"); padding and -100 tokens do not count."""
    model = token_model(msd_num_samples=4, msd_dropout="linspace(0.1, 0.4)", msd_average=average)
    nn.init.normal_(model.classifier.weight, std=1.0)
    ds = token_dataset(LENGTHS)
    args = trainer_args(tmp_path, label_smoothing_factor=smoothing, msd_class_weights=weights)
    trainer = MSDTrainer(model=model, args=args, train_dataset=ds, data_collator=pad_collator())
    inputs = collate(ds)
    seen = capture(model, "sample_logits")
    loss = train_step_loss(trainer, model, inputs)
    (s,) = seen  # (K, B, T, C)
    assert s.shape == (4, 8, 9, NUM_TAGS)
    w = torch.tensor(weights) if weights else None
    samples = s if average == "loss" else s.mean(0, keepdim=True)
    direct = token_ce(samples, inputs["labels"], w, smoothing)
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)
    # Not vacuous: counting the padding (labelled as class 0) changes the loss.
    labels = torch.where(inputs["attention_mask"].bool(), inputs["labels"], 0)
    assert abs(token_ce(samples, labels, w, smoothing) - direct) > 1e-3


@pytest.mark.parametrize("chunk", [None, 1])
def test_whole_network_passes_token_loss(tmp_path, chunk):
    """msd_forward_passes=2 on an MSD token model (K=3): the loss of the step is the mean token loss over all K * M
    samples, in one forward over the repeated batch or in chunks of one pass (each chunk weighted by its share)."""
    model = token_model(dropout=0.2, msd_num_samples=3, msd_dropout=0.3)
    ds = token_dataset(LENGTHS)
    args = trainer_args(tmp_path, msd_forward_passes=2, msd_forward_chunk_size=chunk)
    trainer = MSDTrainer(model=model, args=args, train_dataset=ds, data_collator=pad_collator())
    inputs = collate(ds)
    seen = capture(model, "sample_logits")
    loss = trainer.training_step(model, inputs)  # the loss of the step, its gradients accumulated
    if chunk is None:
        (s,) = seen  # (K, M * B, T, C): one forward
        s = s.view(6, 8, 9, NUM_TAGS)  # (K * M, B, T, C)
    else:
        assert [x.shape[1] for x in seen] == [8, 8]  # two forwards of one pass each
        s = torch.cat(seen)  # (M * K, B, T, C)
    direct = token_ce(s.detach(), inputs["labels"])
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)
    passes = s.view(3, 2, 8, 9, NUM_TAGS) if chunk is None else s.view(2, 3, 8, 9, NUM_TAGS).transpose(0, 1)
    assert not torch.allclose(passes[0, 0], passes[0, 1])  # the passes differ: dropout in the network


# ----------------------------------------------------------------------------------------------- consistency
@pytest.mark.parametrize("passes", [1, 2])
def test_token_consistency_matches_double_loop_over_labelled_tokens(tmp_path, passes):
    """msd_consistency at token level: the mean over labelled tokens of the pairwise KL of the samples (K head samples
    x M passes); padding and -100 tokens do not count."""
    model = token_model(dropout=0.1, msd_num_samples=3, msd_dropout=0.3)
    nn.init.normal_(model.classifier.weight, std=1.0)
    ds = token_dataset(LENGTHS)
    args = trainer_args(tmp_path, msd_consistency=0.7, msd_forward_passes=passes)
    trainer = MSDTrainer(model=model, args=args, train_dataset=ds, data_collator=pad_collator())
    inputs = collate(ds)
    seen = capture(model, "sample_logits")
    loss = train_step_loss(trainer, model, inputs)
    (s,) = seen
    s = s.view(3 * passes, 8, 9, NUM_TAGS)  # (K, M * B, T, C) -> (K * M, B, T, C)
    labelled = inputs["labels"] != -100
    term = token_double_loop(s, labelled)
    assert 0.7 * term > 1e-3  # far above the tolerance: a missing or misweighted term fails
    torch.testing.assert_close(loss, token_ce(s, inputs["labels"]) + 0.7 * term, atol=1e-6, rtol=1e-6)
    # Counting every position (padding and -100 tokens too) would give another value.
    everything = token_double_loop(s, torch.ones_like(labelled))
    assert abs(everything - term) > 1e-3


# ------------------------------------------------------------------------------------------ Monte-Carlo dropout
@pytest.mark.parametrize("layers", [0, 1, 2, "all"])  # 2: every layer of the tiny model
def test_mc_dropout_token_shapes(layers):
    """(N, B, T, C) sample logits at every depth; head only, `logits` stay the eval logits (row 0 without dropout);
    deeper, they are the MC predictive logits."""
    model = token_model(dropout=0.1, msd_num_samples=4, msd_dropout=0.3).eval()
    inputs = collate(token_dataset(LENGTHS[:4]))
    features = {k: v for k, v in inputs.items() if k != "labels"}
    with torch.no_grad():
        expected = model(**features).logits  # (B, T, C)
        with mc_dropout(model, num_samples=5, layers=layers):
            out = model(**inputs)
    assert out.sample_logits.shape == (5, 4, 9, NUM_TAGS) and out.logits.shape == (4, 9, NUM_TAGS)
    s = out.sample_logits
    assert not torch.allclose(s[0], s[1])
    if layers == 0:
        assert torch.equal(out.logits, expected)
        torch.testing.assert_close(out.loss, token_ce(expected.unsqueeze(0), inputs["labels"]))
    else:
        predictive = msd.predictive_logits(s, "single_label_classification")
        torch.testing.assert_close(out.logits, predictive)
        torch.testing.assert_close(out.loss, token_ce(predictive.unsqueeze(0), inputs["labels"]))
    with torch.no_grad():  # everything restored
        assert torch.equal(model(**features).logits, expected)


def entropy(p):
    return -(p * np.log(p)).sum(-1)


def direct_token_uncertainty(sample_logits, keep):
    """Per token and per sequence, from the definitions (float64): sample logits (N, B, T, C), keep (B, T)."""
    s = np.asarray(sample_logits, dtype=np.float64)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)  # (N, B, T, C)
    mean = p.mean(0)
    h = entropy(mean)  # (B, T)
    mi = h - entropy(p).mean(0)
    out = {"probs": mean, "entropy": h, "mutual_information": mi}
    for name, value in (("entropy", h), ("mutual_information", mi)):
        out[f"{name}_mean"] = np.array([v[k].mean() for v, k in zip(value, keep, strict=True)])
        out[f"{name}_max"] = np.array([v[k].max() for v, k in zip(value, keep, strict=True)])
    return out


def test_predictive_uncertainty_per_token_and_per_sequence():
    g = torch.Generator().manual_seed(0)
    s = 3 * torch.randn(6, 4, 7, 5, generator=g)  # (N, B, T, C)
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[0, 4:] = 0
    mask[2, 1:] = 0  # one real token
    u = predictive_uncertainty(s, attention_mask=mask)
    direct = direct_token_uncertainty(s, mask.bool().numpy())
    assert u.entropy.shape == (4, 7) and u.entropy_mean.shape == (4,)
    real = mask.bool().numpy()
    for key, value in direct.items():
        if key in ("probs", "entropy", "mutual_information"):  # per token: NaN at the padding, in every field
            value = np.where(real if value.ndim == 2 else real[..., None], value, np.nan)
        np.testing.assert_allclose(u[key].numpy(), value, atol=1e-5, err_msg=key)
    # The per-sequence scores ignore the padding: any logits there give the same scores.
    noisy = torch.where(mask.bool()[None, :, :, None], s, 50 * torch.randn(s.shape, generator=g))
    v = predictive_uncertainty(noisy, attention_mask=mask)
    for key in ("entropy_mean", "entropy_max", "mutual_information_mean", "mutual_information_max"):
        torch.testing.assert_close(v[key], u[key], msg=key)
    assert not torch.allclose(predictive_uncertainty(noisy, attention_mask=torch.ones_like(mask)).entropy_mean,
                              u.entropy_mean)  # fmt: skip


def mc_args(tmp_path, **kwargs):
    return trainer_args(tmp_path, per_device_eval_batch_size=3, **kwargs)


@pytest.mark.parametrize("layers, with_labels", [(0, True), ("all", True), (1, False)])
def test_trainer_mc_predict_padded_batches(tmp_path, layers, with_labels):
    """Batches of 3, 3 and 1 rows padded to 9, 8 and 7 tokens: predictions, labels and per-token uncertainty padded
    across batches (uncertainty with NaN, also at the tokens that do not count: -100 labels, or padding without
    labels); the per-sequence scores over the labelled (or real) tokens; every value equals a direct computation
    from the samples the model gave."""
    model = token_model(dropout=0.1, msd_num_samples=4, msd_dropout=0.3)
    nn.init.normal_(model.classifier.weight, std=1.0)
    ds = token_dataset(LENGTHS[:7])
    if not with_labels:
        ds = ds.remove_columns("labels")
    args = mc_args(tmp_path, msd_eval_samples=5, msd_eval_layers=layers)
    collator, batches = pad_collator(), []
    trainer = MSDTrainer(model=model, args=args, data_collator=lambda f: batches.append(collator(f)) or batches[-1])
    seen = capture(model, "sample_logits")
    pred = trainer.predict(ds)
    assert [s.shape[1:3] for s in seen] == [(3, 9), (3, 8), (1, 7)]
    mc = trainer.mc_uncertainty
    assert set(mc) == {"entropy", "mutual_information", "entropy_mean", "entropy_max", "mutual_information_mean",
                       "mutual_information_max"}  # fmt: skip
    assert pred.predictions.shape == (7, 9, NUM_TAGS) and mc["entropy"].shape == (7, 9)
    assert mc["entropy_mean"].shape == (7,)
    start = 0
    for s, inputs in zip(seen, batches, strict=True):
        b, t = s.shape[1:3]
        rows = slice(start, start + b)
        keep = (inputs["labels"] != -100) if with_labels else inputs["attention_mask"].bool()
        direct = direct_token_uncertainty(s, keep.numpy())
        predictive = msd.predictive_logits(s, "single_label_classification").numpy()
        np.testing.assert_allclose(pred.predictions[rows, :t], predictive, atol=1e-5)
        assert (pred.predictions[rows, t:] == -100).all()  # the Trainer's padding of predictions
        for key in ("entropy", "mutual_information"):
            value = mc[key][rows]
            assert np.isnan(value[:, t:]).all() and np.array_equal(np.isnan(value[:, :t]), ~keep.numpy())
            np.testing.assert_allclose(value[:, :t][keep.numpy()], direct[key][keep.numpy()], atol=1e-5)
            for score in ("mean", "max"):
                np.testing.assert_allclose(mc[f"{key}_{score}"][rows], direct[f"{key}_{score}"], atol=1e-5)
        start += b
    assert np.nanmin(mc["mutual_information"]) >= 0 and mc["mutual_information_mean"].min() > 1e-4
    if with_labels:
        np.testing.assert_array_equal(pred.label_ids, collate(ds)["labels"].numpy())
        assert "test_loss" in pred.metrics


def test_trainer_per_sequence_scores_do_not_depend_on_padding(tmp_path):
    """With every rate 0 the samples are deterministic: each row's scores are the same alone (no padding) and in
    batches padded to 9 tokens."""
    model = token_model(dropout=0.0, msd_num_samples=2, msd_dropout=0.0)
    nn.init.normal_(model.classifier.weight, std=1.0)
    ds = token_dataset(LENGTHS[:6]).remove_columns("labels")
    alone, padded = uncertainty_alone_and_batched(model, ds, tmp_path, trainer_args)
    for key in ("entropy_mean", "entropy_max"):
        np.testing.assert_allclose(padded[key], alone[key], atol=1e-6, err_msg=key)
    np.testing.assert_allclose(padded["entropy"], alone["entropy"], atol=1e-6)  # NaN at the same places


# ------------------------------------------------------------------------------------------------ PEFT LoRA
@pytest.fixture
def upstream_path(tmp_path, request):
    task = request.param
    labels = {"num_labels": NUM_TAGS} if task == TOKEN else {}  # question answering: start and end, 2 outputs
    upstream = row("bert", task).model_class(tiny_config("bert", **labels))
    upstream.save_pretrained(tmp_path / "base")
    return task, str(tmp_path / "base")


AUTO = {TOKEN: msd.AutoMSDModelForTokenClassification, SPAN: msd.AutoMSDModelForQuestionAnswering}
PEFT_AUTO = {TOKEN: msd.AutoMSDPeftModelForTokenClassification, SPAN: msd.AutoMSDPeftModelForQuestionAnswering}
PEFT_TASK = {TOKEN: "TOKEN_CLS", SPAN: "QUESTION_ANS"}


def eval_outputs(model, task):
    inputs = collate(token_dataset(LENGTHS[:4], seed=1))
    inputs.pop("labels")
    with torch.no_grad():
        out = model.eval()(**inputs)
    return out.logits if task == TOKEN else torch.stack([out.start_logits, out.end_logits])


@pytest.mark.parametrize("upstream_path", [TOKEN, SPAN], indirect=True)
def test_lora_round_trip_keeps_msd_and_the_trained_head(upstream_path, tmp_path):
    task, path = upstream_path
    model = AUTO[task].from_pretrained(path, msd_num_samples=4, msd_dropout=0.3)
    head = head_path(model, task)
    lora = LoraConfig(
        task_type=PEFT_TASK[task], r=4, lora_alpha=8, target_modules=msd.lora_target_modules(model.config),
        modules_to_save=msd.lora_modules_to_save(model.config, task),
    )  # fmt: skip
    model = get_peft_model(model, lora)
    # PEFT wraps the head's Linear in `modules_to_save`; `msd` finds the MultiSampleLinear inside.
    assert type(model.get_submodule(f"base_model.model.{head}")).__name__ == "ModulesToSaveWrapper"
    assert model.msd is model.get_base_model().msd and model.msd.num_samples == 4
    trained_head = f"base_model.model.{head}.modules_to_save.default.weight"
    before = model.get_parameter(trained_head).detach().clone()
    ds = token_dataset(LENGTHS) if task == TOKEN else span_dataset(LENGTHS)
    _, trainer = train(model, tmp_path / "out", ds, max_steps=2, learning_rate=0.05)
    assert all(h["msd_loss_std"] > 0 for h in trainer.state.log_history if "loss" in h)  # per-sample losses
    assert not torch.equal(model.get_parameter(trained_head), before)  # the head is trained
    expected = eval_outputs(model, task)

    trainer.save_model(tmp_path / "adapter")
    saved = json.loads((tmp_path / "adapter" / "msd_config.json").read_text())
    assert saved["model_type"] == "msd-bert" and saved["msd_num_samples"] == 4 and saved["msd_dropout"] == 0.3
    reloaded = PEFT_AUTO[task].from_pretrained(tmp_path / "adapter")
    base = reloaded.get_base_model()
    assert type(base).__name__ == type(model.get_base_model()).__name__ and msd.is_msd_model(base)
    assert reloaded.peft_config["default"].task_type == PEFT_TASK[task] and reloaded.msd.rates == (0.3,) * 4
    assert torch.equal(reloaded.get_parameter(trained_head), model.get_parameter(trained_head))
    assert torch.equal(eval_outputs(reloaded, task), expected)
    with pytest.raises(ValueError, match=f"holds a {PEFT_TASK[task]} adapter"):
        PEFT_AUTO[TOKEN if task == SPAN else SPAN].from_pretrained(tmp_path / "adapter")


def test_lora_modules_to_save_of_the_token_level_tasks():
    """PEFT's defaults (`classifier`, `score` for tokens; `qa_outputs` for spans) cover most heads; BigBird's span
    head lives in `qa_classifier`."""
    expected = {
        (TOKEN, "bert"): [], (TOKEN, "llama"): [], (TOKEN, "xlnet"): [], (TOKEN, "modernbert"): [],
        (SPAN, "bert"): [], (SPAN, "llama"): [], (SPAN, "layoutlmv3"): [], (SPAN, "big_bird"): ["qa_classifier"],
    }  # fmt: skip
    for (task, model_type), names in expected.items():
        assert msd.lora_modules_to_save(tiny_config(model_type), task) == names, (task, model_type)
