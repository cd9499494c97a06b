"""The convergence benchmark's summaries: per variant (curves, final and best values, paired differences to plain,
steps to reach plain's best), at equal compute (each whole-network variant against the upstream head trained for the
steps that match its compute), and the merge of newly run variants into stored results.

Compute is counted in forward+backward passes of the encoder over a batch: a step of a variant that runs the whole
network M times per batch (`whole8`, `whole2`, `rdrop`) counts M; a head-only variant (`msd8`, ...) counts 1 (its K
head samples cost no encoder pass). `plain_<m>x` is the upstream model trained for m times the regime's steps, on the
same batches (the first `steps` of them are the other variants' batches) with the same schedule stretched to its
length.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

#: The evaluation metrics a run may record, and whether higher is better.
METRICS = {"eval_loss": False, "eval_accuracy": True, "eval_f1": True, "eval_ece": False}
#: Whole-network passes per step of each variant (all others: 1).
PASSES = {"whole8": 8, "whole2": 2, "rdrop": 2}
_EXTENDED = re.compile(r"^plain_(\d+)x$")


def steps_multiplier(variant: str) -> int:
    """How many times the regime's steps a variant trains for: m for `plain_<m>x`, else 1."""
    match = _EXTENDED.match(variant)
    return int(match.group(1)) if match else 1


def passes_of(variant: str) -> int:
    """Whole-network forward+backward passes per step."""
    return PASSES.get(variant, 1)


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def _spread(values: list[float]) -> dict[str, Any]:
    """Mean, std, min, max and the per-seed values."""
    return {**_mean_std(values), "min": min(values), "max": max(values), "per_seed": values}


def first_reach(steps: list[int], curve: list[float], target: float, higher_is_better: bool) -> int | None:
    """The first evaluated step at which `curve` reaches `target` (None if never)."""
    for s, v in zip(steps, curve, strict=True):
        if (v >= target - 1e-12) if higher_is_better else (v <= target + 1e-12):
            return s
    return None


def best(values: list[float], key: str) -> float:
    """The best value of a curve: the largest where higher is better, else the smallest."""
    return (max if METRICS[key] else min)(values)


def summarise(runs: dict[str, dict[int, dict[str, Any]]], seeds: list[int]) -> dict[str, Any]:
    """Per variant: curves (mean, std over seeds), final and best values, paired differences of the final values to
    plain, steps to reach the plain head's best, training time per step, and the raw runs (`per_seed`)."""
    out: dict[str, Any] = {}
    plain = runs["plain"]
    for name, by_seed in runs.items():
        steps = by_seed[seeds[0]]["steps"]
        v: dict[str, Any] = {
            "steps": steps,
            "steps_multiplier": steps_multiplier(name),
            "passes_per_step": passes_of(name),
            "compute": steps[-1] * passes_of(name),  # encoder forward+backward passes over a batch
        }
        keys = [k for k in METRICS if all(k in by_seed[s] for s in seeds)]
        for key in keys:
            cols = list(zip(*(by_seed[s][key] for s in seeds), strict=True))
            v[f"{key}_mean"] = [statistics.fmean(c) for c in cols]
            v[f"{key}_std"] = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in cols]
            v[f"final_{key}"] = _mean_std([by_seed[s][key][-1] for s in seeds])
            if all(key in plain[s] for s in seeds):
                v[f"final_{key}_minus_plain"] = _mean_std([by_seed[s][key][-1] - plain[s][key][-1] for s in seeds])
            v[f"best_{key}"] = _mean_std([best(by_seed[s][key], key) for s in seeds])
        for key in ("eval_loss", "eval_accuracy", "eval_f1"):
            if key not in keys or not all(key in plain[s] for s in seeds):
                continue
            higher = METRICS[key]
            per_seed = [
                first_reach(by_seed[s]["steps"], by_seed[s][key], best(plain[s][key], key), higher) for s in seeds
            ]
            plain_mean = [statistics.fmean(c) for c in zip(*(plain[s][key] for s in seeds), strict=True)]
            target_mean = best(plain_mean, key)
            v[f"steps_to_plain_best_{key}"] = {
                "per_seed": per_seed,
                "mean_curve": first_reach(steps, v[f"{key}_mean"], target_mean, higher),
                "mean_curve_target": target_mean,
            }
        if steps == plain[seeds[0]]["steps"]:
            # Equal steps: whether the eval loss is below plain's at every evaluation after the start, per seed.
            v["eval_loss_below_plain_at_every_evaluation"] = [
                all(a < b for a, b in zip(by_seed[s]["eval_loss"][1:], plain[s]["eval_loss"][1:], strict=True))
                for s in seeds
            ]
        v["wall_s_mean"] = statistics.fmean(by_seed[s]["wall_s"] for s in seeds)
        # Training cost per step (no evaluations), relative to the plain run of the same seed.
        v["step_s_mean"] = statistics.fmean(by_seed[s]["step_s"] for s in seeds)
        v["step_time_ratio_to_plain"] = _mean_std([by_seed[s]["step_s"] / plain[s]["step_s"] for s in seeds])
        v["per_seed"] = {str(s): by_seed[s] for s in seeds}
        out[name] = v
    return out


def final_value(run: dict[str, Any], key: str, eval_labels: list[int] | None = None) -> float | None:
    """A run's value of `key` at its last evaluation; for runs recorded without ECE curves, the ECE of their final
    eval logits (rounded to 5 decimals in the file) when `eval_labels` gives their labels; else None."""
    if key in run:
        return run[key][-1]
    if key == "eval_ece" and eval_labels is not None and "final_eval_logits" in run:
        import torch

        from msd_transformers import expected_calibration_error

        return expected_calibration_error(torch.tensor(run["final_eval_logits"]).softmax(-1), eval_labels)
    return None


def equal_compute(
    runs: dict[str, dict[int, dict[str, Any]]], seeds: list[int], eval_labels: list[int] | None = None
) -> dict[str, Any]:
    """Each whole-network variant (M passes per step) against `plain_<M>x`, the upstream head trained for M times the
    steps (the same compute), where both ran: the variant's final values, the reference's best over its evaluations
    (the largest accuracy / F1, the smallest eval loss; ECE at the evaluation of the smallest eval loss) and its last,
    and the paired per-seed differences (variant minus reference). `eval_labels`: see `final_value`."""
    out: dict[str, Any] = {}
    for name, by_seed in runs.items():
        m = passes_of(name)
        reference = f"plain_{m}x"
        if m == 1 or reference not in runs:
            continue
        ref = runs[reference]
        row: dict[str, Any] = {
            "reference": reference,
            "compute": by_seed[seeds[0]]["steps"][-1] * m,
            "reference_steps": ref[seeds[0]]["steps"][-1],
        }
        for key in METRICS:
            final = [final_value(by_seed[s], key, eval_labels) for s in seeds]
            if None in final or not all(key in ref[s] for s in seeds):
                continue
            if key == "eval_ece":  # at the checkpoint one would keep: the smallest eval loss
                at_best = [ref[s][key][ref[s]["eval_loss"].index(min(ref[s]["eval_loss"]))] for s in seeds]
            else:
                at_best = [best(ref[s][key], key) for s in seeds]
            last = [ref[s][key][-1] for s in seeds]
            row[key] = {
                "variant_final": _spread(final),
                "reference_best": _spread(at_best),
                "reference_last": _spread(last),
                "minus_reference_best": _spread([a - b for a, b in zip(final, at_best, strict=True)]),
                "minus_reference_last": _spread([a - b for a, b in zip(final, last, strict=True)]),
            }
        out[name] = row
    return out


# Settings that must agree for newly run variants to join stored results.
_SHARED_SETTINGS = ("seq_len", "steps", "eval_every", "lr", "head_lr", "batch_size", "per_class", "frozen",
                    "warmup_fraction", "weight_decay", "model", "split", "n_train", "n_val", "labels")  # fmt: skip


def stored_runs(stored: dict[str, Any], settings: dict[str, Any], seeds: list[int]) -> dict[str, dict[int, Any]]:
    """The raw runs of stored results, after checking that new runs of the same regime can join them.

    Raises:
        `ValueError`: If the seeds or a setting that shapes training differ.
    """
    if stored["seeds"] != seeds:
        raise ValueError(f"the stored results have seeds {stored['seeds']}, this run {seeds}: use the same --seeds")
    differ = [k for k in _SHARED_SETTINGS if k in stored["settings"] and stored["settings"][k] != settings.get(k)]
    if differ:
        raise ValueError(
            "the stored results were run with other settings: "
            + ", ".join(f"{k} {stored['settings'][k]!r} (now {settings.get(k)!r})" for k in differ)
        )
    return {name: {int(s): run for s, run in v["per_seed"].items()} for name, v in stored["variants"].items()}


def check_same_start(new: dict[str, Any], stored_plain: dict[str, Any], seed: int, tol: float = 1e-4) -> None:
    """A newly run variant starts from the stored runs' weights and data: its step-0 eval loss is theirs.

    Raises:
        `ValueError`: If the step-0 eval losses differ by more than `tol`.
    """
    a, b = new["eval_loss"][0], stored_plain["eval_loss"][0]
    if abs(a - b) > tol:
        raise ValueError(
            f"seed {seed}: step-0 eval loss {a:.6f} differs from the stored plain run's {b:.6f}: the stored results "
            "come from other data or initial weights"
        )
