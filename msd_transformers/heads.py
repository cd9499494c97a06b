"""Small head modules that place a `MultiSampleDropout` where an upstream head cannot take it by a module swap."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .dropout import MultiSampleDropout


class MSDDenseClassificationHead(nn.Module):
    """A RoBERTa-style classification head with multi-sample dropout before `out_proj`.

    Upstream, these heads (RoBERTa, XLM-RoBERTa, ELECTRA, CamemBERT, MPNet, Longformer, ESM, BigBird, ConvBERT,
    RoFormer, ...) call the *same* `dropout` module twice: before `dense` and before `out_proj`. Swapping that module
    for a `MultiSampleDropout` would sample twice (K x K samples). This head keeps the upstream submodules (and so the
    upstream parameter names `dense.*` and `out_proj.*`) and draws the K samples only before `out_proj`:

        x[:, 0] -> dropout -> dense -> activation -> msd -> out_proj

    Args:
        head (`nn.Module`):
            The upstream head, with `dense`, `dropout` and `out_proj`.
        msd (`MultiSampleDropout`):
            The multi-sample dropout placed before `out_proj`.
        activation (`Callable`, *optional*):
            The activation after `dense`. Defaults to the head's own `activation` module when it has one (ELECTRA:
            GELU), else `tanh` (RoBERTa).
    """

    def __init__(
        self,
        head: nn.Module,
        msd: MultiSampleDropout,
        activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        self.dense = head.dense
        self.dropout = head.dropout
        if activation is None:
            activation = head.activation if hasattr(head, "activation") else nn.Tanh()
        self.activation = activation
        self.msd = msd
        self.out_proj = head.out_proj

    def forward(self, features: torch.Tensor, **kwargs) -> torch.Tensor:
        x = features[:, 0, :]  # (B, H): the <s> / [CLS] token
        x = self.dropout(x)
        x = self.activation(self.dense(x))
        x = self.msd(x)  # (K, B, H), K = 1 in eval
        return self.out_proj(x)  # (K, B, C)
