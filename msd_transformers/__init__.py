"""msd-transformers: multi-sample dropout (Inoue 2019, arXiv:1905.09788) for Hugging Face Transformers heads.

Importing the package lets the Transformers Auto classes find an `MSD<Upstream>Config` for every supported family
(model type `msd-<upstream model_type>`) and its `MSD<Upstream>For<Task>` classes (sequence classification, token
classification, question answering, multiple choice; image, audio and video classification). A class is made the
first time it is used (see `registry`);
the classes are attributes of this package (`msd_transformers.MSDBertForTokenClassification`), declared in
`generated.py` (its class statements) for editors.

Where things live:

- `architectures`: the table (data): where the samples go in each upstream head, per task, and the exclusions.
- `registry`: which families and tasks are supported, the classes (made on first use), Auto registration,
  `register_architecture`.
- `modeling`: the config and model mixins and the class factory; `tasks`: what differs between the tasks (outputs,
  losses).
- `dropout`: `MultiSampleDropout` and the rate specifications; `sampled_linear`: `MultiSampleLinear`, the K samples
  through one Linear without K copies of the input (`sampled_linear_dtensor`: the same under tensor parallelism);
  `heads`: the RoBERTa-style head, last-token pooling.
- `loss`: per-sample losses of every task, `consistency_loss`, the problem-type rule.
- `auto`: `msd_config`, `AutoMSDModelFor<Task>`, `to_vanilla`; `adapters`: PEFT adapters on MSD models.
- `trainer`, `training_args`: `MSDTrainer`, `MSDTrainingArguments`.
- `montecarlo`: `mc_dropout` (`MonteCarloDropout`); `mc_layers`: what it samples; `uncertainty`:
  `predictive_uncertainty`; `calibration`: ECE, NLL, Brier, AURC.
- `pipelines`: pipelines whose results carry Monte-Carlo uncertainty; `docs`: the generated documents.
- `finetune`: the machinery of `scripts/train.py` (data, offline metrics, config files, model cards).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import registry as _registry

__version__ = "0.2.0.dev0"

# Public name -> the submodule that defines it (imported when the name is first used).
_PUBLIC: dict[str, str] = {
    # entry points
    "AutoMSDModelForSequenceClassification": "auto",
    "AutoMSDModelForTokenClassification": "auto",
    "AutoMSDModelForQuestionAnswering": "auto",
    "AutoMSDModelForMultipleChoice": "auto",
    "AutoMSDModelForImageClassification": "auto",
    "AutoMSDModelForAudioClassification": "auto",
    "AutoMSDModelForVideoClassification": "auto",
    "msd_config": "auto",
    "to_vanilla": "auto",
    "is_msd_model": "auto",
    # the table and its registry
    "TASKS": "architectures",
    "MSDArchitecture": "architectures",
    "register_architecture": "registry",
    "get_architecture": "registry",
    "supported_model_types": "registry",
    # the pieces of a head, and the losses
    "MultiSampleDropout": "dropout",
    "MultiSampleLinear": "sampled_linear",
    "sample_losses": "loss",
    "token_sample_losses": "loss",
    "span_sample_losses": "loss",
    "consistency_loss": "loss",
    # training
    "MSDTrainer": "trainer",
    "MSDTrainingArguments": "training_args",
    # uncertainty and calibration
    "mc_dropout": "montecarlo",
    "predictive_uncertainty": "uncertainty",
    "predictive_logits": "uncertainty",
    "PredictiveUncertainty": "uncertainty",
    "expected_calibration_error": "calibration",
    "negative_log_likelihood": "calibration",
    "brier_score": "calibration",
    "aurc": "calibration",
    "MCDropoutTextClassificationPipeline": "pipelines",
    "MCDropoutTokenClassificationPipeline": "pipelines",
    "MCDropoutImageClassificationPipeline": "pipelines",
    "MCDropoutAudioClassificationPipeline": "pipelines",
    # adapters
    "AutoMSDPeftModelForSequenceClassification": "adapters",
    "AutoMSDPeftModelForTokenClassification": "adapters",
    "AutoMSDPeftModelForQuestionAnswering": "adapters",
    "save_adapter": "adapters",
    "lora_target_modules": "adapters",
    "lora_modules_to_save": "adapters",
}

__all__ = sorted(_PUBLIC)

if TYPE_CHECKING:
    from .adapters import (
        AutoMSDPeftModelForQuestionAnswering,
        AutoMSDPeftModelForSequenceClassification,
        AutoMSDPeftModelForTokenClassification,
        lora_modules_to_save,
        lora_target_modules,
        save_adapter,
    )
    from .architectures import TASKS, MSDArchitecture
    from .auto import (
        AutoMSDModelForAudioClassification,
        AutoMSDModelForImageClassification,
        AutoMSDModelForMultipleChoice,
        AutoMSDModelForQuestionAnswering,
        AutoMSDModelForSequenceClassification,
        AutoMSDModelForTokenClassification,
        AutoMSDModelForVideoClassification,
        is_msd_model,
        msd_config,
        to_vanilla,
    )
    from .calibration import aurc, brier_score, expected_calibration_error, negative_log_likelihood
    from .dropout import MultiSampleDropout
    from .generated import *  # noqa: F403  (the generated classes, declared in generated.py)
    from .loss import consistency_loss, sample_losses, span_sample_losses, token_sample_losses
    from .montecarlo import mc_dropout
    from .pipelines import (
        MCDropoutAudioClassificationPipeline,
        MCDropoutImageClassificationPipeline,
        MCDropoutTextClassificationPipeline,
        MCDropoutTokenClassificationPipeline,
    )
    from .registry import get_architecture, register_architecture, supported_model_types
    from .sampled_linear import MultiSampleLinear
    from .trainer import MSDTrainer
    from .training_args import MSDTrainingArguments
    from .uncertainty import PredictiveUncertainty, predictive_logits, predictive_uncertainty


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    try:  # the classes generated from the table, including families registered at run time
        return _registry.generated_class(name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC, *_registry.class_names()})


_registry.install()
