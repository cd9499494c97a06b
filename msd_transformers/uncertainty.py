"""Uncertainty from dropout samples: Monte-Carlo dropout with a cost dial, predictive uncertainty, calibration.

Monte-Carlo (MC) dropout (Gal and Ghahramani 2016) keeps dropout on at inference and reads the spread of N sampled
predictions as the model's uncertainty. [`mc_dropout`] chooses how deep the samples reach (`layers`):

- `0`, the head only (multi-sample dropout models): the head's `MultiSampleDropout` draws N masks, the encoder runs
  once. About the cost of one evaluation.
- `k`: the embeddings and the lower `L - k` layers run once, deterministically, on the batch of B examples; the hidden
  states entering the top k layers are repeated N times along the batch, and the top layers, the final norm / pooler
  and the head run once on the N * B rows with their dropout on. About `1 + (N - 1) k / L` evaluations.
- `"all"`: every dropout in the network on, the N passes as one forward over the batch repeated N times (at most N
  evaluations; `chunk_size` bounds the memory).

[`predictive_uncertainty`] turns the `(N, B, C)` sample logits into mean probabilities, predictive entropy and mutual
information (single- and multi-label) or mean and standard deviation (regression). The calibration metrics
([`expected_calibration_error`], [`negative_log_likelihood`], [`brier_score`], [`aurc`]) score probabilities against
labels, on numpy arrays or torch tensors.

Example:

```python
>>> model.eval()
>>> with mc_dropout(model, num_samples=32):  # head only
...     out = model(**batch)
>>> u = predictive_uncertainty(out.sample_logits, problem_type="single_label_classification")
>>> u.probs.shape, u.entropy.shape, u.mutual_information.shape
(torch.Size([4, 5]), torch.Size([4]), torch.Size([4]))
```
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import math
import textwrap
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from .dropout import MultiSampleDropout, check_num_samples, repeat_batch
from .loss import PROBLEM_TYPES, infer_problem_type, sample_losses
from .modeling import ARCHITECTURES, MODEL_TYPE_PREFIX, MSDModelMixin, MSDSequenceClassifierOutput

Layers = int | Literal["all"]

#: Where the transformer layers are, per upstream `model_type`, for `mc_dropout(..., layers=k)`: the path of their
#: `nn.ModuleList` inside the backbone (`model.base_model`), or `None` where the top layers cannot run alone. A family
#: not listed here uses the one `nn.ModuleList` of its backbone that holds `num_hidden_layers` modules.
LAYER_LISTS: dict[str, str | None] = {
    # One layer group (`encoder.albert_layer_groups`) applied num_hidden_layers times: the depths share weights.
    "albert": None,
    # The final character encoder takes the deterministic character encoding next to the upsampled deep layers.
    "canine": None,
    # Blocks of layers with pooling between them, and an upsampling decoder over the first block's output.
    "funnel": None,
    # A layer is four lists (attentions, layer_norm1, ffns, layer_norm2), not one module.
    "flaubert": None,
    "xlm": None,
    # Sequence-first layout (L, B, H): the batch is not the first dimension of the layers' inputs.
    "xlnet": None,
    # The language adapters take per-example language ids, a 1-D tensor the layers are not given repeated.
    "xmod": None,
    # The encoder calls each layer's `forward` method directly, past the hooks that repeat the rows.
    "squeezebert": None,
    # Encoder-decoders: the head reads the decoder's last state, so the top layers are the decoder's; the encoder runs
    # once, deterministically, also with every decoder layer sampled.
    **dict.fromkeys(("bart", "bigbird_pegasus", "mbart", "mvp", "plbart"), "decoder.layers"),
    **dict.fromkeys(("mt5", "t5", "umt5"), "decoder.block"),
}

#: Keyword arguments of a transformer layer that are not per example although their first dimension may equal the
#: batch size: never repeated. DeBERTa-v2's relative position embeddings `(2 * span, H)` and positions `(1, L, L)`.
SHARED_LAYER_ARGUMENTS: frozenset[str] = frozenset({"rel_embeddings", "relative_pos"})

DROPOUT_MODULES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)

_ACTIVE: weakref.WeakSet[nn.Module] = weakref.WeakSet()  # models inside an `mc_dropout` context


# ----------------------------------------------------------------------------------------------------------------
# Which modules are dropout
# ----------------------------------------------------------------------------------------------------------------


def _is_dropout_context(node: ast.AST) -> bool:
    """A node under which reading `self.training` switches dropout: a call of a function named `*dropout*`
    (`F.dropout(x, p, training=self.training)`), an argument named `*dropout*` (`dropout=0.0 if not self.training
    else p`), or an assignment to a `*dropout*` name."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return "dropout" in name.lower()
    if isinstance(node, ast.keyword):
        return node.arg is not None and "dropout" in node.arg.lower()
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in targets]
        return any("dropout" in name.lower() for name in names)
    return False


def _training_reads(node: ast.AST, in_dropout: bool = False) -> Iterator[bool]:
    """For every read of `self.training` under `node`: whether it sits in a dropout context."""
    if isinstance(node, ast.Attribute) and node.attr == "training" and getattr(node.value, "id", None) == "self":
        yield in_dropout
        return
    in_dropout = in_dropout or _is_dropout_context(node)
    for child in ast.iter_child_nodes(node):
        yield from _training_reads(child, in_dropout)


@functools.cache
def uses_functional_dropout(cls: type[nn.Module]) -> bool:
    """Whether `cls.forward` reads `self.training` only to switch a functional dropout.

    Transformers' attention modules apply their attention dropout functionally, `dropout=0.0 if not self.training
    else self.attention_dropout`: it follows the attention module's own training flag, not an `nn.Dropout` module.
    This reads the source of `forward` and answers `True` when every read of `self.training` sits in a dropout call,
    a `dropout` argument or a `dropout` assignment. A module that also reads it for anything else (MoE router jitter,
    layer drop, `if not self.training: ...`) answers `False`: switching it would change more than dropout.

    Args:
        cls (`type[nn.Module]`): The module class.

    Returns:
        `bool`: Whether putting the module in training mode turns on dropout and nothing else.
    """
    forward = getattr(cls, "forward", None)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(forward)))
    except (OSError, TypeError, SyntaxError):  # no source (builtin, compiled): not analysable, never switched
        return False
    reads = list(_training_reads(tree))
    return bool(reads) and all(reads)


def is_dropout_module(module: nn.Module) -> bool:
    """Whether `module` is dropout: an `nn.Dropout`-family module, or a module whose training flag switches only a
    functional dropout ([`uses_functional_dropout`]). The `MultiSampleDropout` is not: `mc_dropout` drives it."""
    if isinstance(module, MultiSampleDropout):
        return False
    return isinstance(module, DROPOUT_MODULES) or uses_functional_dropout(type(module))


# ----------------------------------------------------------------------------------------------------------------
# mc_dropout
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What `mc_dropout` changes: resolved arguments and the modules involved."""

    model: PreTrainedModel
    num_samples: int
    layers: Layers
    chunk_size: int
    msd: MultiSampleDropout | None
    backbone: nn.Module | None = None
    sampled_layers: tuple[nn.Module, ...] = ()
    dropout_modules: tuple[nn.Module, ...] = ()


@dataclass
class _Rows:
    """The row layout of the forward in progress: B examples, each repeated `num_samples` times."""

    num_samples: int = 1
    batch_size: int = 0


def _unwrap(model: nn.Module) -> PreTrainedModel:
    get_base_model = getattr(model, "get_base_model", None)  # a PEFT model: its Transformers model
    if not isinstance(model, PreTrainedModel) and callable(get_base_model):
        model = get_base_model()
    if not isinstance(model, PreTrainedModel):
        raise ValueError(
            "mc_dropout takes a Transformers *ForSequenceClassification model (or a PEFT model around one), got "
            f"{type(model).__name__}."
        )
    return model


def _model_type(config: PretrainedConfig) -> str:
    return getattr(config, "model_type", "").removeprefix(MODEL_TYPE_PREFIX)


def find_layers(model: PreTrainedModel) -> tuple[nn.Module, nn.ModuleList]:
    """The backbone (`model.base_model`) and its list of transformer layers, for `mc_dropout(..., layers=k)`.

    The list comes from [`LAYER_LISTS`] for the families listed there, else it is the one `nn.ModuleList` in the
    backbone with `num_hidden_layers` modules (not counting lists nested inside another such list).

    Raises:
        `ValueError`: the layers cannot be separated (ALBERT), or no single layer list is found.
    """
    model_type = _model_type(model.config)
    options = "layers=0 (the head only, multi-sample dropout models) or layers='all' (every dropout)"
    backbone = model.base_model
    if backbone is model:
        raise ValueError(f"{type(model).__name__} has no backbone (base_model) to split; use {options}.")
    if model_type in LAYER_LISTS:
        path = LAYER_LISTS[model_type]
        if path is None:
            raise ValueError(
                f"The top layers of {model_type!r} models cannot be sampled alone (see "
                f"msd_transformers.uncertainty.LAYER_LISTS), so layers=k does not apply; use {options}."
            )
        return backbone, backbone.get_submodule(path)
    n = model.config.get_text_config().num_hidden_layers
    found = [(name, m) for name, m in backbone.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n]
    found = [(name, m) for name, m in found if not any(name.startswith(f"{other}.") for other, _ in found)]
    if len(found) != 1:
        where = f"several ({', '.join(name for name, _ in found)})" if found else "none"
        raise ValueError(
            f"Cannot find the transformer layers of {model_type!r}: {where} of the nn.ModuleLists in "
            f"{type(backbone).__name__} hold num_hidden_layers={n} modules. Add the path of the layer list to "
            f"msd_transformers.uncertainty.LAYER_LISTS[{model_type!r}], or use {options}."
        )
    return backbone, found[0][1]


def _plan(model: nn.Module, num_samples: int | None, layers: Layers, chunk_size: int | None) -> _Plan:
    """Check the arguments of `mc_dropout` against the model (before anything changes) and resolve them."""
    model = _unwrap(model)
    msd = model.msd if isinstance(model, MSDModelMixin) else None
    msd = msd if isinstance(msd, MultiSampleDropout) else None  # a swapped-in module has no MC state
    if num_samples is None:
        if msd is None:
            raise ValueError(
                f"num_samples is required for {type(model).__name__} (a model without multi-sample dropout has no "
                "msd_num_samples to default to): pass e.g. num_samples=8."
            )
        num_samples = model.config.msd_num_samples
    num_samples = check_num_samples(num_samples, "num_samples")
    if chunk_size is not None:
        check_num_samples(chunk_size, "chunk_size")
    plan = _Plan(model, num_samples, layers, min(chunk_size or num_samples, num_samples), msd)
    if layers == "all":
        plan.dropout_modules = tuple(m for m in model.modules() if is_dropout_module(m))
        return plan
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
        raise ValueError(
            f"layers must be 0 (the head only), an int k >= 1 (the top k layers) or 'all', got {layers!r}."
        )
    if layers == 0:
        if msd is None:
            raise ValueError(
                f"layers=0 samples the multi-sample dropout head, and {type(model).__name__} has none. Use "
                "layers='all' (every dropout in the network) or layers=k (the top k layers), or load the model with "
                "AutoMSDModelForSequenceClassification."
            )
        return plan
    backbone, layer_list = find_layers(model)
    if layers > len(layer_list):
        raise ValueError(
            f"layers={layers} but {type(model).__name__} has {len(layer_list)} layers: use 1 to {len(layer_list)}, "
            "0 (the head only) or 'all'."
        )
    sampled_layers = layer_list[len(layer_list) - layers :]
    # With every layer sampled, the backbone simply runs on the N * B rows; not an encoder-decoder's, whose encoder
    # would then run N times.
    if layers < len(layer_list) or model.config.is_encoder_decoder:
        plan.backbone, plan.sampled_layers = backbone, tuple(sampled_layers)
    in_backbone = set(backbone.modules())
    sampled = [m for layer in sampled_layers for m in layer.modules()]
    sampled += [m for m in model.modules() if m not in in_backbone]  # the head
    plan.dropout_modules = tuple(m for m in sampled if is_dropout_module(m))
    return plan


def validate_mc_dropout(
    model: nn.Module, num_samples: int | None = None, layers: Layers = 0, chunk_size: int | None = None
) -> None:
    """Check the arguments of [`mc_dropout`] against `model` without changing anything (the model's mode is checked
    when the context is entered). Raises the `ValueError`s of [`mc_dropout`]."""
    _plan(model, num_samples, layers, chunk_size)


@contextlib.contextmanager
def mc_dropout(
    model: nn.Module, num_samples: int | None = None, layers: Layers = 0, chunk_size: int | None = None
) -> Iterator[PreTrainedModel]:
    """Monte-Carlo dropout at a chosen depth: inside the context, the model's forward returns `sample_logits`.

    The model must be in eval mode. Inside the context, `model(**batch)` returns an [`MSDSequenceClassifierOutput`]
    with `sample_logits` of shape `(num_samples, B, C)`, one set of logits per dropout sample, and:

    - `layers=0` (the head only; multi-sample dropout models): the encoder runs once; the head's `MultiSampleDropout`
      returns the deterministic sample and N dropout samples, so `logits` and `loss` are the unchanged eval ones.
      MC sample `m` uses the head's rate `rates[m % K]` (per-sample rates cycle when N != K).
    - `layers=k`: the model runs on the batch repeated N times (so everything outside the backbone, e.g. a decoder's
      last-token pooling or a mean pooling over `attention_mask`, sees consistent N * B rows); a forward pre-hook on
      the backbone cuts its inputs back to the B examples, so the embeddings, the attention masks and the lower
      `L - k` layers run once, deterministically; a forward pre-hook on each of the top k layers repeats its
      per-example inputs (hidden states, masks, rotary tables when per example) N times. The dropout of the top k
      layers and of the head is on, every other module's mode untouched. With k = L no hook is needed: the backbone
      runs on the N * B rows, its embeddings deterministic (and whatever the encoder computes between its layers
      sees consistent rows, e.g. DeBERTa-v2's convolution after the first layer). Encoder-decoders (BART, T5, ...):
      the k top layers of the decoder, whose cross-attention inputs are repeated too; the encoder runs once, also
      with k = L (the decoder's layers). `use_cache=False` is passed to models that take it.
    - `layers="all"`: every dropout in the network on ([`is_dropout_module`]: `nn.Dropout` modules and the attention
      modules whose attention dropout follows their training flag; not router jitter or layer drop), one forward
      over the batch repeated N times. Works for any sequence classification model, stock ones included.

    With `layers` k or `"all"` there is no deterministic pass of the sampled part, so `logits` is the MC predictive
    distribution as logits ([`predictive_logits`]: log of the mean probabilities for single-label, so that `argmax`
    and `softmax` give the MC prediction and its probabilities), and `loss`, when `labels` are given, is the
    model's loss (its upstream rules) of those logits: for single-label, the negative log-likelihood of the MC
    predictive. `hidden_states` and `attentions` are not returned there (their rows differ with depth). A
    multi-sample dropout head draws one mask per row, not K masks.

    Leaving the context restores every module's training flag, removes every hook and the patched forward, also
    after an exception. Nesting is refused. Run the forward under `torch.no_grad()` or `torch.inference_mode()`.

    Args:
        model (`nn.Module`):
            A `*ForSequenceClassification` model (or a PEFT model around one), in eval mode.
        num_samples (`int`, *optional*):
            The number N of Monte-Carlo samples, any int >= 1. Defaults to the model's `msd_num_samples`.
        layers (`int` or `"all"`, *optional*, defaults to 0):
            The depth of the sampling: 0 (the head only), k in 1..L (the top k layers, the pooler and the head), or
            `"all"` (every dropout in the network).
        chunk_size (`int`, *optional*):
            With `layers` k or `"all"`: at most this many samples per forward, to bound memory (the rows of one
            forward are `chunk_size * B`; with `layers=k` the lower layers then run once per chunk). Default: all
            N samples in one forward.

    Returns:
        The Transformers model, inside the context (the model itself, or the one a PEFT model wraps).

    Raises:
        `ValueError`: a bad `num_samples`, `layers` or `chunk_size`; `layers=0` on a model without a multi-sample
        dropout head; `layers=k` where the top layers cannot be separated (ALBERT) or k is out of range; a model in
        training mode; or a model already inside `mc_dropout`.

    Example:

    ```python
    >>> model.eval()
    >>> with torch.inference_mode(), mc_dropout(model, num_samples=8, layers=2):
    ...     out = model(**batch)
    >>> out.sample_logits.shape  # (8, B, C)
    ```
    """
    plan = _plan(model, num_samples, layers, chunk_size)
    model = plan.model
    if model.training:
        raise ValueError(
            "mc_dropout samples dropout on a model in eval mode (the rest of the network deterministic): call "
            "model.eval() first."
        )
    if model in _ACTIVE:
        raise ValueError(f"{type(model).__name__} is already inside mc_dropout: nesting is not supported.")
    modes = {m: m.training for m in model.modules()}
    previous_forward = model.__dict__.get("forward")  # e.g. accelerate's mixed-precision wrapper
    handles: list[torch.utils.hooks.RemovableHandle] = []
    _ACTIVE.add(model)
    try:
        if plan.layers == 0:
            plan.msd.mc_mode, plan.msd.mc_samples = "head", plan.num_samples
        else:
            for module in plan.dropout_modules:
                module.training = True  # the module alone: its children keep their own flags
            if plan.msd is not None:
                plan.msd.mc_mode = "rows"
            rows = _Rows()
            if plan.backbone is not None:
                handles.append(
                    plan.backbone.register_forward_pre_hook(functools.partial(_first_rows, rows), with_kwargs=True)
                )
                for layer in plan.sampled_layers:
                    handles.append(
                        layer.register_forward_pre_hook(functools.partial(_repeat_rows, rows), with_kwargs=True)
                    )
            model.forward = _repeated_forward(plan, rows)
        yield model
    finally:
        for handle in handles:
            handle.remove()
        if previous_forward is not None:
            model.forward = previous_forward
        else:
            model.__dict__.pop("forward", None)
        for module, training in modes.items():
            module.training = training
        if plan.msd is not None:
            plan.msd.mc_mode, plan.msd.mc_samples = None, 0
        _ACTIVE.discard(model)


def _map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], value: Any) -> Any:
    """Apply `fn` to every tensor in `value`, through tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if type(value) in (tuple, list):
        return type(value)(_map_tensors(fn, v) for v in value)
    if type(value) is dict:
        return {k: _map_tensors(fn, v) for k, v in value.items()}
    return value


def _first_rows(rows: _Rows, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Backbone pre-hook: the batch repeated N times, `(N * B, ...)`, back to its B examples (rows `0..B-1`)."""
    b, total = rows.batch_size, rows.num_samples * rows.batch_size

    def first(t: torch.Tensor) -> torch.Tensor:
        return t[:b] if t.dim() >= 2 and t.shape[0] == total else t  # (N * B, ...) -> (B, ...)

    return _map_tensors(first, args), _map_tensors(first, kwargs)


def _repeat_rows(rows: _Rows, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    """Sampled-layer pre-hook: every per-example input `(B, ...)` repeated N times, `(N * B, ...)`, row `m * B + b`
    example `b`. Inputs already repeated (hidden states from a sampled layer), 1-D tensors (`cache_position`),
    broadcast `(1, ...)` tensors when B > 1 and [`SHARED_LAYER_ARGUMENTS`] stay as they are."""
    n, b = rows.num_samples, rows.batch_size
    if n == 1:
        return None

    def repeat(t: torch.Tensor) -> torch.Tensor:
        return t.repeat(n, *([1] * (t.dim() - 1))) if t.dim() >= 2 and t.shape[0] == b else t

    kwargs = {k: v if k in SHARED_LAYER_ARGUMENTS else _map_tensors(repeat, v) for k, v in kwargs.items()}
    return _map_tensors(repeat, args), kwargs


def _as_kwargs(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The call's arguments by name (positional ones included), `**kwargs` flattened."""
    bound = signature.bind_partial(*args, **kwargs).arguments
    out: dict[str, Any] = {}
    for name, value in bound.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        else:
            out[name] = value
    return out


def _batch_size(inputs: Mapping[str, Any]) -> int:
    for key in ("input_ids", "inputs_embeds", *inputs):
        value = inputs.get(key)
        if isinstance(value, torch.Tensor) and value.dim() >= 1:
            return value.shape[0]
    raise ValueError("mc_dropout: the model was called without a batched tensor (input_ids or inputs_embeds).")


def resolve_problem_type(config: PretrainedConfig, labels: torch.Tensor | None = None) -> str:
    """The problem type of a model's outputs, for [`predictive_uncertainty`].

    Args:
        config (`PretrainedConfig`): The model's config.
        labels (`torch.Tensor`, *optional*): A batch of labels.

    Returns:
        `str`: `config.problem_type`; else the upstream rule on `labels` (not for DeBERTa-v2, whose 2-D float labels
        are soft labels of a single-label task); else `"regression"` for one label, `"single_label_classification"`
        for more.
    """
    if config.problem_type is not None:
        return config.problem_type
    if labels is not None and _loss_style(config) == "default":
        return infer_problem_type(config.num_labels, labels)
    return "regression" if config.num_labels == 1 else "single_label_classification"


def _loss_style(config: PretrainedConfig) -> str:
    arch = ARCHITECTURES.get(_model_type(config))
    return arch.loss_style if arch is not None else "default"


def _repeated_forward(plan: _Plan, rows: _Rows) -> Callable[..., Any]:
    """The model's forward for `layers` k or `"all"`: the batch repeated N times (in chunks of samples), the sample
    logits reshaped to `(N, B, C)`, the predictive logits and their loss."""
    model = plan.model
    forward = model.forward
    signature = inspect.signature(forward)
    takes_use_cache = "use_cache" in signature.parameters

    @functools.wraps(forward)
    def mc_forward(*args: Any, **kwargs: Any) -> MSDSequenceClassifierOutput | tuple:
        inputs = _as_kwargs(signature, args, kwargs)
        labels = inputs.pop("labels", None)
        return_dict = inputs.pop("return_dict", None)
        if takes_use_cache:
            inputs["use_cache"] = False  # a cache would hold B rows below the sampled layers, N * B above
        rows.batch_size = _batch_size(inputs)
        chunks = []
        for start in range(0, plan.num_samples, plan.chunk_size):
            n = min(plan.chunk_size, plan.num_samples - start)
            rows.num_samples = n
            if plan.msd is not None:
                plan.msd.mc_samples = n
            out = forward(**repeat_batch(inputs, n))
            logits = out["logits"] if isinstance(out, Mapping) else out[0]  # (n * B, C)
            chunks.append(logits.reshape(n, rows.batch_size, -1))  # (n, B, C): row m * B + b is sample m of b
        sample_logits = torch.cat(chunks)  # (N, B, C)
        config = model.config
        problem_type = resolve_problem_type(config, labels)
        logits = predictive_logits(sample_logits, problem_type)  # (B, C)
        loss = None
        if labels is not None:
            loss_problem_type = config.problem_type
            if loss_problem_type is None and _loss_style(config) == "default":
                loss_problem_type = config.problem_type = problem_type  # as upstream: set on the first labels
            loss = sample_losses(
                logits.unsqueeze(0),
                labels,
                num_labels=config.num_labels,
                problem_type=loss_problem_type,
                loss_style=_loss_style(config),
            )[0]
        output = MSDSequenceClassifierOutput(loss=loss, logits=logits, sample_logits=sample_logits)
        return output if (config.return_dict if return_dict is None else return_dict) else output.to_tuple()

    return mc_forward


# ----------------------------------------------------------------------------------------------------------------
# Predictive uncertainty
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class PredictiveUncertainty(ModelOutput):
    """The Monte-Carlo predictive distribution and its uncertainty, per example (fields that do not apply are None).

    Args:
        probs (`torch.Tensor` of shape `(B, C)`): Single-label: the mean of the per-sample softmax probabilities.
            Multi-label: the mean of the per-sample, per-label sigmoid probabilities.
        entropy (`torch.Tensor`): The predictive entropy in nats, the entropy of `probs`: `(B,)` for single-label,
            `(B, C)` per label (Bernoulli) for multi-label.
        mutual_information (`torch.Tensor`): The predictive entropy minus the mean entropy of the samples (BALD, the
            part of the uncertainty that the samples disagree on), `>= 0`; same shape as `entropy`.
        mean (`torch.Tensor` of shape `(B, C)`): Regression: the mean of the samples.
        std (`torch.Tensor` of shape `(B, C)`): Regression: the standard deviation of the samples (over N, without
            Bessel's correction: 0 for one sample).
    """

    probs: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    mutual_information: torch.Tensor | None = None
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None


def _check_sample_logits(sample_logits: Any, problem_type: str) -> torch.Tensor:
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}.")
    sample_logits = torch.as_tensor(sample_logits)
    if sample_logits.dim() != 3 or sample_logits.shape[0] < 1:
        raise ValueError(
            f"sample_logits must have shape (num_samples, batch_size, num_labels), got {tuple(sample_logits.shape)}."
        )
    if problem_type == "single_label_classification" and sample_logits.shape[-1] < 2:
        raise ValueError(
            f"single_label_classification needs >= 2 labels, got {sample_logits.shape[-1]} (one output is regression)."
        )
    return sample_logits if sample_logits.dtype == torch.float64 else sample_logits.float()


def predictive_logits(sample_logits: torch.Tensor, problem_type: str) -> torch.Tensor:
    """The Monte-Carlo predictive distribution of `(N, B, C)` sample logits, as `(B, C)` logits.

    Single-label: `log(mean_n softmax(z_n))`, so `softmax` of the result is the mean probability and its `argmax` the
    MC prediction. Multi-label: `logit(mean_n sigmoid(z_n))`, so `sigmoid` of the result is the mean per-label
    probability. Regression: the mean of the samples. Computed in float32 (float64 for float64 inputs) with
    log-sum-exp, so saturated probabilities stay finite.

    Args:
        sample_logits (`torch.Tensor` of shape `(N, B, C)`): The logits of each sample.
        problem_type (`str`): `"single_label_classification"`, `"multi_label_classification"` or `"regression"`.

    Returns:
        `torch.Tensor` of shape `(B, C)`.
    """
    x = _check_sample_logits(sample_logits, problem_type)
    log_n = math.log(x.shape[0])
    if problem_type == "single_label_classification":
        return torch.logsumexp(F.log_softmax(x, dim=-1), dim=0) - log_n  # (B, C): log of the mean probabilities
    if problem_type == "multi_label_classification":
        log_p = torch.logsumexp(F.logsigmoid(x), dim=0) - log_n  # (B, C): log mean p
        log_q = torch.logsumexp(F.logsigmoid(-x), dim=0) - log_n  # (B, C): log mean (1 - p)
        return log_p - log_q
    return x.mean(0)  # (B, C)


@torch.no_grad()
def predictive_uncertainty(
    sample_logits: torch.Tensor, problem_type: str = "single_label_classification"
) -> PredictiveUncertainty:
    """The Monte-Carlo predictive distribution and its uncertainty from the logits of N dropout samples.

    - Single-label: `probs` = the mean softmax probabilities `p̄`; `entropy` = `H[p̄] = -sum_c p̄_c log p̄_c`;
      `mutual_information` = `H[p̄] - mean_n H[p_n]` (BALD).
    - Multi-label: per label, with sigmoid probabilities and Bernoulli entropies.
    - Regression: `mean` and `std` of the samples.

    Entropies are in nats. Computed in float32 (float64 for float64 inputs) under `torch.no_grad()`: no autograd graph
    is kept. The mutual information is clipped at 0 (it is >= 0; rounding can make it -1e-8).

    Args:
        sample_logits (`torch.Tensor` of shape `(N, B, C)`):
            The logits of each sample, e.g. `out.sample_logits` inside [`mc_dropout`]. N = 1 is allowed (the mutual
            information and the standard deviation are then 0).
        problem_type (`str`, *optional*, defaults to `"single_label_classification"`):
            `"single_label_classification"`, `"multi_label_classification"` or `"regression"`.

    Returns:
        [`PredictiveUncertainty`]: `probs`, `entropy`, `mutual_information` (classification) or `mean`, `std`
        (regression).

    Raises:
        `ValueError`: an unknown `problem_type`, or `sample_logits` not of shape `(N, B, C)`.

    Example:

    ```python
    >>> u = predictive_uncertainty(torch.randn(8, 4, 3))
    >>> u.probs.shape, u.entropy.shape, u.mutual_information.shape
    (torch.Size([4, 3]), torch.Size([4]), torch.Size([4]))
    ```
    """
    x = _check_sample_logits(sample_logits, problem_type)
    if problem_type == "regression":
        return PredictiveUncertainty(mean=x.mean(0), std=x.std(0, correction=0))  # (B, C) each
    if problem_type == "single_label_classification":
        log_p = F.log_softmax(x, dim=-1)  # (N, B, C)
        log_mean = torch.logsumexp(log_p, dim=0) - math.log(x.shape[0])  # (B, C)
        probs = log_mean.exp()
        entropy = -(probs * log_mean).sum(-1)  # (B,)
        expected_entropy = -(log_p.exp() * log_p).sum(-1).mean(0)  # (B,)
    else:
        p = torch.sigmoid(x)  # (N, B, C)
        probs = p.mean(0)  # (B, C)
        entropy = -(torch.special.xlogy(probs, probs) + torch.special.xlogy(1 - probs, 1 - probs))  # (B, C)
        expected_entropy = -(p * F.logsigmoid(x) + (1 - p) * F.logsigmoid(-x)).mean(0)  # (B, C)
    mutual_information = (entropy - expected_entropy).clamp(min=0.0)
    return PredictiveUncertainty(probs=probs, entropy=entropy, mutual_information=mutual_information)


# ----------------------------------------------------------------------------------------------------------------
# Calibration metrics
# ----------------------------------------------------------------------------------------------------------------

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
    check_num_samples(num_bins, "num_bins")
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
