"""The machinery of the MSD classes: the config and model mixins, and the factory that makes a family's classes.

From a row of the table ([`MSDArchitecture`], resolved to its upstream classes) the factory makes:

- `MSD<Upstream>Config`, one per family (shared by its tasks): a subclass of the upstream config with the fields
  `msd_num_samples`, `msd_dropout` and `msd_average`, `model_type = "msd-<upstream model_type>"`;
- `MSD<Upstream>For<Task>`, a subclass of the upstream task class whose `__init__` turns the dropout before the head's
  Linear into the identity and the Linear into a [`MultiSampleLinear`] (same parameters), and whose `forward` runs the
  upstream forward without labels (the logits come back with the samples on dim 0) and computes the loss, per sample,
  with the upstream semantics.

The upstream parameter names are kept, so upstream checkpoints load into the MSD classes, and MSD checkpoints into the
upstream classes, with no missing or unexpected keys. `msd_transformers.registry` decides when the classes are made
(when a family is first used) and registers them with the Auto classes.
"""

from __future__ import annotations

import difflib
import inspect
import logging
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.activations import ACT2FN

from .architectures import MULTIPLE_CHOICE, MSDArchitecture
from .dropout import check_positive_int, resolve_dropout
from .heads import MSDDenseClassificationHead, pool_last_token, resolve_timm_head, timm_drop_rate
from .loss import IGNORE_INDEX
from .sampled_linear import MultiSampleLinear
from .tasks import SAMPLE_FIELDS, TaskSpec, get_task, loss_labels, task_sample_losses

logger = logging.getLogger(__name__)

MSD_AVERAGES: tuple[str, ...] = ("loss", "logits")
MSD_CONFIG_FIELDS: tuple[str, ...] = ("msd_num_samples", "msd_dropout", "msd_average")


def validate_msd_fields(
    msd_num_samples: Any, msd_dropout: Any, msd_average: Any
) -> tuple[int, float | list[float] | str | None, str]:
    """Check the three MSD config fields and normalise `msd_dropout`: a float stays a float, a list of rates a list
    (of `msd_num_samples` rates), and `"linspace(a, b)"` stays the spec, checked here and expanded to
    `msd_num_samples` rates by the model, so that a checkpoint loads with another `msd_num_samples`. Raises
    `ValueError` naming the bad value and what is allowed."""
    msd_num_samples = check_positive_int(msd_num_samples, "msd_num_samples")
    if isinstance(msd_dropout, str):
        resolve_dropout(msd_dropout, msd_num_samples)  # the spec must parse
        msd_dropout = msd_dropout.strip()
    elif isinstance(msd_dropout, (list, tuple)):
        msd_dropout = resolve_dropout(msd_dropout, msd_num_samples)
    elif msd_dropout is not None:
        msd_dropout = resolve_dropout(msd_dropout, msd_num_samples)[0]
    if msd_average not in MSD_AVERAGES:
        raise ValueError(f"msd_average must be one of {MSD_AVERAGES}, got {msd_average!r}.")
    return msd_num_samples, msd_dropout, msd_average


def check_msd_names(names: Any) -> None:
    """`ValueError` for a keyword that starts with `msd_` but is no MSD config field (`msd_num_sample=4`), with the
    closest field: a misspelt field must not fall through to a model's `__init__` (TypeError) or be dropped."""
    unknown = sorted(name for name in names if name.startswith("msd_") and name not in MSD_CONFIG_FIELDS)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, MSD_CONFIG_FIELDS, n=1)
            hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
        raise ValueError(
            f"Unknown multi-sample dropout argument(s) {', '.join(hints)}; the fields are {list(MSD_CONFIG_FIELDS)}."
        )


class MSDConfigMixin:
    """The multi-sample dropout fields and their validation, mixed into each upstream config class.

    Fields (declared on each generated config class, so they are dataclass fields written to `config.json`):

    - `msd_num_samples` (`int`, defaults to 8): the number of dropout samples K, >= 1.
    - `msd_dropout` (`float`, `list[float]`, `str` or `None`, defaults to `None`): one rate in [0, 1) for every sample,
      a list of `msd_num_samples` rates, or `"linspace(a, b)"` (kept as the spec and expanded to `msd_num_samples`
      evenly spaced rates by the model, so a checkpoint loads with another `msd_num_samples`). `None` means the
      rate of the dropout the samples replace; heads without one (decoder LLMs' sequence heads, most question-answering
      heads) require a value (the model classes raise a `ValueError` otherwise).
    - `msd_average` (`str`, defaults to `"loss"`): `"loss"` averages the per-sample losses (the paper); `"logits"`
      computes one loss on the mean logits.
    """

    # Kept out of evaluation predictions by `Trainer.prediction_step`.
    keys_to_ignore_at_inference: ClassVar[list[str]] = list(SAMPLE_FIELDS)
    upstream_model_type: ClassVar[str]

    def __post_init__(self, **kwargs: Any) -> None:
        check_msd_names(kwargs)
        super().__post_init__(**kwargs)
        self.validate_msd_fields()

    def validate_msd_fields(self) -> None:
        """Check the MSD fields (see [`validate_msd_fields`]) and normalise them in place: at construction, at every
        load (`from_pretrained` keyword arguments included, on the MSD and on the upstream Auto route) and when a
        model is built from the config."""
        self.msd_num_samples, self.msd_dropout, self.msd_average = validate_msd_fields(
            self.msd_num_samples, self.msd_dropout, self.msd_average
        )

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> Any:
        """Upstream's `from_dict`, with the `msd_*` keyword arguments (`from_pretrained(path, msd_num_samples=3)`,
        through any Auto class) set before the fields are validated, together with those of `config_dict`: a
        `"linspace(a, b)"` spec re-expands for the new `msd_num_samples`, and a bad value or a misspelt field is a
        `ValueError` naming the field, whichever class loads the checkpoint."""
        check_msd_names(kwargs)
        fields = {name: kwargs.pop(name) for name in MSD_CONFIG_FIELDS if name in kwargs}
        return super().from_dict({**config_dict, **fields}, **kwargs)

    @classmethod
    def get_config_dict(cls, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Upstream's `get_config_dict`; an upstream checkpoint's config read through the MSD class (PEFT reads the
        base checkpoint's config with `type(model.config).from_pretrained` when it saves an adapter) is taken for what
        it is, an MSD config with the default MSD fields, instead of warning about another model type."""
        config_dict, kwargs = super().get_config_dict(*args, **kwargs)
        if config_dict.get("model_type") == cls.upstream_model_type:
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, kwargs


def build_config_class(config_class: type[PretrainedConfig], model_type: str) -> type[PretrainedConfig]:
    """`MSD<Upstream>Config`: `config_class` with the MSD fields and `model_type = "msd-<model_type>"`."""
    name = f"MSD{config_class.__name__}"
    return type(
        name,
        (MSDConfigMixin, config_class),
        {
            "__module__": "msd_transformers.generated",
            "__qualname__": name,
            "__doc__": (
                f"[`{config_class.__name__}`] with multi-sample dropout fields (`msd_num_samples`, `msd_dropout`, "
                f"`msd_average`; see [`MSDConfigMixin`]). `model_type`: `msd-{model_type}`."
            ),
            "model_type": f"msd-{model_type}",
            "upstream_model_type": model_type,
            # The Trainer's default where the upstream config sets none (it leaves out the encoder-decoders' `cache`).
            "keys_to_ignore_at_inference": [
                *getattr(config_class, "keys_to_ignore_at_inference", ["cache"]),
                *MSDConfigMixin.keys_to_ignore_at_inference,
            ],
            "__annotations__": {
                "msd_num_samples": int,
                "msd_dropout": float | list[float] | str | None,
                "msd_average": str,
            },
            "msd_num_samples": 8,
            "msd_dropout": None,
            "msd_average": "loss",
        },
    )


class MSDModelMixin:
    """Multi-sample dropout behaviour, mixed into each upstream task class.

    `__init__` makes the dropout before the head's Linear the identity and the Linear a [`MultiSampleLinear`] (or
    swaps a RoBERTa-style head for an [`MSDDenseClassificationHead`]); `forward` runs the upstream forward without
    labels (everything after the Linear broadcasts over the new sample dimension, so the logits come back as
    `(S, ...)`), then computes the loss with the upstream semantics, vectorized over the samples. Decoder sequence
    heads (`pooling="last_token"`) run the backbone, pick the last token, then the samples. A row whose paths depend
    on the model (`resolve_head="timm"`: TimmWrapper) is resolved when the model is built, and the model's
    `msd_architecture` is then that resolved row.
    """

    msd_architecture: ClassVar[MSDArchitecture]
    msd_task: ClassVar[TaskSpec]
    # `forward` takes the Trainer's `num_items_in_batch` (the labelled items of the whole accumulated batch) and
    # normalises the loss by it, as upstream's loss functions do: gradient accumulation under the plain
    # `transformers.Trainer` is exact (see transformers#37766). MSDTrainer computes the loss itself.
    accepts_loss_kwargs = True
    _upstream_signature: ClassVar[inspect.Signature]
    # The output fields taken from the upstream output, of the task's output class and of its encoder-decoder one
    # (index: seq2seq): known when the class is made, so that `forward` calls no `dataclasses.fields` (a graph break
    # under torch.compile).
    _msd_passed_fields: ClassVar[tuple[tuple[str, ...], tuple[str, ...]]]

    def __init__(self, config: PretrainedConfig, *args: Any, **kwargs: Any):
        arch = self.msd_architecture
        config.validate_msd_fields()  # a field set on the config after it was made is checked too
        check_msd_dropout(arch, config)  # before the backbone is built
        super().__init__(config, *args, **kwargs)
        head_rate = None
        if arch.resolve_head == "timm":  # the paths of this model's timm architecture: the model's own row
            timm_model = self.get_submodule(arch.classifier)
            arch, head_rate = resolve_timm_head(self, arch)
            if arch.dropout is None:  # the samples replace its `F.dropout(x, p=self.drop_rate)` in `forward_head`
                timm_model.drop_rate = 0.0
            self.msd_architecture = arch
            check_msd_dropout(arch, config, head_rate)
        check_modules(arch, self)
        if config.msd_dropout is not None:
            rates = config.msd_dropout
        else:
            rates = head_rate if head_rate is not None else dropout_rate(self, arch)
        head = self.get_submodule(arch.head) if arch.head else None
        linear = self.get_submodule(arch.classifier)
        msd = MultiSampleLinear.from_linear(linear, config.msd_num_samples, rates)
        if head is not None:
            activation = ACT2FN[getattr(config, arch.head_activation)] if arch.head_activation else None
            head.out_proj = msd
            self.set_submodule(arch.head, MSDDenseClassificationHead(head, activation, arch.head_input == "pooled"))
            return
        if arch.dropout is not None:
            self.set_submodule(arch.dropout, nn.Identity())  # the samples' dropout is inside the MultiSampleLinear
        self.set_submodule(arch.classifier, msd)

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        """The upstream class's answer. Transformers reads it from the source of the class's module, and the MSD
        class's module (`msd_transformers.generated`) holds no attention code: the attention is the upstream one."""
        return cls.msd_architecture.model_class._can_set_attn_implementation()

    @classmethod
    def _can_set_experts_implementation(cls) -> bool:
        """The upstream class's answer (read, as for the attention, from the upstream modeling module's source)."""
        return cls.msd_architecture.model_class._can_set_experts_implementation()

    def _init_weights(self, module: nn.Module) -> None:
        """Upstream's `_init_weights`; an [`MSDDenseClassificationHead`] gets the upstream branch of the head it
        replaced, through a stand-in of that head's class holding the same modules (T5's sets the std of `dense` and
        `out_proj` there). `__init__` initialises the upstream head before it is replaced; this gives the same weights
        where they are initialised later, from the meta device (`from_pretrained` with the head's weights missing)."""
        if isinstance(module, MSDDenseClassificationHead):
            module = module.upstream_stand_in()
        super()._init_weights(module)

    @classmethod
    def is_custom_code(cls) -> bool:
        """The upstream class's answer. Transformers takes a class defined outside its package for custom code, and
        initialises custom code's missing weights (`from_pretrained` from the meta device) differently: it skips the
        `_init_weights` of every module whose own parameters are initialised, among them the parameter-less modules
        whose branch initialises their children (ModernBERT's attention, MLP and embeddings, GPT-2's scaled
        projections), so those weights would differ from the ones `__init__` gives. The MSD class's modules and
        `_init_weights` are upstream's (its `MultiSampleLinear` is an `nn.Linear`), and its checkpoint conversions
        are registered under its names, so it is initialised and loaded as the upstream class."""
        return cls.msd_architecture.model_class.is_custom_code()

    @classmethod
    def register_for_auto_class(cls, auto_class: str | type = "AutoModel") -> None:
        """Upstream's `register_for_auto_class`, and the family's config class with `AutoConfig`: `save_pretrained`
        then writes `msd_transformers/generated.py` beside the checkpoint and both classes in the config's `auto_map`,
        so that `Auto*.from_pretrained(path, trust_remote_code=True)` loads it in a process that has not imported
        `msd_transformers` (which must be installed there: the copied module imports it)."""
        super().register_for_auto_class(auto_class)
        cls.config_class.register_for_auto_class("AutoConfig")

    @property
    def msd(self) -> MultiSampleLinear:
        """The model's `MultiSampleLinear`: the head's Linear, which draws the dropout samples (inside PEFT's
        `modules_to_save` wrapper, the first of its copies: all have the same rates)."""
        module = self.get_submodule(self.msd_architecture.classifier)
        return (
            module
            if isinstance(module, MultiSampleLinear)
            else next(m for m in module.modules() if isinstance(m, MultiSampleLinear))
        )

    def _bind(self, args: tuple, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor], bool]:
        """The call's arguments by name as the upstream forward binds them (`**kwargs` flattened), without the labels
        and `return_dict`.

        Returns:
            `tuple`: the arguments, the labels given (by name), and `return_dict` (the config's when not given).
        """
        bound = self._upstream_signature.bind(self, *args, **kwargs).arguments
        bound.pop("self")
        for name, param in self._upstream_signature.parameters.items():
            if param.kind is param.VAR_KEYWORD:
                bound.update(bound.pop(name, {}))
        labels = {name: bound.pop(name) for name in self.msd_task.label_fields if bound.get(name) is not None}
        for name in self.msd_task.label_fields:
            bound.pop(name, None)
        return_dict = bound.pop("return_dict", None)
        return bound, labels, self.config.return_dict if return_dict is None else return_dict

    def forward(self, *args: Any, num_items_in_batch: torch.Tensor | int | None = None, **kwargs: Any) -> Any:
        inputs, labels, return_dict = self._bind(args, kwargs)
        if num_items_in_batch is not None and not labels and self.training:
            warn_loss_outside_model(type(self).__name__)
        labels = loss_labels(labels, inputs, self.msd_architecture.loss_mask)
        takes_cache = "use_cache" in self._upstream_signature.parameters
        if self.msd_architecture.pooling == "last_token":
            if takes_cache:
                inputs.setdefault("use_cache", False)  # no generation here: a key/value cache would only cost memory
            return self._last_token_forward(inputs, labels, return_dict, num_items_in_batch)
        if labels and takes_cache:
            inputs["use_cache"] = False  # as upstream with labels (the encoder-decoders), which it does not see here
        outputs = super().forward(**inputs, return_dict=True)
        # Everything after the MultiSampleLinear broadcasts over its sample dimension: (S, ...) logits.
        samples = {name: outputs[name] for name in self.msd_task.logit_fields}
        if self.msd_task.name == MULTIPLE_CHOICE:  # upstream's view(-1, num_choices): (S * B, n) -> (S, B, n)
            b = batch_size_of(inputs)
            samples = {k: v.view(-1, b, v.shape[-1]) for k, v in samples.items()}
        return self._msd_output(samples, labels, outputs, return_dict, num_items_in_batch)

    def _last_token_forward(
        self,
        inputs: dict[str, Any],
        labels: dict[str, torch.Tensor],
        return_dict: bool,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        """The decoder sequence head: backbone, then the last non-padding token, then samples and classifier on
        `(B, H)` only. All arguments but the labels and `return_dict` go to the backbone, as upstream."""
        arch = self.msd_architecture
        outputs = self.base_model(**inputs)
        pad_token_id = self.config.get_text_config().pad_token_id
        x = pool_last_token(outputs[0], inputs.get("input_ids"), pad_token_id, type(self).__name__)  # (B, H)
        if arch.pooled_head:
            x = self.get_submodule(arch.pooled_head)(x)  # (B, H)
        sample_logits = self.get_submodule(arch.classifier)(x)  # (S, B, C): S = K in training, 1 in eval
        return self._msd_output({"logits": sample_logits}, labels, outputs, return_dict, num_items_in_batch)

    def msd_loss(
        self,
        samples: dict[str, torch.Tensor],
        labels: dict[str, torch.Tensor],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """The model's loss from the sample tensors: the upstream semantics, averaged per `msd_average`.

        With `num_items_in_batch` (the Trainer's count of the labelled items, `labels != -100`, of the whole
        accumulated batch) the per-batch mean becomes its share of the mean over the accumulated batch (times the
        batch's labelled items, over `num_items_in_batch`), so that the gradients of the micro-batches add up to
        the full batch's. Question answering has no such count (the Trainer divides by the accumulation steps)."""
        if self.config.msd_average == "logits":
            samples = {k: v.mean(0, keepdim=True) for k, v in samples.items()}  # (1, ...)
        losses = task_sample_losses(
            self.msd_task.name, samples, labels, self.config, loss_style=self.msd_architecture.loss_style
        )
        loss = losses.mean()
        if num_items_in_batch is not None and labels.get("labels") is not None:
            local = labels["labels"].ne(IGNORE_INDEX).sum().to(loss.device)
            loss = loss * local / torch.as_tensor(num_items_in_batch, device=loss.device)
        return loss

    def _msd_output(
        self,
        samples: dict[str, torch.Tensor],
        labels: dict[str, torch.Tensor],
        outputs: Any,
        return_dict: bool,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        """The model output from the head's sample tensors `(S, ...)` (S = K in training, 1 in eval; inside
        [`mc_dropout`], as its sampler lays them out): the upstream fields hold the mean over the samples, `loss` their
        loss when labels are given, and the `sample_*` fields the samples in training and in Monte-Carlo dropout.
        `outputs` supplies the other fields (`hidden_states`, `attentions`, an encoder-decoder's encoder states);
        `num_items_in_batch` normalises the loss for gradient accumulation (see [`msd_loss`])."""
        returned = samples if self.training else None
        sampler = self.__dict__.get("_msd_monte_carlo")  # set only inside `mc_dropout`
        if sampler is not None:
            samples, returned = sampler.split(samples)
        counted = len(labels) == len(self.msd_task.label_fields)
        loss = self.msd_loss(samples, labels, num_items_in_batch) if counted else None
        task = self.msd_task
        output_class = task.output_class_for(outputs)
        if output_class is task.output_class:  # the field names known when the class was made (no graph break)
            names = self._msd_passed_fields[0]
        elif output_class is task.seq2seq_output_class:
            names = self._msd_passed_fields[1]
        else:  # an MSD output class derived from the upstream one (image and audio heads)
            names = passed_fields(task, output_class)
        passed = {name: getattr(outputs, name, None) for name in names}
        means = {name: v[0] if v.shape[0] == 1 else v.mean(0) for name, v in samples.items()}
        sampled = {f"sample_{name}": returned[name] if returned is not None else None for name in task.logit_fields}
        output = output_class(loss=loss, **means, **sampled, **passed)
        return output if return_dict else output.to_tuple()


_WARNED_LOSS_OUTSIDE: set[str] = set()


def warn_loss_outside_model(class_name: str) -> None:
    """Warn once per class that the plain `transformers.Trainer` computes the loss from the mean logits (it pops the
    labels and passes `num_items_in_batch` only for its `label_smoothing_factor` or a `compute_loss_func`)."""
    if class_name in _WARNED_LOSS_OUTSIDE:
        return
    _WARNED_LOSS_OUTSIDE.add(class_name)
    logger.warning(
        "%s: the Trainer computes the loss outside the model (label_smoothing_factor's LabelSmoother, or a "
        "compute_loss_func) from `logits`, the mean of the dropout samples: label smoothing then applies to the mean "
        "logits, not to each sample's loss as multi-sample dropout trains. Use msd_transformers.MSDTrainer (a drop-in "
        "Trainer), which applies label smoothing to each sample; the samples are in `sample_logits`.",
        class_name,
    )


def check_msd_dropout(arch: MSDArchitecture, config: PretrainedConfig, head_rate: float | None = None) -> None:
    """`ValueError` naming `msd_dropout` when it is unset and the row's head has no dropout to take the rate from
    (decoder LLMs' sequence heads, most question-answering heads), or, for a wrapped timm model, when its head dropout
    is at rate 0 (timm's default): `head_rate` once the model is built, else the config's `model_args["drop_rate"]`."""
    if config.msd_dropout is not None:
        return
    if arch.resolve_head == "timm" or head_rate is not None:
        rate = head_rate if head_rate is not None else timm_drop_rate(config)
        if rate > 0:
            return
        raise ValueError(
            f"msd_dropout must be set for {arch.model_type!r} ({arch.task}) with the timm architecture "
            f"{getattr(config, 'architecture', None)!r}: its head dropout rate is {rate:g} (timm's default; "
            "`model_args={'drop_rate': ...}` sets it), so there is no rate to default to (samples at rate 0 are "
            "identical). Give a rate in [0, 1), a list of rates, or 'linspace(a, b)', e.g. msd_dropout=0.1."
        )
    if arch.dropout is None:
        raise ValueError(
            f"msd_dropout must be set for {arch.model_type!r} ({arch.task}): {arch.model_class.__name__} has no "
            f"dropout before `{arch.classifier}`, so there is no rate to default to (samples at rate 0 are "
            "identical). Give a rate in [0, 1), a list of rates, or 'linspace(a, b)', e.g. msd_dropout=0.1."
        )


def batch_size_of(inputs: Mapping[str, Any]) -> int:
    """The batch size of a call's inputs: the first dimension of `input_ids`, `inputs_embeds` or another tensor."""
    for key in ("input_ids", "inputs_embeds", *inputs):
        value = inputs.get(key)
        if isinstance(value, torch.Tensor) and value.dim() >= 1:
            return value.shape[0]
    raise ValueError("The model was called without a batched tensor (input_ids or inputs_embeds).")


def dropout_rate(model: nn.Module, arch: MSDArchitecture) -> float:
    """The rate of the row's dropout in the upstream model: the samples' default rate (0 for an `nn.Identity`,
    which upstream builds where a configured rate is 0)."""
    dropout = model.get_submodule(arch.dropout)
    return dropout.p if isinstance(dropout, nn.Dropout) else 0.0


def check_modules(arch: MSDArchitecture, model: nn.Module) -> None:
    """Check that the row's paths name the right kinds of modules in `model` (an upstream or MSD model); `ValueError`
    saying what to fix otherwise."""

    def module(path: str, kinds: tuple[type, ...], what: str) -> nn.Module:
        try:
            mod = model.get_submodule(path)
        except AttributeError:
            raise ValueError(
                f"{type(model).__name__} has no submodule {path!r} (the row's `{what}`); see `print(model)` for its "
                "module names."
            ) from None
        if not isinstance(mod, kinds):
            allowed = " or ".join(f"torch.nn.{kind.__name__}" for kind in kinds)
            raise ValueError(
                f"{type(model).__name__}.{path} (the row's `{what}`) is a {type(mod).__name__}, not a {allowed}."
            )
        return mod

    if arch.dropout is not None:  # upstream builds an nn.Identity where a configured rate is 0 (XLNet, XLM)
        module(arch.dropout, (nn.Dropout, nn.Identity), "dropout")
    module(arch.classifier, (nn.Linear,), "classifier")
    if arch.pooling == "last_token":
        backbone = getattr(model, model.base_model_prefix, None)
        if not isinstance(backbone, nn.Module) or backbone is model:
            raise ValueError(
                f"{type(model).__name__} has no backbone at `{model.base_model_prefix}` (its `base_model_prefix`): "
                "pooling='last_token' runs the backbone itself."
            )
        if arch.pooled_head:
            module(arch.pooled_head, (nn.Module,), "pooled_head")
    if arch.head:
        head = model.get_submodule(arch.head)
        missing = [name for name in ("dense", "dropout", "out_proj") if not hasattr(head, name)]
        if missing and not isinstance(head, MSDDenseClassificationHead):
            raise ValueError(
                f"{type(model).__name__}.{arch.head} (the row's `head`) lacks {missing}: `head` is for RoBERTa-style "
                "heads (dense, dropout, out_proj); leave it out for other heads."
            )


def _with_labels(signature: inspect.Signature, label_fields: tuple[str, ...]) -> inspect.Signature:
    """`signature` with keyword-only label arguments (`=None`) where it takes them only through `**kwargs` (Qwen3.5's
    generic subclasses), so that the Trainer finds the label columns."""
    params = list(signature.parameters.values())
    missing = [name for name in label_fields if name not in signature.parameters]
    if not missing or not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        return signature
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in missing]
    return signature.replace(parameters=[*params[:-1], *added, params[-1]])


def passed_fields(task: TaskSpec, output_class: type | None) -> tuple[str, ...]:
    """The fields of `output_class` (a task's MSD output class) that come from the upstream output unchanged: all but
    the loss, the logit fields and the sample fields (none without a class)."""
    if output_class is None:
        return ()
    own = {"loss", *task.logit_fields, *task.sample_fields}
    return tuple(f.name for f in fields(output_class) if f.name not in own)


def build_model_class(arch: MSDArchitecture, config_class: type[PretrainedConfig]) -> type[PreTrainedModel]:
    """`MSD<Upstream>For<Task>` for a resolved row (its `model_class` set) and the family's MSD config class."""
    task = get_task(arch.task)
    seq2seq_output = task.seq2seq_output_class
    upstream_forward = _with_labels(inspect.signature(arch.model_class.forward), task.label_fields)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return MSDModelMixin.forward(self, *args, **kwargs)

    # The Trainer (unused-column removal, label names) and pipelines read the forward's signature: the upstream one.
    forward.__signature__ = upstream_forward
    forward.__doc__ = arch.model_class.forward.__doc__
    name = f"MSD{arch.model_class.__name__}"
    forward.__qualname__ = f"{name}.forward"
    placement = f"in place of `{arch.dropout}`" if arch.dropout else "added"
    where = "on the last non-padding token, " if arch.pooling == "last_token" else ""
    return type(
        name,
        (MSDModelMixin, arch.model_class),
        {
            "__module__": "msd_transformers.generated",
            "__qualname__": name,
            "__doc__": (
                f"[`{arch.model_class.__name__}`] with multi-sample dropout ({placement}) {where}through "
                f"`{arch.classifier}`. See [`MSDModelMixin`]."
            ),
            "__annotations__": {"config": config_class},
            "config_class": config_class,
            "msd_architecture": arch,
            "msd_task": task,
            "_upstream_signature": upstream_forward,
            "_msd_passed_fields": (passed_fields(task, task.output_class), passed_fields(task, seq2seq_output)),
            "forward": forward,
        },
    )
