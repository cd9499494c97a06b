"""msd-transformers: multi-sample dropout (Inoue 2019, arXiv:1905.09788) for Transformers sequence classification.

Importing the package registers the `MSD*Config` / `MSD*ForSequenceClassification` classes of every architecture in
`ARCHITECTURES` (encoders, encoder-decoders such as BART and T5, and decoder LLMs: every
`GenericForSequenceClassification` family of the installed Transformers plus the older decoders) with `AutoConfig` and
`AutoModelForSequenceClassification` (model types `msd-<upstream model_type>`).
The generated classes are attributes of this package, e.g. `msd_transformers.MSDBertForSequenceClassification`.

Where things live:

- `dropout`: `MultiSampleDropout`, the K-sample dropout module, the parsing of rate specifications, `repeat_batch`.
- `heads`: small head pieces for upstream heads that cannot take the `MultiSampleDropout` by a module swap, and the
  last-token pooling of the decoder heads.
- `loss`: `sample_losses`, one upstream loss per dropout sample; `consistency_loss`, the samples' disagreement.
- `modeling`: the architecture table (`ARCHITECTURES`, `register_architecture`), the families without a row
  (`EXCLUDED_ARCHITECTURES`) and the generated classes.
- `docs`: `architectures_markdown()`, the README's architecture tables generated from the two tables.
- `auto`: the entry points `msd_config`, `AutoMSDModelForSequenceClassification`, `to_vanilla`.
- `adapters`: PEFT adapters on MSD models: `AutoMSDPeftModelForSequenceClassification`, `save_adapter`,
  `lora_target_modules`, `lora_modules_to_save`.
- `trainer`: `MSDTrainer` and `MSDTrainingArguments`.
- `uncertainty`: `mc_dropout` (Monte-Carlo dropout at a chosen depth), `predictive_uncertainty`, calibration metrics.
- `pipelines`: `MCDropoutTextClassificationPipeline`, text classification results with their uncertainty.
- `finetune`: the machinery of `scripts/train.py` (data, offline metrics, config files, model cards).
"""

from typing import Any

from . import _compat
from .adapters import (
    AutoMSDPeftModelForSequenceClassification,
    lora_modules_to_save,
    lora_target_modules,
    save_adapter,
)
from .auto import AutoMSDModelForSequenceClassification, is_msd_config, is_msd_model, msd_config, to_vanilla
from .dropout import MultiSampleDropout, repeat_batch, resolve_dropout
from .heads import MSDDenseClassificationHead, pool_last_token
from .loss import consistency_loss, infer_problem_type, sample_losses
from .modeling import (
    ARCHITECTURES,
    EXCLUDED_ARCHITECTURES,
    MSD_CONFIG_CLASSES,
    MSD_MODEL_CLASSES,
    MSDArchitecture,
    MSDConfigMixin,
    MSDModelMixin,
    MSDSeq2SeqSequenceClassifierOutput,
    MSDSequenceClassifierOutput,
    generic_decoder_rows,
    get_architecture,
    register_architecture,
    supported_model_types,
    validate_msd_fields,
)
from .pipelines import MCDropoutTextClassificationPipeline
from .trainer import MSDTrainer, MSDTrainingArguments
from .uncertainty import (
    PredictiveUncertainty,
    aurc,
    brier_score,
    expected_calibration_error,
    mc_dropout,
    negative_log_likelihood,
    predictive_logits,
    predictive_uncertainty,
    validate_mc_dropout,
)

__version__ = "0.2.0.dev0"

_compat.install()


def _generated_classes() -> dict[str, type]:
    return {cls.__name__: cls for cls in (*MSD_CONFIG_CLASSES.values(), *MSD_MODEL_CLASSES.values())}


def __getattr__(name: str) -> Any:
    # The classes generated from the table, including architectures registered at run time.
    classes = _generated_classes()
    if name in classes:
        return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_generated_classes()})


__all__ = [
    "ARCHITECTURES",
    "EXCLUDED_ARCHITECTURES",
    "AutoMSDModelForSequenceClassification",
    "AutoMSDPeftModelForSequenceClassification",
    "MCDropoutTextClassificationPipeline",
    "MSDArchitecture",
    "MSDConfigMixin",
    "MSDDenseClassificationHead",
    "MSDModelMixin",
    "MSDSeq2SeqSequenceClassifierOutput",
    "MSDSequenceClassifierOutput",
    "MSDTrainer",
    "MSDTrainingArguments",
    "MSD_CONFIG_CLASSES",
    "MSD_MODEL_CLASSES",
    "MultiSampleDropout",
    "PredictiveUncertainty",
    "aurc",
    "brier_score",
    "consistency_loss",
    "expected_calibration_error",
    "generic_decoder_rows",
    "get_architecture",
    "infer_problem_type",
    "is_msd_config",
    "is_msd_model",
    "lora_modules_to_save",
    "lora_target_modules",
    "mc_dropout",
    "msd_config",
    "negative_log_likelihood",
    "pool_last_token",
    "predictive_logits",
    "predictive_uncertainty",
    "register_architecture",
    "repeat_batch",
    "resolve_dropout",
    "save_adapter",
    "sample_losses",
    "supported_model_types",
    "to_vanilla",
    "validate_mc_dropout",
    "validate_msd_fields",
    *sorted(_generated_classes()),
]
