"""Entry points: MSD configs from upstream ones, the MSD Auto classes, and the way back to the upstream classes."""

from __future__ import annotations

import copy
import os
from typing import Any, ClassVar

from transformers import AutoConfig, PretrainedConfig, PreTrainedModel

from .architectures import (
    AUDIO_CLASSIFICATION,
    IMAGE_CLASSIFICATION,
    MODEL_TYPE_PREFIX,
    MULTIPLE_CHOICE,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    VIDEO_CLASSIFICATION,
)
from .modeling import MSD_CONFIG_FIELDS, MSDModelMixin, check_msd_dropout
from .registry import get_architecture, msd_config_class, msd_model_class

# Keyword arguments of `from_pretrained` that locate files: they go to the config *and* to the model loading.
HUB_KWARGS: tuple[str, ...] = (
    "cache_dir",
    "force_download",
    "local_files_only",
    "proxies",
    "revision",
    "subfolder",
    "token",
    "trust_remote_code",
)

# Keyword arguments of `PreTrainedModel._from_config` (the rest of `from_config`'s kwargs are config attributes).
FROM_CONFIG_KWARGS: tuple[str, ...] = ("dtype", "torch_dtype", "attn_implementation", "experts_implementation")


def split_msd_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into the `msd_*` config fields and the rest; unknown `msd_*` names are an error."""
    msd = {k: v for k, v in kwargs.items() if k.startswith("msd_")}
    unknown = sorted(set(msd) - set(MSD_CONFIG_FIELDS))
    if unknown:
        raise ValueError(
            f"Unknown multi-sample dropout argument(s) {unknown}; the fields are {list(MSD_CONFIG_FIELDS)}."
        )
    return msd, {k: v for k, v in kwargs.items() if k not in msd}


def is_msd_config(config: PretrainedConfig) -> bool:
    """Whether `config` is a multi-sample dropout config (`model_type` `msd-*`)."""
    return getattr(config, "model_type", "").startswith(MODEL_TYPE_PREFIX)


def is_msd_model(model: Any) -> bool:
    """Whether `model` is an MSD model (not a PEFT model around one: see `get_base_model`)."""
    return isinstance(model, MSDModelMixin)


def msd_config(
    config_or_path: PretrainedConfig | str | os.PathLike, *, task: str | None = None, **kwargs: Any
) -> PretrainedConfig:
    """The multi-sample dropout config for an upstream (or MSD) config or checkpoint.

    Pass it as `config=` to `AutoModelFor<Task>.from_pretrained` (after `import msd_transformers`) to load an upstream
    checkpoint into the MSD class of its architecture. One config class per family serves every task.

    Args:
        config_or_path (`PretrainedConfig`, `str` or `os.PathLike`):
            A config of a supported architecture, or a Hub name / local folder to load one from.
        task (`str`, *optional*):
            Check now that the family supports this task (`"sequence-classification"`, `"token-classification"`,
            `"question-answering"`, `"multiple-choice"`, `"image-classification"`, `"audio-classification"`,
            `"video-classification"`) and that `msd_dropout` is set where its head has no
            dropout; without it the model class checks this when it is created.
        kwargs:
            `msd_num_samples`, `msd_dropout`, `msd_average` set the MSD fields (see [`MSDConfigMixin`]); the others
            are config attributes (`num_labels`, `problem_type`, ...) or, with a path, `AutoConfig.from_pretrained`
            arguments (`revision`, `cache_dir`, ...).

    Returns:
        `PretrainedConfig`: an `MSD<Upstream>Config` (e.g. `MSDBertConfig`).

    Raises:
        `ValueError`: an unsupported architecture (with the supported ones), a bad `msd_*` value, or (with `task`) no
        `msd_dropout` for a head without a dropout before its Linear.

    Example:

    ```python
    >>> cfg = msd_config("bert-base-uncased", num_labels=2, msd_num_samples=8, msd_dropout=0.5)
    >>> model = AutoModelForSequenceClassification.from_pretrained("bert-base-uncased", config=cfg)
    ```
    """
    msd_kwargs, other = split_msd_kwargs(kwargs)
    if isinstance(config_or_path, PretrainedConfig):
        config = copy.deepcopy(config_or_path)
        for key, value in other.items():  # e.g. num_labels, whose setter rebuilds id2label / label2id
            setattr(config, key, value)
    else:
        config = AutoConfig.from_pretrained(config_or_path, **other)
    config_class = msd_config_class(config.model_type)
    config_dict = config.to_dict()
    config_dict.pop("model_type", None)
    config_dict.update(msd_kwargs)
    new_config = config_class.from_dict(config_dict)
    if task is not None:
        check_msd_dropout(get_architecture(new_config.model_type, task), new_config)
    new_config._name_or_path = config.name_or_path
    new_config._attn_implementation = config._attn_implementation
    return new_config


def to_vanilla(model: PreTrainedModel) -> PreTrainedModel:
    """The upstream class of an MSD model, with the same weights (copied), dtype and device, in the same mode.

    Its config is the upstream config without the `msd_*` fields, so it saves with the upstream `model_type` and
    loads anywhere Transformers runs, without this package. Eval outputs are identical to the MSD model's.

    Args:
        model (`PreTrainedModel`): An MSD model of any task, e.g. `MSDBertForTokenClassification`.

    Returns:
        `PreTrainedModel`: the upstream class of the same task, e.g. a `BertForTokenClassification`.

    Raises:
        `ValueError`: `model` is not an MSD model; for a PEFT model over one, the message says to merge the adapter
        first (`to_vanilla(model.merge_and_unload())`).
    """
    if hasattr(model, "merge_and_unload") and is_msd_model(model.get_base_model()):
        raise ValueError(
            f"to_vanilla takes a Transformers model, got a PEFT {type(model).__name__}: merge the adapter first, "
            "msd.to_vanilla(model.merge_and_unload())."
        )
    if not is_msd_model(model):
        raise ValueError(f"to_vanilla takes a multi-sample dropout model (MSD*For<Task>), got {type(model).__name__}.")
    arch = model.msd_architecture
    config_dict = model.config.to_dict()
    for key in (*MSD_CONFIG_FIELDS, "model_type", "architectures"):
        config_dict.pop(key, None)
    config = arch.config_class.from_dict(config_dict)
    config._name_or_path = model.config.name_or_path
    config._attn_implementation = model.config._attn_implementation
    param = next(model.parameters())
    upstream = arch.model_class._from_config(config, dtype=param.dtype).to(param.device)
    # strict=True: a missing or unexpected key is an error, never a silently fresh weight.
    upstream.load_state_dict(model.state_dict(), strict=True)
    return upstream.train(model.training)


class _AutoMSDModel:
    """Load an upstream or MSD checkpoint of a supported architecture into its multi-sample dropout class for `task`.

    `msd_*` keyword arguments set the config fields; everything else goes to Transformers as usual.
    """

    task: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any):
        raise OSError(
            f"{type(self).__name__} is designed to be instantiated with `{type(self).__name__}.from_pretrained(path)` "
            "or `.from_config(config)`."
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        """Load `pretrained_model_name_or_path` (upstream or MSD) into the MSD class of its architecture.

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`): A Hub name or a local folder.
            kwargs: `msd_*` fields, config attributes (`num_labels`, `id2label`, ...), and any argument of
                `PreTrainedModel.from_pretrained` (`dtype`, `revision`, ...). A `config=` is converted with
                [`msd_config`].
        """
        msd_kwargs, kwargs = split_msd_kwargs(kwargs)
        hub_kwargs = {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}
        config = kwargs.pop("config", None)
        if config is None:
            config, kwargs = AutoConfig.from_pretrained(
                pretrained_model_name_or_path, return_unused_kwargs=True, **hub_kwargs, **kwargs
            )
        elif not isinstance(config, PretrainedConfig):
            config = AutoConfig.from_pretrained(config, **hub_kwargs)
        config = msd_config(config, task=cls.task, **msd_kwargs)
        return msd_model_class(config.model_type, cls.task).from_pretrained(
            pretrained_model_name_or_path, *model_args, config=config, **hub_kwargs, **kwargs
        )

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any):
        """A freshly initialised MSD model for `config` (upstream or MSD).

        Args:
            config (`PretrainedConfig`): A config of a supported architecture, upstream or MSD (not modified).
            kwargs: `msd_*` fields and config attributes (`num_labels`, `problem_type`, `id2label`, ...) set on a copy
                of the config, as in [`msd_config`]; the loading options of `PreTrainedModel._from_config`
                (`dtype`, `attn_implementation`, `experts_implementation`) go to the model.
        """
        model_kwargs = {k: kwargs.pop(k) for k in FROM_CONFIG_KWARGS if k in kwargs}
        config = msd_config(config, task=cls.task, **kwargs)
        return msd_model_class(config.model_type, cls.task)._from_config(config, **model_kwargs)


class AutoMSDModelForSequenceClassification(_AutoMSDModel):
    """Load an upstream or MSD checkpoint into its `MSD*ForSequenceClassification` class.

    Example:

    ```python
    >>> model = AutoMSDModelForSequenceClassification.from_pretrained(
    ...     "bert-base-uncased", num_labels=2, msd_num_samples=8, msd_dropout="linspace(0.1, 0.5)"
    ... )
    ```
    """

    task = SEQUENCE_CLASSIFICATION


class AutoMSDModelForTokenClassification(_AutoMSDModel):
    """Load an upstream or MSD checkpoint into its `MSD*ForTokenClassification` class: the K samples act on the token
    states through one shared Linear, without K copies of them.

    Example:

    ```python
    >>> model = AutoMSDModelForTokenClassification.from_pretrained(
    ...     "bert-base-cased", num_labels=9, msd_num_samples=5, msd_dropout="linspace(0.1, 0.5)"
    ... )
    ```
    """

    task = TOKEN_CLASSIFICATION


class AutoMSDModelForQuestionAnswering(_AutoMSDModel):
    """Load an upstream or MSD checkpoint into its `MSD*ForQuestionAnswering` class: the K samples act on the token
    states before `qa_outputs`. Most question-answering heads have no dropout there: set `msd_dropout`.

    Example:

    ```python
    >>> model = AutoMSDModelForQuestionAnswering.from_pretrained("roberta-base", msd_num_samples=5, msd_dropout=0.5)
    ```
    """

    task = QUESTION_ANSWERING


class AutoMSDModelForMultipleChoice(_AutoMSDModel):
    """Load an upstream or MSD checkpoint into its `MSD*ForMultipleChoice` class: the K samples act on the pooled
    state of each (example, choice) pair.

    Example:

    ```python
    >>> model = AutoMSDModelForMultipleChoice.from_pretrained("bert-base-uncased", msd_num_samples=8)
    ```
    """

    task = MULTIPLE_CHOICE


class AutoMSDModelForImageClassification(_AutoMSDModel):
    """Load an upstream or MSD checkpoint into its `MSD*ForImageClassification` class: the K samples act on the pooled
    image features before the classifier. Most image heads (ViT, DINOv2, ConvNeXt, ResNet, Swin, ...) have no dropout
    there: set `msd_dropout`; EfficientNet's and the MobileNets' heads have one, whose rate is the default.

    Example:

    ```python
    >>> model = AutoMSDModelForImageClassification.from_pretrained(
    ...     "google/vit-base-patch16-224-in21k", num_labels=10, msd_num_samples=8, msd_dropout=0.5
    ... )
    ```
    """

    task = IMAGE_CLASSIFICATION


class AutoMSDModelForAudioClassification(_AutoMSDModel):
    """Load an upstream or MSD checkpoint into its audio classification class (`MSDWav2Vec2ForSequenceClassification`,
    `MSDWhisperForAudioClassification`, `MSDASTForAudioClassification`, ...): the K samples act on the pooled
    features before the classifier. None of these heads has a dropout there: set `msd_dropout`.

    Example:

    ```python
    >>> model = AutoMSDModelForAudioClassification.from_pretrained(
    ...     "facebook/wav2vec2-base", num_labels=12, msd_num_samples=8, msd_dropout=0.3
    ... )
    ```
    """

    task = AUDIO_CLASSIFICATION


class AutoMSDModelForVideoClassification(_AutoMSDModel):
    """Load an upstream or MSD checkpoint into its `MSD*ForVideoClassification` class (VideoMAE, ViViT, TimeSformer,
    V-JEPA 2, VideoPrism): the K samples act on the pooled clip features before the classifier; set `msd_dropout`.

    Example:

    ```python
    >>> model = AutoMSDModelForVideoClassification.from_pretrained("MCG-NJU/videomae-base", msd_dropout=0.3)
    ```
    """

    task = VIDEO_CLASSIFICATION


#: The MSD Auto class of each task.
AUTO_MSD_CLASSES: dict[str, type[_AutoMSDModel]] = {
    cls.task: cls
    for cls in (
        AutoMSDModelForSequenceClassification,
        AutoMSDModelForTokenClassification,
        AutoMSDModelForQuestionAnswering,
        AutoMSDModelForMultipleChoice,
        AutoMSDModelForImageClassification,
        AutoMSDModelForAudioClassification,
        AutoMSDModelForVideoClassification,
    )
}
