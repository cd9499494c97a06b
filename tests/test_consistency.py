"""consistency_loss against a direct double loop over pairs and R-Drop's formula."""

import pytest
import torch
import torch.nn.functional as F

from msd_transformers import consistency_loss

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
