"""The report's quality sections: convergence and calibration."""

from __future__ import annotations

from typing import Any

from report_format import VARIANT_LABELS, environment_line, pm


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
                f"| {VARIANT_LABELS.get(name, name)} | {pm(v['final_eval_loss'], 4)} | {dl} | "
                f"{pm(v['final_eval_accuracy'], pct=True)} | {dacc} | {pm(v['best_eval_loss'], 4)} | {reach_s} | "
                f"{v['wall_s_mean']:.0f} s |"
                + (f" {pm(v['step_time_ratio_to_plain'], 2)}x |" if step_cost else "")
                + (f" {pm(ece[name], 4)} |" if ece else "")
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
            cells = [f"{m['cost']['ratio_median']:.2f}x", pm(m["accuracy"], pct=True)]
            cells += [pm(m[key], 4) for key, _ in CALIBRATION_METRICS]
            out.append(f"| {m['label']} | " + " | ".join(cells) + " |")
        temperatures = ", ".join(
            f"{methods[name]['label'].split(',')[0]} T = {pm(methods[name]['fitted_temperature'], 2)}"
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
                cells = [pm(m[f"{key}_minus_msd"], 4) for key, _ in CALIBRATION_METRICS]
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
