"""`MultiSampleLinear`: K dropout samples of the input through one shared Linear (interim, vectorized version)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .dropout import DropoutSpec, check_positive_int, dropout_samples, resolve_dropout, warn_if_identical


def sampled_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, rates: Sequence[float]
) -> torch.Tensor:
    """`F.linear(dropout_s(x), weight, bias)` for each rate: `(S, *x.shape[:-1], out_features)`."""
    samples = dropout_samples(x.unsqueeze(0).expand(len(rates), *x.shape), rates)  # (S, ..., H)
    return F.linear(samples, weight, bias)  # (S, ..., out)


class MultiSampleLinear(nn.Linear):
    """An `nn.Linear` that applies K dropout samples of its input: `(K, ..., out_features)` in training, one sample
    `(1, ..., out_features)` in eval. Same parameters (`weight`, `bias`) as `nn.Linear`."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        num_samples: int = 8,
        dropout: DropoutSpec = 0.5,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.num_samples = check_positive_int(num_samples, "num_samples")
        self.rates: tuple[float, ...] = tuple(resolve_dropout(dropout, self.num_samples, what="dropout"))
        warn_if_identical(self.num_samples, self.rates, type(self).__name__)

    @classmethod
    def from_linear(cls, linear: nn.Linear, num_samples: int, dropout: DropoutSpec) -> MultiSampleLinear:
        """A `MultiSampleLinear` that shares `linear`'s parameters."""
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = linear.in_features, linear.out_features
        new.weight = linear.weight
        new.bias = linear.bias
        new.num_samples = check_positive_int(num_samples, "num_samples")
        new.rates = tuple(resolve_dropout(dropout, new.num_samples, what="dropout"))
        warn_if_identical(new.num_samples, new.rates, cls.__name__)
        return new

    monte_carlo = None  # the sampler of an `mc_dropout` context around the model, which then draws the samples

    @property
    def uniform(self) -> bool:
        return len(set(self.rates)) == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.monte_carlo is not None:
            return self.monte_carlo.sample(self, x)
        if not self.training:
            return F.linear(x, self.weight, self.bias).unsqueeze(0)  # (1, ..., out)
        return sampled_linear(x, self.weight, self.bias, self.rates)  # (K, ..., out)
