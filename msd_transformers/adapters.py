"""PEFT adapters (LoRA, ...) on multi-sample dropout models: saving the MSD config beside an adapter, and loading the
adapter back onto the MSD class.

LoRA with `task_type="SEQ_CLS"`, `"TOKEN_CLS"` or `"QUESTION_ANS"` works on MSD models as on upstream ones: PEFT trains
and saves the head (`classifier` or `score`, `qa_outputs`, a RoBERTa-style head with its `dense` and `out_proj`)
through `modules_to_save`, and `MSDTrainer` computes the per-sample losses. Heads under other names (the
encoder-decoders' `classification_head`, XLNet's `logits_proj`) must be named in `modules_to_save`
([`lora_modules_to_save`]), or PEFT leaves them frozen.

What PEFT cannot know is that the base model was an MSD model: a saved adapter names only its base checkpoint
(`base_model_name_or_path`), and `AutoPeftModelFor<Task>` rebuilds the upstream class from it. So the MSD model's
config (its `msd_*` fields, labels and padding token) is written beside the adapter, as `msd_config.json` (by
`MSDTrainer` and [`save_adapter`]), and `AutoMSDPeftModelFor<Task>` reads it.

PEFT's own `AutoPeftModelFor<Task>` still loads the adapter, onto the upstream class (no multi-sample dropout; the same
eval outputs), but it builds the base model from the base checkpoint's `config.json` and the keyword arguments it is
given, and reads nothing else from the adapter folder: no file written there can reach it. What training changed in
the config must be passed again: the labels (`id2label`, `label2id`, `problem_type`) and, for a decoder whose
checkpoint names no padding token (Qwen2, Llama, ...: the training run padded with the end-of-sequence token), its
`pad_token_id`. Without it every batch of more than one example fails with "Cannot handle batch sizes > 1 if no padding
token is defined". All of them are in `msd_config.json`:

```python
>>> from peft import AutoPeftModelForSequenceClassification
>>> from transformers import PretrainedConfig
>>> trained = PretrainedConfig.from_json_file("out/msd_config.json")  # the trained config, beside the adapter
>>> model = AutoPeftModelForSequenceClassification.from_pretrained(
...     "out", id2label=trained.id2label, label2id=trained.label2id, problem_type=trained.problem_type,
...     pad_token_id=trained.pad_token_id)  # the upstream class, without multi-sample dropout
```

`peft` is imported only when an adapter is loaded: the package does not depend on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from transformers import PretrainedConfig
from transformers.utils import cached_file

from .architectures import MODEL_TYPE_PREFIX, QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from .auto import AUTO_MSD_CLASSES, HUB_KWARGS, is_msd_model, msd_config, split_msd_kwargs
from .registry import get_architecture, msd_config_class
from .tasks import TASK_SPECS

# The modules that PEFT's task models add to `modules_to_save` themselves.
PEFT_DEFAULT_MODULES: dict[str, tuple[str, ...]] = {
    SEQUENCE_CLASSIFICATION: ("classifier", "score"),
    TOKEN_CLASSIFICATION: ("classifier", "score"),
    QUESTION_ANSWERING: ("qa_outputs",),
}

MSD_ADAPTER_CONFIG_NAME = "msd_config.json"
"""The MSD config beside an adapter. Not `config.json`: Transformers takes a folder with a `config.json` and an
`adapter_config.json` for a full model with an embedded adapter and would look for the base weights there."""


def lora_target_modules(config: PretrainedConfig) -> list[str] | str:
    """PEFT's default LoRA target modules for the upstream architecture of an MSD config, else `"all-linear"`.

    PEFT looks its defaults up by `config.model_type`, which for an MSD model is `msd-<type>`: without
    `target_modules`, `get_peft_model` on an MSD model raises. This gives what PEFT would pick for the upstream model
    (e.g. `["q_proj", "v_proj"]` for Llama, `["query", "value"]` for BERT).

    Args:
        config (`PretrainedConfig`): An MSD (or upstream) config.

    Returns:
        `list[str]` or `str`: module names for `LoraConfig(target_modules=...)`, or `"all-linear"` (every linear layer
        but the head) where PEFT has no default for the architecture.

    Raises:
        `ValueError`: the architecture has no PEFT default and its backbone no Linear layer (the convolutional image
        families: ResNet, ConvNeXt, EfficientNet, MobileNet, ...), so LoRA has nothing to target.

    Example:

    ```python
    >>> from peft import LoraConfig, get_peft_model
    >>> lora = LoraConfig(task_type="SEQ_CLS", r=16, target_modules=msd.lora_target_modules(model.config))
    >>> model = get_peft_model(model, lora)
    ```
    """
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    model_type = config.model_type.removeprefix(MODEL_TYPE_PREFIX)
    targets = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type)
    if targets is not None:
        return list(targets)
    if not _backbone_has_linear(config):
        raise ValueError(
            f"{model_type!r} models have no Linear layer outside the head (a convolutional backbone), so LoRA has "
            "nothing to target: fine-tune the model itself, or name its convolutions in "
            "LoraConfig(target_modules=...)."
        )
    return "all-linear"


def _backbone_has_linear(config: PretrainedConfig) -> bool:
    """Whether the upstream backbone of `config` (built on the meta device, no memory, no init) has an `nn.Linear`;
    `True` where it does not build from the config (nothing known against "all-linear")."""
    import torch
    from transformers import AutoModel
    from transformers.initialization import no_init_weights
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.model_type.removeprefix(MODEL_TYPE_PREFIX)
    values = {k: v for k, v in config.to_dict().items() if not k.startswith("msd_") and k != "model_type"}
    try:
        upstream = CONFIG_MAPPING[model_type].from_dict(values)
        with torch.device("meta"), no_init_weights():
            backbone = AutoModel.from_config(upstream)
    except Exception:  # noqa: BLE001  (a family without a backbone class, or a config it refuses)
        return True
    return any(isinstance(m, torch.nn.Linear) for m in backbone.modules())


def lora_modules_to_save(config: PretrainedConfig, task: str = SEQUENCE_CLASSIFICATION) -> list[str]:
    """The head modules that PEFT's default for the task (`classifier` and `score`; `qa_outputs` for question
    answering) does not name, for `LoraConfig(modules_to_save=...)`: without them PEFT freezes the head and leaves it
    out of the saved adapter.

    They are the top-level modules on the row's paths to the head's Linear and to the dropout before it (a dropout
    module of its own does not count), and the row's `head_modules`: `classification_head` for the encoder-decoders
    (BART, T5, ...), `sequence_summary` and `logits_proj` for XLNet, `sequence_summary` for XLM and FlauBERT,
    `projector` for the wav2vec2 family's and Whisper's audio heads; none for most families. For TimmWrapper, the
    path of the timm architecture's classifier (`timm_model.fc`, `timm_model.head`, ...: its top-level module is the
    whole timm model), found by building the model on the meta device.

    Args:
        config (`PretrainedConfig`): An MSD (or upstream) config.
        task (`str`, *optional*, defaults to `"sequence-classification"`): The task of the model.

    Returns:
        `list[str]`: module names; empty where PEFT's default covers the head, and for families without a row.

    Example:

    ```python
    >>> lora = LoraConfig(
    ...     task_type="SEQ_CLS", target_modules=msd.lora_target_modules(model.config),
    ...     modules_to_save=msd.lora_modules_to_save(model.config))
    ```
    """
    try:
        arch = get_architecture(config.model_type, task)
    except ValueError:  # a family without a row (an upstream model): PEFT's default
        return []
    if arch.resolve_head == "timm":
        return [_timm_classifier_path(arch, config)]
    paths = [arch.dropout] if arch.dropout is not None and "." in arch.dropout else []
    # in order, without repeats
    roots = dict.fromkeys(path.split(".")[0] for path in [*arch.head_modules, *paths, arch.classifier])
    return [root for root in roots if root not in PEFT_DEFAULT_MODULES.get(task, ())]


def _timm_classifier_path(arch: Any, config: PretrainedConfig) -> str:
    """The classifier's path in a TimmWrapper model of `config`, built on the meta device (no memory, no init)."""
    import torch
    from transformers.initialization import no_init_weights

    from .heads import resolve_timm_head

    values = {k: v for k, v in config.to_dict().items() if not k.startswith("msd_") and k != "model_type"}
    with torch.device("meta"), no_init_weights():
        upstream = arch.model_class(arch.config_class.from_dict(values, num_labels=config.num_labels))
    return resolve_timm_head(upstream, arch)[0].classifier


def save_msd_adapter_config(model: Any, save_directory: str | os.PathLike) -> Path:
    """Write the MSD config of a PEFT model's base model beside its adapter (`msd_config.json`).

    Args:
        model (`PeftModel`): A PEFT model whose base model is an MSD model.
        save_directory (`str` or `os.PathLike`): The adapter folder.

    Returns:
        `Path`: the file written.

    Raises:
        `ValueError`: the base model is not an MSD model.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not is_msd_model(base):
        raise ValueError(f"The base model is a {type(base).__name__}, not a multi-sample dropout model.")
    path = Path(save_directory) / MSD_ADAPTER_CONFIG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    base.config.to_json_file(path)
    return path


def _task_of_model(model: Any) -> str:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.msd_task.name


def save_adapter(model: Any, save_directory: str | os.PathLike, **kwargs: Any) -> None:
    """`model.save_pretrained(save_directory, **kwargs)` plus the MSD config beside the adapter, so that
    `AutoMSDPeftModelFor<Task>` reloads it as an MSD model, with its labels and `pad_token_id`. `MSDTrainer` does this
    on every save. PEFT's own `AutoPeftModelFor<Task>` does not read that file: pass it the trained labels and
    `pad_token_id` (see the module's docstring).

    Args:
        model (`PeftModel`): A PEFT model over an MSD model.
        save_directory (`str` or `os.PathLike`): The adapter folder.
        kwargs: Passed to `PeftModel.save_pretrained`.
    """
    model.save_pretrained(save_directory, **kwargs)
    save_msd_adapter_config(model, save_directory)


class _AutoMSDPeftModel:
    """Load a saved PEFT adapter onto the multi-sample dropout class of its base model, for `task`.

    PEFT's `AutoPeftModelFor<Task>` rebuilds the *upstream* class from the adapter's base checkpoint, so the
    multi-sample dropout head is silently gone. This class rebuilds the MSD model from the base checkpoint and the
    `msd_config.json` written beside the adapter, then loads the adapter (LoRA weights and the trained head).
    """

    task: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any):
        raise OSError(
            f"{type(self).__name__} is designed to be instantiated with "
            f"`{type(self).__name__}.from_pretrained(adapter_path)`."
        )

    @classmethod
    def from_pretrained(
        cls,
        adapter_name_or_path: str | os.PathLike,
        *,
        adapter_name: str = "default",
        is_trainable: bool = False,
        **kwargs: Any,
    ):
        """Load the adapter at `adapter_name_or_path` onto an MSD model built from its base checkpoint.

        Args:
            adapter_name_or_path (`str` or `os.PathLike`): An adapter folder or Hub repository.
            adapter_name (`str`, *optional*, defaults to `"default"`): The name of the loaded adapter.
            is_trainable (`bool`, *optional*, defaults to `False`): Load the adapter for further training.
            kwargs: `msd_*` fields override the saved ones; Hub arguments (`revision`, `token`, ...) locate the
                adapter; the rest go to the base model's `from_pretrained` (`dtype`, `device_map`, ...). Without a
                saved `msd_config.json`, give the `msd_*` fields (and config attributes such as `num_labels`).

        Returns:
            `PeftModel`: PEFT's model of the task over an MSD model.

        Raises:
            `ValueError`: no `msd_config.json` beside the adapter and no `msd_*` fields given, or the adapter is of
            another task.
        """
        from peft import PeftConfig, PeftModel

        hub_kwargs = {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}
        msd_kwargs, kwargs = split_msd_kwargs(kwargs)
        peft_config = PeftConfig.from_pretrained(adapter_name_or_path, **hub_kwargs)
        expected = TASK_SPECS[cls.task].peft_task_type
        if peft_config.task_type not in (None, expected):
            raise ValueError(
                f"{adapter_name_or_path} holds a {peft_config.task_type} adapter; {cls.__name__} loads {cls.task} "
                f"adapters (task_type={expected!r})."
            )
        base_path = peft_config.base_model_name_or_path
        config_file = cached_file(
            adapter_name_or_path, MSD_ADAPTER_CONFIG_NAME, _raise_exceptions_for_missing_entries=False, **hub_kwargs
        )
        auto_class = AUTO_MSD_CLASSES[cls.task]
        if config_file is not None:
            saved = json.loads(Path(config_file).read_text(encoding="utf-8"))
            config = msd_config(msd_config_class(saved.pop("model_type", "")).from_dict(saved), **msd_kwargs)
            config._name_or_path = base_path
            base = auto_class.from_pretrained(base_path, config=config, revision=peft_config.revision, **kwargs)
        elif msd_kwargs:
            base = auto_class.from_pretrained(base_path, revision=peft_config.revision, **msd_kwargs, **kwargs)
        else:
            raise ValueError(
                f"{adapter_name_or_path} has no {MSD_ADAPTER_CONFIG_NAME} (MSDTrainer and "
                "msd_transformers.save_adapter write it beside the adapter), so the multi-sample dropout fields of "
                "the base model are unknown. Give them, with the config attributes the head needs, e.g. "
                "from_pretrained(path, num_labels=2, msd_num_samples=8, msd_dropout=0.1)."
            )
        return PeftModel.from_pretrained(
            base, adapter_name_or_path, adapter_name=adapter_name, is_trainable=is_trainable, **hub_kwargs
        )


class AutoMSDPeftModelForSequenceClassification(_AutoMSDPeftModel):
    """Load a saved sequence-classification adapter (`task_type="SEQ_CLS"`) onto the MSD class of its base model, with
    the trained config (`msd_*` fields, labels, `pad_token_id`) from `msd_config.json`. PEFT's own
    `AutoPeftModelForSequenceClassification` needs those config fields passed (see the module's docstring).

    Example:

    ```python
    >>> model = msd.AutoMSDPeftModelForSequenceClassification.from_pretrained("out/adapter")
    >>> merged = msd.to_vanilla(model.merge_and_unload())  # an upstream model with the adapter merged in
    ```
    """

    task = SEQUENCE_CLASSIFICATION


class AutoMSDPeftModelForTokenClassification(_AutoMSDPeftModel):
    """Load a saved token-classification adapter (`task_type="TOKEN_CLS"`) onto the MSD class of its base model."""

    task = TOKEN_CLASSIFICATION


class AutoMSDPeftModelForQuestionAnswering(_AutoMSDPeftModel):
    """Load a saved question-answering adapter (`task_type="QUESTION_ANS"`) onto the MSD class of its base model."""

    task = QUESTION_ANSWERING


def is_msd_peft_model(model: Any) -> bool:
    """Whether `model` is a PEFT model (anything with `get_base_model`) over a multi-sample dropout model."""
    return hasattr(model, "get_base_model") and is_msd_model(model.get_base_model())
