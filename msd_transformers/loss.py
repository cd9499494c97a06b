"""Per-sample losses with the upstream semantics of each task's heads, vectorized over dropout samples.

`sample_losses(sample_logits, labels, ...)` returns one loss per dropout sample, shape `(K,)`: each entry equals the
loss the upstream `*ForSequenceClassification` class computes on that sample's logits, so `sample_losses(...).mean()`
is the paper's multi-sample dropout objective and `sample_losses(sample_logits.mean(0, keepdim=True), ...)` the
logit-averaging variant. `token_sample_losses` and `span_sample_losses` do the same for token classification and
question answering, `choice_sample_losses` for multiple choice (single-label cross-entropy over the choices; with a
choice mask, over each example's real choices: `mask_choices`). No Python loop over samples: the K samples ride along
as a leading batch dimension.

`consistency_loss(sample_logits, problem_type)` measures how much the samples disagree (the mean divergence over
ordered pairs of samples): added to the loss with a weight, it asks the samples to agree, as R-Drop does.

`resolve_problem_type` is the one place where a sequence classifier's problem type is worked out.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F

ProblemType = Literal["regression", "single_label_classification", "multi_label_classification"]
PROBLEM_TYPES: tuple[str, ...] = ("regression", "single_label_classification", "multi_label_classification")
LOSS_STYLES: tuple[str, ...] = ("default", "deberta", "cross_entropy")
IGNORE_INDEX = -100  # `CrossEntropyLoss`'s default, as upstream: labels that are not counted


def infer_problem_type(num_labels: int, labels: torch.Tensor) -> ProblemType:
    """The upstream rule: one label -> regression; integer labels -> single-label; else multi-label."""
    if num_labels == 1:
        return "regression"
    if labels.dtype in (torch.long, torch.int):
        return "single_label_classification"
    return "multi_label_classification"


def resolve_problem_type(
    config: Any, labels: torch.Tensor | None = None, *, loss_style: str = "default", store: bool = False
) -> ProblemType:
    """The problem type of a sequence classifier's outputs: the rule every part of the package uses.

    `config.problem_type` when set. Else, with `labels`, the upstream rule ([`infer_problem_type`]); with DeBERTa's
    loss rules (`loss_style="deberta"`), which never set the problem type, one label is regression and anything else
    single-label (2-D float labels are soft labels of one class each). Without labels: regression for one output,
    single-label for more. With `loss_style="cross_entropy"` (heads whose loss is `CrossEntropyLoss` whatever the
    problem type: the wav2vec2 family's and Whisper's audio heads), single-label.

    Args:
        config (`PretrainedConfig`): The model's config (`problem_type`, `num_labels`).
        labels (`torch.Tensor`, *optional*): A batch of labels.
        loss_style (`str`, *optional*, defaults to `"default"`): The row's loss style.
        store (`bool`, *optional*, defaults to `False`): Write a type inferred from `labels` into
            `config.problem_type`, as the upstream forward does on its first labelled batch (never for DeBERTa's
            rules, as upstream).

    Returns:
        `str`: One of `PROBLEM_TYPES`.
    """
    if loss_style == "cross_entropy":  # the wav2vec2 family's audio heads: CrossEntropyLoss, whatever problem_type
        return "single_label_classification"
    if config.problem_type is not None:
        return config.problem_type
    if labels is None or loss_style == "deberta":
        return "regression" if config.num_labels == 1 else "single_label_classification"
    problem_type = infer_problem_type(config.num_labels, labels)
    if store:
        config.problem_type = problem_type
    return problem_type


def check_class_ids(targets: torch.Tensor, what: str) -> None:
    """`RuntimeError` (the type upstream's `CrossEntropyLoss` raises for them) for floating-point class ids or
    positions: upstream refuses them, and a silent `.long()` would truncate 1.7 to 1."""
    if targets.is_floating_point() or targets.is_complex():
        raise RuntimeError(
            f"{what} must be integer class ids or positions (torch.long), as upstream's CrossEntropyLoss takes them; "
            f"got {targets.dtype}. Convert them with .long() if they hold whole numbers."
        )


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
        denom = denom * class_weights[torch.where(valid, targets, 0)].to(losses.dtype)
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
            `"regression"`, `"single_label_classification"` or `"multi_label_classification"` (see
            [`resolve_problem_type`]); `None` only with `loss_style="deberta"`.
        loss_style (`str`, *optional*, defaults to `"default"`):
            `"default"` for the BERT-family rules, `"deberta"` for DeBERTa's rules of a config without
            `problem_type`: for a single-label task, class ids < 0 are ignored and 2-D float labels are soft labels;
            `"cross_entropy"`: single-label cross-entropy whatever `problem_type` (the wav2vec2 family's audio heads).
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
    if loss_style == "cross_entropy":
        problem_type, loss_style = "single_label_classification", "default"
    k, b, c = sample_logits.shape
    if labels.shape[0] != b:
        raise ValueError(
            f"labels have batch size {labels.shape[0]} but the logits have {b} (labels {tuple(labels.shape)})."
        )
    labels = labels.to(sample_logits.device)
    logits = sample_logits if sample_logits.dtype == torch.float64 else sample_logits.float()
    if class_weights is not None:
        class_weights = class_weights.to(device=logits.device, dtype=logits.dtype)

    if loss_style == "deberta" and problem_type in (None, "single_label_classification") and num_labels != 1:
        if labels.dim() == 1 or labels.size(-1) == 1:
            # Single-label; class ids < 0 are unlabelled and ignored. With none labelled the loss is 0, as upstream.
            targets = labels.view(-1).long()
            targets = torch.where(targets >= 0, targets, IGNORE_INDEX)
            if not (targets != IGNORE_INDEX).any():
                return logits.sum((1, 2)) * 0.0
            return _cross_entropy(logits, targets, label_smoothing=label_smoothing, class_weights=class_weights)
        # Soft labels: -(log_softmax(logits) * labels).sum(-1).mean()
        soft = labels.to(logits.dtype)
        if label_smoothing:
            soft = soft * (1.0 - label_smoothing) + label_smoothing / c
        per_item = -(F.log_softmax(logits, dim=-1) * soft)  # (K, B, C)
        if class_weights is not None:
            per_item = per_item * class_weights
        return per_item.sum(-1).mean(-1)
    if problem_type is None and loss_style == "deberta":
        problem_type = "regression"  # DeBERTa's rule for one label
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


def mask_choices(logits: torch.Tensor, choice_mask: torch.Tensor | None) -> torch.Tensor:
    """Multiple-choice logits `(..., B, C)` with the padded choices (`choice_mask` 0) at the lowest value of their
    dtype (`torch.finfo(dtype).min`, finite: no `-inf - -inf` NaN downstream): after a softmax their probability is
    exactly 0, so they change no loss, prediction, probability or entropy, and no gradient reaches them.
    `choice_mask=None` returns `logits` as they are.

    logits: (..., B, C), choice_mask: (B, C) -> (..., B, C)
    """
    if choice_mask is None:
        return logits
    if tuple(choice_mask.shape) != tuple(logits.shape[-2:]):
        raise ValueError(
            f"choice_mask must have the shape (batch_size, num_choices) = {tuple(logits.shape[-2:])} of the logits, "
            f"got {tuple(choice_mask.shape)}."
        )
    padded = ~choice_mask.to(device=logits.device, dtype=torch.bool)
    return logits.masked_fill(padded, torch.finfo(logits.dtype).min)


def choice_sample_losses(
    sample_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    choice_mask: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """One upstream multiple-choice loss per dropout sample: the cross-entropy over the choices, as
    `CrossEntropyLoss(label_smoothing=...)` on each sample's `(B, num_choices)` logits (labels -100 ignored).

    With `choice_mask`, the examples' choices were padded to the batch's largest number: each example's loss is over
    its real choices only, the loss upstream computes on the example unpadded (label smoothing spreads its share over
    the example's own choices). The padded choices get no gradient.

    Args:
        sample_logits (`torch.Tensor` of shape `(K, batch_size, num_choices)`): The logits of each sample.
        labels (`torch.Tensor` of shape `(batch_size,)`): The right choice of each example, -100 for none.
        choice_mask (`torch.Tensor` of shape `(batch_size, num_choices)`, *optional*): 1 at an example's real choices,
            0 at the padding; at least one real choice per example.
        label_smoothing (`float`, *optional*, defaults to 0.0): As `CrossEntropyLoss(label_smoothing=...)`.

    Returns:
        `torch.Tensor` of shape `(K,)`, in float32 (float64 for float64 logits).
    """
    if sample_logits.dim() != 3:
        raise ValueError(
            f"sample_logits must have shape (K, batch_size, num_choices), got {tuple(sample_logits.shape)}."
        )
    k, b, c = sample_logits.shape
    if choice_mask is None or not label_smoothing:
        # Masked, the padded choices add exp(finfo.min - max) = 0 to the softmax's sum: the unpadded loss.
        return sample_losses(
            mask_choices(sample_logits, choice_mask), labels, num_labels=c,
            problem_type="single_label_classification", label_smoothing=label_smoothing,
        )  # fmt: skip
    if labels.is_floating_point() or labels.numel() != b:
        raise ValueError(
            f"Multiple-choice labels are one integer choice index per example, shape ({b},); got {labels.dtype} "
            f"labels of shape {tuple(labels.shape)}."
        )
    logits = sample_logits if sample_logits.dtype == torch.float64 else sample_logits.float()
    real = choice_mask.to(device=logits.device, dtype=torch.bool)  # (B, C)
    log_p = F.log_softmax(mask_choices(logits, real), dim=-1)  # (K, B, C): log 0 (finfo.min) at the padding
    targets = labels.to(logits.device).view(-1).long()
    valid = targets != IGNORE_INDEX
    index = torch.where(valid, targets, 0).view(1, b, 1).expand(k, b, 1)
    nll = -log_p.gather(-1, index).squeeze(-1)  # (K, B)
    smooth = -torch.where(real, log_p, 0.0).sum(-1) / real.sum(-1)  # (K, B): the mean over the real choices
    per_example = (1.0 - label_smoothing) * nll + label_smoothing * smooth
    return torch.where(valid, per_example, 0.0).sum(-1) / valid.sum()  # as CrossEntropyLoss's mean: NaN if none


def token_sample_losses(
    sample_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """One upstream token-classification loss per dropout sample: the cross-entropy over the labelled tokens (labels
    -100 are ignored), as `CrossEntropyLoss()(logits.view(-1, C), labels.view(-1))` on each sample.

    Args:
        sample_logits (`torch.Tensor` of shape `(K, batch_size, seq_len, num_labels)`): The logits of each sample.
        labels (`torch.Tensor` of shape `(batch_size, seq_len)`): Class ids, -100 where a token is not labelled.
        label_smoothing (`float`, *optional*, defaults to 0.0): As `CrossEntropyLoss(label_smoothing=...)`.
        class_weights (`torch.Tensor` of shape `(num_labels,)`, *optional*): As `CrossEntropyLoss(weight=...)`.

    Returns:
        `torch.Tensor` of shape `(K,)`, in float32 (float64 for float64 logits); NaN for a batch without a labelled
        token, as upstream.
    """
    if sample_logits.dim() != 4:
        raise ValueError(
            f"sample_logits must have shape (K, batch_size, seq_len, num_labels), got {tuple(sample_logits.shape)}."
        )
    k, b, t, c = sample_logits.shape
    if tuple(labels.shape) != (b, t):
        raise ValueError(f"Token labels must have shape ({b}, {t}) to match the logits, got {tuple(labels.shape)}.")
    logits = sample_logits if sample_logits.dtype == torch.float64 else sample_logits.float()
    if class_weights is not None:
        class_weights = class_weights.to(device=logits.device, dtype=logits.dtype)
    check_class_ids(labels, "token labels")
    targets = labels.to(logits.device).reshape(b * t).long()
    return _cross_entropy(
        logits.reshape(k, b * t, c), targets, label_smoothing=label_smoothing, class_weights=class_weights
    )


def span_sample_losses(
    sample_start_logits: torch.Tensor,
    sample_end_logits: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
) -> torch.Tensor:
    """One upstream question-answering loss per dropout sample: `(CE(start) + CE(end)) / 2`, positions outside the
    sequence clamped to `seq_len` and ignored, as upstream's `*ForQuestionAnswering`.

    Args:
        sample_start_logits (`torch.Tensor` of shape `(K, batch_size, seq_len)`): The start scores of each sample.
        sample_end_logits (`torch.Tensor` of shape `(K, batch_size, seq_len)`): The end scores of each sample.
        start_positions (`torch.Tensor` of shape `(batch_size,)`): The answer's first token (`(batch_size, 1)` too).
        end_positions (`torch.Tensor` of shape `(batch_size,)`): The answer's last token.

    Returns:
        `torch.Tensor` of shape `(K,)`, in float32 (float64 for float64 logits).
    """
    if sample_start_logits.dim() != 3 or sample_start_logits.shape != sample_end_logits.shape:
        raise ValueError(
            "sample_start_logits and sample_end_logits must both have shape (K, batch_size, seq_len), got "
            f"{tuple(sample_start_logits.shape)} and {tuple(sample_end_logits.shape)}."
        )
    k, b, t = sample_start_logits.shape
    losses = []
    for logits, positions, name in (
        (sample_start_logits, start_positions, "start_positions"),
        (sample_end_logits, end_positions, "end_positions"),
    ):
        check_class_ids(positions, name)
        positions = positions.to(logits.device).reshape(-1).long()
        if positions.numel() != b:
            raise ValueError(f"Answer positions must have one entry per example ({b}), got {positions.numel()}.")
        logits = logits if logits.dtype == torch.float64 else logits.float()
        ignored = t  # as upstream: positions outside the sequence are clamped to seq_len and ignored
        losses.append(
            _cross_entropy(
                logits, positions.clamp(0, ignored), label_smoothing=0.0, class_weights=None, ignore_index=ignored
            )
        )
    return (losses[0] + losses[1]) / 2


def _pairwise_kl_sum(log_probs: torch.Tensor) -> torch.Tensor:
    """Sum over ordered pairs i != j of KL(p_i || p_j), per example and category group, in O(S).

    sum_{i,j} sum_c p_i (log p_i - log p_j) = S * sum_i sum_c p_i (log p_i - mean_j log p_j): the centred form, so
    that nearly equal samples give a small difference of small numbers, not of two large sums. The mean is taken of
    the differences to the first sample: a category of probability 0 in every sample (a padded choice, its log
    probability the dtype's lowest value) then adds 0, where the sum of the S lowest values would overflow to -inf.

    log_probs: (S, B, ..., C) normalised over the last dimension -> (B, ...)
    """
    s = log_probs.shape[0]
    relative = log_probs - log_probs[:1]  # (S, B, ..., C)
    centred = relative - relative.mean(0, keepdim=True)  # = log_probs - their mean over the samples
    return s * (log_probs.exp() * centred).sum((0, -1))


def consistency_loss(
    sample_logits: torch.Tensor, problem_type: str, *, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """How much the dropout samples disagree: the mean divergence over all ordered pairs of samples.

    Per example, `1 / (S (S - 1)) * sum over ordered pairs i != j of D(sample i, sample j)`, averaged over the
    examples, where D is

    - `"single_label_classification"`: `KL(p_i || p_j)` of the softmax distributions;
    - `"multi_label_classification"`: the Bernoulli KL of the sigmoid probabilities, averaged over the labels;
    - `"regression"`: the squared difference of the outputs, averaged over the outputs.

    For S = 2 this is R-Drop's symmetric term `(KL(p_1 || p_2) + KL(p_2 || p_1)) / 2` (Liang et al. 2021, arXiv
    2106.14448), or `(y_1 - y_2)^2` for regression. The sum over pairs has an O(S) closed form (for regression,
    `2 S` times the sum of squared deviations from the sample mean), so there is no loop over pairs. Probabilities
    come from `log_softmax` / `logsigmoid`; half-precision logits are computed in float32.

    The term needs no labels. Examples whose labels are ignored can be left out with `mask`; [`MSDTrainer`] leaves
    out the examples labelled -100, the ones the Trainer does not count in `num_items_in_batch`.

    Args:
        sample_logits (`torch.Tensor` of shape `(S, batch_size, num_labels)`):
            The logits of each dropout sample (head samples x forward passes, in any order).
        problem_type (`str`):
            `"regression"`, `"single_label_classification"` or `"multi_label_classification"`.
        mask (`torch.Tensor` of shape `(batch_size,)`, *optional*):
            Which examples count (bool). The result is the mean over these; 0 when none counts.

    Returns:
        `torch.Tensor`: a scalar >= 0 (up to rounding), in float32 (float64 for float64 logits). 0 for S = 1 (one
        sample agrees with itself), still attached to the graph of `sample_logits`.

    Raises:
        `ValueError`: `sample_logits` is not 3-D, `problem_type` is not one of the three, or `mask` does not fit.

    Example:

    ```python
    >>> sample_logits = model(**batch).sample_logits  # (K, B, C), an MSD model in training mode
    >>> losses = sample_losses(sample_logits, labels, num_labels=C, problem_type="single_label_classification")
    >>> loss = losses.mean() + 0.5 * consistency_loss(sample_logits, "single_label_classification")
    ```
    """
    if sample_logits.dim() != 3:
        raise ValueError(
            f"sample_logits must have shape (S, batch_size, num_labels), got {tuple(sample_logits.shape)}."
        )
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}.")
    s, b, _ = sample_logits.shape
    if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != (b,)):
        raise ValueError(f"mask must be a bool tensor of shape ({b},), got {mask.dtype} of shape {tuple(mask.shape)}.")
    logits = sample_logits if sample_logits.dtype == torch.float64 else sample_logits.float()
    if s == 1:
        return logits.sum() * 0.0
    if problem_type == "regression":
        deviations = logits - logits.mean(0, keepdim=True)  # (S, B, C)
        per_example = 2.0 * s * deviations.pow(2).sum(0).mean(-1)  # (B,)
    elif problem_type == "single_label_classification":
        per_example = _pairwise_kl_sum(F.log_softmax(logits, dim=-1))  # (B,)
    else:
        # Each label is a two-category distribution (q, 1 - q): (S, B, C) -> (S, B, C, 2)
        log_probs = torch.stack([F.logsigmoid(logits), F.logsigmoid(-logits)], dim=-1)
        per_example = _pairwise_kl_sum(log_probs).mean(-1)  # (B, C) -> (B,)
    per_example = per_example / (s * (s - 1))
    if mask is None:
        return per_example.mean() if b else per_example.sum()
    mask = mask.to(per_example.device)
    return torch.where(mask, per_example, 0.0).sum() / mask.sum().clamp(min=1)
