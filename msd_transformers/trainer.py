"""MSDTrainer: a `transformers.Trainer` that computes the multi-sample dropout loss from the sample logits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def repeat_batch(inputs: Mapping[str, Any], num_passes: int) -> dict[str, Any]:
    """Repeat every batched tensor `num_passes` times along the batch dimension: `(B, ...) -> (num_passes * B, ...)`.

    Row `m * B + b` is example `b` of pass `m`. One forward over the result samples every dropout in the network
    `num_passes` times per example (the whole-network multi-sample dropout variant), in one batched call.
    Non-tensor values and 0-d tensors pass through unchanged.
    """
    if num_passes == 1:
        return dict(inputs)
    return {
        k: v.repeat(num_passes, *([1] * (v.dim() - 1))) if isinstance(v, torch.Tensor) and v.dim() > 0 else v
        for k, v in inputs.items()
    }
