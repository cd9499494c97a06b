"""Monte-Carlo dropout with a cost dial: the [`MonteCarloDropout`] context and `mc_dropout`.

Monte-Carlo (MC) dropout (Gal and Ghahramani 2016) keeps dropout on at inference and reads the spread of N sampled
predictions as the model's uncertainty. `layers` chooses how deep the samples reach:

- `0`, the head only (multi-sample dropout models): the head's [`MultiSampleLinear`] draws N masks, the encoder runs
  once. About the cost of one evaluation.
- `k`: the embeddings and the lower `L - k` layers run once, deterministically, on the batch of B examples; the hidden
  states entering the top k layers are repeated N times along the batch, and the top layers, the final norm / pooler
  and the head run once on the N * B rows with their dropout on. About `1 + (N - 1) k / L` evaluations.
- `"all"`: every dropout in the network on, the N passes as one forward over the batch repeated N times (at most N
  evaluations; `chunk_size` bounds the memory).

Everything the context changes is in [`MonteCarloDropout`]: `__enter__` lists it, `__exit__` restores it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from .architectures import POOLED_TASKS
from .dropout import check_positive_int, dropout_samples, repeat_batch
from .loss import resolve_problem_type
from .mc_layers import SHARED_LAYER_ARGUMENTS, dropout_rate_fields, dropout_rates, find_layers, is_dropout_module
from .modeling import MSDModelMixin, batch_size_of
from .registry import loss_mask_of, loss_style_of
from .sampled_linear import MultiSampleLinear, sampled_linear
from .tasks import loss_labels, task_of, task_sample_losses
from .uncertainty import predictive_logits

logger = logging.getLogger(__name__)

Layers = int | Literal["all"]
_OPTIONS = "layers=0 (the head only, multi-sample dropout models) or layers='all' (every dropout)"


def _unwrap(model: nn.Module) -> PreTrainedModel:
    get_base_model = getattr(model, "get_base_model", None)  # a PEFT model: its Transformers model
    if not isinstance(model, PreTrainedModel) and callable(get_base_model):
        model = get_base_model()
    if not isinstance(model, PreTrainedModel):
        raise ValueError(
            "mc_dropout takes a Transformers model of a classification (sequence, image, audio, video), token "
            "classification, question answering or multiple choice task (or a PEFT model around one), got "
            f"{type(model).__name__}."
        )
    return model


class MonteCarloDropout:
    """One Monte-Carlo dropout context over a model: N dropout samples per example at the depth `layers`.

    Creating it checks the arguments against the model and changes nothing. Entering it changes, and leaving it
    restores (also after an exception):

    1. `layers=0` (the head only): the model's [`MultiSampleLinear`] (and its copies under PEFT's `modules_to_save`)
       gets this object as its `monte_carlo` sampler.
       Its forward then returns row 0 without dropout (the deterministic eval sample) and N dropout samples
       ([`sample`]), and the model's output separates them ([`split`]): `logits` and `loss` from row 0, the `sample_*`
       fields from rows 1..N.
    2. `layers=k` or `"all"`: the training flag of each dropout module of the sampled part (the module alone, not its
       children); the `MultiSampleLinear`, if any, gets this sampler with one mask per row of the repeated batch
       (sample m at rate `rates[m % K]`); with `k` < L, a forward pre-hook on the backbone that cuts the repeated batch
       back to its B examples and one on each of the top k layers that repeats their per-example inputs N times; and
       `model.forward`, replaced by [`forward`], which repeats the batch N times (in chunks of `chunk_size`), lays the
       outputs out as `(N, B, ...)` and returns the MC predictive outputs.
    3. A mark on the model (`_msd_monte_carlo`), so that a nested context is refused.

    Args:
        model (`nn.Module`): A Transformers model of one of the tasks, or a PEFT model around one, in eval mode.
        num_samples (`int`, *optional*): N, any int >= 1. Defaults to the model's `msd_num_samples`.
        layers (`int` or `"all"`, *optional*, defaults to 0): 0, k in 1..L, or `"all"`.
        chunk_size (`int`, *optional*): With `layers` k or `"all"`, at most this many samples per forward.
    """

    def __init__(
        self, model: nn.Module, num_samples: int | None = None, layers: Layers = 0, chunk_size: int | None = None
    ):
        self.model = model = _unwrap(model)
        self.task = task_of(model)
        msd = model.msd if isinstance(model, MSDModelMixin) else None
        self.msd: MultiSampleLinear | None = msd if isinstance(msd, MultiSampleLinear) else None
        if num_samples is None:
            if self.msd is None:
                raise ValueError(
                    f"num_samples is required for {type(model).__name__} (a model without multi-sample dropout has "
                    "no msd_num_samples to default to): pass e.g. num_samples=8."
                )
            num_samples = model.config.msd_num_samples
        self.num_samples = check_positive_int(num_samples, "num_samples")
        if chunk_size is not None:
            check_positive_int(chunk_size, "chunk_size")
        self.chunk_size = min(chunk_size or self.num_samples, self.num_samples)
        self.layers = layers
        self.backbone: nn.Module | None = None
        self.sampled_layers: tuple[nn.Module, ...] = ()
        self.dropout_modules: tuple[nn.Module, ...] = ()
        self._rows = (1, 0)  # (samples, examples) of the forward in progress, for the hooks and the sampler
        self._saved: dict[str, Any] = {}
        if layers == "all":
            self.dropout_modules = tuple(m for m in model.modules() if is_dropout_module(m))
        elif isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
            raise ValueError(
                f"layers must be 0 (the head only), an int k >= 1 (the top k layers) or 'all', got {layers!r}."
            )
        elif layers == 0:
            if self.msd is None:
                raise ValueError(
                    f"layers=0 samples the multi-sample dropout head, and {type(model).__name__} has none. Use "
                    "layers='all' (every dropout in the network) or layers=k (the top k layers), or load the model "
                    "with an AutoMSDModelFor<Task> class."
                )
        else:
            self._plan_layers(layers)
        self._warn_if_identical()

    @classmethod
    def for_evaluation(cls, model: nn.Module, num_samples: int, layers: Layers) -> MonteCarloDropout:
        """The context of a Monte-Carlo evaluation set up with `msd_eval_samples` and `msd_eval_layers`: its errors
        name those fields, the ones the user set."""
        try:
            return cls(model, num_samples, layers)
        except ValueError as err:
            message = str(err).replace("layers=", "msd_eval_layers=").replace("num_samples", "msd_eval_samples")
            raise ValueError(message) from None

    def _plan_layers(self, layers: int) -> None:
        model = self.model
        backbone, layer_list = find_layers(model)
        if layers > len(layer_list):
            raise ValueError(
                f"layers={layers} but {type(model).__name__} has {len(layer_list)} layers: use 1 to "
                f"{len(layer_list)}, 0 (the head only) or 'all'."
            )
        sampled_layers = layer_list[len(layer_list) - layers :]
        # With every layer sampled, the backbone simply runs on the N * B rows; not an encoder-decoder's, whose
        # encoder would then run N times.
        if layers < len(layer_list) or model.config.is_encoder_decoder:
            self.backbone, self.sampled_layers = backbone, tuple(sampled_layers)
        in_backbone = set(backbone.modules())
        sampled = [m for layer in sampled_layers for m in layer.modules()]
        sampled += [m for m in model.modules() if m not in in_backbone]  # the head
        self.dropout_modules = tuple(m for m in sampled if is_dropout_module(m))

    def _warn_if_identical(self) -> None:
        """N > 1 samples with every sampled rate 0 are identical: say so, and which config fields set the rates."""
        rates = [r for m in self.dropout_modules for r in dropout_rates(m)]
        if self.msd is not None:
            rates += list(self.msd.rates)
        if self.num_samples > 1 and not any(rates):
            fields = ", ".join(dropout_rate_fields(self.model.config)) or "its dropout fields"
            logger.warning(
                "mc_dropout(num_samples=%d, layers=%r): every dropout rate that it samples in %s is 0, so the %d "
                "samples are identical (zero mutual information) at up to %dx the cost. Set a rate > 0 in the config "
                "(%s) before loading the model, or msd_dropout for an MSD head.",
                self.num_samples, self.layers, type(self.model).__name__, self.num_samples, self.num_samples, fields,
            )  # fmt: skip

    # ------------------------------------------------------------------------------------------ entering, leaving

    def __enter__(self) -> PreTrainedModel:
        model = self.model
        if model.training:
            raise ValueError(
                "mc_dropout samples dropout on a model in eval mode (the rest of the network deterministic): call "
                "model.eval() first."
            )
        if getattr(model, "_msd_monte_carlo", None) is not None:
            raise ValueError(f"{type(model).__name__} is already inside mc_dropout: nesting is not supported.")
        self._saved = {
            "modes": {m: m.training for m in self.dropout_modules},
            "forward": model.__dict__.get("forward"),  # e.g. accelerate's mixed-precision wrapper
            "handles": [],
        }
        model._msd_monte_carlo = self
        for linear in self._linears():
            linear.monte_carlo = self
        if self.layers != 0:
            for module in self.dropout_modules:
                module.training = True
            handles = self._saved["handles"]
            if self.backbone is not None:
                handles.append(self.backbone.register_forward_pre_hook(self._first_rows, with_kwargs=True))
                for layer in self.sampled_layers:
                    handles.append(layer.register_forward_pre_hook(self._repeat_rows, with_kwargs=True))
            self._model_forward = model.forward
            model.forward = self.forward
        return model

    def __exit__(self, *exc: Any) -> None:
        model, saved = self.model, self._saved
        for handle in saved.get("handles", []):
            handle.remove()
        if self.layers != 0:
            if saved["forward"] is not None:
                model.forward = saved["forward"]
            else:
                model.__dict__.pop("forward", None)
        for module, training in saved.get("modes", {}).items():
            module.training = training
        for linear in self._linears():
            linear.monte_carlo = None
        model.__dict__.pop("_msd_monte_carlo", None)
        self._saved = {}

    # ------------------------------------------------------------------ the head's samples (MultiSampleLinear)

    def _linears(self) -> list[MultiSampleLinear]:
        """The model's `MultiSampleLinear`s: the head's, and its copies where PEFT's `modules_to_save` wraps it."""
        return [m for m in self.model.modules() if isinstance(m, MultiSampleLinear)] if self.msd is not None else []

    def mc_rates(self, num_samples: int) -> tuple[float, ...]:
        """The rates of `num_samples` samples of the head: its K rates in turn (sample m: `rates[m % K]`)."""
        rates = self.msd.rates
        return tuple(rates[m % len(rates)] for m in range(num_samples))

    def sample(self, linear: MultiSampleLinear, x: torch.Tensor) -> torch.Tensor:
        """The head's forward inside the context.

        - `layers=0`: `(1 + N, ..., out)`: row 0 without dropout, rows 1..N with dropout.
        - `layers` k or `"all"`: `x` holds the batch repeated n times, `(n * B, ...)` with row `m * B + b` example `b`
          of sample `m`; each row gets one mask, at sample m's rate: `(1, n * B, ..., out)`.
        """
        if self.layers == 0:
            return sampled_linear(x, linear.weight, linear.bias, (0.0, *self.mc_rates(self.num_samples)))
        n = self._rows[0]
        rows = x.view(n, x.shape[0] // n, *x.shape[1:])  # (n, B, ..., H)
        dropped = dropout_samples(rows, self.mc_rates(n)).view(x.shape)  # (n * B, ..., H): one mask per row
        return F.linear(dropped, linear.weight, linear.bias).unsqueeze(0)  # (1, n * B, ..., out)

    def split(
        self, samples: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        """The head's sample tensors -> (the rows for `logits` and `loss`, the rows for the `sample_*` fields)."""
        if self.layers != 0:
            return samples, None  # the rows are laid out as (N, B, ...) by `forward`
        return {k: v[:1] for k, v in samples.items()}, {k: v[1:] for k, v in samples.items()}

    # ----------------------------------------------------------------------------- layers k or "all": the forward

    def _first_rows(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Backbone pre-hook: the batch repeated n times, `(n * B, ...)`, back to its B examples (rows `0..B-1`)."""
        n, b = self._rows

        def first(t: torch.Tensor) -> torch.Tensor:
            return t[:b] if t.dim() >= 2 and t.shape[0] == n * b else t  # (n * B, ...) -> (B, ...)

        return _map_tensors(first, args), _map_tensors(first, kwargs)

    def _repeat_rows(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        """Sampled-layer pre-hook: every per-example input `(B, ...)` repeated n times, `(n * B, ...)`, row `m * B + b`
        example `b`. Inputs already repeated (hidden states from a sampled layer), 1-D tensors (`cache_position`),
        broadcast `(1, ...)` tensors when B > 1 and `SHARED_LAYER_ARGUMENTS` stay as they are."""
        n, b = self._rows
        if n == 1:
            return None

        def repeat(t: torch.Tensor) -> torch.Tensor:
            return t.repeat(n, *([1] * (t.dim() - 1))) if t.dim() >= 2 and t.shape[0] == b else t

        kwargs = {k: v if k in SHARED_LAYER_ARGUMENTS else _map_tensors(repeat, v) for k, v in kwargs.items()}
        return _map_tensors(repeat, args), kwargs

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The model's forward inside the context with `layers` k or `"all"`: the batch repeated N times (in chunks),
        the logit fields laid out as `sample_*` `(N, B, ...)`, the predictive distribution as the logit fields
        ([`predictive_logits`]), and, with labels, the model's loss of it."""
        model, task = self.model, self.task
        signature = inspect.signature(self._model_forward)
        inputs = _as_kwargs(signature, args, kwargs)
        labels = {name: inputs.pop(name) for name in task.label_fields if inputs.get(name) is not None}
        for name in task.label_fields:
            inputs.pop(name, None)
        return_dict = inputs.pop("return_dict", None)
        if "use_cache" in signature.parameters:
            inputs["use_cache"] = False  # a cache would hold B rows below the sampled layers, N * B above
        batch_size = batch_size_of(inputs)
        chunks: dict[str, list[torch.Tensor]] = {name: [] for name in task.logit_fields}
        for start in range(0, self.num_samples, self.chunk_size):
            n = min(self.chunk_size, self.num_samples - start)
            self._rows = (n, batch_size)
            out = self._model_forward(**repeat_batch(inputs, n), return_dict=True)
            for name in task.logit_fields:
                chunks[name].append(out[name].reshape(n, batch_size, *out[name].shape[1:]))  # (n, B, ...)
        self._rows = (1, 0)
        samples = {name: torch.cat(parts) for name, parts in chunks.items()}  # (N, B, ...)
        config = model.config
        problem_type = "single_label_classification"
        if task.name in POOLED_TASKS:
            problem_type = resolve_problem_type(config, labels.get("labels"), loss_style=loss_style_of(model))
        # (B, ...), in the samples' dtype: the logit fields keep the model's output dtype at every depth
        predictive = {name: predictive_logits(v, problem_type).to(v.dtype) for name, v in samples.items()}
        loss = None
        if len(labels) == len(task.label_fields):
            mean = {name: v.unsqueeze(0) for name, v in predictive.items()}  # (1, B, ...)
            counted = loss_labels(labels, inputs, loss_mask_of(model))
            loss = task_sample_losses(task.name, mean, counted, config, loss_style=loss_style_of(model))[0]
        output = task.output_class(loss=loss, **predictive, **{f"sample_{k}": v for k, v in samples.items()})
        return output if (config.return_dict if return_dict is None else return_dict) else output.to_tuple()


def mc_dropout(
    model: nn.Module, num_samples: int | None = None, layers: Layers = 0, chunk_size: int | None = None
) -> MonteCarloDropout:
    """Monte-Carlo dropout at a chosen depth: inside the context, the model's forward returns the sample fields.

    The model must be in eval mode. Inside the context, `model(**batch)` returns the MSD output of its task with
    `sample_logits` of shape `(num_samples, B, ...)` (`sample_start_logits` and `sample_end_logits` for question
    answering), one set per dropout sample, and:

    - `layers=0` (the head only; multi-sample dropout models): the encoder runs once; the head's `MultiSampleLinear`
      returns the deterministic sample and N dropout samples, so `logits` and `loss` are the unchanged eval ones. MC
      sample `m` uses the head's rate `rates[m % K]` (per-sample rates cycle when N != K).
    - `layers=k`: the model runs on the batch repeated N times (so everything outside the backbone, e.g. a decoder's
      last-token pooling or a mean pooling over `attention_mask`, sees consistent N * B rows); a forward pre-hook on
      the backbone cuts its inputs back to the B examples, so the embeddings, the attention masks and the lower
      `L - k` layers run once, deterministically; a forward pre-hook on each of the top k layers repeats its
      per-example inputs (hidden states, masks, rotary tables when per example) N times. The dropout of the top k
      layers and of the head is on, every other module's mode untouched. With k = L no hook is needed: the backbone
      runs on the N * B rows, its embeddings deterministic. Encoder-decoders (BART, T5, ...): the k top layers of the
      decoder, whose cross-attention inputs are repeated too; the encoder runs once, also with k = L.
      `use_cache=False` is passed to models that take it.
    - `layers="all"`: every dropout in the network on ([`is_dropout_module`]: `nn.Dropout` modules and the attention
      modules whose attention dropout follows their training flag; not router jitter or layer drop), one forward
      over the batch repeated N times. Works for any model of the four tasks, upstream ones included.

    With `layers` k or `"all"` there is no deterministic pass of the sampled part, so the logit fields hold the MC
    predictive distribution as logits ([`predictive_logits`]: log of the mean probabilities for single-label, token
    and span scores, so that `argmax` and `softmax` give the MC prediction and its probabilities), and `loss`, with
    labels, is the model's loss (its upstream rules) of those logits. `hidden_states` and `attentions` are not
    returned there. A multi-sample dropout head draws one mask per row, not K masks. The logit fields keep the model's
    output dtype at every depth. N > 1 samples whose every sampled rate is 0 are identical: a warning names the config
    fields to set.

    Leaving the context restores everything it changed (see [`MonteCarloDropout`]), also after an exception. Nesting
    is refused. Run the forward under `torch.no_grad()` or `torch.inference_mode()`.

    Args:
        model (`nn.Module`):
            A Transformers model (sequence or token classification, question answering, multiple choice), or a PEFT
            model around one, in eval mode.
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
        [`MonteCarloDropout`]: a context manager; entering it gives the Transformers model (the model itself, or the
        one a PEFT model wraps).

    Raises:
        `ValueError`: a bad `num_samples`, `layers` or `chunk_size`; `layers=0` on a model without a multi-sample
        dropout head; `layers=k` where the top layers cannot be separated (ALBERT) or k is out of range; (on entering)
        a model in training mode, or a model already inside `mc_dropout`.

    Example:

    ```python
    >>> model.eval()
    >>> with torch.inference_mode(), mc_dropout(model, num_samples=8, layers=2):
    ...     out = model(**batch)
    >>> out.sample_logits.shape  # (8, B, C)
    ```
    """
    return MonteCarloDropout(model, num_samples, layers, chunk_size)


def _map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], value: Any) -> Any:
    """Apply `fn` to every tensor in `value`, through tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if type(value) in (tuple, list):
        return type(value)(_map_tensors(fn, v) for v in value)
    if type(value) is dict:
        return {k: _map_tensors(fn, v) for k, v in value.items()}
    return value


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
