"""Per-sample losses with the upstream `*ForSequenceClassification` semantics, vectorized over dropout samples.

`sample_losses(sample_logits, labels, ...)` returns one loss per dropout sample, shape `(K,)`. Each entry equals
the loss the upstream class computes on that sample's logits, so `sample_losses(...).mean()` is the paper's
multi-sample dropout objective, and `sample_losses(sample_logits.mean(0, keepdim=True), ...)` the logit-averaging
variant. No Python loop over samples: the K samples ride along as a leading batch dimension.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

ProblemType = Literal["regression", "single_label_classification", "multi_label_classification"]
PROBLEM_TYPES: tuple[str, ...] = ("regression", "single_label_classification", "multi_label_classification")
LOSS_STYLES: tuple[str, ...] = ("default", "deberta")
IGNORE_INDEX = -100  # `CrossEntropyLoss`'s default, as upstream


def infer_problem_type(num_labels: int, labels: torch.Tensor) -> ProblemType:
    """The upstream rule: one label -> regression; integer labels -> single-label; else multi-label."""
    if num_labels == 1:
        return "regression"
    if labels.dtype in (torch.long, torch.int):
        return "single_label_classification"
    return "multi_label_classification"


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    # values, weights: (K, B) -> (K,)
    return (values * weights).sum(-1) / weights.sum(-1)


def _cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    label_smoothing: float,
    class_weights: torch.Tensor | None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Per-sample mean cross-entropy, as `CrossEntropyLoss(weight, ignore_index, label_smoothing)` on each sample.

    logits: (K, B, C), targets: (B,) -> (K,)
    """
    k, b, c = logits.shape
    losses = F.cross_entropy(
        logits.reshape(k * b, c),
        targets.repeat(k),
        weight=class_weights,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction="none",
    ).view(k, b)  # (K, B), weighted by class_weights[target], 0 where ignored
    valid = targets != ignore_index
    denom = valid.to(losses.dtype)
    if class_weights is not None:
        denom = denom * class_weights[targets.clamp(min=0)].to(losses.dtype)
    return losses.sum(-1) / denom.sum().expand(k)


def sample_losses(
    sample_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_labels: int,
    problem_type: str | None,
    loss_style: str = "default",
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """One upstream loss per dropout sample.

    Args:
        sample_logits (`torch.Tensor` of shape `(K, batch_size, num_labels)`):
            The logits of each dropout sample (K = 1 for a single set of logits).
        labels (`torch.Tensor`):
            The labels, as the upstream class takes them: `(batch_size,)` class ids (single-label), `(batch_size,)` or
            `(batch_size, num_labels)` floats (regression), `(batch_size, num_labels)` multi-hot (multi-label).
        num_labels (`int`):
            The number of outputs of the classifier.
        problem_type (`str`, *optional*):
            `"regression"`, `"single_label_classification"`, `"multi_label_classification"`, or `None` (only
            meaningful with `loss_style="deberta"`; resolve it with [`infer_problem_type`] otherwise).
        loss_style (`str`, *optional*, defaults to `"default"`):
            `"default"` for the BERT-family rules, `"deberta"` for DeBERTa-v2's, which differ when `problem_type` is
            `None`: class ids < 0 are ignored, and 2-D float labels are soft labels for cross-entropy.
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Applied to cross-entropy targets (single-label and DeBERTa soft labels); ignored for regression and
            multi-label losses.
        class_weights (`torch.Tensor` of shape `(num_labels,)`, *optional*):
            Cross-entropy class weights (weighted mean, as `CrossEntropyLoss(weight=...)`), or per-label weights of the
            multi-label binary cross-entropy (as `BCEWithLogitsLoss(weight=...)`). Not allowed for regression.

    Returns:
        `torch.Tensor` of shape `(K,)`: the loss of each sample, in float32 (or float64 for float64 logits).
    """
    if sample_logits.dim() != 3:
        raise ValueError(
            f"sample_logits must have shape (K, batch_size, num_labels), got {tuple(sample_logits.shape)}."
        )
    if loss_style not in LOSS_STYLES:
        raise ValueError(f"loss_style must be one of {LOSS_STYLES}, got {loss_style!r}.")
    k, b, c = sample_logits.shape
    if labels.shape[0] != b:
        raise ValueError(
            f"labels have batch size {labels.shape[0]} but the logits have {b} (labels {tuple(labels.shape)})."
        )
    labels = labels.to(sample_logits.device)
    logits = sample_logits if sample_logits.dtype == torch.float64 else sample_logits.float()
    if class_weights is not None:
        class_weights = class_weights.to(device=logits.device, dtype=logits.dtype)

    if problem_type is None and loss_style == "deberta":
        if num_labels == 1:
            problem_type = "regression"
        elif labels.dim() == 1 or labels.size(-1) == 1:
            # Single-label; class ids < 0 are unlabelled and ignored. With none labelled the loss is 0, as upstream.
            targets = labels.view(-1).long()
            targets = torch.where(targets >= 0, targets, IGNORE_INDEX)
            if not (targets != IGNORE_INDEX).any():
                return logits.sum((1, 2)) * 0.0
            return _cross_entropy(logits, targets, label_smoothing=label_smoothing, class_weights=class_weights)
        else:
            # Soft labels: -(log_softmax(logits) * labels).sum(-1).mean()
            soft = labels.to(logits.dtype)
            if label_smoothing:
                soft = soft * (1.0 - label_smoothing) + label_smoothing / c
            per_item = -(F.log_softmax(logits, dim=-1) * soft)  # (K, B, C)
            if class_weights is not None:
                per_item = per_item * class_weights
            return per_item.sum(-1).mean(-1)
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}.")

    if problem_type == "regression":
        if class_weights is not None:
            raise ValueError("class_weights apply to classification; the problem type is regression.")
        # Upstream: MSELoss()(logits.squeeze(), labels.squeeze()) for one output, MSELoss()(logits, labels) otherwise.
        target = labels.to(logits.dtype).reshape(b, -1)  # (B, C)
        if target.shape[-1] != c:
            raise ValueError(f"Regression labels of shape {tuple(labels.shape)} do not match {c} outputs.")
        return (logits - target).pow(2).mean((1, 2))
    if problem_type == "single_label_classification":
        if labels.is_floating_point() or labels.numel() != b:
            raise ValueError(
                "single_label_classification takes one integer class id per example, shape (batch_size,); got "
                f"{labels.dtype} labels of shape {tuple(labels.shape)}."
            )
        return _cross_entropy(
            logits, labels.view(-1).long(), label_smoothing=label_smoothing, class_weights=class_weights
        )
    # multi_label_classification
    if labels.shape != (b, c):
        raise ValueError(f"multi_label_classification takes labels of shape ({b}, {c}), got {tuple(labels.shape)}.")
    losses = F.binary_cross_entropy_with_logits(
        logits, labels.to(logits.dtype).expand_as(logits), weight=class_weights, reduction="none"
    )  # (K, B, C)
    return losses.mean((1, 2))
