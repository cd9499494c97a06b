"""What a training run leaves beside its checkpoint: a plot of its curves and a model card."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The script tasks that are pipeline tags of their own (sequence classification is "text-classification").
_OWN_TAGS = ("token-classification", "image-classification", "question-answering", "multiple-choice")


def _auto_names(task: str) -> tuple[str, str, str]:
    """The Auto class, MSD PEFT Auto class and PEFT Auto class of a task."""
    from ..tasks import get_task

    auto = get_task(task).auto_class
    suffix = auto.removeprefix("AutoModel")
    return auto, f"AutoMSDPeftModel{suffix}", f"AutoPeftModel{suffix}"


def how_to_load(task: str, adapter: bool = False) -> str:
    """What loading a multi-sample dropout checkpoint of `task` needs, written into its config (`how_to_load`; for
    a LoRA adapter into its `msd_config.json`) and model card."""
    auto, msd_peft, _ = _auto_names(task)
    if adapter:
        return (
            f"A LoRA adapter for a msd-transformers model: load it with msd_transformers.{msd_peft}.from_pretrained("
            "<this folder>) (pip install msd-transformers peft), which rebuilds the multi-sample dropout model from "
            "the base checkpoint and this file. The upstream/ folder beside it holds the upstream class with the "
            "adapter merged in: it loads with Transformers alone and predicts the same."
        )
    return (
        f"A msd-transformers checkpoint: run `import msd_transformers` (pip install msd-transformers) before "
        f"{auto}.from_pretrained; without it Transformers does not know this model_type. The upstream/ folder beside "
        "it holds the upstream class with the same weights: it loads with Transformers alone and predicts the same."
    )


def plot_history(log_history: Sequence[Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """A PNG of the training loss (and `msd_loss_std`) and every eval metric against the global step.

    Args:
        log_history (`Sequence[Mapping]`): `trainer.state.log_history`.
        path (`str` or `Path`): Where to write the PNG.
        title (`str`, *optional*): The figure's title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"], h.get("msd_loss_std")) for h in log_history if "loss" in h and "step" in h]
    evals = [h for h in log_history if "eval_loss" in h and "step" in h]
    skip = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch", "step", "eval_loss"}
    metric_names = sorted({k for h in evals for k in h if k.startswith("eval_") and k not in skip})

    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        steps, losses, stds = zip(*train, strict=True)
        ax_loss.plot(steps, losses, label="train loss", color="tab:blue")
        if any(s is not None for s in stds):
            ax_loss.plot(steps, [s or 0.0 for s in stds], label="msd_loss_std", color="tab:blue", alpha=0.4, ls="--")
    if evals:
        ax_loss.plot(
            [h["step"] for h in evals], [h["eval_loss"] for h in evals], "o-", label="eval loss", color="tab:red"
        )
        for name in metric_names:  # a metric of some evaluations only (e.g. the final one's): those points
            steps, values = zip(*[(h["step"], h[name]) for h in evals if name in h], strict=True)
            ax_metric.plot(steps, values, "o-", label=name.removeprefix("eval_"))
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_metric.set_xlabel("step")
    ax_metric.set_ylabel("eval metric")
    ax_metric.grid(alpha=0.3)
    if metric_names:
        ax_metric.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def model_card(
    *,
    base_model: str,
    base_model_id: str | None,
    output_dir: str,
    dataset: str,
    task: str,
    problem_type: str,
    label_names: Sequence[str] | None,
    msd_fields: Mapping[str, Any] | None,
    training: Mapping[str, Any],
    metrics: Mapping[str, float],
    command: str,
    dataset_note: str = "",
    adapter: bool = False,
) -> str:
    """A model card (README.md) saying how the model was trained and, for a multi-sample dropout model, how to load it.

    Args:
        base_model (`str`): The `model_name_or_path` the run started from.
        base_model_id (`str`, *optional*): Its Hub id (for the card's `base_model` metadata), `None` if it has none.
        output_dir (`str`): Where the checkpoint is, for the loading example.
        dataset (`str`): The data, in words.
        task (`str`): The task (`"sequence-classification"` or `"token-classification"`).
        problem_type (`str`): The problem type.
        label_names (`Sequence[str]`, *optional*): The class names; `None` for regression.
        msd_fields (`Mapping`, *optional*): The multi-sample dropout settings; `None` for the upstream head.
        training (`Mapping`): The training settings and what ran, one table row each.
        metrics (`Mapping[str, float]`): The final metrics.
        command (`str`): The command line of the run.
        dataset_note (`str`, *optional*): A note on the data (source, license, split).
        adapter (`bool`, *optional*, defaults to `False`): The checkpoint is a LoRA adapter (with `msd_config.json`).
    """
    auto, msd_peft, peft_auto = _auto_names(task)
    if msd_fields and adapter:
        head = (
            f"Multi-sample dropout head (msd-transformers; Inoue 2019, arXiv:1905.09788): "
            f"`{json.dumps(dict(msd_fields))}`, fine-tuned with LoRA. Saved twice: the LoRA adapter and the trained "
            "head here, with the multi-sample dropout config in `msd_config.json`, and the upstream class with the "
            "adapter merged in `upstream/` (loads with Transformers alone; identical predictions)."
        )
        loading = f"""
## Loading

```python
import msd_transformers as msd

model = msd.{msd_peft}.from_pretrained({json.dumps(output_dir)})
```

This rebuilds the multi-sample dropout model from the base checkpoint and `msd_config.json`, then loads the adapter
(`peft.{peft_auto}` would rebuild the upstream class). With Transformers alone, load `upstream/`: the
upstream class with the adapter merged in and identical predictions.
"""
    elif msd_fields:
        head = (
            f"Multi-sample dropout head (msd-transformers; Inoue 2019, arXiv:1905.09788): "
            f"`{json.dumps(dict(msd_fields))}`. Saved twice: the MSD checkpoint here (needs `import msd_transformers` "
            "to load) and the upstream class with the same weights in `upstream/` (loads with Transformers alone; "
            "identical predictions)."
        )
        loading = f"""
## Loading

```python
import msd_transformers  # registers the multi-sample dropout classes with the Auto classes
from transformers import {auto}

model = {auto}.from_pretrained({json.dumps(output_dir)})
```

Without `import msd_transformers` (`pip install msd-transformers`), Transformers does not know this checkpoint's
`model_type` and suggests upgrading Transformers, which does not help. With Transformers alone, load `upstream/`: the
upstream class with the same weights and identical predictions.
"""
    else:
        head = "The upstream classification head (plain dropout): the baseline of a multi-sample dropout comparison."
        loading = ""
    rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items())
    train_rows = "\n".join(f"| {k} | {v} |" for k, v in training.items())
    labels = ", ".join(label_names) if label_names else "one regression output"
    if task == "token-classification":
        labels = f"{len(label_names)} tags: {labels}"
    labels = {"question-answering": "answer spans in a context", "multiple-choice": "one score per choice"}.get(
        task, labels
    )
    metadata = f"base_model: {base_model_id}\n" if base_model_id else ""
    shown = f"`{base_model}`" + ("" if base_model_id in (None, base_model) else f" (`{base_model_id}` on the Hub)")
    return f"""---
library_name: transformers
{metadata}tags:
- {task if task in _OWN_TAGS else "text-classification"}
- multi-sample-dropout
- msd-transformers
---

# {Path(base_model_id or base_model).name} fine-tuned on {dataset}

- Task: {problem_type} ({labels}).
- Base model: {shown}.
- Head: {head}
- Data: {dataset}. {dataset_note}
{loading}
## Training

Command: `{command}`

| argument | value |
|---|---|
{train_rows}

## Results

| metric | value |
|---|---|
{rows}
"""
