"""What the convergence benchmark's regimes share: the settings (`Regime`, `regimes`, the variants' constants), the
training schedule (`run_schedule`), the runs over seeds and variants (`collect_runs`) and the result of a regime
(`regime_result`). The sequence regimes (`bench_convergence.py`) and the token regime (`bench_convergence_token.py`)
both import it; neither imports the other's module but `bench_convergence` the token regime's runner."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from bench_common import seed_everything
from bench_convergence_summary import check_same_start, equal_compute, summarise

NUM_SAMPLES = 8
BASE_RATE = 0.1  # MiniLM-L6's hidden_dropout_prob, the upstream classifier dropout
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
    seq_len: int  # tokens per example (token regime: the truncation length; batches are padded to their longest)
    steps: int  # of every variant but `plain_<m>x`, which trains for m times as many
    eval_every: int
    lr: float
    head_lr: float | None = None  # the classifier's learning rate, when not `lr`
    batch_size: int = 16
    per_class: int | None = None  # a small labelled subset per class; None = the whole training split
    frozen: bool = False
    variants: list[str] = field(
        default_factory=lambda: [
            "plain", "msd8", "msd8_linspace", "msd8_logits", "whole8", "rdrop", "msd8_consistency", "plain_2x",
            "plain_8x",
        ]
    )  # fmt: skip
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    task: str = "sequence-classification"
    max_examples: tuple[int, int] | None = None  # (train, validation) examples used; None = all (quick runs cut)
    note: str = ""


def regimes(quick: bool) -> dict[str, Regime]:
    """The regimes, full-size or `--quick` (tiny model, a few steps)."""
    four = ["plain", "msd8", "msd8_linspace", "msd8_logits"]
    consistency = ["rdrop", "msd8_consistency"]
    head_only = [*four, "msd8_consistency"]  # a frozen encoder has no whole-network dropout to sample
    token = ["plain", "msd8", "fp5", "whole2", "rdrop", "plain_2x"]
    vision = {"variants": ["none", "plain", "msd8"], "task": "image-classification"}  # bench_convergence_vision.py
    if quick:
        return {
            "full": Regime(
                "full",
                "Full fine-tuning (quick)",
                16,
                6,
                3,
                1e-3,
                batch_size=8,
                variants=[*four, *consistency, "plain_2x"],
            ),
            "small": Regime("small", "Small subset (quick)", 16, 6, 3, 1e-3, batch_size=8, per_class=4),
            "frozen": Regime("frozen", "Frozen encoder (quick)", 16, 20, 10, 1e-2, frozen=True, variants=head_only),
            "token": Regime(
                "token",
                "WNUT-16 token classification (quick)",
                32,
                6,
                3,
                1e-3,
                batch_size=8,
                variants=token,
                task="token-classification",
                max_examples=(64, 32),
            ),
            "vision": Regime(
                "vision", "MNIST from scratch (quick)", 28, 6, 3, 1e-3, batch_size=16, max_examples=(64, 32), **vision
            ),
        }
    return {
        "full": Regime(
            "full", "BBC News, full fine-tuning, whole training split", 32, 80, 20, 1e-4,
            variants=[*four, *consistency, "plain_2x"],
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
        "token": Regime(
            "token", "WNUT-16 Twitter NER, full fine-tuning of a token head", 128, 120, 30, 1e-4, head_lr=1e-2,
            variants=token, task="token-classification",
            note="One epoch (120 steps of 16 tweets). With one learning rate for the whole model (5e-5, 1e-4, 2e-4 "
            "or 5e-4) the upstream head predicted `O` for every word after this epoch (entity F1 0 at every "
            "evaluation; about 95% of the words are `O`); a classifier learning rate of 1e-2 (the encoder's stays "
            "1e-4) gave entity F1 0.43 (3e-3: 0.27). Chosen on the upstream head, seed 0, before running the other "
            "variants.",
        ),
        "vision": Regime(
            "vision", "MNIST from scratch: a small ResNet and a small ViT", 28, 500, 25, 1e-3, batch_size=64,
            max_examples=(10000, 2000), **vision,
            note="Sized for a shared 2-core machine (a budget of 25 minutes for the 30 runs): 10,000 training images, "
            "500 steps of 64 (3.2 epochs), 2,000 validation images; lr 1e-3 (Adam's usual default), not tuned.",
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


Evaluation = tuple[dict[str, float], torch.Tensor | None]  # (metrics, the logits to keep or None)


def run_schedule(
    regime: Regime,
    seed: int,
    train_idx: list[int],
    params: Any,
    loss_of_batch: Callable[[list[int]], torch.Tensor],
    evaluate_fn: Callable[[], Evaluation],
    initial: dict[str, float] | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """The training loop of every regime: AdamW with warm-up and linear decay over `total` steps (default: the
    regime's), the seed's batches, an evaluation every `eval_every` steps and at the end; returns the curves of every
    metric `evaluate_fn` gives, the training time per step and the final eval logits (when `evaluate_fn` gives
    them). `initial`: the step-0 metrics when known (every variant of a seed starts from the same weights)."""
    total = total or regime.steps
    opt = torch.optim.AdamW(params, lr=regime.lr, weight_decay=regime.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(total, max(1, round(regime.warmup_fraction * total))))
    first = initial if initial is not None else evaluate_fn()[0]
    record: dict[str, Any] = {"steps": [0], **{k: [v] for k, v in first.items()}, "train_loss": []}
    seed_everything(seed + 1)  # the dropout masks
    t0 = time.perf_counter()
    train_s = 0.0
    window: list[float] = []
    logits = None
    for step, b in enumerate(batches(train_idx, regime.batch_size, total, seed), start=1):
        t_step = time.perf_counter()
        loss = loss_of_batch(b)
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        window.append(loss.item())
        train_s += time.perf_counter() - t_step
        if step % regime.eval_every == 0 or step == total:
            metrics, logits = evaluate_fn()
            record["steps"].append(step)
            for key in first:
                record[key].append(metrics[key])
            record["train_loss"].append(sum(window) / len(window))
            window = []
    record.update(wall_s=time.perf_counter() - t0, step_s=train_s / total)
    if logits is not None:
        record["final_eval_logits"] = [[round(x, 5) for x in row] for row in logits.tolist()]
    return record


def collect_runs(
    name: str,
    variants: list[str],
    seeds: list[int],
    runs: dict[str, dict[int, dict[str, Any]]],
    train_one: Callable[[str, int, dict[str, float] | None], dict[str, Any]],
    check_start: bool,
) -> dict[str, dict[int, dict[str, Any]]]:
    """Run `train_one(variant, seed, initial)` for every seed and variant into `runs` (which may hold stored runs:
    with `check_start`, each new run's step-0 eval loss must be the stored plain run's, see `check_same_start`)."""
    t0 = time.perf_counter()
    stored_plain = runs.get("plain") if check_start else None
    for seed in seeds:
        initial = None
        for variant in variants:
            r = train_one(variant, seed, initial)
            if stored_plain is not None:
                check_same_start(r, stored_plain[seed], seed)
            initial = {k: v[0] for k, v in r.items() if k.startswith("eval_")}  # every variant starts from these
            runs.setdefault(variant, {})[seed] = r
            f1 = f", F1 {r['eval_f1'][-1]:.4f}" if "eval_f1" in r else ""
            print(
                f"[{name}] seed {seed} {variant:16s}: final eval loss {r['eval_loss'][-1]:.4f}, "
                f"acc {r['eval_accuracy'][-1]:.4f}{f1} ({r['wall_s']:.0f}s; total {time.perf_counter() - t0:.0f}s)",
                flush=True,
            )
    return runs


def regime_result(
    regime: Regime,
    seeds: list[int],
    settings: dict[str, Any],
    runs: dict[str, dict[int, dict[str, Any]]],
    description: str,
    **extra: Any,
) -> dict[str, Any]:
    """The result dict of a regime (written by `run.py`): settings, per-variant summaries in the regime's order,
    and the equal-compute comparison."""
    order = [*regime.variants, *(v for v in runs if v not in regime.variants)]
    ordered = {v: runs[v] for v in order if v in runs}
    return {
        "benchmark": "convergence",
        "regime": regime.name,
        **extra,
        "title": regime.title,
        "description": description,
        "settings": {**settings, "variants": list(ordered)},
        "seeds": seeds,
        "variants": summarise(ordered, seeds),
        "equal_compute": equal_compute(ordered, seeds, extra.get("eval_labels")),
    }
