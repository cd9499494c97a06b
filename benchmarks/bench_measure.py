"""Timing and peak memory, shared by the benchmarks that compare whole steps or evaluations.

- `interleaved_times`: callables timed round-robin, the order shuffled every round, after warm-up rounds; the wall
  time and the process CPU time of every timed call (CPU time counts only the time this process ran, so a busy
  shared machine disturbs it less than wall-clock time).
- `ratio_summary`: per-round ratios to a baseline, their median and quartiles.
- `training_steps`: one closure per variant that runs a full optimizer step (forward passes, backward, AdamW).
- `peak_memory`, `static_bytes`: the memory of one step.
- `measure`: the step benchmark's rows (time, CPU time, memory and their ratios to the first variant).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from bench_common import sync
from torch import nn

Step = Callable[..., None]
State = dict[str, tuple[nn.Module, torch.optim.Optimizer]]


def interleaved_times(
    fns: dict[str, Callable[[], Any]],
    warmup: int,
    repeats: int,
    device: str,
    seed: int = 1,
    tag: str | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Time each callable `repeats` times, round-robin: every round calls each one once, in an order shuffled per
    round (`random.Random(seed)`), after `warmup` rounds that are not recorded.

    Returns:
        `dict`: per name, `{"wall": [...], "cpu": [...]}` in seconds, one value per round (`time.perf_counter`, and
        `time.process_time` for the process's CPU time), CUDA work synchronised before and after each call.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in names}
    order = list(names)
    shuffle = random.Random(seed)
    for r in range(repeats):
        shuffle.shuffle(order)
        for name in order:
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            fns[name]()
            sync(device)
            times[name]["wall"].append(time.perf_counter() - t0)
            times[name]["cpu"].append(time.process_time() - c0)
        if tag is not None:
            print(
                f"{tag} round {r + 1}/{repeats}: " + ", ".join(f"{n} {times[n]['wall'][-1]:.3f}s" for n in names),
                flush=True,
            )
    return times


def ratio_summary(values: Sequence[float], base: Sequence[float]) -> dict[str, Any]:
    """The per-round ratios `values[i] / base[i]`, their median and their quartiles `[q1, q3]` (the spread)."""
    ratios = [v / b for v, b in zip(values, base, strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
    return {"ratios": ratios, "median": statistics.median(ratios), "quartiles": [q1, q3]}


def training_steps(
    variants: dict[str, tuple[nn.Module, Sequence[Callable[[], torch.Tensor]]]],
    autocast: Callable[[], contextlib.AbstractContextManager],
    lr: float,
) -> tuple[dict[str, Step], State]:
    """One closure per variant that runs a full optimizer step on a fixed batch.

    Args:
        variants (`dict`): per name, the model (in training mode) and its passes: each a callable returning the loss
            of one forward; the step runs each under `autocast` and calls `backward` on it, then `AdamW.step()` and
            `zero_grad(set_to_none=True)`.
        autocast (`Callable`): the context of the forwards (see `bench_common.autocast_factory`).
        lr (`float`): AdamW's learning rate.

    Returns:
        `tuple`: the steps (`step(False)` runs the forwards and backwards only and drops the gradients) and each
        variant's (model, optimizer).
    """
    state = {name: (model, torch.optim.AdamW(model.parameters(), lr=lr)) for name, (model, _) in variants.items()}

    def make(name: str) -> Step:
        passes, opt = variants[name][1], state[name][1]

        def step(optimizer_step: bool = True) -> None:
            for forward in passes:
                with autocast():
                    loss = forward()
                loss.backward()
            if optimizer_step:
                opt.step()
            opt.zero_grad(set_to_none=True)

        return step

    return {name: make(name) for name in variants}, state


def static_bytes(model: nn.Module, opt: torch.optim.Optimizer) -> int:
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


def measure(
    steps: dict[str, Step], state: State, warmup: int, repeats: int, device: str, tag: str = "step"
) -> list[dict[str, Any]]:
    """Interleaved step times (`interleaved_times`) and the peak memory of each variant; ratios to the first variant
    (`plain`): time and CPU time as the median of the per-repeat ratios (with quartiles), memory as plain ratios."""
    variants = list(steps)
    times = interleaved_times(steps, warmup, repeats, device, tag=tag)
    memory: dict[str, dict[str, int]] = {}
    for name in variants:
        transient = peak_memory(steps[name], device)
        fwd_bwd = peak_memory(lambda name=name: steps[name](False), device)
        static = static_bytes(*state[name])
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
    base, base_memory = times[variants[0]], memory[variants[0]]
    rows = []
    for name in variants:
        wall = ratio_summary(times[name]["wall"], base["wall"])
        cpu = ratio_summary(times[name]["cpu"], base["cpu"])
        rows.append(
            {
                "variant": name,
                "step_s_median": statistics.median(times[name]["wall"]),
                "step_s_all": times[name]["wall"],
                "time_ratio_to_plain": wall["median"],
                "time_ratio_quartiles": wall["quartiles"],
                "time_ratio_of_medians": statistics.median(times[name]["wall"]) / statistics.median(base["wall"]),
                "cpu_s_median": statistics.median(times[name]["cpu"]),
                "cpu_s_all": times[name]["cpu"],
                "cpu_ratio_to_plain": cpu["median"],
                "cpu_ratio_quartiles": cpu["quartiles"],
                **memory[name],
                "peak_step_ratio_to_plain": memory[name]["peak_step_bytes"] / base_memory["peak_step_bytes"],
                "peak_total_ratio_to_plain": memory[name]["peak_total_bytes"] / base_memory["peak_total_bytes"],
                "peak_fwd_bwd_ratio_to_plain": memory[name]["peak_fwd_bwd_bytes"] / base_memory["peak_fwd_bwd_bytes"],
            }
        )
    return rows
