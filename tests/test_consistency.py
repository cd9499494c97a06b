"""consistency_loss against a direct double loop over pairs and R-Drop's formula; MSDTrainer with msd_consistency:
the loss of a step from captured sample logits, exact gradient accumulation with fixed masks, logging, errors, and
the fine-tuning script's field."""

import math

import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import (
    batch,
    load_train_script,
    make_dataset,
    moved,
    msd_model,
    trained_weights,
    trainer_args,
    upstream_model,
)
from torch import nn

from msd_transformers import MSDTrainer, MultiSampleLinear, consistency_loss, get_architecture

PROBLEMS = ("single_label_classification", "multi_label_classification", "regression")


def pair_divergence(a: torch.Tensor, b: torch.Tensor, problem_type: str) -> torch.Tensor:
    """D(a, b) per example, written out from the definitions. a, b: (B, C) logits -> (B,)"""
    if problem_type == "single_label_classification":
        log_p, log_q = F.log_softmax(a, -1), F.log_softmax(b, -1)
        return (log_p.exp() * (log_p - log_q)).sum(-1)  # KL(p || q)
    if problem_type == "multi_label_classification":
        # Bernoulli KL per label: q_a log(q_a / q_b) + (1 - q_a) log((1 - q_a) / (1 - q_b)), in log space
        q = torch.sigmoid(a)
        kl = q * (F.logsigmoid(a) - F.logsigmoid(b)) + (1 - q) * (F.logsigmoid(-a) - F.logsigmoid(-b))
        return kl.mean(-1)
    return (a - b).pow(2).mean(-1)


def double_loop(sample_logits: torch.Tensor, problem_type: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """1 / (S (S - 1)) * sum over ordered pairs i != j of D(i, j), mean over the (masked) examples."""
    s = sample_logits.shape[0]
    total = sum(
        pair_divergence(sample_logits[i], sample_logits[j], problem_type) for i in range(s) for j in range(s) if i != j
    )
    per_example = total / (s * (s - 1))
    return per_example.mean() if mask is None else per_example[mask].mean()


def random_logits(s, b=5, c=4, scale=3.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(s, b, c, generator=g, dtype=torch.float64)).to(dtype)


# ------------------------------------------------------------------------------------------------ the function
@pytest.mark.parametrize("problem_type", PROBLEMS)
@pytest.mark.parametrize("s", [2, 3, 6])
def test_matches_double_loop_over_pairs(problem_type, s):
    logits = random_logits(s, seed=s).requires_grad_()
    value = consistency_loss(logits, problem_type)
    direct = double_loop(logits, problem_type)
    torch.testing.assert_close(value, direct, rtol=1e-10, atol=1e-12)
    assert value > 0
    # Same gradients as the double loop: the closed form is the same function, not just the same number.
    (grad,) = torch.autograd.grad(value, logits)
    (direct_grad,) = torch.autograd.grad(direct, logits)
    torch.testing.assert_close(grad, direct_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("problem_type", PROBLEMS)
def test_two_samples_is_the_r_drop_term(problem_type):
    z1, z2 = random_logits(2, b=6, c=3, seed=7)
    value = consistency_loss(torch.stack([z1, z2]), problem_type)
    if problem_type == "single_label_classification":
        # F.kl_div(log q, p) = KL(p || q), summed over classes; R-Drop: (KL(P1||P2) + KL(P2||P1)) / 2
        lp1, lp2 = F.log_softmax(z1, -1), F.log_softmax(z2, -1)
        kl12 = F.kl_div(lp2, lp1, log_target=True, reduction="batchmean")
        kl21 = F.kl_div(lp1, lp2, log_target=True, reduction="batchmean")
        rdrop = (kl12 + kl21) / 2
    elif problem_type == "multi_label_classification":
        p1, p2 = torch.sigmoid(z1), torch.sigmoid(z2)

        def bernoulli_kl(p, q):
            return p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))

        rdrop = ((bernoulli_kl(p1, p2) + bernoulli_kl(p2, p1)) / 2).mean()
    else:
        rdrop = F.mse_loss(z1, z2)  # the paper's regression form: squared difference of the two outputs
    torch.testing.assert_close(value, rdrop, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("problem_type", PROBLEMS)
def test_one_sample_and_identical_samples_give_zero(problem_type):
    one = random_logits(1).requires_grad_()
    zero = consistency_loss(one, problem_type)
    assert zero.item() == 0.0 and zero.dim() == 0 and zero.requires_grad
    zero.backward()  # still attached to the graph
    assert torch.equal(one.grad, torch.zeros_like(one))
    same = random_logits(1).expand(4, -1, -1)
    assert abs(consistency_loss(same, problem_type).item()) < 1e-12


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    logits = random_logits(4, dtype=dtype)
    value = consistency_loss(logits, "single_label_classification")
    assert value.dtype == torch.float32
    reference = double_loop(logits.double(), "single_label_classification")
    torch.testing.assert_close(value.double(), reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("problem_type", PROBLEMS[:2])
def test_large_logits_stay_finite(problem_type):
    logits = random_logits(3, scale=300.0, dtype=torch.float32)
    value = consistency_loss(logits, problem_type)
    assert torch.isfinite(value)
    torch.testing.assert_close(value.double(), double_loop(logits.double(), problem_type), rtol=1e-4, atol=1e-4)


def test_mask_keeps_only_the_given_examples():
    logits = random_logits(3, b=6)
    mask = torch.tensor([True, False, True, True, False, True])
    for problem_type in PROBLEMS:
        value = consistency_loss(logits, problem_type, mask=mask)
        torch.testing.assert_close(value, double_loop(logits, problem_type, mask), rtol=1e-10, atol=1e-12)
    assert consistency_loss(logits, PROBLEMS[0], mask=torch.zeros(6, dtype=torch.bool)).item() == 0.0


@pytest.mark.parametrize(
    "logits, problem_type, mask, match",
    [
        (torch.zeros(4, 3), "regression", None, r"shape \(S, batch_size, num_labels\), got \(4, 3\)"),
        (torch.zeros(2, 4, 3), "multi_label", None, "problem_type must be one of"),
        (torch.zeros(2, 4, 3), None, None, "got None"),
        (torch.zeros(2, 4, 3), "regression", torch.ones(4), "mask must be a bool tensor of shape"),
        (torch.zeros(2, 4, 3), "regression", torch.ones(3, dtype=torch.bool), r"shape \(4,\)"),
    ],
)
def test_bad_inputs(logits, problem_type, mask, match):
    with pytest.raises(ValueError, match=match):
        consistency_loss(logits, problem_type, mask=mask)


# ------------------------------------------------------------------------------------------------ MSDTrainer
def capture(model, field):
    """Record `field` of every forward output of `model`."""
    seen = []
    model.register_forward_hook(lambda module, inputs, output: seen.append(getattr(output, field)))
    return seen


def step_loss(trainer, model, inputs):
    model.train()
    return trainer.compute_loss(model, inputs)


def sharpened(model, model_type="bert"):
    """The model with its final Linear at weight std 1: a tiny random model's outputs are near uniform, and the
    samples' divergences (~1e-5) would be close to the tolerance of the comparisons."""
    nn.init.normal_(model.get_submodule(get_architecture(model_type).classifier).weight, std=1.0)
    return model


def test_msd_model_step_adds_the_weighted_term(tmp_path, model_type):
    """Every architecture: loss = mean per-sample cross-entropy + w * consistency of the K head samples."""
    model = sharpened(msd_model(model_type, msd_num_samples=4, msd_dropout=0.3), model_type)
    ds = make_dataset()
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, msd_consistency=0.7), train_dataset=ds)
    inputs = batch(ds)
    seen = capture(model, "sample_logits")
    loss = step_loss(trainer, model, inputs)
    (s,) = seen  # (K, B, C)
    assert s.shape == (4, 8, 3)
    ce = torch.stack([F.cross_entropy(x, inputs["labels"]) for x in s]).mean()
    term = double_loop(s, "single_label_classification")
    assert 0.7 * term > 1e-3  # far above the tolerance: a missing or misweighted term fails
    torch.testing.assert_close(loss, ce + 0.7 * term, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("task, problem_type", [("regression", "regression"), ("multi", PROBLEMS[1])])
def test_msd_model_step_regression_and_multilabel(tmp_path, task, problem_type):
    num_labels = 1 if task == "regression" else 3
    model = sharpened(msd_model(num_labels=num_labels, msd_num_samples=3, msd_dropout=0.3, problem_type=problem_type))
    ds = make_dataset(task=task, num_labels=num_labels)
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, msd_consistency=2.0), train_dataset=ds)
    inputs = batch(ds)
    seen = capture(model, "sample_logits")
    loss = step_loss(trainer, model, inputs)
    (s,) = seen
    if task == "regression":
        data_loss = torch.stack([F.mse_loss(x.squeeze(-1), inputs["labels"]) for x in s]).mean()
    else:
        data_loss = torch.stack([F.binary_cross_entropy_with_logits(x, inputs["labels"]) for x in s]).mean()
    term = double_loop(s, problem_type)
    assert 2.0 * term > 1e-3
    torch.testing.assert_close(loss, data_loss + 2.0 * term, atol=1e-6, rtol=1e-6)


def test_logit_averaging_sees_the_samples_before_averaging(tmp_path):
    model = sharpened(msd_model(msd_num_samples=4, msd_dropout=0.3, msd_average="logits"))
    ds = make_dataset()
    trainer = MSDTrainer(model=model, args=trainer_args(tmp_path, msd_consistency=0.5), train_dataset=ds)
    inputs = batch(ds)
    seen = capture(model, "sample_logits")
    loss = step_loss(trainer, model, inputs)
    (s,) = seen
    direct = F.cross_entropy(s.mean(0), inputs["labels"]) + 0.5 * double_loop(s, "single_label_classification")
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)


def test_upstream_model_two_passes_is_r_drop(tmp_path):
    """A upstream model, msd_forward_passes=2: (CE1 + CE2) / 2 + w * (KL(P1||P2) + KL(P2||P1)) / 2, i.e. half of the
    paper's NLL1 + NLL2 + alpha * (KL(P1||P2) + KL(P2||P1)) / 2 with alpha = 2 w."""
    model = sharpened(upstream_model(dropout=0.2))
    ds = make_dataset()
    w = 0.25
    trainer = MSDTrainer(
        model=model, args=trainer_args(tmp_path, msd_forward_passes=2, msd_consistency=w), train_dataset=ds
    )
    inputs = batch(ds)
    seen = capture(model, "logits")
    loss = step_loss(trainer, model, inputs)
    (logits,) = seen
    z1, z2 = logits.view(2, 8, 3)  # rows m * B + b: pass m, example b
    assert not torch.allclose(z1, z2)
    y = inputs["labels"]
    ce1, ce2 = F.cross_entropy(z1, y), F.cross_entropy(z2, y)
    lp1, lp2 = F.log_softmax(z1, -1), F.log_softmax(z2, -1)
    kl12 = (lp1.exp() * (lp1 - lp2)).sum(-1).mean()
    kl21 = (lp2.exp() * (lp2 - lp1)).sum(-1).mean()
    assert w * (kl12 + kl21) / 2 > 1e-3
    torch.testing.assert_close(loss, (ce1 + ce2) / 2 + w * (kl12 + kl21) / 2, atol=1e-6, rtol=1e-6)
    alpha = 2 * w
    torch.testing.assert_close(2 * loss, ce1 + ce2 + alpha * (kl12 + kl21) / 2, atol=1e-6, rtol=1e-6)


def test_msd_model_with_passes_compares_all_samples_and_skips_ignored_labels(tmp_path):
    model = sharpened(msd_model(msd_num_samples=3, msd_dropout=0.3, dropout=0.2))
    ds = make_dataset()
    trainer = MSDTrainer(
        model=model, args=trainer_args(tmp_path, msd_forward_passes=2, msd_consistency=1.5), train_dataset=ds
    )
    inputs = batch(ds)
    inputs["labels"][[1, 6]] = -100
    seen = capture(model, "sample_logits")
    loss = step_loss(trainer, model, inputs)
    (s,) = seen
    s = s.view(6, 8, 3)  # (K, M * B, C) -> (K * M, B, C): all 6 samples of each example
    keep = inputs["labels"] != -100
    ce = torch.stack([F.cross_entropy(x, inputs["labels"]) for x in s]).mean()  # ignores -100
    term = double_loop(s, "single_label_classification", keep)
    assert term > 1e-3 and not torch.isclose(term, double_loop(s, "single_label_classification"))
    direct = ce + 1.5 * term
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)


class FixedSampleMasks(nn.Module):
    """K fixed dropout masks over the features, the same for every example: samples that differ, but do not depend
    on how the batch is split. (B, H) -> (K, B, H) in training."""

    def __init__(self, num_samples: int, hidden: int, p: float = 0.5, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("masks", (torch.rand(num_samples, 1, hidden, generator=g) >= p).float() / (1 - p))

    def forward(self, x):
        return x.unsqueeze(0) * self.masks if self.training else x.unsqueeze(0)


class FixedSampleLinear(MultiSampleLinear):
    """An MSD head whose K dropout masks are fixed (`FixedSampleMasks`): (B, H) -> (K, B, C) in training."""

    @classmethod
    def around(cls, linear: nn.Linear, num_samples: int) -> "FixedSampleLinear":
        head = cls.from_linear(linear, num_samples, 0.0)
        head.masks = FixedSampleMasks(num_samples, linear.in_features)
        return head

    def forward(self, x):
        return F.linear(self.masks.train(self.training)(x), self.weight, self.bias)


class FixedPassMasks(FixedSampleMasks):
    """One fixed mask per forward pass for `repeat_batch` inputs: row m * B + b gets pass m's mask. (M*B, H) kept."""

    def forward(self, x):
        if not self.training:
            return x
        m = self.masks.shape[0]
        return (x.view(m, -1, x.shape[-1]) * self.masks).view_as(x)


def masked_model(kind, task):
    """A tiny BERT with every dropout off but the classifier's, whose masks are fixed (4 head samples, or one mask
    for each of 2 passes)."""
    num_labels = 1 if task == "regression" else 3
    problem_type = {"single": PROBLEMS[0], "multi": PROBLEMS[1], "regression": PROBLEMS[2]}[task]
    if kind == "msd":
        model = msd_model(num_labels=num_labels, dropout=0.0, msd_num_samples=4)
        model.classifier = FixedSampleLinear.around(model.classifier, 4)
    else:
        model = upstream_model(num_labels=num_labels, dropout=0.0)
        model.dropout = FixedPassMasks(2, 32)
    model.config.problem_type = problem_type
    nn.init.normal_(model.classifier.weight, std=2.0)  # logits far enough apart for the term to weigh in the step
    return model


@pytest.mark.parametrize(
    "kind, task", [("msd", "single"), ("msd", "multi"), ("msd", "regression"), ("upstream", "single")]
)
def test_gradient_accumulation_is_exact_with_the_term(tmp_path, kind, task):
    """One optimizer step with msd_consistency on: 2 x 4 accumulation == one batch of 8, the dropout masks fixed.
    Single-label: two examples labelled -100, both in the second micro-batch (sequential order), so the halves hold
    4 and 2 counted examples."""
    num_labels = 1 if task == "regression" else 3
    ds = make_dataset(task=task, num_labels=num_labels)
    if task == "single":
        ds = ds.map(lambda row, i: {"labels": -100 if i in (5, 6) else row["labels"]}, with_indices=True)
    common = dict(
        msd_consistency=1.0, msd_forward_passes=2 if kind == "upstream" else 1, train_sampling_strategy="sequential"
    )
    torch.manual_seed(0)
    init = masked_model(kind, task).state_dict()

    def run(out, **kwargs):
        model = masked_model(kind, task)
        model.load_state_dict(init)
        return trained_weights(model, tmp_path / out, ds, **{**common, **kwargs})

    full, trainer = run("full", per_device_train_batch_size=8)
    accum, _ = run("accum", per_device_train_batch_size=4, gradient_accumulation_steps=2)
    assert moved(init, full) > 1e-3
    if kind == "msd" and task == "single":  # the term changes the update: the comparison below is not vacuous
        off, off_trainer = run("off", per_device_train_batch_size=8, msd_consistency=0.0)
        assert moved(off, full) > 1e-3
        assert all("msd_consistency_loss" not in h for h in off_trainer.state.log_history)  # logged only when on
    for key in full:
        torch.testing.assert_close(full[key], accum[key], atol=1e-6, rtol=1e-5, msg=key)
    (logged,) = [h for h in trainer.state.log_history if "loss" in h]
    assert logged["msd_consistency_loss"] > 0


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, True, "0.5"])
def test_bad_msd_consistency(tmp_path, value):
    with pytest.raises(ValueError, match=r"msd_consistency must be a number >= 0, got"):
        trainer_args(tmp_path, msd_consistency=value)


def test_nothing_to_compare_is_an_error_at_init(tmp_path):
    ds = make_dataset()
    for model in (upstream_model(), msd_model(msd_num_samples=1)):
        with pytest.raises(ValueError, match="msd_consistency=0.5 compares the dropout samples .* nothing to compare"):
            MSDTrainer(model=model, args=trainer_args(tmp_path, msd_consistency=0.5), train_dataset=ds)
    # One head sample but two passes is fine (R-Drop on an MSD model with K = 1).
    MSDTrainer(
        model=msd_model(msd_num_samples=1), args=trainer_args(tmp_path, msd_consistency=0.5, msd_forward_passes=2)
    )
    # Passes split over several forwards: the arguments alone refuse it, before any model is built.
    with pytest.raises(ValueError, match="msd_forward_chunk_size=1 < msd_forward_passes=2"):
        trainer_args(tmp_path, msd_consistency=0.5, msd_forward_passes=2, msd_forward_chunk_size=1)


def test_plain_training_arguments_leave_the_term_off(tmp_path):
    from transformers import TrainingArguments

    plain = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    assert MSDTrainer(model=upstream_model(), args=plain).msd_args.consistency == 0.0


# ------------------------------------------------------------------------------------------------ the script
def train_script():
    return load_train_script()


def write_train_file(path):
    path.write_text("".join(f'{{"text": "word {i % 3} and {i}", "label": "{"ab"[i % 2]}"}}\n' for i in range(12)))
    return str(path)


def test_script_takes_msd_consistency(tmp_path, tiny_bert):
    """From the config file; a negative value on the command line (it overrides the file) stops the run before any
    work."""
    script = train_script()
    cfg = tmp_path / "cfg.yaml"
    fields = {
        "model_name_or_path": tiny_bert,
        "train_file": write_train_file(tmp_path / "train.jsonl"),
        "output_dir": str(tmp_path / "out"),
        "msd_consistency": 0.3,
    }
    cfg.write_text(yaml.safe_dump(fields))
    assert script.parse([str(cfg)])[2].msd_consistency == 0.3
    with pytest.raises(script.BadInput, match="msd_consistency must be a number >= 0, got -1.0"):
        script.main([str(cfg), "--msd_consistency", "-1"])
    assert not (tmp_path / "out").exists()


def test_script_run_logs_the_term(tmp_path, tiny_bert):
    """The value in the config file reaches the MSDTrainer: the run logs msd_consistency_loss."""
    script = train_script()
    fields = {
        "model_name_or_path": tiny_bert,
        "train_file": write_train_file(tmp_path / "train.jsonl"),
        "output_dir": str(tmp_path / "out"),
        "msd_num_samples": 4,
        "msd_dropout": 0.3,
        "msd_consistency": 0.5,
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "max_seq_length": 16,
        "eval_strategy": "no",
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
    }
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(fields))
    script.main([str(cfg)])
    state = yaml.safe_load((tmp_path / "out" / "trainer_state.json").read_text())
    logged = [h["msd_consistency_loss"] for h in state["log_history"] if "loss" in h]
    assert len(logged) == 2 and all(v > 0 for v in logged)
    assert "| msd_consistency | 0.5 |" in (tmp_path / "out" / "README.md").read_text()
