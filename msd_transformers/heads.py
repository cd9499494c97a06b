"""Small head pieces: the RoBERTa-style head whose dropout module cannot become the identity, the decoders'
last-token pooling, and the paths of a wrapped timm model's head."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn
from transformers.utils import logging

from .architectures import MSDArchitecture

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


# `F.dropout(x, p=self.drop_rate, ...)` in a timm `forward_head` (ResNet, EfficientNet, MobileNetV3, ...)
_TIMM_FUNCTIONAL_DROPOUT = re.compile(r"F\.dropout\(\s*x\s*,\s*(p\s*=\s*)?(float\()?self\.drop_rate\b")


def timm_drop_rate(config: object) -> float:
    """The head dropout rate a TimmWrapper config gives its timm model: `model_args["drop_rate"]` (what
    `timm.create_model` receives; timm's default, and that of every pretrained config, is 0)."""
    return float((getattr(config, "model_args", None) or {}).get("drop_rate") or 0.0)


def resolve_timm_head(model: nn.Module, arch: MSDArchitecture) -> tuple[MSDArchitecture, float]:
    """The row of a TimmWrapper model with the paths of its timm architecture's head, and that head's dropout rate.

    timm heads apply `forward_head(x)`: pooling (and, by architecture, a norm or a pre-logits layer), a dropout at
    the model's `drop_rate`, then the classifier `get_classifier()`; `forward_head(x, pre_logits=True)` stops before
    the classifier. The samples go there: the classifier must be an `nn.Linear` (it becomes the
    [`MultiSampleLinear`], under its own name, so checkpoints move both ways untouched), and the dropout feeding it one
    of timm's three forms:

    - an `nn.Dropout` module `head_drop` beside a classifier on the model itself (ViT, DeiT, BEiT, EVA, ...);
    - an `nn.Dropout` module `drop` in the head module that holds the classifier (`ClassifierHead`,
      `NormMlpClassifierHead`: ConvNeXt, RegNet, ByobNet, MetaFormer, ...);
    - `F.dropout(x, p=self.drop_rate)` in the model's `forward_head` (ResNet, EfficientNet, MobileNetV3, ...): the
      row's `dropout` is then `None`, and the MSD class sets the timm model's `drop_rate` to 0 (the samples' dropout
      replaces it; the config keeps the rate).

    A dropout module must be called once by its owner's forward (VOLO's `head_drop` also drops its auxiliary head's
    tokens: refused).

    Args:
        model (`nn.Module`): The TimmWrapper model (MSD or upstream), its timm model at `arch.classifier`.
        arch (`MSDArchitecture`): The family's row (`resolve_head="timm"`).

    Returns:
        `tuple`: the row with `classifier` and `dropout` set to full paths (`dropout` `None` for the functional form),
        and the head dropout's rate.

    Raises:
        `ValueError`: naming the timm architecture, when its classifier is not an `nn.Linear` (no classes:
        `num_classes=0`; a convolution; a normalised or MLP classifier; two classifiers, as distilled DeiT and LeViT)
        or no dropout of those forms feeds it alone.
    """
    prefix = arch.classifier
    timm_model = model.get_submodule(prefix)
    name = f"{getattr(model.config, 'architecture', None)!r} ({type(timm_model).__name__})"
    classifier = timm_model.get_classifier() if hasattr(timm_model, "get_classifier") else None
    paths = {id(module): path for path, module in timm_model.named_modules() if path}
    if not isinstance(classifier, nn.Linear) or id(classifier) not in paths:
        raise ValueError(
            f"Multi-sample dropout does not support the timm architecture {name}: its classifier "
            f"(`get_classifier()`) is a {type(classifier).__name__}, not a torch.nn.Linear of the model, so there is "
            "no Linear for the dropout samples (heads with a normalised, convolutional or MLP classifier, or two "
            "classifiers, are not supported)."
        )
    fc_path = paths[id(classifier)]
    parent_path = fc_path.rpartition(".")[0]
    drop_path = f"{parent_path}.drop" if parent_path else "head_drop"
    dropout = timm_model.get_submodule(drop_path) if _has_submodule(timm_model, drop_path) else None
    row = replace(arch, classifier=f"{prefix}.{fc_path}", resolve_head=None)
    source = _source(type(timm_model).forward_head) if hasattr(timm_model, "forward_head") else ""
    if isinstance(dropout, (nn.Dropout, nn.Identity)):
        parent = timm_model.get_submodule(parent_path)
        if not parent_path:  # `head_drop`, called by the model's `forward_head`
            caller = source
        else:  # the head module's `drop`, called by its forward (an nn.Sequential calls each module once)
            caller = "" if isinstance(parent, nn.Sequential) else _source(type(parent).forward)
        calls = len(re.findall(rf"\bself\.{drop_path.rpartition('.')[2]}\(", caller)) if caller else 1
        if calls != 1:  # VOLO's head_drop also drops the tokens of its auxiliary head
            raise ValueError(
                f"Multi-sample dropout does not support the timm architecture {name}: its head dropout `{drop_path}` "
                f"is called {calls} times, so it cannot give way to the samples before `{fc_path}` alone."
            )
        rate = dropout.p if isinstance(dropout, nn.Dropout) else 0.0
        return replace(row, dropout=f"{prefix}.{drop_path}"), float(rate)
    if not parent_path and _TIMM_FUNCTIONAL_DROPOUT.search(source):
        return replace(row, dropout=None), float(timm_model.drop_rate or 0.0)
    raise ValueError(
        f"Multi-sample dropout does not support the timm architecture {name}: no head dropout of a known form feeds "
        f"its classifier `{fc_path}` (an nn.Dropout `{drop_path}`, or F.dropout at `drop_rate` in `forward_head`)."
    )


def _source(function: Callable) -> str:
    """The source of `function`, or `""` where it is not available."""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def _has_submodule(module: nn.Module, path: str) -> bool:
    try:
        module.get_submodule(path)
    except AttributeError:
        return False
    return True
