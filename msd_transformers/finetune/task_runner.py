"""What the script's question-answering and multiple-choice runs share: the checks before the model loads, training,
the Monte-Carlo confidence metrics and the outputs. Each task's module (`qa_task`, `multiple_choice_task`) supplies
its data, features, trainer and records; `scripts/train.py` hands the run to [`run_task`].

Both tasks reuse the script's own steps (the model's config and its MSD fields, the model and its LoRA adapter, the
upstream export, `metrics.json`, the training curves and the model card), passed in as the script module.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..architectures import MULTIPLE_CHOICE, QUESTION_ANSWERING

logger = logging.getLogger("train")

#: The task -> the module of `msd_transformers.finetune` that runs it in the script.
TASK_MODULES = {QUESTION_ANSWERING: "qa_task", MULTIPLE_CHOICE: "multiple_choice_task"}
#: The coverages at which `metrics.json` reports the accuracy of the most confident examples.
COVERAGES = (0.1, 0.25, 0.5, 0.75, 0.9)

__all__ = ["COVERAGES", "TASK_MODULES", "TaskLabels", "confidence_metrics", "plot_risk_coverage", "run_task"]


@dataclass
class TaskLabels:
    """The script's label information for a task without class names: the model config's own labels."""

    problem_type: str
    id2label: dict[int, str]
    label2id: dict[str, int]
    label_names: list[str] | None = None


def run_task(script: ModuleType, model_args, data_args, training_args, argv: list[str]) -> dict[str, float] | None:
    """Run `data_args.task` with its module if it has one (question answering, multiple choice), else `None` (the
    script runs it). A bad input becomes the script's `BadInput` (one `error:` line, exit 2) before the model loads.

    Args:
        script (`ModuleType`): `scripts/train.py`, whose steps the tasks reuse.
    """
    name = TASK_MODULES.get(data_args.task)
    if name is None:
        return None
    module = importlib.import_module(f"{__package__}.{name}")
    try:
        raw = module.load_datasets(data_args)
        run = prepare_run(script, model_args, data_args, training_args, argv, raw, module.PROBLEM_TYPE)
        tokenizer = module.load_tokenizer(script, run)
        features = module.prepare_features(run, tokenizer)
    except (ValueError, OSError) as err:
        raise script.BadInput(err) from err
    model, lora_row = script.load_model(run)
    trainer = module.build_trainer(script, run, model, tokenizer, features)
    metrics = train(run, trainer)
    results = module.evaluate(run, trainer, features, metrics)
    trainer.save_model()
    trainer.save_state()
    if trainer.is_world_process_zero():
        written = module.write_outputs(run, trainer, features, metrics, results)
        script.save_outputs(run, trainer, metrics, None, {}, lora_row)
        print(f"Saved to {training_args.output_dir}: {', '.join(written)}", flush=True)
    return metrics


def prepare_run(script: ModuleType, model_args, data_args, training_args, argv, raw, problem_type: str):
    """The script's `Run` of a task without class names: the model's config (checked for the task), the MSD fields,
    and the Monte-Carlo options checked on a weightless copy."""
    from .offline import resolve_model_path

    base = script.load_model_config(model_args, data_args.task)
    labels = TaskLabels(problem_type, dict(base.id2label), dict(base.label2id))
    config = script.build_config(base, model_args, data_args, labels)
    model_path = resolve_model_path(model_args.model_name_or_path)
    run = script.Run(model_args, data_args, training_args, argv, config, raw, labels, model_path)
    script.check_mc_evaluation(run)
    return run


def default_best_metric(training_args, metric: str) -> None:
    """`metric_for_best_model` of a run that keeps its best model: the task's metric unless one is given."""
    if training_args.load_best_model_at_end and training_args.metric_for_best_model is None:
        training_args.metric_for_best_model = metric
        training_args.greater_is_better = True


def train(run, trainer) -> dict[str, float]:
    """Train (resuming from the last checkpoint when asked): the train metrics, the processes and steps."""
    from transformers.trainer_utils import get_last_checkpoint

    training_args = run.training_args
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint in ("last", "auto"):
        checkpoint = get_last_checkpoint(training_args.output_dir)
        logger.info("Resuming from %s.", checkpoint or "scratch (no checkpoint found)")
    result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics = {f"train_{k}" if not k.startswith("train_") else k: v for k, v in result.metrics.items()}
    metrics["train_processes"] = training_args.world_size
    metrics["train_steps"] = trainer.state.global_step
    return metrics


def confidence_metrics(
    confidence: np.ndarray, correct: np.ndarray, prefix: str, accuracy_name: str = "accuracy"
) -> tuple[dict[str, float], Any]:
    """The calibration of per-example confidences against their correctness (`{prefix}_ece`), the area under the
    risk-coverage curve (`{prefix}_aurc`, risk = 1 - accuracy) and the accuracy of the most confident examples at
    `COVERAGES` (`{prefix}_{accuracy_name}_at_coverage_<percent>`), with the whole curve `(coverage, accuracy)` for
    the picture."""
    from ..calibration import confidence_calibration_error, coverage_accuracy

    coverage, accuracy = coverage_accuracy(confidence, correct)
    metrics = {f"{prefix}_ece": confidence_calibration_error(confidence, correct)}
    metrics[f"{prefix}_aurc"] = float((1.0 - accuracy).mean())
    for c in COVERAGES:
        k = max(1, int(np.ceil(c * len(accuracy) - 1e-9)))  # the k most confident of n: coverage k/n >= c
        metrics[f"{prefix}_{accuracy_name}_at_coverage_{round(100 * c)}"] = float(accuracy[k - 1])
    return metrics, (coverage, accuracy)


def plot_risk_coverage(coverage: np.ndarray, accuracy: np.ndarray, path: str | Path, ylabel: str, title: str) -> Path:
    """A PNG of the coverage-accuracy curve: the accuracy of the most confident fraction of the examples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(coverage, accuracy, label="most confident first")
    ax.axhline(accuracy[-1], color="gray", linestyle="--", label=f"all answered: {accuracy[-1]:.3f}")
    ax.set(xlabel="coverage (fraction answered)", ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def write_json_lines(path: Path, records: list[dict[str, Any]]) -> None:
    from .predictions import write_predictions

    write_predictions(path, records)


def log_metrics(trainer, metrics: dict[str, float]) -> None:
    trainer.log(metrics)
    logger.info("Metrics: %s", json.dumps({k: round(v, 4) for k, v in metrics.items()}))
