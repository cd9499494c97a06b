"""msd-transformers: multi-sample dropout (Inoue 2019, arXiv:1905.09788) for Transformers sequence classification.

Importing the package registers the `MSD*Config` / `MSD*ForSequenceClassification` classes with `AutoConfig` and
`AutoModelForSequenceClassification` (model types `msd-<upstream model_type>`).
"""

from .auto import AutoMSDModelForSequenceClassification, is_msd_config, is_msd_model, msd_config, to_vanilla
from .dropout import MultiSampleDropout, resolve_dropout
from .heads import MSDDenseClassificationHead
from .loss import infer_problem_type, sample_losses
from .modeling import (  # noqa: F401  (built from the table in modeling.ARCHITECTURES)
    ARCHITECTURES,
    MSD_CONFIG_CLASSES,
    MSD_MODEL_CLASSES,
    MSDAlbertConfig,
    MSDAlbertForSequenceClassification,
    MSDArchitecture,
    MSDBertConfig,
    MSDBertForSequenceClassification,
    MSDConfigMixin,
    MSDDebertaV2Config,
    MSDDebertaV2ForSequenceClassification,
    MSDDistilBertConfig,
    MSDDistilBertForSequenceClassification,
    MSDElectraConfig,
    MSDElectraForSequenceClassification,
    MSDModelMixin,
    MSDModernBertConfig,
    MSDModernBertForSequenceClassification,
    MSDRobertaConfig,
    MSDRobertaForSequenceClassification,
    MSDSequenceClassifierOutput,
    MSDXLMRobertaConfig,
    MSDXLMRobertaForSequenceClassification,
    get_architecture,
    supported_model_types,
    validate_msd_fields,
)
from .trainer import MSDTrainer, MSDTrainingArguments, repeat_batch

__version__ = "0.1.0"
