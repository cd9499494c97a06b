"""The multi-sample dropout module, the parsing of dropout-rate specifications, and `repeat_batch`.

`MultiSampleDropout` draws `num_samples` independent dropout masks in one random draw and returns the samples
stacked on a new leading dimension. Every module after it (a `nn.Linear`, `tanh`, ...) then runs on all samples at
once: no Python loop over samples. It is the building block for heads of one's own; the MSD model classes use
[`MultiSampleLinear`], which draws the samples inside the Linear. `repeat_batch` repeats a batch so that one forward
samples every dropout of a network several times (whole-network variants, Monte-Carlo dropout).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

_LINSPACE = re.compile(r"^\s*linspace\s*\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)\s*$")

DropoutSpec = float | Sequence[float] | str
"""A dropout specification: one rate for every sample, one rate per sample, or `"linspace(a, b)"`."""


def _check_rate(rate: object, what: str) -> float:
    # bool is an int subclass: `True` is not a rate.
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise ValueError(f"{what} must be a number in [0, 1), got {rate!r} ({type(rate).__name__}).")
    rate = float(rate)
    if not (0.0 <= rate < 1.0) or math.isnan(rate):
        raise ValueError(f"{what} must be in [0, 1), got {rate!r}.")
    return rate


def check_positive_int(value: object, what: str) -> int:
    """Return `value` if it is an int >= 1 (not a bool), else raise a `ValueError` naming `what` and the value."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int >= 1, got {value!r} ({type(value).__name__}).")
    if value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value}.")
    return value


def warn_if_identical(num_samples: int, rates: Sequence[float], what: str) -> None:
    """Log a warning when K > 1 samples all have rate 0: they are identical and only cost compute."""
    if num_samples > 1 and not any(rates):
        logger.warning(
            "%s with num_samples=%d and every rate 0: the samples are identical, so multi-sample dropout only costs "
            "compute. Set a rate > 0 (e.g. msd_dropout=0.1) or num_samples=1.",
            what,
            num_samples,
        )


def dropout_samples(samples: torch.Tensor, rates: Sequence[float]) -> torch.Tensor:
    """Dropout of each slice along dim 0 with its own rate: `samples[m]` dropped with `rates[m]` (masks independent
    across slices and elements), kept elements scaled by `1 / (1 - rate)`. A rate of 0 leaves its slice unchanged.

    samples: (S, ...) -> (S, ...), the same dtype
    """
    if not any(rates):
        return samples
    uniform = len(set(rates)) == 1
    if uniform and samples.device.type == "cuda":
        # CUDA's fused dropout kernel; its output is materialised with an independent mask per element.
        return F.dropout(samples, rates[0], training=True)
    # One uniform draw for all masks (on CPU, `rand` + compare is ~4x faster than `bernoulli_`), the rates broadcast
    # along the sample dimension. The scale is float32, so half-precision inputs keep exact rates.
    draw = torch.rand(samples.shape, device=samples.device, dtype=torch.float32)
    if uniform:
        keep = 1.0 - rates[0]
        scale = (draw < keep) * (1.0 / keep)  # (S, ...): 0 or 1/(1-p)
    else:
        keep = torch.tensor([1.0 - p for p in rates], device=samples.device, dtype=torch.float32)
        keep = keep.view(len(rates), *([1] * (samples.dim() - 1)))  # (S, 1, ..., 1)
        scale = (draw < keep) / keep  # (S, ...): 0 or 1/(1-p_s)
    return (samples * scale).to(samples.dtype)


def parse_linspace(spec: str, num_samples: int) -> list[float]:
    """Resolve `"linspace(a, b)"` to `num_samples` evenly spaced rates from `a` to `b` (both included).

    With `num_samples == 1` the single rate is `a`, as with `torch.linspace`.
    """
    match = _LINSPACE.match(spec)
    if match is None:
        raise ValueError(
            f"Cannot parse dropout specification {spec!r}: expected a float in [0, 1), a list of floats, "
            "or a string of the form 'linspace(a, b)' with 0 <= a, b < 1."
        )
    try:
        start, end = (float(g) for g in match.groups())
    except ValueError:
        raise ValueError(
            f"Cannot parse the bounds of {spec!r}: they must be numbers, e.g. 'linspace(0.1, 0.5)'."
        ) from None
    _check_rate(start, f"The start of {spec!r}")
    _check_rate(end, f"The end of {spec!r}")
    return [round(r, 10) for r in torch.linspace(start, end, num_samples, dtype=torch.float64).tolist()]


def resolve_dropout(dropout: DropoutSpec, num_samples: int, what: str = "msd_dropout") -> list[float]:
    """Turn a dropout specification into one rate per sample.

    Args:
        dropout (`float`, `Sequence[float]` or `str`):
            A rate in [0, 1) for every sample, a sequence of `num_samples` rates, or `"linspace(a, b)"`.
        num_samples (`int`):
            The number of dropout samples K.
        what (`str`, *optional*, defaults to `"msd_dropout"`):
            The name used in error messages.

    Returns:
        `list[float]`: `num_samples` rates, each in [0, 1).

    Raises:
        `ValueError`: naming the bad value and what is allowed.
    """
    num_samples = check_positive_int(num_samples, "msd_num_samples")
    if isinstance(dropout, str):
        return parse_linspace(dropout, num_samples)
    if isinstance(dropout, torch.Tensor):
        dropout = dropout.tolist()
    if isinstance(dropout, Sequence):
        if len(dropout) != num_samples:
            raise ValueError(
                f"{what} lists {len(dropout)} rates ({list(dropout)!r}) but msd_num_samples is {num_samples}: "
                "give one rate per sample, a single float, or 'linspace(a, b)'."
            )
        return [_check_rate(r, f"{what}[{i}]") for i, r in enumerate(dropout)]
    return [_check_rate(dropout, what)] * num_samples


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


class MultiSampleDropout(nn.Module):
    """Multi-sample dropout (Inoue 2019, arXiv:1905.09788): K dropout samples of the input, stacked.

    In training mode `forward(x)` returns a tensor of shape `(num_samples, *x.shape)`: sample `k` is `x` with its own,
    independent dropout mask, dropped with rate `p_k` and scaled by `1 / (1 - p_k)`. All masks come from one random
    draw. In eval mode dropout is the identity and all samples are equal, so it returns one sample, `(1, *x.shape)`,
    without copying.

    The module has no parameters and no buffers (the rates are plain Python floats, so `from_pretrained`'s meta-device
    initialisation cannot corrupt them). For token states `(B, T, H)`, where K copies cost memory, use
    [`MultiSampleLinear`], which never holds more than one masked copy.

    Args:
        num_samples (`int`, *optional*, defaults to 8):
            The number of dropout samples K (>= 1). The paper's gains level off around 8.
        dropout (`float`, `Sequence[float]` or `str`, *optional*, defaults to 0.5):
            One rate in [0, 1) for every sample, one rate per sample, or `"linspace(a, b)"` for K evenly spaced rates.

    Example:

    ```python
    >>> msd = MultiSampleDropout(num_samples=4, dropout="linspace(0.1, 0.4)")
    >>> msd.rates
    (0.1, 0.2, 0.3, 0.4)
    >>> msd(torch.ones(2, 3)).shape
    torch.Size([4, 2, 3])
    ```
    """

    def __init__(self, num_samples: int = 8, dropout: DropoutSpec = 0.5):
        super().__init__()
        self.num_samples = check_positive_int(num_samples, "num_samples")
        self.rates: tuple[float, ...] = tuple(resolve_dropout(dropout, self.num_samples, what="dropout"))
        warn_if_identical(self.num_samples, self.rates, type(self).__name__)

    @property
    def uniform(self) -> bool:
        """Whether every sample uses the same rate."""
        return len(set(self.rates)) == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x.unsqueeze(0)  # (1, *x.shape): dropout is the identity, one sample is enough
        return dropout_samples(x.unsqueeze(0).expand(self.num_samples, *x.shape), self.rates)  # (K, *x.shape)

    def extra_repr(self) -> str:
        rates = self.rates[0] if self.uniform else list(self.rates)
        return f"num_samples={self.num_samples}, dropout={rates}"
