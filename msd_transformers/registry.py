"""The registry: which families and tasks have MSD classes, the classes themselves, and their Auto registration.

The rows come from `msd_transformers.architectures` (explicit rows, then the generic and default heads of each
task) and from [`register_architecture`]. Classes are made when first needed, so that importing the package imports
no upstream configuration or modeling module:

- `AutoConfig` finds every supported `msd-<model_type>`: the package puts a [`_LazyConfigEntries`] in place of the
  dict of configs registered with `AutoConfig` (`CONFIG_MAPPING._extra_content`, which `AutoConfig.register` fills);
  it holds the entries registered so far and makes a family's `MSD<Upstream>Config` when `AutoConfig` first looks
  the model type up;
- when a family's config class is made, each of its task classes is registered with the task's Auto class as a
  stand-in ([`_LazyModelClass`]) that knows the class's name and config class;
- the first time a task class is asked for (by an Auto class, by an entry point such as
  [`AutoMSDModelForSequenceClassification`], or as an attribute `msd_transformers.MSDBertForSequenceClassification`),
  the upstream class is imported, the MSD class is made, and it takes the stand-in's place in the Auto mapping.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.conversion_mapping import get_checkpoint_conversion_mapping, register_checkpoint_conversion_mapping
from transformers.models.auto.configuration_auto import CONFIG_MAPPING, model_type_to_module_name
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from .architectures import (
    DEFAULT_HEADS,
    EXCLUDED,
    GENERIC_HEADS,
    MODEL_TYPE_PREFIX,
    ROWS,
    SEQUENCE_CLASSIFICATION,
    TASKS,
    TOKEN_CLASSIFICATION,
    MSDArchitecture,
)
from .heads import resolve_timm_head
from .loss import LOSS_STYLES
from .modeling import build_config_class, build_model_class, check_modules
from .tasks import get_task, task_of

logger = logging.getLogger(__name__)

# Rows by task and model type: the table's explicit rows and the registered ones (before the generic and default
# heads), the exclusions, and what has been made so far.
_ROWS: dict[str, dict[str, MSDArchitecture]] = {task: {row.model_type: row for row in ROWS[task]} for task in TASKS}
_EXCLUDED: dict[str, dict[str, str]] = {task: dict(EXCLUDED[task]) for task in TASKS}
_RESOLVED: dict[tuple[str, str], MSDArchitecture] = {}
_CONFIG_CLASSES: dict[str, type[PretrainedConfig]] = {}
_MODEL_CLASSES: dict[tuple[str, str], type[PreTrainedModel]] = {}


@functools.cache
def _local_bases(path: Path) -> dict[str, list[str]]:
    """`{class name: base class names}` of the classes defined in a source file."""
    source = path.read_text(encoding="utf-8") if path.is_file() else ""
    return {
        name: [b.strip().split(".")[-1] for b in bases.split(",") if b.strip()]
        for name, bases in re.findall(r"^class (\w+)\(([^)]*)\):", source, flags=re.MULTILINE)
    }


def _builds_from(model_type: str, class_name: str, generic_class: str) -> bool:
    """Whether Transformers' `class_name` of `model_type` derives from `generic_class` (e.g.
    `GenericForSequenceClassification`), read from the modeling file's class statements (no import)."""
    *parents, name = model_type_to_module_name(model_type).split(".")  # e.g. "llama" or "deprecated.<name>"
    bases = _local_bases(Path(transformers.models.__file__).parent.joinpath(*parents, name, f"modeling_{name}.py"))
    seen, todo = set(), [class_name]
    while todo:
        current = todo.pop()
        if current == generic_class:
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(bases.get(current, []))
    return False


def _row(model_type: str, task: str) -> MSDArchitecture | None:
    """The row of `model_type` for `task`, unresolved: explicit or registered, else the task's generic or default head
    for a family in Transformers' task mapping, else `None` (excluded, or no such class)."""
    row = _ROWS[task].get(model_type)
    if row is not None:
        return row if row.config_class is not None or model_type in get_task(task).mapping_names else None
    if model_type in _EXCLUDED[task]:
        return None
    class_name = get_task(task).mapping_names.get(model_type)
    if class_name is None:
        return None
    generic = GENERIC_HEADS.get(task)
    if generic is not None and _builds_from(model_type, class_name, generic[0]):
        return MSDArchitecture(model_type, task=task, **generic[1])
    default = DEFAULT_HEADS[task]
    return MSDArchitecture(model_type, task=task, **default) if default is not None else None


def supported_model_types(task: str = SEQUENCE_CLASSIFICATION) -> list[str]:
    """The upstream `model_type`s that have a multi-sample dropout class for `task`, sorted.

    Args:
        task (`str`, *optional*, defaults to `"sequence-classification"`): `"sequence-classification"`,
            `"token-classification"`, `"question-answering"` or `"multiple-choice"`.
    """
    candidates = {*get_task(task).mapping_names, *_ROWS[task]}
    return sorted(t for t in candidates if _row(t, task) is not None)


def excluded_model_types(task: str = SEQUENCE_CLASSIFICATION) -> dict[str, str]:
    """The model types of Transformers' mapping for `task` that have no MSD class, with the reason."""
    get_task(task)
    return dict(sorted(_EXCLUDED[task].items()))


def _strip(model_type: str) -> str:
    return model_type.removeprefix(MODEL_TYPE_PREFIX) if isinstance(model_type, str) else model_type


def _upstream_config_class(model_type: str) -> type[PretrainedConfig]:
    for task in TASKS:
        row = _ROWS[task].get(model_type)
        if row is not None and row.config_class is not None:
            return row.config_class
    return CONFIG_MAPPING[model_type]


def get_architecture(model_type: str, task: str = SEQUENCE_CLASSIFICATION) -> MSDArchitecture:
    """The row of an upstream or MSD `model_type` for `task`, with its upstream classes.

    Raises:
        `ValueError`: the family has no MSD class for `task` (with the reason where it is excluded, and the supported
        model types).
    """
    key = _strip(model_type)
    spec = get_task(task)
    if (task, key) in _RESOLVED:
        return _RESOLVED[(task, key)]
    row = _row(key, task)
    if row is None:
        reason = f" ({_EXCLUDED[task][key]})" if key in _EXCLUDED[task] else ""
        raise ValueError(
            f"Multi-sample dropout does not support model_type {key!r} for {task}{reason}. Supported: "
            f"{', '.join(supported_model_types(task))}. To add one, call "
            "msd_transformers.register_architecture(MSDArchitecture(...))."
        )
    model_class = row.model_class
    if model_class is None:
        model_class = getattr(transformers, spec.mapping_names[key])
    resolved = replace(row, config_class=_upstream_config_class(key), model_class=model_class)
    _RESOLVED[(task, key)] = resolved
    return resolved


def row_of(model: Any) -> MSDArchitecture | None:
    """The row of a model's family and task, upstream models included; `None` for a family without a row."""
    arch = getattr(model, "msd_architecture", None)
    if arch is None:
        try:
            arch = get_architecture(getattr(model.config, "model_type", ""), task_of(model).name)
        except ValueError:
            return None
    return arch


def loss_style_of(model: Any) -> str:
    """The loss style of a model's row (`"deberta"` for DeBERTa's sequence heads), upstream models included;
    `"default"` for a family without a row."""
    arch = row_of(model)
    return "default" if arch is None else arch.loss_style


def loss_mask_of(model: Any) -> str | None:
    """The `loss_mask` of a model's row (see [`MSDArchitecture`]), upstream models included."""
    arch = row_of(model)
    return None if arch is None else arch.loss_mask


def msd_config_class(model_type: str) -> type[PretrainedConfig]:
    """The family's `MSD<Upstream>Config` (made and registered with `AutoConfig` on first use)."""
    key = _strip(model_type)
    if key not in _CONFIG_CLASSES:
        if not any(_row(key, task) is not None for task in TASKS):
            get_architecture(key)  # the error that lists what is supported
        config_class = _generated_module().add_class(build_config_class(_upstream_config_class(key), key))
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        _CONFIG_CLASSES[key] = config_class
        _register_stand_ins(key)
    return _CONFIG_CLASSES[key]


def msd_model_class(model_type: str, task: str = SEQUENCE_CLASSIFICATION) -> type[PreTrainedModel]:
    """The MSD class of `model_type` for `task` (made on first use, then registered with the task's Auto class)."""
    key = _strip(model_type)
    if (task, key) not in _MODEL_CLASSES:
        arch = get_architecture(key, task)
        config_class = msd_config_class(key)
        model_class = _generated_module().add_class(build_model_class(arch, config_class))
        _auto_class(task).register(config_class, model_class, exist_ok=True)
        if arch.config_class in MODEL_MAPPING:
            # `AutoModel` on an MSD config gives the upstream backbone: the generic heads build their backbone with
            # `AutoModel.from_config(config)`. (`AutoModel.register` refuses a backbone class whose `config_class` is
            # the upstream one, so the mapping's own `register` is used.)
            MODEL_MAPPING.register(config_class, MODEL_MAPPING[arch.config_class], exist_ok=True)
        _register_checkpoint_conversions(arch, model_class)
        _MODEL_CLASSES[(task, key)] = model_class
    return _MODEL_CLASSES[(task, key)]


def _generated_module() -> Any:
    """`msd_transformers.generated`, the module of the generated classes (imported with the first class made)."""
    from . import generated

    return generated


def _auto_class(task: str) -> Any:
    return getattr(transformers, get_task(task).auto_class)


def _register_checkpoint_conversions(arch: MSDArchitecture, model_class: type[PreTrainedModel]) -> None:
    """Give the MSD class the checkpoint key renamings that Transformers applies to the upstream class.

    Transformers looks these up by class name, then by `model_type` (GTE, NomicBERT, ESM, Jina v3, Ultrabert, MoE
    experts, ... rename their original checkpoint keys on load and back on save); the MSD names would find none, so
    the upstream entries are registered under the MSD class name and the MSD `model_type`.
    """
    for upstream, ours in ((arch.model_class.__name__, model_class.__name__), (arch.model_type, arch.msd_model_type)):
        conversions = get_checkpoint_conversion_mapping(upstream)
        if conversions is not None:
            register_checkpoint_conversion_mapping(ours, conversions, overwrite=True)


class _LazyModelClass:
    """Stands in for an MSD task class in a Transformers Auto mapping until the class is first used.

    Transformers reads a mapping's value to call `from_pretrained` / `_from_config` on it, and pipelines read its
    `__name__`; anything else is read from the class, which is then made and takes the stand-in's place.
    """

    def __init__(self, model_type: str, task: str, config_class: type[PretrainedConfig], name: str):
        self.model_type, self.task, self.config_class, self.__name__ = model_type, task, config_class, name

    def resolve(self) -> type[PreTrainedModel]:
        return msd_model_class(self.model_type, self.task)

    def from_pretrained(self, *args: Any, **kwargs: Any) -> PreTrainedModel:
        return self.resolve().from_pretrained(*args, **kwargs)

    def _from_config(self, *args: Any, **kwargs: Any) -> PreTrainedModel:
        return self.resolve()._from_config(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resolve(), name)

    def __repr__(self) -> str:
        return f"<{self.__name__}, made on first use>"


def class_names() -> dict[str, tuple[str, str | None]]:
    """`{generated class name: (model_type, task)}` of every supported family and task (task `None` for the config
    classes), from Transformers' class names: nothing is imported or made."""
    names: dict[str, tuple[str, str | None]] = {}
    for task in TASKS:
        mapping = get_task(task).mapping_names
        for model_type in supported_model_types(task):
            row = _ROWS[task].get(model_type)
            if row is not None and row.model_class is not None:
                upstream = row.model_class.__name__
            else:
                upstream = mapping[model_type]
            names[f"MSD{upstream}"] = (model_type, task)
            config_name = _config_class_name(model_type)
            if config_name is not None:
                names.setdefault(f"MSD{config_name}", (model_type, None))
    return names


def _config_class_name(model_type: str) -> str | None:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    for task in TASKS:
        row = _ROWS[task].get(model_type)
        if row is not None and row.config_class is not None:
            return row.config_class.__name__
    return CONFIG_MAPPING_NAMES.get(model_type)


def generated_class(name: str) -> type:
    """A generated class by name (`MSDBertConfig`, `MSDBertForTokenClassification`, ...), made if needed;
    `AttributeError` for any other name."""
    found = class_names().get(name)
    if found is None:
        raise AttributeError(name)
    model_type, task = found
    return msd_config_class(model_type) if task is None else msd_model_class(model_type, task)


def _register_stand_ins(model_type: str) -> None:
    """Register a stand-in for each of the family's task classes not made yet with the task's Auto class."""
    config_class = _CONFIG_CLASSES[model_type]
    for task in TASKS:
        if (task, model_type) in _MODEL_CLASSES or _row(model_type, task) is None:
            continue
        row = _ROWS[task].get(model_type)
        upstream = row.model_class.__name__ if row is not None and row.model_class else None
        name = f"MSD{upstream or get_task(task).mapping_names[model_type]}"
        _auto_class(task).register(config_class, _LazyModelClass(model_type, task, config_class, name), exist_ok=True)


# ------------------------------------------------------------------------------------------------- registration


def _check_row(arch: MSDArchitecture) -> None:
    """Static checks of a row: names, classes and options. Raises `ValueError` saying what to fix."""
    if not isinstance(arch, MSDArchitecture):
        raise ValueError(f"register_architecture takes an MSDArchitecture, got {type(arch).__name__}.")
    if not isinstance(arch.model_type, str) or not arch.model_type or arch.model_type.startswith(MODEL_TYPE_PREFIX):
        raise ValueError(
            f"MSDArchitecture.model_type must be the upstream model_type (e.g. 'mpnet'), got {arch.model_type!r}."
        )
    spec = get_task(arch.task)
    if arch.config_class is not None:
        if not (isinstance(arch.config_class, type) and issubclass(arch.config_class, PretrainedConfig)):
            raise ValueError(
                f"config_class of {arch.model_type!r} must be a PretrainedConfig subclass, got {arch.config_class!r}."
            )
        if arch.config_class.model_type != arch.model_type:
            raise ValueError(
                f"config_class {arch.config_class.__name__} has model_type {arch.config_class.model_type!r}, but the "
                f"row says {arch.model_type!r}: they must be equal."
            )
    elif arch.model_type not in CONFIG_MAPPING:
        raise ValueError(
            f"Transformers has no config for model_type {arch.model_type!r}: give the row's config_class."
        )
    if arch.model_class is None:
        if arch.model_type not in spec.mapping_names:
            raise ValueError(
                f"Transformers has no *{spec.class_suffix} class for {arch.model_type!r}: give the row's model_class."
            )
    elif not (isinstance(arch.model_class, type) and issubclass(arch.model_class, PreTrainedModel)):
        raise ValueError(
            f"model_class of {arch.model_type!r} must be a PreTrainedModel subclass, got {arch.model_class!r}."
        )
    else:
        parameters = inspect.signature(arch.model_class.forward).parameters
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        if not takes_kwargs and not all(name in parameters for name in spec.label_fields):
            raise ValueError(
                f"{arch.model_class.__name__}.forward takes no {list(spec.label_fields)}: the model_class of a "
                f"{arch.task} row must be a *{spec.class_suffix} class."
            )
    if not isinstance(arch.classifier, str) or not arch.classifier:
        raise ValueError(f"classifier of {arch.model_type!r} must be the path of the head's Linear, got "
                         f"{arch.classifier!r}.")  # fmt: skip
    if arch.loss_style not in LOSS_STYLES:
        raise ValueError(f"loss_style of {arch.model_type!r} must be one of {LOSS_STYLES}, got {arch.loss_style!r}.")
    if arch.head_activation is not None and not (arch.head and isinstance(arch.head_activation, str)):
        raise ValueError(
            f"head_activation of {arch.model_type!r} must be the name of a config attribute (e.g. 'hidden_act') and "
            f"needs a `head`, got head_activation={arch.head_activation!r}, head={arch.head!r}."
        )
    if arch.head_input not in ("sequence", "pooled"):
        raise ValueError(f"head_input of {arch.model_type!r} must be 'sequence' or 'pooled', got {arch.head_input!r}.")
    if arch.head_input == "pooled" and not arch.head:
        raise ValueError(
            f"head_input='pooled' of {arch.model_type!r} needs a `head` (a RoBERTa-style head that the forward gives "
            "its input); without one, the dropout at `dropout` becomes the identity wherever the forward calls it."
        )
    if arch.pooling not in (None, "last_token"):
        raise ValueError(f"pooling of {arch.model_type!r} must be None or 'last_token', got {arch.pooling!r}.")
    if arch.pooling == "last_token" and (arch.task != SEQUENCE_CLASSIFICATION or arch.head is not None):
        raise ValueError(
            f"pooling='last_token' ({arch.model_type!r}) is for decoder sequence heads, without a `head`."
        )
    if arch.loss_mask is not None and (arch.task != TOKEN_CLASSIFICATION or not isinstance(arch.loss_mask, str)):
        raise ValueError(
            f"loss_mask of {arch.model_type!r} must be the name of a forward argument (e.g. 'attention_mask') and "
            f"is for token-classification rows, got {arch.loss_mask!r} for {arch.task}."
        )
    if arch.pooled_head is not None and arch.pooling != "last_token":
        raise ValueError(f"pooled_head of {arch.model_type!r} goes with pooling='last_token'.")
    if arch.resolve_head not in (None, "timm"):
        raise ValueError(f"resolve_head of {arch.model_type!r} must be None or 'timm', got {arch.resolve_head!r}.")
    if arch.resolve_head is not None and (arch.dropout is not None or arch.head or arch.pooling):
        raise ValueError(
            f"resolve_head={arch.resolve_head!r} ({arch.model_type!r}) resolves the dropout and the Linear from the "
            "model: give only `classifier`, the path of the model they lie under (e.g. 'timm_model')."
        )


def _check_paths(arch: MSDArchitecture) -> None:
    """Build the upstream model on the meta device (no memory, no init) from a default config and check the row's
    paths (an `nn.Dropout`, an `nn.Linear`, a RoBERTa-style head) and `head_activation`."""
    try:
        config = arch.config_class()
        with torch.device("meta"):
            model = arch.model_class(config)
    except Exception as err:  # noqa: BLE001  (a config that cannot be built with defaults: checked at model init)
        logger.info("Cannot build %s from a default config to check its paths: %s", arch.model_class.__name__, err)
        return
    if arch.resolve_head == "timm":
        arch = resolve_timm_head(model, arch)[0]
    check_modules(arch, model)
    if arch.head_activation and getattr(config, arch.head_activation, None) not in ACT2FN:
        raise ValueError(
            f"head_activation of {arch.model_type!r} is {arch.head_activation!r}, but {type(config).__name__}()."
            f"{arch.head_activation} is {getattr(config, arch.head_activation, None)!r}, not a name in ACT2FN."
        )


def register_architecture(
    arch: MSDArchitecture, *, exist_ok: bool = False, check: bool = True
) -> tuple[type[PretrainedConfig], type[PreTrainedModel]]:
    """Add a row: a family's head for one task. Makes `MSD<Upstream>Config` (one per family) and the MSD task class,
    and registers them with `AutoConfig` and the task's Auto class under `msd-<model_type>`; a config class that
    Transformers does not know is registered with `AutoConfig` under its own `model_type` too.

    After this call every entry point takes the family: [`msd_config`], `AutoMSDModelFor<Task>`, [`to_vanilla`],
    [`MSDTrainer`], the Auto classes, and `msd_transformers.MSD<Upstream>For<Task>`.

    Args:
        arch (`MSDArchitecture`):
            The row: the upstream `model_type`, config class and task class, the paths of the dropout before the
            head's Linear and of that Linear, and the task.
        exist_ok (`bool`, *optional*, defaults to `False`):
            Replace a row already registered for the same `model_type` and task instead of raising.
        check (`bool`, *optional*, defaults to `True`):
            Build the upstream model from a default config on the meta device (no memory) and check that the paths
            name an `nn.Dropout` and an `nn.Linear`.

    Returns:
        `tuple`: the generated config class and model class.

    Raises:
        `ValueError`: the row is not an `MSDArchitecture`, its names or classes do not fit, its `model_type` already
        has a class for the task (and `exist_ok` is `False`), or a path does not name the right kind of module.

    Example:

    A model of one's own (`MyConfig`, `model_type = "my-bert"`; `MyForSequenceClassification`, whose `classifier` is
    a head with `dropout` before its final Linear `out`):

    ```python
    >>> import msd_transformers as msd
    >>> msd.register_architecture(msd.MSDArchitecture(
    ...     "my-bert", MyConfig, MyForSequenceClassification,
    ...     dropout="classifier.dropout", classifier="classifier.out"))
    >>> model = msd.AutoMSDModelForSequenceClassification.from_pretrained("my-checkpoint", msd_num_samples=8)
    ```
    """
    _check_row(arch)
    key, task = arch.model_type, arch.task
    if _row(key, task) is not None and not exist_ok:
        existing = f"MSD{get_architecture(key, task).model_class.__name__}"
        raise ValueError(
            f"model_type {key!r} is already registered for {task} (as {existing}); pass exist_ok=True to replace it."
        )
    if arch.config_class is not None and key not in CONFIG_MAPPING:
        AutoConfig.register(key, arch.config_class)  # so that checkpoints of the family load at all
    if check:
        resolved = replace(
            arch,
            config_class=arch.config_class or CONFIG_MAPPING[key],
            model_class=arch.model_class or getattr(transformers, get_task(task).mapping_names[key]),
        )
        _check_paths(resolved)
    previous = _ROWS[task].get(key)
    _ROWS[task][key] = arch
    _RESOLVED.pop((task, key), None)
    _MODEL_CLASSES.pop((task, key), None)
    if arch.config_class is not None and (previous is None or previous.config_class is not arch.config_class):
        if key in _CONFIG_CLASSES and _CONFIG_CLASSES[key].__bases__[1] is not arch.config_class:
            _CONFIG_CLASSES.pop(key)  # another upstream config class: a new MSD config class
            for other in TASKS:
                _RESOLVED.pop((other, key), None)
                _MODEL_CLASSES.pop((other, key), None)
    config_class = msd_config_class(key)
    _register_stand_ins(key)
    return config_class, msd_model_class(key, task)


def _supported_family(msd_model_type: Any) -> str | None:
    """The upstream model type of `msd-<model_type>` when the family has a row for some task, else `None`."""
    if not isinstance(msd_model_type, str) or not msd_model_type.startswith(MODEL_TYPE_PREFIX):
        return None
    key = _strip(msd_model_type)
    return key if any(_row(key, task) is not None for task in TASKS) else None


class _LazyConfigEntries(dict):
    """The configs registered with `AutoConfig`, plus the MSD config of every supported family, made when `AutoConfig`
    first looks its model type up (`key in entries`, then `entries[key]`). Iterating gives the configs made so far."""

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or _supported_family(key) is not None

    def __missing__(self, key: str) -> type[PretrainedConfig]:
        family = _supported_family(key)
        if family is None:
            raise KeyError(key)
        return msd_config_class(family)  # registers itself with AutoConfig, i.e. in this dict


def install() -> None:
    """Let `AutoConfig` (and so every Auto class) find the MSD config of every supported family (see the module
    docstring). Called once, when the package is imported."""
    if not isinstance(CONFIG_MAPPING._extra_content, _LazyConfigEntries):
        CONFIG_MAPPING._extra_content = _LazyConfigEntries(CONFIG_MAPPING._extra_content)
