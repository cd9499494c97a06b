"""Calibration metrics of predicted class probabilities: ECE, negative log-likelihood, Brier score and AURC.

NumPy only: they take numpy arrays or torch tensors of probabilities `(n, C)` and class ids `(n,)`, and return
floats. The conventions are torch-uncertainty's (15 equal-width confidence bins for ECE; AURC over the ranking by
confidence). `msd_transformers.finetune.metrics` wraps them as offline `evaluate` metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .dropout import check_positive_int

NLL_EPS = 1e-12  # probabilities are clipped to [NLL_EPS, 1] in the log-likelihood


def _probs_and_labels(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Numpy float64 probabilities `(n, C)` and int labels `(n,)`, checked."""
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().cpu().double().numpy()
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"probs must have shape (num_examples, num_classes) with num_examples >= 1, got {p.shape}.")
    if y.shape != (p.shape[0],):
        raise ValueError(f"labels must have shape ({p.shape[0]},) to match probs {p.shape}, got {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(
            f"labels must be class ids in [0, {p.shape[1]}), got {y.dtype} values in [{y.min()}, {y.max()}]."
        )
    if p.min() < 0 or p.max() > 1 or not np.allclose(p.sum(1), 1.0, atol=1e-3):
        raise ValueError(
            "probs must be probabilities (each row in [0, 1], summing to 1): pass softmax(logits), not logits."
        )
    return p, y.astype(np.int64)


def expected_calibration_error(probs: Any, labels: Any, num_bins: int = 15) -> float:
    """Expected calibration error of the top label, with equal-width confidence bins.

    `ECE = sum_m (|B_m| / n) * |accuracy(B_m) - mean confidence(B_m)|`, where the confidence of an example is its
    largest probability, its prediction the class of that probability, and bin `m` holds the confidences in
    `(m / M, (m + 1) / M]` (Guo et al. 2017; 15 bins as there and in torch-uncertainty).

    Args:
        probs (`np.ndarray` or `torch.Tensor` of shape `(n, C)`): Predicted probabilities (rows sum to 1).
        labels (`np.ndarray` or `torch.Tensor` of shape `(n,)`): Class ids.
        num_bins (`int`, *optional*, defaults to 15): The number M of bins.

    Returns:
        `float`: in [0, 1]; lower is better.
    """
    p, y = _probs_and_labels(probs, labels)
    return confidence_calibration_error(p.max(1), p.argmax(1) == y, num_bins)


def _confidence_and_correct(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    if c.ndim != 1 or c.shape != ok.shape or len(c) == 0:
        raise ValueError(
            f"confidence and correct must be two non-empty 1-D arrays of one length, got {c.shape} and {ok.shape}."
        )
    if c.min() < 0 or c.max() > 1:
        raise ValueError(f"confidence must be probabilities in [0, 1], got values in [{c.min()}, {c.max()}].")
    return c, ok


def confidence_calibration_error(confidence: Any, correct: Any, num_bins: int = 15) -> float:
    """Expected calibration error of confidences against outcomes: `sum_m (|B_m| / n) * |mean correct(B_m) - mean
    confidence(B_m)|` over equal-width bins `(m / M, (m + 1) / M]`. [`expected_calibration_error`] is this with the
    top-label probability; a question-answering span's probability against its exact match is another.

    Args:
        confidence (`np.ndarray` of shape `(n,)`): Probabilities in [0, 1].
        correct (`np.ndarray` of shape `(n,)`): 1 (or True) where the prediction is right, else 0.
        num_bins (`int`, *optional*, defaults to 15): The number M of bins.

    Returns:
        `float`: in [0, 1]; lower is better.
    """
    c, ok = _confidence_and_correct(confidence, correct)
    check_positive_int(num_bins, "num_bins")
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    bins = np.searchsorted(edges[1:-1], c, side="left")  # bin m: edges[m] < confidence <= edges[m + 1]
    gaps = np.bincount(bins, weights=ok - c, minlength=num_bins)  # per bin: sum of (correct - confidence)
    return float(np.abs(gaps).sum() / len(c))


def coverage_accuracy(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """The coverage-accuracy curve of selective prediction: answer only the k most confident of n examples.

    Examples with equal confidence have no order: each tie group counts its mean outcome at every position (the
    expectation over their orderings).

    Args:
        confidence (`np.ndarray` of shape `(n,)`): Probabilities in [0, 1].
        correct (`np.ndarray` of shape `(n,)`): 1 where the prediction is right, else 0.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: The coverages `k / n` and the accuracies of the k most confident, k = 1..n.
    """
    c, ok = _confidence_and_correct(confidence, correct)
    order = np.argsort(-c, kind="stable")
    ok = ok[order]
    _, starts, counts = np.unique(-c[order], return_index=True, return_counts=True)
    ok = np.repeat(np.add.reduceat(ok, starts) / counts, counts)  # each tie group: its mean outcome
    k = np.arange(1, len(ok) + 1)
    return k / len(ok), np.cumsum(ok) / k


def negative_log_likelihood(probs: Any, labels: Any) -> float:
    """Mean negative log-likelihood of the labels, `-mean_i log p_i[y_i]`, in nats (probabilities clipped to
    `[1e-12, 1]`, so one zero probability costs 27.6, not infinity).

    Args:
        probs (`np.ndarray` or `torch.Tensor` of shape `(n, C)`): Predicted probabilities (rows sum to 1).
        labels (`np.ndarray` or `torch.Tensor` of shape `(n,)`): Class ids.

    Returns:
        `float`: >= 0; lower is better.
    """
    p, y = _probs_and_labels(probs, labels)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], NLL_EPS, 1.0)).mean())


def brier_score(probs: Any, labels: Any) -> float:
    """Brier score: the mean over examples of `sum_c (p_c - onehot(y)_c) ** 2`.

    Args:
        probs (`np.ndarray` or `torch.Tensor` of shape `(n, C)`): Predicted probabilities (rows sum to 1).
        labels (`np.ndarray` or `torch.Tensor` of shape `(n,)`): Class ids.

    Returns:
        `float`: in [0, 2]; lower is better.
    """
    p, y = _probs_and_labels(probs, labels)
    onehot = np.eye(p.shape[1])[y]
    return float(((p - onehot) ** 2).sum(1).mean())


def aurc(probs: Any, labels: Any) -> float:
    """Area under the risk-coverage curve (Geifman et al. 2018) when examples are kept in order of confidence.

    Examples are ranked by decreasing confidence (the largest probability); the selective risk at coverage `k / n`
    is the error rate of the `k` most confident predictions, and `AURC = (1 / n) sum_{k=1..n} risk(k)`. Examples with
    equal confidence have no order: AURC is the expectation over their orderings (each tie group contributes its
    mean error at every position). Lower is better; a perfect ranking gets the minimum for its error rate.

    Args:
        probs (`np.ndarray` or `torch.Tensor` of shape `(n, C)`): Predicted probabilities (rows sum to 1).
        labels (`np.ndarray` or `torch.Tensor` of shape `(n,)`): Class ids.

    Returns:
        `float`: in [0, 1]; lower is better.
    """
    p, y = _probs_and_labels(probs, labels)
    _, accuracy = coverage_accuracy(p.max(1), p.argmax(1) == y)
    return float((1.0 - accuracy).mean())  # risk(k) = 1 - accuracy(k), k = 1..n
