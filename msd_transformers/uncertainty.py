"""Predictive uncertainty from dropout samples: the Monte-Carlo predictive distribution, entropy and mutual
information.

[`predictive_uncertainty`] turns the `(N, B, ..., C)` sample logits of [`mc_dropout`] into the mean probabilities, the
predictive entropy and the mutual information (single- and multi-label) or the mean and standard deviation
(regression), per example, or per token for token-level heads (`(N, B, T, C)`), with per-sequence scores over the real
tokens. [`predictive_logits`] gives the predictive distribution as logits.

Example:

```python
>>> model.eval()
>>> with mc_dropout(model, num_samples=32):  # head only
...     out = model(**batch)
>>> u = predictive_uncertainty(out.sample_logits, problem_type="single_label_classification")
>>> u.probs.shape, u.entropy.shape, u.mutual_information.shape
(torch.Size([4, 5]), torch.Size([4]), torch.Size([4]))
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers.utils import ModelOutput

from .loss import PROBLEM_TYPES


@dataclass
class PredictiveUncertainty(ModelOutput):
    """The Monte-Carlo predictive distribution and its uncertainty, per example (fields that do not apply are None).

    Args:
        probs (`torch.Tensor` of shape `(B, C)`): Single-label: the mean of the per-sample softmax probabilities.
            Multi-label: the mean of the per-sample, per-label sigmoid probabilities.
        entropy (`torch.Tensor`): The predictive entropy in nats, the entropy of `probs`: `(B,)` for single-label,
            `(B, C)` per label (Bernoulli) for multi-label.
        mutual_information (`torch.Tensor`): The predictive entropy minus the mean entropy of the samples (BALD, the
            part of the uncertainty that the samples disagree on), `>= 0`; same shape as `entropy`.
        mean (`torch.Tensor` of shape `(B, C)`): Regression: the mean of the samples.
        std (`torch.Tensor` of shape `(B, C)`): Regression: the standard deviation of the samples (over N, without
            Bessel's correction: 0 for one sample).
        entropy_mean, entropy_max (`torch.Tensor` of shape `(B,)`): Token-level samples with an `attention_mask`:
            the mean and the largest token entropy over each sequence's real tokens, the scores an active-learning
            loop ranks sequences by.
        mutual_information_mean, mutual_information_max (`torch.Tensor` of shape `(B,)`): The same for the mutual
            information.

    Token-level samples `(N, B, T, C)` give `probs` `(B, T, C)` and `entropy`, `mutual_information` `(B, T)`.
    """

    probs: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    mutual_information: torch.Tensor | None = None
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None
    entropy_mean: torch.Tensor | None = None
    entropy_max: torch.Tensor | None = None
    mutual_information_mean: torch.Tensor | None = None
    mutual_information_max: torch.Tensor | None = None


def _check_sample_logits(sample_logits: Any, problem_type: str) -> torch.Tensor:
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}.")
    sample_logits = torch.as_tensor(sample_logits)
    if sample_logits.dim() < 3 or sample_logits.shape[0] < 1:
        raise ValueError(
            "sample_logits must have shape (num_samples, batch_size, num_labels), or (num_samples, batch_size, "
            f"seq_len, num_labels) for tokens, got {tuple(sample_logits.shape)}."
        )
    if problem_type == "single_label_classification" and sample_logits.shape[-1] < 2:
        raise ValueError(
            f"single_label_classification needs >= 2 labels, got {sample_logits.shape[-1]} (one output is regression)."
        )
    return sample_logits if sample_logits.dtype == torch.float64 else sample_logits.float()


def predictive_logits(sample_logits: torch.Tensor, problem_type: str) -> torch.Tensor:
    """The Monte-Carlo predictive distribution of `(N, B, C)` sample logits, as `(B, C)` logits (`(N, B, T, C)` token
    logits give `(B, T, C)`; question-answering scores `(N, B, T)` are single-label over the T positions).

    Single-label: `log(mean_n softmax(z_n))`, so `softmax` of the result is the mean probability and its `argmax` the
    MC prediction. Multi-label: `logit(mean_n sigmoid(z_n))`, so `sigmoid` of the result is the mean per-label
    probability. Regression: the mean of the samples. Computed in float32 (float64 for float64 inputs) with
    log-sum-exp, so saturated probabilities stay finite.

    Args:
        sample_logits (`torch.Tensor` of shape `(N, B, C)`): The logits of each sample.
        problem_type (`str`): `"single_label_classification"`, `"multi_label_classification"` or `"regression"`.

    Returns:
        `torch.Tensor` of shape `(B, C)`.
    """
    x = _check_sample_logits(sample_logits, problem_type)
    log_n = math.log(x.shape[0])
    if problem_type == "single_label_classification":
        return torch.logsumexp(F.log_softmax(x, dim=-1), dim=0) - log_n  # (B, C): log of the mean probabilities
    if problem_type == "multi_label_classification":
        log_p = torch.logsumexp(F.logsigmoid(x), dim=0) - log_n  # (B, C): log mean p
        log_q = torch.logsumexp(F.logsigmoid(-x), dim=0) - log_n  # (B, C): log mean (1 - p)
        return log_p - log_q
    return x.mean(0)  # (B, C)


@torch.no_grad()
def predictive_uncertainty(
    sample_logits: torch.Tensor,
    problem_type: str = "single_label_classification",
    attention_mask: torch.Tensor | None = None,
) -> PredictiveUncertainty:
    """The Monte-Carlo predictive distribution and its uncertainty from the logits of N dropout samples.

    - Single-label: `probs` = the mean softmax probabilities `p̄`; `entropy` = `H[p̄] = -sum_c p̄_c log p̄_c`;
      `mutual_information` = `H[p̄] - mean_n H[p_n]` (BALD).
    - Multi-label: per label, with sigmoid probabilities and Bernoulli entropies.
    - Regression: `mean` and `std` of the samples.

    Entropies are in nats. Computed in float32 (float64 for float64 inputs) under `torch.no_grad()`: no autograd graph
    is kept. The mutual information is clipped at 0 (it is >= 0; rounding can make it -1e-8).

    Args:
        sample_logits (`torch.Tensor` of shape `(N, B, C)`):
            The logits of each sample, e.g. `out.sample_logits` inside [`mc_dropout`]. N = 1 is allowed (the mutual
            information and the standard deviation are then 0).
        problem_type (`str`, *optional*, defaults to `"single_label_classification"`):
            `"single_label_classification"`, `"multi_label_classification"` or `"regression"`.
        attention_mask (`torch.Tensor` of shape `(B, T)`, *optional*):
            For token-level samples `(N, B, T, C)` (single-label): the real tokens (1) and the padding (0). Adds the
            per-sequence scores `entropy_mean`, `entropy_max`, `mutual_information_mean`, `mutual_information_max`
            over the real tokens (for NER, pass the positions that carry a word label to score words only).

    Returns:
        [`PredictiveUncertainty`]: `probs`, `entropy`, `mutual_information` (classification) or `mean`, `std`
        (regression), per example or per token, and the per-sequence scores where `attention_mask` is given.

    Raises:
        `ValueError`: an unknown `problem_type`, `sample_logits` not of shape `(N, B, C)` or `(N, B, T, C)`, or an
        `attention_mask` that does not fit.

    Example:

    ```python
    >>> u = predictive_uncertainty(torch.randn(8, 4, 3))
    >>> u.probs.shape, u.entropy.shape, u.mutual_information.shape
    (torch.Size([4, 3]), torch.Size([4]), torch.Size([4]))
    ```
    """
    x = _check_sample_logits(sample_logits, problem_type)
    if problem_type == "regression":
        return PredictiveUncertainty(mean=x.mean(0), std=x.std(0, correction=0))  # (B, C) each
    if problem_type == "single_label_classification":
        log_p = F.log_softmax(x, dim=-1)  # (N, B, C)
        log_mean = torch.logsumexp(log_p, dim=0) - math.log(x.shape[0])  # (B, C)
        probs = log_mean.exp()
        entropy = -(probs * log_mean).sum(-1)  # (B,)
        expected_entropy = -(log_p.exp() * log_p).sum(-1).mean(0)  # (B,)
    else:
        p = torch.sigmoid(x)  # (N, B, C)
        probs = p.mean(0)  # (B, C)
        entropy = -(torch.special.xlogy(probs, probs) + torch.special.xlogy(1 - probs, 1 - probs))  # (B, C)
        expected_entropy = -(p * F.logsigmoid(x) + (1 - p) * F.logsigmoid(-x)).mean(0)  # (B, C)
    mutual_information = (entropy - expected_entropy).clamp(min=0.0)
    u = PredictiveUncertainty(probs=probs, entropy=entropy, mutual_information=mutual_information)
    if attention_mask is None:
        return u
    if problem_type != "single_label_classification" or tuple(attention_mask.shape) != tuple(entropy.shape):
        raise ValueError(
            "attention_mask gives per-sequence scores of token-level single-label samples (N, B, T, C): it must have "
            f"shape (B, T) = {tuple(entropy.shape)}, got {tuple(attention_mask.shape)} ({problem_type})."
        )
    real = attention_mask.to(entropy.device).bool()  # (B, T)
    count = real.sum(-1).clamp(min=1)  # (B,)
    for name, value in (("entropy", entropy), ("mutual_information", mutual_information)):
        u[f"{name}_mean"] = torch.where(real, value, 0.0).sum(-1) / count  # (B,)
        u[f"{name}_max"] = torch.where(real, value, 0.0).amax(-1)  # (B,): values are >= 0
    return u
