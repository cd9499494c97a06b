"""Head cost: the vectorized `MultiSampleDropout` head against the per-sample Python loop of public recipes.

Both compute the same thing on features `x` of shape (B, H): K dropout samples, the shared `nn.Linear(H, C)` on each,
one cross-entropy per sample, the mean of the K losses; then the backward pass (into the classifier and into `x`, as
in training, where the gradient flows on into the encoder).

- vectorized: `MultiSampleDropout(K, rate)` -> `Linear` on (K, B, H) -> `sample_losses(...).mean()`
- loop: `ModuleList` of K `nn.Dropout` -> K `Linear` calls -> K `F.cross_entropy` -> sum / K

Timing: for each configuration the two implementations run in alternating blocks (order shuffled each repeat); a
block runs the step `number` times; the reported time is the median over repeats of the per-step time.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import torch
from bench_common import LoopMSDHead, median, sync
from torch import nn

from msd_transformers import MultiSampleDropout, sample_losses
from msd_transformers.dropout import resolve_dropout

NUM_LABELS = 5
UNIFORM_RATE = 0.5
LINSPACE = "linspace(0.1, 0.5)"


class VectorizedHead(nn.Module):
    """`MultiSampleDropout` -> `Linear` -> `sample_losses(...).mean()`: the package's head, no Python loop."""

    def __init__(self, classifier: nn.Linear, num_samples: int, dropout: float | str):
        super().__init__()
        self.msd = MultiSampleDropout(num_samples, dropout)
        self.classifier = classifier

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        sample_logits = self.classifier(self.msd(x))  # (K, B, C)
        losses = sample_losses(
            sample_logits, labels, num_labels=sample_logits.shape[-1], problem_type="single_label_classification"
        )
        return losses.mean()


class LoopHead(nn.Module):
    """The loop recipe's head (`LoopMSDHead`) returning only the loss."""

    def __init__(self, classifier: nn.Linear, rates: list[float]):
        super().__init__()
        self.inner = LoopMSDHead(classifier, rates)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.inner(x, labels)[0]


def _step_fn(head: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """One training step of the head: forward, backward (into the classifier and `x`), gradients dropped."""

    def step() -> None:
        x.grad = None
        for p in head.parameters():
            p.grad = None
        loss = head(x, labels)
        loss.backward()

    return step


def _time_block(fn: Callable[[], None], number: int, device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / number


def bench_config(
    k: int, batch: int, hidden: int, variant: str, repeats: int, target_s: float, device: str, dtype: torch.dtype
) -> dict[str, Any]:
    """Time the vectorized and the loop head on one configuration; return times (s) and the loop/vectorized ratio."""
    rate: float | str = UNIFORM_RATE if variant == "uniform" else LINSPACE
    rates = resolve_dropout(rate, k)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, hidden, generator=g).to(device=device, dtype=dtype).requires_grad_(True)
    labels = torch.randint(0, NUM_LABELS, (batch,), generator=g).to(device)
    classifier = nn.Linear(hidden, NUM_LABELS).to(device=device, dtype=dtype)
    heads = {
        "vectorized": VectorizedHead(classifier, k, rate).train(),
        "loop": LoopHead(classifier, rates).train(),
    }
    fns = {name: _step_fn(h, x, labels) for name, h in heads.items()}
    # Warm up and size the blocks so that one block takes about `target_s`.
    numbers = {}
    for name, fn in fns.items():
        for _ in range(3):
            fn()
        one = max(_time_block(fn, 3, device), 1e-7)
        numbers[name] = max(1, int(target_s / one))
    times: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    for _ in range(repeats):
        random.shuffle(order)
        for name in order:
            times[name].append(_time_block(fns[name], numbers[name], device))
    vec, loop = median(times["vectorized"]), median(times["loop"])
    return {
        "K": k,
        "batch": batch,
        "hidden": hidden,
        "variant": variant,
        "rates": rates,
        "vectorized_s": vec,
        "loop_s": loop,
        "ratio_loop_over_vectorized": loop / vec,
        "repeats": repeats,
        "number_per_block": numbers,
    }


def run_head(args: Any) -> dict[str, Any]:
    """The `head` subcommand: all configurations, returned as a result dict (written by `run.py`)."""
    random.seed(0)
    torch.manual_seed(0)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    if args.quick:
        ks, batches, hiddens, repeats, target = [1, 8], [16], [384], 3, 0.005
    else:
        ks, batches, hiddens, repeats, target = [1, 2, 4, 8, 16], [16, 64, 256], [384, 768], 15, 0.02
    rows = []
    for variant, hidden, batch, k in itertools.product(("uniform", "linspace"), hiddens, batches, ks):
        row = bench_config(k, batch, hidden, variant, repeats, target, args.device, dtype)
        rows.append(row)
        print(
            f"head {variant:8s} H={hidden:4d} B={batch:3d} K={k:2d}: vectorized {row['vectorized_s'] * 1e3:8.3f} ms, "
            f"loop {row['loop_s'] * 1e3:8.3f} ms, loop/vectorized {row['ratio_loop_over_vectorized']:5.2f}x",
            flush=True,
        )
    return {
        "benchmark": "head",
        "description": (
            "Forward + backward of dropout samples -> shared Linear -> cross-entropy, mean over samples: vectorized "
            "MultiSampleDropout head vs the per-sample Python loop (ModuleList of K nn.Dropout). Times are medians "
            "of per-step wall time over interleaved repeats."
        ),
        "settings": {
            "num_labels": NUM_LABELS,
            "uniform_rate": UNIFORM_RATE,
            "linspace": LINSPACE,
            "repeats": repeats,
            "block_target_s": target,
            "K": ks,
            "batch": batches,
            "hidden": hiddens,
        },
        "rows": rows,
    }
