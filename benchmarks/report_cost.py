"""The report's cost sections: the head microbenchmark and the training step (sequence, decoder, token and compiled
rows)."""

from __future__ import annotations

import statistics
from typing import Any

from report_format import VARIANT_LABELS, environment_line


def head_section(res: dict[str, Any], img: str) -> list[str]:
    rows = res["rows"]
    s = res["settings"]
    out = ["## 1. Head cost: vectorized `MultiSampleDropout` vs the per-sample Python loop", ""]
    out += [
        "Forward + backward of *K dropout samples -> shared `Linear(hidden, 5)` -> cross-entropy, mean of the K "
        "losses*, gradients into the classifier and into the features (as in training). **Vectorized**: "
        "`MultiSampleDropout(K, rate)` -> one `Linear` call on `(K, B, H)` -> `sample_losses(...).mean()`. "
        "**Loop**: the public recipe, a `ModuleList` of K `nn.Dropout`, K classifier calls, K losses averaged. "
        f"Uniform rate {s['uniform_rate']}; per-sample rates `{s['linspace']}`. Each cell is the loop time divided "
        f"by the vectorized time (> 1: the vectorized head is faster), from medians over {s['repeats']} interleaved "
        "repeats.",
        "",
        f"Environment: {environment_line(res['environment'])}.",
        "",
    ]
    key = next((r for r in rows if r["K"] == 8 and r["batch"] == 16 and r["hidden"] == 768), None)
    if key is not None:
        lin = next(
            r for r in rows if r["K"] == 8 and r["batch"] == 16 and r["hidden"] == 768 and r["variant"] == "linspace"
        )
        uni = next(
            r for r in rows if r["K"] == 8 and r["batch"] == 16 and r["hidden"] == 768 and r["variant"] == "uniform"
        )
        out += [
            f"**Headline (K=8, batch 16, hidden 768, CPU):** uniform rate: loop {uni['loop_s'] * 1e3:.2f} ms, "
            f"vectorized {uni['vectorized_s'] * 1e3:.2f} ms, **{uni['ratio_loop_over_vectorized']:.2f}x**; "
            f"per-sample rates: loop {lin['loop_s'] * 1e3:.2f} ms, vectorized {lin['vectorized_s'] * 1e3:.2f} ms, "
            f"**{lin['ratio_loop_over_vectorized']:.2f}x** (target: >= 2.5x).",
            "",
        ]
    ks = sorted({r["K"] for r in rows})
    for variant in ("uniform", "linspace"):
        for hidden in sorted({r["hidden"] for r in rows}):
            sel = [r for r in rows if r["variant"] == variant and r["hidden"] == hidden]
            if not sel:
                continue
            title = f"rate {s['uniform_rate']}" if variant == "uniform" else f"rates {s['linspace']}"
            out += [f"Loop / vectorized, {title}, hidden {hidden}:", ""]
            out += ["| batch | " + " | ".join(f"K={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
            for b in sorted({r["batch"] for r in sel}):
                cells = []
                for k in ks:
                    r = next((r for r in sel if r["batch"] == b and r["K"] == k), None)
                    cells.append(f"{r['ratio_loop_over_vectorized']:.2f}x" if r else "")
                out.append(f"| {b} | " + " | ".join(cells) + " |")
            out.append("")
    out += [f"![head cost]({img})", ""]
    return out


TOKEN_TARGETS = {"time": 1.05, "memory": 1.02}  # MSD K=8 against the upstream token head: time, peak step memory
MC_TARGET = 1.1  # head-only Monte-Carlo dropout, N=32, against one evaluation
TOKEN_LABELS = {
    "plain": "upstream token head (`BertForTokenClassification`)",
    "msd8": "MSD K=8, rate 0.1 (`MSDBertForTokenClassification`)",
    "naive8": "naive K-copy recipe, K=8, rate 0.1",
}


def met(value: float, target: float) -> str:
    """Whether `value` is at most `target`, in words."""
    return "met" if value <= target else "**not met**"


def _ratio(row: dict[str, Any], key: str) -> str:
    """A time ratio to plain with its quartiles over the repeats, where the result has them."""
    value = f"**{row[f'{key}_ratio_to_plain']:.3f}x**"
    quartiles = row.get(f"{key}_ratio_quartiles")
    return value + (f" [{quartiles[0]:.3f}, {quartiles[1]:.3f}]" if quartiles else "")


def step_table(rows: list[dict[str, Any]], labels: dict[str, str]) -> list[str]:
    """The table of one set of step rows: times and peaks, and their ratios to the first row (plain)."""
    out = [
        "| variant | step time (median) | time / plain [quartiles] | CPU time / plain [quartiles] | step peak "
        "| step / plain | total peak | total / plain | fwd+bwd / plain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = _ratio(r, "cpu") if "cpu_ratio_to_plain" in r else "—"
        out.append(
            f"| {labels.get(r['variant'], r['variant'])} | {r['step_s_median']:.3f} s | {_ratio(r, 'time')} | {cpu} | "
            f"{r['peak_step_bytes'] / 2**20:.0f} MiB | **{r['peak_step_ratio_to_plain']:.3f}x** | "
            f"{r['peak_total_bytes'] / 2**20:.0f} MiB | {r['peak_total_ratio_to_plain']:.3f}x | "
            f"{r.get('peak_fwd_bwd_ratio_to_plain', float('nan')):.3f}x |"
        )
    return [*out, ""]


def step_section(res: dict[str, Any], img: str) -> list[str]:
    out = ["## 2. Training step: one full optimizer step", ""]
    out += [
        "Every step is forward, backward, `AdamW.step()` and `zero_grad(set_to_none=True)` on a fixed batch. Times: "
        "warm-up rounds, then repeats, round-robin over the variants (order shuffled every repeat); a ratio is the "
        "median of the per-repeat ratios to plain, with the quartiles of those ratios; *CPU time* is the process's "
        "CPU time of the step, which other processes on the machine disturb less than wall-clock time.",
        "",
        "Memory: *step peak* = the peak of bytes allocated during one step above what was held before it "
        "(activations, gradients, optimizer temporaries); *fwd+bwd peak* = the same for forward + backward alone "
        "(no optimizer step); *total peak* = step peak plus the bytes held between steps (parameters, "
        "buffers, AdamW state). On CPU there is no allocator peak counter: the step runs once under "
        "`torch.profiler` with `profile_memory=True`, and the peak is the maximum of the profiler's running "
        '"Total Allocated" counter (CPU allocations made, and not yet freed, since profiling started). RSS is '
        "not used (glibc keeps freed memory). On CUDA the script uses `torch.cuda.max_memory_allocated`.",
        "",
        f"Environment: {environment_line(res['environment'])}.",
        "",
    ]
    if "rows" in res:
        out += sequence_step_lines(res)
    if "decoder" in res:
        out += decoder_step_lines(res["decoder"])
    if "token" in res:
        out += token_step_lines(res["token"])
    if "token_mc" in res:
        out += token_mc_lines(res["token_mc"])
    if "image" in res:
        out += image_step_lines(res["image"], res.get("part_runs", {}).get("image"))
    if "compiled" in res:
        out += compiled_step_lines(res["compiled"], part_environment(res, "compiled"))
    out += [f"![training step]({img})", ""]
    return out


def sequence_step_lines(res: dict[str, Any]) -> list[str]:
    """The sequence-classification rows: the upstream head, MSD K=8, the loop recipe and the whole-network variants."""
    s = res["settings"]
    out = [
        "### Sequence classification",
        "",
        f"{s['model']}, batch {s['batch_size']} x {s['seq_len']} tokens of real BBC News text (the model's tokenizer, "
        f"truncated/padded), {s['optimizer']}; {s['warmup_rounds']} warm-up rounds, {s['repeats']} repeats. "
        "Variants: **plain** = upstream `BertForSequenceClassification`; "
        "**MSD K=8** = this package's `MSDBertForSequenceClassification`; **loop recipe K=8** = upstream model, a "
        "`ModuleList` of 8 `nn.Dropout` on the pooled output, the classifier called 8 times, mean of 8 losses; "
        "**whole network M=8, batched** = upstream model, one forward+backward over `repeat_batch(inputs, 8)`; "
        "**sequential** = 8 forward+backward passes per optimizer step, each loss / 8.",
        "",
        *step_table(res["rows"], VARIANT_LABELS),
    ]
    rows = {r["variant"]: r for r in res["rows"]}
    if "whole8_batched" in rows and "whole8_sequential" in rows:
        b, q = rows["whole8_batched"], rows["whole8_sequential"]
        faster = "faster" if b["step_s_median"] < q["step_s_median"] else "slower"
        out += [
            f"Whole network: the batched M=8 step is {faster} than the sequential one "
            f"({b['step_s_median']:.2f} s vs {q['step_s_median']:.2f} s per optimizer step) and needs "
            f"{b['peak_step_bytes'] / max(1, q['peak_step_bytes']):.1f}x its step memory.",
            "",
        ]
    if "whole8_chunk2" in rows and "whole8_sequential" in rows:
        c, q = rows["whole8_chunk2"], rows["whole8_sequential"]
        out += [
            f"In chunks of 2 passes (`msd_forward_chunk_size=2`): {c['step_s_median']:.2f} s per optimizer step, "
            f"{c['step_s_median'] / q['step_s_median']:.2f}x the sequential recipe's time, with "
            f"{c['peak_step_bytes'] / max(1, q['peak_step_bytes']):.1f}x its step memory.",
            "",
        ]
    return out


def decoder_step_lines(dec: dict[str, Any]) -> list[str]:
    """The decoder rows of the step benchmark: upstream last-token head against MSD K=8 on the same decoder."""
    s = dec["settings"]
    labels = {"plain": "upstream head (no dropout)", "msd8": f"MSD K=8, rate {s['msd_dropout']}"}
    return [
        "### Decoder sequence classification",
        "",
        f"{s['model']} ({s['parameters'] / 1e6:.1f}M parameters), the sequence rows' batch and optimizer. "
        "**plain** = upstream `LlamaForSequenceClassification` (`score` on every position, then the last non-padding "
        "token); **MSD K=8** = `MSDLlamaForSequenceClassification` (the token first, then 8 dropout samples and "
        f"`score` on it), `msd_dropout={s['msd_dropout']}`.",
        "",
        *step_table(dec["rows"], labels),
    ]


def token_step_lines(token: dict[str, Any]) -> list[str]:
    """The token-classification rows, one table per shape, and MSD K=8 against the targets."""
    first = next(iter(token.values()))["settings"]
    out = [
        "### Token classification: K samples on the token states",
        "",
        f"{first['num_labels']} labels, {first['ignored_fraction']:.0%} of the tokens labelled -100 (ignored), random "
        "token ids, no padding; the same weights in every variant. **MSD K=8** = this package's "
        "`MSDBertForTokenClassification` (`AutoMSDModelForTokenClassification`, `msd_num_samples=8, "
        f"msd_dropout={first['rate']}`): the samples go through `MultiSampleLinear`, one masked copy of the token "
        "states at a time, the masks redrawn in the backward pass from a saved generator state; its loss is the mean "
        "over the samples of the token cross-entropy. **naive K-copy recipe** = the upstream model's encoder output "
        "through 8 `nn.Dropout` and the classifier, the mean of the 8 losses (8 masked copies of the token states "
        f"kept for the backward pass). Targets for MSD K=8: at most {TOKEN_TARGETS['time']}x the upstream head's step "
        f"time and {TOKEN_TARGETS['memory']}x its peak step memory.",
        "",
    ]
    for res in token.values():
        s = res["settings"]
        rows = {r["variant"]: r for r in res["rows"]}
        out += [
            f"{s['model']} ({s['parameters'] / 1e6:.1f}M parameters), batch {s['batch_size']} x {s['seq_len']} "
            f"tokens; {s['warmup_rounds']} warm-up rounds, {s['repeats']} repeats:",
            "",
            *step_table(res["rows"], TOKEN_LABELS),
        ]
        if "msd8" in rows:
            r = rows["msd8"]
            time, memory = r["time_ratio_to_plain"], r["peak_step_ratio_to_plain"]
            out += [
                f"MSD K=8 against the targets: time {time:.3f}x ({met(time, TOKEN_TARGETS['time'])}; CPU time "
                f"{r.get('cpu_ratio_to_plain', float('nan')):.3f}x), peak step memory {memory:.3f}x "
                f"({met(memory, TOKEN_TARGETS['memory'])}).",
                "",
            ]
    return out


def part_environment(res: dict[str, Any], part: str) -> dict[str, Any]:
    """The record of the run that measured `part` of a step result: the last run added with it (`run.py step --add`),
    else the result's own."""
    added = [a["environment"] for a in res.get("added", []) if part in a["parts"]]
    return added[-1] if added else res["environment"]


def compiled_step_lines(compiled: dict[str, Any], env: dict[str, Any]) -> list[str]:
    """The compiled rows: the upstream head against MSD K=8, both under `torch.compile(model, fullgraph=True)`."""
    s = compiled["settings"]
    out = [
        "### Compiled: `torch.compile(model, fullgraph=True)`",
        "",
        f"Both models compiled with the `{s['backend']}` backend and `fullgraph=True` (no graph break: one graph "
        "each); under compilation the MSD head draws its masks with `torch.randint` and keeps them for the backward "
        "pass as bool tensors (K bytes per element of its input), instead of redrawing them from a generator state. "
        f"The first step (compilation included) is timed apart; then {s['warmup_rounds']} warm-up rounds and "
        f"{s['repeats']} repeats, round-robin. Run: {environment_line(env)}.",
        "",
    ]
    labels = {"plain": "upstream head, compiled", "msd8": f"MSD K={s['num_samples']}, compiled"}
    for name, title in (("sequence", "Sequence classification"), ("token", "Token classification")):
        if name not in compiled:
            continue
        t = compiled[name]["settings"]
        first = ", ".join(f"{labels[r['variant']]} {r['first_step_s']:.0f} s" for r in compiled[name]["rows"])
        out += [
            f"{title}, {t['model']}, batch {t['batch_size']} x {t['seq_len']} tokens (first step: {first}):",
            "",
            *step_table(compiled[name]["rows"], labels),
        ]
    return out


def token_mc_lines(mc: dict[str, Any]) -> list[str]:
    """The cost of head-only Monte-Carlo dropout on the token head against one evaluation."""
    s = mc["settings"]
    eval_s, mc_s = statistics.median(mc["eval_s_all"]), statistics.median(mc["mc_s_all"])
    wq, cq = mc["time_ratio_quartiles"], mc["cpu_ratio_quartiles"]
    return [
        "### Head-only Monte-Carlo dropout on a token head",
        "",
        f"{s['model']}, the MSD token model in eval mode, batch {s['batch_size']} x {s['seq_len']} tokens, under "
        f"`torch.inference_mode()`: one forward inside `mc_dropout(model, num_samples={s['num_samples']}, "
        f"layers={s['layers']})` (the encoder once; the head's deterministic row and {s['num_samples']} dropout "
        f"samples, `sample_logits` {tuple(mc['sample_logits_shape'])}) against one evaluation forward; "
        f"{s['warmup_rounds']} warm-up rounds, {s['repeats']} repeats, round-robin. Median {mc_s:.3f} s against "
        f"{eval_s:.3f} s: **{mc['time_ratio']:.3f}x** [{wq[0]:.3f}, {wq[1]:.3f}] (CPU time {mc['cpu_ratio']:.3f}x "
        f"[{cq[0]:.3f}, {cq[1]:.3f}]); target at most {MC_TARGET}x: {met(mc['time_ratio'], MC_TARGET)}.",
        "",
    ]


IMPORT_TARGET = 1.15  # `import msd_transformers` against torch + transformers + the Auto class and Trainer


def import_section(res: dict[str, Any]) -> list[str]:
    """The import cost: each command's median seconds and the median per-round ratio to the baseline."""
    med = res["median_seconds"]
    q1, q3 = res["ratio_quartiles"]
    out = ["## 5. Import cost", ""]
    out += [
        "Each command runs as a fresh `python -c` process; every round runs all of them in a shuffled order, after "
        f"2 warm-up rounds (the file cache); {res['rounds']} rounds. The ratio is the median over rounds of the "
        "per-round ratio to the baseline. Importing the package registers every family with the Auto classes of "
        "its four tasks without importing an upstream model module: a family's classes are made when first used.",
        "",
        f"Environment: {environment_line(res['environment'])}.",
        "",
        "| command | median seconds | median ratio to the baseline |",
        "|---|---|---|",
        f"| `{res['commands']['baseline']}` | {med['baseline']:.2f} | 1 |",
        f"| `{res['commands']['package']}` | {med['package']:.2f} | **{res['ratio_median']:.2f}x** "
        f"[{q1:.2f}, {q3:.2f}] ({met(res['ratio_median'], IMPORT_TARGET)}) |",
        f"| `{res['commands']['package_trainer']}` | {med['package_trainer']:.2f} | "
        f"{res['trainer_ratio_median']:.2f}x |",
        "",
    ]
    return out


def image_step_lines(image: dict[str, Any], part_run: dict[str, Any] | None = None) -> list[str]:
    """The image rows of the step benchmark, one table per architecture (`part_run`: their own environment, when they
    were run after the other parts)."""
    first = next(iter(image.values()))["settings"]
    out = [
        "### Image classification: the vision regime's models",
        "",
        f"A batch of {first['batch_size']} MNIST training images ({first['image']}), {first['optimizer']}; "
        f"{first['warmup_rounds']} warm-up rounds, {first['repeats']} repeats. **plain** = the one-sample head "
        f"(`AutoMSDModelForImageClassification`, `msd_num_samples=1`, rate {first['rate']}); **MSD K=8** = 8 samples "
        f"at {first['rate']}; **none** = the upstream class (no dropout before the last Linear). Target for MSD K=8: "
        "at most 1.01x plain's step time and peak step memory."
        + (f" Run on its own: {environment_line(part_run['environment'])}." if part_run else ""),
        "",
    ]
    labels = {"plain": "one sample at 0.5", "msd8": "MSD K=8", "none": "no dropout (upstream)"}
    for arch, table in image.items():
        out += [f"{table['settings']['model']} ({table['settings']['parameters']:,} parameters; {arch}):", ""]
        out += [*step_table(table["rows"], labels), ""]
    return out
