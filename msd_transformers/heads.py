"""Small head pieces: the RoBERTa-style head whose dropout module cannot become the identity, and the decoders'
last-token pooling."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers.utils import logging

logger = logging.get_logger(__name__)


class MSDDenseClassificationHead(nn.Module):
    """A RoBERTa-style classification head whose `out_proj` draws the dropout samples.

    Upstream, these heads (RoBERTa, XLM-RoBERTa, ELECTRA, CamemBERT, MPNet, Longformer, ESM, BigBird, ConvBERT,
    RoFormer, ..., and the encoder-decoders BART and T5) call the *same* `dropout` module twice: before `dense` and
    before `out_proj`. That module cannot become the identity (its first call stays a dropout), so this head keeps
    the upstream submodules (and so the upstream parameter names `dense.*` and `out_proj.*`), calls `dropout` once,
    and leaves the second dropout to `out_proj`, a [`MultiSampleLinear`]:

        x[:, 0] -> dropout -> dense -> activation -> out_proj (K dropout samples, then the Linear)

    RoBERTa's head takes the first token of the hidden states itself; other forwards give their head a state to use
    as it is (`pooled_input=True`): BART and T5 the decoder state at each sequence's last end-of-sequence token,
    LayoutLMv3's question-answering head every token.

    Args:
        head (`nn.Module`):
            The upstream head, with `dense`, `dropout` and `out_proj` (already a `MultiSampleLinear`).
        activation (`Callable`, *optional*):
            The activation after `dense`. Defaults to the head's own `activation` module when it has one (ELECTRA:
            GELU), else `tanh` (RoBERTa).
        pooled_input (`bool`, *optional*, defaults to `False`):
            Whether the head uses its input as given instead of taking the first token of `(batch_size, seq_len,
            hidden_size)` hidden states.
    """

    def __init__(
        self,
        head: nn.Module,
        activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
        pooled_input: bool = False,
    ):
        super().__init__()
        self.dense = head.dense
        self.dropout = head.dropout
        if activation is None:
            activation = head.activation if hasattr(head, "activation") else nn.Tanh()
        self.activation = activation
        self.pooled_input = pooled_input
        self.out_proj = head.out_proj
        self.upstream_class = type(head)

    def upstream_stand_in(self) -> nn.Module:
        """An instance of the upstream head's class that holds this head's `dense`, `dropout` and `out_proj` (the same
        modules, not copies), for code that picks what to do by the upstream class: the model's `_init_weights`
        (T5's initialises `dense` and `out_proj` in its branch for `T5ClassificationHead`)."""
        stand_in = self.upstream_class.__new__(self.upstream_class)
        nn.Module.__init__(stand_in)
        stand_in.dense, stand_in.dropout, stand_in.out_proj = self.dense, self.dropout, self.out_proj
        return stand_in

    def forward(self, features: torch.Tensor, **kwargs) -> torch.Tensor:
        x = features if self.pooled_input else features[:, 0, :]  # (B, H): the <s> / [CLS] token, or as given
        x = self.dropout(x)
        x = self.activation(self.dense(x))
        return self.out_proj(x)  # (K, B, C): the samples' dropout, then the Linear; K = 1 in eval


def pool_last_token(
    hidden_states: torch.Tensor, input_ids: torch.Tensor | None, pad_token_id: int | None, model_name: str
) -> torch.Tensor:
    """The hidden state of each sequence's last non-padding token, the token that Transformers' decoder heads classify.

    The upstream rule (`GenericForSequenceClassification` and its copies in GPT-2, OPT, BLOOM, ...): the rightmost
    position whose `input_ids` differ from `pad_token_id`, `(arange(L) * (input_ids != pad_token_id)).argmax(-1)`,
    which works for left and right padding. Without `input_ids` (`inputs_embeds`) or without `pad_token_id` (batch
    size 1 only), the last position. Upstream applies the classifier to every position and then picks; picking first
    gives the same logits at a fraction of the cost.

    Args:
        hidden_states (`torch.Tensor` of shape `(batch_size, seq_len, hidden_size)`):
            The backbone's last hidden states.
        input_ids (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*):
            The token ids, `None` when the model was called with `inputs_embeds`.
        pad_token_id (`int`, *optional*):
            The text config's `pad_token_id`.
        model_name (`str`):
            The model's class name, for the warning about `inputs_embeds`.

    Returns:
        `torch.Tensor` of shape `(batch_size, hidden_size)`.

    Raises:
        `ValueError`: `pad_token_id` is `None` and the batch has more than one sequence (as upstream).
    """
    batch_size = hidden_states.shape[0]
    if pad_token_id is None and batch_size != 1:
        raise ValueError(
            "Cannot handle batch sizes > 1 if no padding token is defined. Set `model.config.pad_token_id` (e.g. to "
            "the tokenizer's `pad_token_id`, or its `eos_token_id` when it has no padding token)."
        )
    device = hidden_states.device
    if pad_token_id is None:
        last = -1
    elif input_ids is not None:
        non_pad = (input_ids != pad_token_id).to(device, torch.int32)  # (B, L)
        positions = torch.arange(input_ids.shape[-1], device=device, dtype=torch.int32)  # (L,)
        last = (positions * non_pad).argmax(-1)  # (B,): the rightmost non-padding position
    else:
        last = -1
        logger.warning_once(
            f"{model_name} will not detect padding tokens in `inputs_embeds`. Results may be unexpected if using "
            "padding tokens in conjunction with `inputs_embeds.`"
        )
    return hidden_states[torch.arange(batch_size, device=device), last]  # (B, H)
