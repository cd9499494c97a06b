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

import numpy as np
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
        word_entropy, word_mutual_information (`torch.Tensor` of shape `(B, W)`): With `word_ids`: the score of each
            word (at its first sub-token, the one training labels), W the most words of a sequence of the batch; NaN
            past a sequence's last word.

    Token-level samples `(N, B, T, C)` give `probs` `(B, T, C)` and `entropy`, `mutual_information` `(B, T)`; NaN at
    the tokens that do not count when a mask is given (padding, special tokens, later sub-tokens with `word_ids`).
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
    word_entropy: torch.Tensor | None = None
    word_mutual_information: torch.Tensor | None = None


# Fields of a tokenizer's output (`BatchEncoding`) that `predictive_uncertainty` takes and leaves unused, so that
# `**tokenizer(..., return_special_tokens_mask=True)` can be passed as it is.
TOKENIZER_FIELDS: frozenset[str] = frozenset(
    {
        "input_ids",
        "token_type_ids",
        "position_ids",
        "offset_mapping",
        "length",
        "overflowing_tokens",
        "overflow_to_sample_mapping",
        "num_truncated_tokens",
    }
)


def as_tensor(value: Any, what: str) -> torch.Tensor:
    """`value` (a torch tensor, a numpy array or nested lists) as a tensor; `ValueError` naming `what` otherwise."""
    if isinstance(value, torch.Tensor):
        return value
    try:  # numpy keeps its dtype; Python floats become float32, as torch.tensor makes them
        if isinstance(value, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(value))
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{what} must be a torch tensor, a numpy array or a (nested) list of numbers, got {type(value).__name__}: "
            f"{error}"
        ) from None


def word_ids_tensor(word_ids: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """`word_ids` (per sequence, as `BatchEncoding.word_ids(i)` gives them: a word index per token, None for special
    tokens; or an array with -1 there) as a `(B, T)` long tensor with -1 where a token has no word."""
    if not isinstance(word_ids, (torch.Tensor, np.ndarray)):
        word_ids = [[-1 if w is None else w for w in row] for row in word_ids]
    ids = as_tensor(word_ids, "word_ids")
    if tuple(ids.shape) != shape or ids.is_floating_point():
        raise ValueError(
            f"word_ids must hold an int (or None) per token, shape (B, T) = {shape}, got {tuple(ids.shape)} "
            f"({ids.dtype})."
        )
    return ids.long()


def first_sub_tokens(word_ids: torch.Tensor) -> torch.Tensor:
    """The tokens that start a word, as training labels words (`align_labels`): `(B, T)` word ids (-1: none) ->
    `(B, T)` bool."""
    previous = torch.cat([torch.full_like(word_ids[:, :1], -1), word_ids[:, :-1]], dim=1)
    return word_ids.ge(0) & word_ids.ne(previous)


def _check_sample_logits(sample_logits: Any, problem_type: str) -> torch.Tensor:
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}.")
    sample_logits = as_tensor(sample_logits, "sample_logits")
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
    special_tokens_mask: torch.Tensor | None = None,
    word_ids: Any = None,
    **tokenizer_fields: Any,
) -> PredictiveUncertainty:
    """The Monte-Carlo predictive distribution and its uncertainty from the logits of N dropout samples.

    - Single-label: `probs` = the mean softmax probabilities `p̄`; `entropy` = `H[p̄] = -sum_c p̄_c log p̄_c`;
      `mutual_information` = `H[p̄] - mean_n H[p_n]` (BALD).
    - Multi-label: per label, with sigmoid probabilities and Bernoulli entropies.
    - Regression: `mean` and `std` of the samples.

    Entropies are in nats. Computed in float32 (float64 for float64 inputs) under `torch.no_grad()`: no autograd graph
    is kept. The mutual information is clipped at 0 (it is >= 0; rounding can make it -1e-8). Every array argument may
    be a torch tensor, a numpy array (what `Trainer.predict()` returns) or nested lists.

    Token-level samples `(N, B, T, C)` (single-label) with a mask: the tokens that count are the real ones
    (`attention_mask`) that are not special tokens (`special_tokens_mask`: `[CLS]`, `[SEP]`, ... whose entropy
    would otherwise dominate a sentence's score) and, with `word_ids`, only each word's first sub-token (the one
    training labels). Every per-token field (`probs`, `entropy`, `mutual_information`) is NaN at the other tokens,
    and the per-sequence scores are over the tokens that count. A tokenizer's output can be passed as it is:
    `predictive_uncertainty(s, **tokenizer(texts, padding=True, return_special_tokens_mask=True,
    return_tensors="pt"))` (its `input_ids`, `token_type_ids`, ... are not used).

    Args:
        sample_logits (`torch.Tensor` of shape `(N, B, C)` or `(N, B, T, C)`):
            The logits of each sample, e.g. `out.sample_logits` inside [`mc_dropout`]. N = 1 is allowed (the mutual
            information and the standard deviation are then 0).
        problem_type (`str`, *optional*, defaults to `"single_label_classification"`):
            `"single_label_classification"`, `"multi_label_classification"` or `"regression"`.
        attention_mask (`torch.Tensor` of shape `(B, T)`, *optional*):
            For token-level samples: the real tokens (1) and the padding (0).
        special_tokens_mask (`torch.Tensor` of shape `(B, T)`, *optional*):
            For token-level samples: 1 at the special tokens, as `tokenizer(..., return_special_tokens_mask=True)`
            gives it.
        word_ids (`list[list[int | None]]` or `(B, T)` ints, *optional*):
            For token-level samples: the word of each token, `[enc.word_ids(i) for i in range(B)]` (None, or -1 in an
            array, for special tokens and padding). Scores only each word's first sub-token and adds `word_entropy`
            and `word_mutual_information`, `(B, W)`: one score per word.
        tokenizer_fields:
            Other fields of a tokenizer's output (`input_ids`, `token_type_ids`, `offset_mapping`, ...), not used.

    Returns:
        [`PredictiveUncertainty`]: `probs`, `entropy`, `mutual_information` (classification) or `mean`, `std`
        (regression), per example or per token, the per-sequence scores where a mask is given, and the per-word
        scores with `word_ids`.

    Raises:
        `ValueError`: an unknown `problem_type`, `sample_logits` not of shape `(N, B, C)` or `(N, B, T, C)`, or a
        mask that does not fit. `TypeError`: a keyword argument that is neither of these nor a tokenizer field.

    Example:

    ```python
    >>> u = predictive_uncertainty(torch.randn(8, 4, 3))
    >>> u.probs.shape, u.entropy.shape, u.mutual_information.shape
    (torch.Size([4, 3]), torch.Size([4]), torch.Size([4]))
    ```
    """
    unknown = sorted(set(tokenizer_fields) - TOKENIZER_FIELDS)
    if unknown:
        raise TypeError(
            f"predictive_uncertainty() got unexpected keyword argument(s) {unknown}: it takes attention_mask, "
            f"special_tokens_mask, word_ids and the tokenizer fields {sorted(TOKENIZER_FIELDS)} (unused)."
        )
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
    masks = {"attention_mask": attention_mask, "special_tokens_mask": special_tokens_mask, "word_ids": word_ids}
    given = {name: value for name, value in masks.items() if value is not None}
    if not given:
        return PredictiveUncertainty(probs=probs, entropy=entropy, mutual_information=mutual_information)
    shape = tuple(entropy.shape)
    if problem_type != "single_label_classification" or len(shape) != 2:
        raise ValueError(
            f"{', '.join(given)} select the tokens of token-level single-label samples (N, B, T, C); got samples of "
            f"shape {tuple(x.shape)} ({problem_type})."
        )
    counted = torch.ones(shape, dtype=torch.bool, device=entropy.device)  # (B, T)
    words = None
    for name, value in given.items():
        if name == "word_ids":
            words = word_ids_tensor(value, shape).to(entropy.device)
            counted &= first_sub_tokens(words)
            continue
        mask = as_tensor(value, name)
        if tuple(mask.shape) != shape:
            raise ValueError(f"{name} must have shape (B, T) = {shape}, got {tuple(mask.shape)}.")
        mask = mask.to(entropy.device).bool()
        counted &= ~mask if name == "special_tokens_mask" else mask
    nan = float("nan")
    u = PredictiveUncertainty(
        probs=torch.where(counted.unsqueeze(-1), probs, nan),
        entropy=torch.where(counted, entropy, nan),
        mutual_information=torch.where(counted, mutual_information, nan),
    )
    count = counted.sum(-1).clamp(min=1)  # (B,)
    for name, value in (("entropy", entropy), ("mutual_information", mutual_information)):
        u[f"{name}_mean"] = torch.where(counted, value, 0.0).sum(-1) / count  # (B,)
        u[f"{name}_max"] = torch.where(counted, value, 0.0).amax(-1)  # (B,): values are >= 0
    if words is not None:
        b, t = torch.nonzero(counted, as_tuple=True)  # the first sub-tokens
        w = words[b, t]
        size = int(w.max()) + 1 if w.numel() else 0
        for name, value in (("entropy", entropy), ("mutual_information", mutual_information)):
            scores = torch.full((shape[0], size), nan, dtype=value.dtype, device=value.device)  # (B, W)
            scores[b, w] = value[b, t]
            u[f"word_{name}"] = scores
    return u
