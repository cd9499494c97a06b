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
    check_positive_int(num_bins, "num_bins")
    confidence = p.max(1)
    correct = (p.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidence, side="left")  # bin m: edges[m] < confidence <= edges[m + 1]
    gaps = np.bincount(bins, weights=correct - confidence, minlength=num_bins)  # per bin: sum of (correct - conf)
    return float(np.abs(gaps).sum() / len(y))


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
    confidence = p.max(1)
    order = np.argsort(-confidence, kind="stable")
    errors = (p.argmax(1) != y).astype(np.float64)[order]
    _, starts, counts = np.unique(-confidence[order], return_index=True, return_counts=True)
    errors = np.repeat(np.add.reduceat(errors, starts) / counts, counts)  # each tie group: its mean error
    risk = np.cumsum(errors) / np.arange(1, len(errors) + 1)  # risk(k) for k = 1..n
    return float(risk.mean())
